#!/usr/bin/env python3
"""sk_lookup steering to a real, unmodified nginx (Debian's nginx package).

The test starts /usr/sbin/nginx in the foreground with a configuration of its
own in a temporary directory (pid file, error and access logs, temp paths and
lock file all inside it; never the system service), listening on
127.0.0.1:PORT only and answering "agility-nginx-ok" for `/`. It starts
agilityd with a policy whose service is `edge` (pool 127.77.0.0/20, the web
ports steered by default), registers nginx's listening socket with

    agilityctl -c CONF register-pid NGINX_MASTER_PID edge tcp 127.0.0.1:PORT

and fetches `/` with curl from the addresses agilityd answers for
www.example.com, on ports 80 and 8080: nginx, which listens on neither, must
answer every one. Addresses outside the pool, and pool addresses before the
registration (fail closed), must be refused.

Like test_sk_lookup.py, whose helpers it reuses, it needs root and must run in
a fresh network namespace through the wrapper next to this file:

    tests/integration/netns_run.sh python3 tests/integration/test_nginx.py -v

It fails when nginx, curl or dig is missing (scripts/deps test installs them)
and skips only when the kernel lacks sk_lookup. AGILITYD and AGILITYCTL name
the binaries. Python 3 standard library only.
"""

import http.client
import ipaddress
import os
import shutil
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_sk_lookup as base  # noqa: E402  (also puts perf/ on sys.path)
import servers  # noqa: E402

NGINX = "/usr/sbin/nginx"
BODY = "agility-nginx-ok\n"
STEERED_PORTS = (80, 8080)       # two of base.WEB_PORTS, steered by default
OUTSIDE_POOL = "127.88.0.1"      # local (127.0.0.0/8) but not in base.POOL4
QUERIES = 5                      # dig queries for www.example.com
NGINX_TIMEOUT = 10.0
CURL_CONNECT_FAILED = 7          # curl's exit code for "Failed to connect to host"


def setUpModule():
    # Missing tools fail (CI installs them with scripts/deps test); only a
    # kernel without sk_lookup skips, which base.setUpModule decides.
    if not os.access(NGINX, os.X_OK):
        raise RuntimeError(f"{NGINX} is missing: install Debian's nginx package "
                           "(scripts/deps test installs it)")
    if shutil.which("curl") is None:
        raise RuntimeError("curl not found (scripts/deps test installs it)")
    base.setUpModule()


NGINX_CONF = """\
user root;
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
lock_file {d}/nginx.lock;
error_log {d}/error.log notice;

events {{
    worker_connections 256;
}}

http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    default_type text/plain;

    server {{
        listen 127.0.0.1:{port};
        server_name _;
        location / {{
            return 200 "agility-nginx-ok\\n";
        }}
    }}
}}
"""


class Nginx:
    """nginx in the foreground (master and one worker) on 127.0.0.1:port,
    everything it writes in `directory`."""

    def __init__(self, directory, port):
        self.directory = directory
        self.port = port
        self.conf = os.path.join(directory, "nginx.conf")
        self.pid_file = os.path.join(directory, "nginx.pid")
        self.output_path = os.path.join(directory, "nginx.out")
        self.process = None

    def start(self):
        """Starts nginx and waits until it answers `/` on 127.0.0.1:port and
        has written its pid file; returns the master's pid (from the file)."""
        os.makedirs(self.directory, exist_ok=True)
        base.write_file(self.conf, NGINX_CONF.format(d=self.directory, port=self.port))
        with open(self.output_path, "a", encoding="utf-8") as output:
            # -e: the error log before the configuration is read (Debian's
            # default is stderr, which goes to nginx.out anyway).
            self.process = subprocess.Popen(
                [NGINX, "-p", self.directory + "/", "-c", self.conf,
                 "-e", os.path.join(self.directory, "error.log")],
                stdin=subprocess.DEVNULL, stdout=output, stderr=output)
        deadline = time.monotonic() + NGINX_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"nginx exited with {self.process.returncode} during startup:\n{self.log()}")
            pid = self.read_pid()
            if pid is not None and self.answers():
                if pid != self.process.pid:
                    raise AssertionError(f"{self.pid_file} says {pid}, but the master nginx "
                                         f"started is {self.process.pid}:\n{self.log()}")
                return pid
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"nginx did not answer on 127.0.0.1:{self.port} within "
                                     f"{NGINX_TIMEOUT} s:\n{self.log()}")
            time.sleep(base.POLL_INTERVAL)

    def read_pid(self):
        try:
            with open(self.pid_file, encoding="ascii") as f:
                text = f.read()
        except OSError:
            return None
        # nginx writes "PID\n"; a file caught half written has no newline yet.
        return int(text) if text.endswith("\n") and text.strip().isdigit() else None

    def answers(self):
        """True when GET / on 127.0.0.1:port returns the body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
        try:
            connection.request("GET", "/")
            response = connection.getresponse()
            return response.status == 200 and response.read().decode() == BODY
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        """SIGQUIT (graceful shutdown), then SIGTERM, then SIGKILL for the
        master and its workers; raises when nginx needed more than SIGQUIT."""
        if not self.running():
            return
        for sig, timeout in ((signal.SIGQUIT, NGINX_TIMEOUT), (signal.SIGTERM, 5.0)):
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                continue
            if sig == signal.SIGQUIT:
                return
            raise AssertionError(f"nginx ignored SIGQUIT for {NGINX_TIMEOUT} s:\n{self.log()}")
        for pid in servers.descendants(self.process.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()
        raise AssertionError(f"nginx ignored SIGQUIT and SIGTERM:\n{self.log()}")

    def log(self):
        parts = []
        for name in ("nginx.out", "error.log"):
            try:
                with open(os.path.join(self.directory, name), encoding="utf-8",
                          errors="replace") as f:
                    parts.append(f"--- {name}\n{f.read()}")
            except OSError:
                parts.append(f"--- {name}: (none)")
        return "\n".join(parts)


def curl(address, port):
    """GET / from address:port with curl, never through a proxy."""
    return subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "--max-time", "5", f"http://{address}:{port}/"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


class NginxSteeringTest(base.SteeringTestCase):
    """agilityd (policy service edge, pool base.POOL4) and one nginx listening
    on 127.0.0.1 only; the test registers nginx's socket by pid."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()  # agilityd up, answering on its control socket
        port = servers.free_port(avoid=[*base.WEB_PORTS, cls.config.port])
        cls.nginx = Nginx(os.path.join(cls.directory, "nginx"), port)
        cls.addClassCleanup(cls.nginx.stop)  # runs before agilityd is stopped
        cls.nginx_pid = cls.nginx.start()

    def logs(self):
        return (f"agilityctl status:\n{base.agilityctl(self.config, 'status').stdout}\n"
                f"agilityd log:\n{self.log()}\nnginx:\n{self.nginx.log()}")

    def assert_served(self, address, port):
        done = curl(address, port)
        self.assertEqual((done.returncode, done.stdout), (0, BODY),
                         f"curl http://{address}:{port}/: exit {done.returncode}, "
                         f"stderr {done.stderr!r}\n{self.logs()}")

    def assert_refused(self, address, port):
        done = curl(address, port)
        self.assertEqual(done.returncode, CURL_CONNECT_FAILED,
                         f"curl http://{address}:{port}/: exit {done.returncode}, stdout "
                         f"{done.stdout!r}, stderr {done.stderr!r}; expected a refused "
                         f"connection (exit 7)\n{self.logs()}")

    def resolve(self, name="www.example.com"):
        """The A records agilityd answers for `name` on 127.0.0.1."""
        done = subprocess.run(
            ["dig", "@127.0.0.1", "-p", str(self.config.port), "+short", "+tries=1", "+time=3",
             name, "A"],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertEqual(done.returncode, 0,
                         f"dig {name}: exit {done.returncode}\n{done.stdout}{done.stderr}\n"
                         f"{self.logs()}")
        answers = done.stdout.split()
        self.assertTrue(answers, f"dig {name}: no answer\n{self.logs()}")
        for answer in answers:
            self.assertIn(ipaddress.ip_address(answer), base.POOL4,
                          f"dig {name} answered {answers}")
        return answers

    def test_unmodified_nginx_serves_the_pool_once_registered(self):
        # Before any registration the pool's web ports fail closed: bound to
        # label edge, which has no socket yet.
        first = self.resolve()[0]
        self.assert_refused(first, 80)

        done = self.ctl("register-pid", str(self.nginx_pid), "edge", "tcp",
                        f"127.0.0.1:{self.nginx.port}")
        self.assertEqual(done.stdout, "")
        self.assertIn(f"of pid {self.nginx_pid} as edge", self.log())
        self.assertIn("tcp4", self.labels()["edge"]["cookies"], self.logs())

        addresses = []
        for _ in range(QUERIES):
            for address in self.resolve():
                if address not in addresses:
                    addresses.append(address)
        for address in addresses:
            for port in STEERED_PORTS:
                with self.subTest(address=address, port=port):
                    self.assert_served(address, port)

        # Not steered: an address outside the pool, and a pool address on a
        # port outside the policy's list (nginx's own, which it binds on
        # 127.0.0.1 only).
        self.assert_refused(OUTSIDE_POOL, 80)
        self.assert_refused(first, self.nginx.port)
        # nginx itself still answers where it listens, and is still running.
        self.assert_served("127.0.0.1", self.nginx.port)
        self.assertTrue(self.nginx.running(), self.nginx.log())

        labels = self.labels()["edge"]
        self.assertGreaterEqual(labels["lookups"], len(addresses) * len(STEERED_PORTS), labels)
        self.assertEqual(labels["errors"], 0, labels)


if __name__ == "__main__":
    unittest.main()
