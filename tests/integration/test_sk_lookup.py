#!/usr/bin/env python3
"""Integration tests for agilityd's sk_lookup steering, with real connections.

agilityd attaches a BPF sk_lookup program to its network namespace: every
address of a policy's pool, on the policy's ports, and every explicit
`bindings:` entry, is steered by the kernel to the one socket registered under
the binding's label. These tests start the real agilityd with
`sk_lookup: {required: true}`, register their own sockets (over the control
socket with SCM_RIGHTS, with `agilityctl register-pid`, and systemd-style with
`agilityctl register` and LISTEN_FDS) and check where connections and
datagrams to pool addresses land.

They change the network namespace (BPF links) and need root, so they must run
in a fresh namespace through the wrapper next to this file:

    tests/integration/netns_run.sh python3 tests/integration/test_sk_lookup.py -v

netns_run.sh brings lo up, routes fd00:77::/44 locally and mounts a bpffs
whose path it exports as AGILITY_BPFFS. Run any other way, the tests fail
(they never skip for a missing environment). They skip only when the kernel
lacks sk_lookup altogether, and say so.

AGILITYD and AGILITYCTL name the binaries (default ../../build/agilityd and
../../build/agilityctl relative to this file). AGILITY_TEST_SEED fixes the
random addresses (the seed in use is printed). Needs `dig`. Python 3 standard
library only.
"""

import fcntl
import ipaddress
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from harness import (AGILITYCTL, AGILITYD, POLL_INTERVAL, STARTUP_TIMEOUT,  # noqa: E402,F401
                     AgilitydProcess, servers, write_file)
BPFFS = os.environ.get("AGILITY_BPFFS", "")

SEED = int(os.environ.get("AGILITY_TEST_SEED", random.SystemRandom().randrange(2**32)))

POOL4 = ipaddress.ip_network("127.77.0.0/20")
POOL6 = ipaddress.ip_network("fd00:77::/44")
WEB_PORTS = [80, 443, 2052, 2053, 2082, 2083, 2086, 2087, 2095, 2096, 8080, 8443, 8880]
SPECIAL_ADDRESS = "127.77.0.200"  # the /32 override: tcp port 443 -> label "special"
UDP_PORT = 443                     # the udp bindings of label "edge" (QUIC-like)

IO_TIMEOUT = 3.0

SO_COOKIE = 57
IP_PKTINFO = 8
IPV6_RECVPKTINFO = 49
IPV6_PKTINFO = 50

ZONE = """\
$ORIGIN example.com.
$TTL 3600
@       IN SOA  ns1 hostmaster ( 2026112201 7200 3600 1209600 300 )
        IN NS   ns1
        IN NS   ns2
        IN A    127.0.0.10
ns1     IN A    127.0.0.53
ns2     IN AAAA ::1
www     IN A    192.0.2.80
api     IN A    192.0.2.81
"""


# --------------------------------------------------------------------------
# Environment
# --------------------------------------------------------------------------

def fail_environment(message):
    raise RuntimeError(
        f"{message}\nThese tests must run as root through tests/integration/netns_run.sh, "
        "e.g.: tests/integration/netns_run.sh python3 tests/integration/test_sk_lookup.py -v")


def kernel_has_sk_lookup():
    """True or False from /proc/kallsyms (the sk_lookup program type's helper
    bpf_sk_lookup_assign and its func_proto), None when it cannot tell."""
    try:
        with open("/proc/kallsyms", encoding="ascii", errors="replace") as f:
            symbols = f.read()
    except OSError:
        return None
    if not symbols.strip():
        return None
    return re.search(r" (bpf_sk_lookup_assign|sk_lookup_func_proto)$", symbols, re.M) is not None


def probe_sk_lookup():
    """Starts agilityd with `required: false`; returns the reason it logged
    for "sk_lookup unavailable", or None when it attached."""
    directory = tempfile.mkdtemp(prefix="agility-probe-")
    try:
        config = Config(directory, servers.free_port(avoid=WEB_PORTS), os.path.join(BPFFS, "probe"))
        config.required = False
        daemon = Daemon(config)
        daemon.start()
        try:
            log = daemon.log()
        finally:
            daemon.stop()
        unavailable = re.search(r"sk_lookup unavailable.*", log)
        return unavailable.group(0) if unavailable else None
    finally:
        shutil.rmtree(os.path.join(BPFFS, "probe"), ignore_errors=True)
        shutil.rmtree(directory, ignore_errors=True)


def setUpModule():
    if os.geteuid() != 0:
        fail_environment(f"not root (euid {os.geteuid()})")
    if not BPFFS:
        fail_environment("AGILITY_BPFFS is not set")
    with open("/proc/self/mounts", encoding="utf-8") as f:
        mounts = [line.split() for line in f]
    if not any(m[1] == BPFFS and m[2] == "bpf" for m in mounts):
        fail_environment(f"AGILITY_BPFFS={BPFFS} is not a mounted bpf filesystem")
    interfaces = [name for _, name in socket.if_nameindex()]
    if interfaces != ["lo"]:
        fail_environment(f"not in a fresh network namespace (interfaces {interfaces})")
    for binary in (AGILITYD, AGILITYCTL):
        if not os.access(binary, os.X_OK):
            fail_environment(f"{binary} is missing or not executable (build with ninja -C build)")
    if shutil.which("dig") is None:
        fail_environment("dig not found (bind9-dnsutils)")
    print(f"\ntest_sk_lookup: AGILITY_TEST_SEED={SEED}", file=sys.stderr)
    supported = kernel_has_sk_lookup()
    if supported:
        return
    reason = probe_sk_lookup()
    if reason is not None:
        raise unittest.SkipTest(
            f"the kernel lacks BPF sk_lookup (no bpf_sk_lookup_assign in /proc/kallsyms; "
            f"agilityd: {reason})")


# --------------------------------------------------------------------------
# Configuration and daemon
# --------------------------------------------------------------------------

def binding(label, protocol, prefix, port):
    return {"label": label, "protocol": protocol, "prefix": str(prefix), "port": port}


class Config:
    """An agilityd configuration in `directory`; `write()` renders it (as
    JSON-style YAML) to agility.yaml."""

    def __init__(self, directory, port, pin):
        self.directory = directory
        self.port = port
        self.pin = pin
        self.path = os.path.join(directory, "agility.yaml")
        self.control = os.path.join(directory, "control.sock")
        self.required = True
        self.service = "edge"  # the policy's service; None: the policy steers nothing
        self.services = ["edge", "special"]
        self.bindings = [binding("special", "tcp", f"{SPECIAL_ADDRESS}/32", 443)]
        self.user = None  # server.user: drop privileges to this user after setup
        self.policy_extra = {}  # more policy keys (ports, protocols)
        self.ttl = 300  # the policy's TTL: a prefix no longer answered drains this long
        self.drain_grace_s = 60
        self.pool4 = str(POOL4)  # a prefix, or a list of {prefix, weight}
        self.more_pools = {}
        self.state_dir = os.path.join(directory, "state")
        write_file(os.path.join(directory, "example.com.zone"), ZONE)

    def text(self):
        policy = {"name": "proxied", "match": ["*.example.com"], "ipv4": "edge4",
                  "ipv6": "edge6", "ttl": self.ttl}
        if self.service:
            policy["service"] = self.service
        policy.update(self.policy_extra)
        lines = [
            "server:",
            f"  listen: {json.dumps([f'127.0.0.1:{self.port}', f'[::1]:{self.port}'])}",
            "  workers: 2",
            f"  control: {json.dumps(self.control)}",
            f"  state_dir: {json.dumps(self.state_dir)}",
        ]
        if self.user:
            lines.append(f"  user: {json.dumps(self.user)}")
        lines += [
            'zones: ["example.com.zone"]',
            "pools:",
            f"  edge4: {json.dumps(self.pool4)}",
            f"  edge6: {json.dumps(str(POOL6))}",
        ]
        lines += [f"  {name}: {json.dumps(pool)}" for name, pool in self.more_pools.items()]
        lines += [
            "sk_lookup: " + json.dumps({"required": self.required, "pin": self.pin,
                                        "drain_grace_s": self.drain_grace_s}),
            "services: " + json.dumps({name: {} for name in self.services}),
            "policies:",
            f"  - {json.dumps(policy)}",
            "bindings:" + ("" if self.bindings else " []"),
        ]
        lines += [f"  - {json.dumps(b)}" for b in self.bindings]
        return "\n".join(lines) + "\n"

    def write(self):
        write_file(self.path, self.text())


class Daemon(AgilitydProcess):
    """agilityd running `config`, its output in agilityd.log; ready when its
    control socket answers."""

    def __init__(self, config):
        super().__init__(config.path, os.path.join(config.directory, "agilityd.log"))
        self.config = config

    def start(self):
        self.config.write()

        def ready():
            try:
                lines = control(self.config.control, "status")
            except OSError:
                return False
            return bool(lines) and lines[-1] == "ok"
        super().start(ready)


def control(path, line, fds=()):
    """One request on agilityd's control socket, descriptors attached with
    SCM_RIGHTS; returns the reply's lines (the last one is the verdict)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(path)
        data = (line + "\n").encode()
        if fds:
            socket.send_fds(s, [data], list(fds))
        else:
            s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace").splitlines()


def agilityctl(config, *args):
    return subprocess.run([AGILITYCTL, "-c", config.path, *args], capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


def run_with_fd3(argv, fd):
    """Runs argv with `fd` as its descriptor 3 (as systemd passes sockets);
    returns (exit code, stdout+stderr)."""
    with tempfile.TemporaryFile() as out:
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        try:
            pid = os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                (os.POSIX_SPAWN_DUP2, out.fileno(), 2),
                (os.POSIX_SPAWN_DUP2, high, 3),
            ])
        finally:
            os.close(high)
        _, status = os.waitpid(pid, 0)
        out.seek(0)
        return os.waitstatus_to_exitcode(status), out.read().decode("utf-8", errors="replace")


STATUS_LABEL = re.compile(
    r"^  label (\S+): (.*); lookups (\d+) misses (\d+) errors (\d+)$", re.M)


def parse_labels(status_text):
    """{label: {"cookies": {"tcp4": n, ...}, "lookups": n, "misses": n,
    "errors": n}} from `agilityctl status`."""
    labels = {}
    for m in STATUS_LABEL.finditer(status_text):
        cookies = {slot: int(c) for slot, c in re.findall(r"(tcp4|tcp6|udp4|udp6) cookie (\d+)",
                                                          m.group(2))}
        if not cookies and m.group(2) != "no socket":
            raise AssertionError(f"malformed label line: {m.group(0)!r}")
        labels[m.group(1)] = {"cookies": cookies, "lookups": int(m.group(3)),
                              "misses": int(m.group(4)), "errors": int(m.group(5))}
    return labels


# --------------------------------------------------------------------------
# Sockets
# --------------------------------------------------------------------------

def cookie(sock):
    return struct.unpack("=Q", sock.getsockopt(socket.SOL_SOCKET, SO_COOKIE, 8))[0]


def tcp_listener(family=socket.AF_INET, v6only=True):
    """A listener on a random port of 127.0.0.1 or [::1]; dual-stack ones
    (v6only=False) on [::], as binding a specific IPv6 address makes the
    kernel set IPV6_V6ONLY."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if v6only else 0)
        sock.bind(("::1" if v6only else "::", 0))
    else:
        sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


def udp_receiver(family=socket.AF_INET):
    """An unconnected UDP socket on a random port of 127.0.0.1 or [::1] that
    reports each datagram's destination address (PKTINFO)."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO, 1)
        sock.bind(("::1", 0))
    else:
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        sock.bind(("127.0.0.1", 0))
    return sock


def receive_datagram(sock, timeout=IO_TIMEOUT):
    """(payload, destination address) of the next datagram, or None."""
    readable, _, _ = select.select([sock], [], [], timeout)
    if not readable:
        return None
    data, ancillary, _, _ = sock.recvmsg(65536, socket.CMSG_SPACE(32))
    destination = None
    for level, kind, value in ancillary:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            destination = socket.inet_ntop(socket.AF_INET, value[8:12])
        elif level == socket.IPPROTO_IPV6 and kind == IPV6_PKTINFO:
            destination = socket.inet_ntop(socket.AF_INET6, value[:16])
    return data, destination


def pending_connection(listener):
    """True when `listener` has a connection waiting to be accepted."""
    readable, _, _ = select.select([listener], [], [], 0)
    return bool(readable)


def same_address(a, b):
    return ipaddress.ip_address(a) == ipaddress.ip_address(b)


def family_of(address):
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


class LineReader:
    """Lines from a pipe, with a timeout."""

    def __init__(self, pipe):
        self.fd = pipe.fileno()
        self.buffer = b""

    def readline(self, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([self.fd], [], [], remaining)
            if readable:
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    return None
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()


# A process that owns a listener, for register-pid: prints "PORT COOKIE", then
# "accepted LOCAL_ADDRESS LOCAL_PORT PEER_ADDRESS PEER_PORT" per connection.
CHILD_SERVER = r"""
import socket, struct
listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.bind(("127.0.0.1", 0))
listener.listen(128)
cookie = struct.unpack("=Q", listener.getsockopt(socket.SOL_SOCKET, 57, 8))[0]
print(listener.getsockname()[1], cookie, flush=True)
while True:
    conn, peer = listener.accept()
    local = conn.getsockname()
    print("accepted", local[0], local[1], peer[0], peer[1], flush=True)
    conn.close()
"""


# --------------------------------------------------------------------------
# Test base
# --------------------------------------------------------------------------

class SteeringTestCase(unittest.TestCase):
    """Starts agilityd once per class, with its own configuration, control
    socket and pin directory; after the class, stops it (expecting exit 0)
    and removes the pins, which detaches the class's sk_lookup program."""

    maxDiff = None

    @classmethod
    def configure(cls, config):
        """Subclasses adjust the configuration here."""

    @classmethod
    def setUpClass(cls):
        cls.rng = random.Random(f"{SEED}-{cls.__name__}")
        cls.directory = tempfile.mkdtemp(prefix=f"agility-{cls.__name__}-")
        cls.addClassCleanup(shutil.rmtree, cls.directory, ignore_errors=True)
        cls.config = Config(cls.directory, servers.free_port(avoid=WEB_PORTS),
                            os.path.join(BPFFS, f"{cls.__name__}-{os.getpid()}"))
        cls.configure(cls.config)
        cls.addClassCleanup(cls.unpin)
        cls.daemon = Daemon(cls.config)
        cls.addClassCleanup(cls.stop_daemon)
        cls.daemon.start()

    @classmethod
    def stop_daemon(cls):
        code = cls.daemon.stop()
        if code not in (None, 0, -signal.SIGKILL):
            raise AssertionError(f"agilityd exited with {code}:\n{cls.daemon.log()}")

    @classmethod
    def unpin(cls):
        """Removes the pinned link and maps; with agilityd gone that detaches
        the program, which must then steer nothing (checked with a listener
        registered for the purpose when the daemon is still reachable)."""
        shutil.rmtree(cls.config.pin, ignore_errors=True)

    # ---- helpers

    def log(self):
        return self.daemon.log()

    def ctl(self, *args, expect=0):
        done = agilityctl(self.config, *args)
        if expect is not None:
            self.assertEqual(done.returncode, expect,
                             f"agilityctl {' '.join(args)}: exit {done.returncode}\n"
                             f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}\n"
                             f"agilityd log:\n{self.log()}")
        return done

    def labels(self):
        return parse_labels(self.ctl("status").stdout)

    def register(self, label, *socks):
        """Registers over the control socket with SCM_RIGHTS; returns the reply."""
        return control(self.config.control, f"register {label}", [s.fileno() for s in socks])

    def assert_registered(self, label, *socks):
        reply = self.register(label, *socks)
        self.assertEqual(reply[-1:], ["ok"], f"register {label}: {reply}\n{self.log()}")

    def assert_rejected(self, label, sock, reason):
        """The control reply ends with "error" and mentions `reason`."""
        reply = self.register(label, sock)
        self.assertEqual(reply[-1:], ["error"], f"register {label} of {sock}: {reply}")
        self.assertRegex("\n".join(reply[:-1]), reason)

    def random_pool4(self, count, exclude=(SPECIAL_ADDRESS,)):
        excluded = {ipaddress.ip_address(a) for a in exclude}
        candidates = [a for a in POOL4 if a not in excluded]
        return [str(a) for a in self.rng.sample(candidates, count)]

    def random_pool6(self, count):
        return [str(POOL6.network_address + self.rng.randrange(1, POOL6.num_addresses))
                for _ in range(count)]

    def where(self):
        return f"(AGILITY_TEST_SEED={SEED})"

    def connect(self, address, port):
        client = socket.socket(family_of(address), socket.SOCK_STREAM)
        client.settimeout(IO_TIMEOUT)
        try:
            client.connect((address, port))
        except BaseException:
            client.close()
            raise
        return client

    def assert_steered(self, listener, address, port):
        """A TCP connection to address:port is accepted by `listener`, with the
        dialed address as its local address."""
        try:
            client = self.connect(address, port)
        except OSError as e:
            self.fail(f"connect to {address} port {port}: {e!r}; expected it steered to "
                      f"{listener.getsockname()} {self.where()}")
        with client:
            readable, _, _ = select.select([listener], [], [], IO_TIMEOUT)
            self.assertTrue(readable, f"connection to {address} port {port} did not reach the "
                                      f"listener {listener.getsockname()} {self.where()}")
            conn, peer = listener.accept()
            with conn:
                local = conn.getsockname()
                self.assertTrue(same_address(local[0], address) and local[1] == port,
                                f"accepted connection's local address {local[:2]}, dialed "
                                f"{address} port {port} {self.where()}")
                mine = client.getsockname()
                self.assertTrue(same_address(peer[0], mine[0]) and peer[1] == mine[1],
                                f"accepted {peer[:2]}, but the client is {mine[:2]}")

    def assert_refused(self, address, port, *idle_listeners):
        """A TCP connection to address:port is refused (RST), and none of
        `idle_listeners` has anything to accept."""
        try:
            client = self.connect(address, port)
        except ConnectionRefusedError:
            pass
        except OSError as e:
            self.fail(f"connect to {address} port {port}: {e!r}; expected ECONNREFUSED")
        else:
            with client:
                self.fail(f"connect to {address} port {port} succeeded "
                          f"(local {client.getpeername()}); expected ECONNREFUSED {self.where()}")
        for listener in idle_listeners:
            self.assertFalse(pending_connection(listener),
                             f"{listener.getsockname()} got a connection for {address} port {port}")

    def dig(self, server, *args):
        done = subprocess.run(
            ["dig", f"@{server}", "-p", str(self.config.port), "+norecurse", "+tries=1",
             "+time=3", "+noall", "+answer", "+stats", *args],
            capture_output=True, text=True, timeout=30)
        output = done.stdout + done.stderr
        if done.returncode != 0:
            status = agilityctl(self.config, "status").stdout
            self.fail(f"dig @{server} {args}: exit {done.returncode}\n{output}\n"
                      f"agilityctl status:\n{status}\nagilityd log:\n{self.log()}")
        self.assertNotIn("unexpected source", output)
        server_line = re.search(r"^;; SERVER: (\S+)#(\d+)", output, re.M)
        self.assertIsNotNone(server_line, output)
        self.assertTrue(same_address(server_line.group(1), server), output)
        return [line.split() for line in done.stdout.splitlines()
                if line and not line.startswith(";")]


# --------------------------------------------------------------------------
# Steering of pools, overrides, UDP, IPv6 and agilityd's own DNS sockets
# --------------------------------------------------------------------------

class PoolSteeringTest(SteeringTestCase):
    """One edge listener per family and protocol, registered with SCM_RIGHTS,
    a special listener for the /32 override, and agilityd's own DNS sockets
    reachable on every pool address of its port."""

    @classmethod
    def configure(cls, config):
        port = config.port
        config.bindings += [
            binding("edge", "udp", POOL4, UDP_PORT),
            binding("edge", "udp", POOL6, UDP_PORT),
            binding("dns", "udp", POOL4, port),
            binding("dns", "tcp", POOL4, port),
            binding("dns", "udp", POOL6, port),
            binding("dns", "tcp", POOL6, port),
        ]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.edge4 = tcp_listener()
        cls.edge6 = tcp_listener(socket.AF_INET6)
        cls.special4 = tcp_listener()
        cls.udp4 = udp_receiver()
        cls.udp6 = udp_receiver(socket.AF_INET6)
        for sock in (cls.edge4, cls.edge6, cls.special4, cls.udp4, cls.udp6):
            cls.addClassCleanup(sock.close)
        # Two sockets in one request, then one each.
        for label, socks in (("edge", (cls.edge4, cls.edge6)), ("edge", (cls.udp4,)),
                             ("edge", (cls.udp6,)), ("special", (cls.special4,))):
            reply = control(cls.config.control, f"register {label}", [s.fileno() for s in socks])
            if reply[-1:] != ["ok"]:
                raise AssertionError(f"register {label}: {reply}\n{cls.daemon.log()}")

    def tearDown(self):
        for sock in (self.edge4, self.edge6, self.special4):
            self.assertFalse(pending_connection(sock),
                             f"a connection is left on {sock.getsockname()}")

    def test_web_ports_of_50_random_pool_addresses_reach_the_edge_listener(self):
        addresses = self.random_pool4(50)
        before = self.labels()["edge"]
        for address in addresses:
            for port in WEB_PORTS:
                self.assert_steered(self.edge4, address, port)
        after = self.labels()["edge"]
        count = len(addresses) * len(WEB_PORTS)
        self.assertEqual(after["lookups"] - before["lookups"], count, f"{before} -> {after}")
        self.assertEqual(after["misses"], before["misses"])
        self.assertEqual(after["errors"], 0)

    def test_pool_edges_are_steered(self):
        for address in ("127.77.0.0", "127.77.0.1", "127.77.15.254", "127.77.15.255"):
            self.assert_steered(self.edge4, address, 443)

    def test_addresses_outside_the_pool_are_not_steered(self):
        before = self.labels()
        for address in ("127.78.0.1", "127.76.255.255", "127.77.16.0", "127.0.0.2"):
            for port in (80, 443):
                self.assert_refused(address, port, self.edge4, self.special4)
        after = self.labels()
        for label in ("edge", "special"):
            self.assertEqual(after[label]["lookups"], before[label]["lookups"], label)

    def test_ports_outside_the_list_are_not_steered(self):
        before = self.labels()
        for address in ("127.77.0.1", *self.random_pool4(5)):
            for port in (81, 444, 8081, 22, 2054, 65535):
                self.assert_refused(address, port, self.edge4, self.special4)
        self.assert_refused(SPECIAL_ADDRESS, 444, self.edge4, self.special4)
        after = self.labels()
        for label in ("edge", "special"):
            self.assertEqual(after[label]["lookups"], before[label]["lookups"], label)

    def test_host_override_goes_to_special_on_its_port_only(self):
        before = self.labels()["special"]
        for _ in range(5):
            self.assert_steered(self.special4, SPECIAL_ADDRESS, 443)
        self.assertEqual(self.labels()["special"]["lookups"] - before["lookups"], 5)
        for port in WEB_PORTS:
            if port != 443:
                self.assert_steered(self.edge4, SPECIAL_ADDRESS, port)
        for neighbour in ("127.77.0.199", "127.77.0.201"):
            self.assert_steered(self.edge4, neighbour, 443)

    def test_ipv6_pool_reaches_the_ipv6_listener(self):
        for address in self.random_pool6(20):
            self.assert_steered(self.edge6, address, 443)
        for address in self.random_pool6(2):
            for port in WEB_PORTS:
                self.assert_steered(self.edge6, address, port)
        self.assert_steered(self.edge6, str(POOL6[1]), 80)
        self.assert_steered(self.edge6, str(POOL6[-1]), 8443)

    def test_ipv6_ports_outside_the_list_are_not_steered(self):
        for address in self.random_pool6(3):
            self.assert_refused(address, 81, self.edge6)
            self.assert_refused(address, 444, self.edge6)

    def test_udp_datagrams_to_random_pool_addresses_reach_one_socket(self):
        for receiver, addresses in ((self.udp4, self.random_pool4(30)),
                                    (self.udp6, self.random_pool6(30))):
            with socket.socket(receiver.family, socket.SOCK_DGRAM) as sender:
                for i, address in enumerate(addresses):
                    payload = f"datagram {i} to {address}".encode()
                    sender.sendto(payload, (address, UDP_PORT))
                    got = receive_datagram(receiver)
                    self.assertIsNotNone(got, f"nothing arrived for {address} port {UDP_PORT} "
                                              f"{self.where()}")
                    self.assertEqual(got[0], payload)
                    self.assertIsNotNone(got[1], "no PKTINFO")
                    self.assertTrue(same_address(got[1], address),
                                    f"datagram for {address} had destination {got[1]}")

    def test_udp_outside_the_bindings_is_not_steered(self):
        for address, port in (("127.77.0.9", 444), ("127.77.0.9", 80), ("127.78.0.9", UDP_PORT)):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                sender.settimeout(IO_TIMEOUT)
                sender.connect((address, port))
                sender.send(b"not steered")
                with self.assertRaises(ConnectionRefusedError, msg=f"{address} port {port}"):
                    sender.recv(100)
            self.assertIsNone(receive_datagram(self.udp4, timeout=0),
                              f"{address} port {port} reached the edge udp socket")

    def test_dns_over_udp_on_pool_addresses(self):
        for server in ("127.77.9.9", *self.random_pool4(3)):
            answers = self.dig(server, "www.example.com", "A")
            self.assertEqual(len(answers), 1, answers)
            name, _, _, rtype, address = answers[0]
            self.assertEqual((name, rtype), ("www.example.com.", "A"))
            self.assertIn(ipaddress.ip_address(address), POOL4)

    def test_dns_over_tcp_on_pool_addresses(self):
        for server in ("127.77.9.9", *self.random_pool4(3)):
            answers = self.dig(server, "+tcp", "www.example.com", "A")
            self.assertEqual(len(answers), 1, answers)
            self.assertIn(ipaddress.ip_address(answers[0][4]), POOL4)

    def test_dns_over_udp_on_ipv6_pool_addresses(self):
        for server in self.random_pool6(2):
            answers = self.dig(server, "www.example.com", "AAAA")
            self.assertEqual(len(answers), 1, answers)
            self.assertIn(ipaddress.ip_address(answers[0][4]), POOL6)

    def test_dns_over_tcp_on_ipv6_pool_addresses(self):
        for server in self.random_pool6(2):
            answers = self.dig(server, "+tcp", "www.example.com", "AAAA")
            self.assertEqual(len(answers), 1, answers)
            self.assertIn(ipaddress.ip_address(answers[0][4]), POOL6)

    def test_resolved_address_is_steered_to_edge(self):
        answers = self.dig("127.77.9.9", "api.example.com", "A")
        self.assertEqual(len(answers), 1, answers)
        self.assert_steered(self.edge4, answers[0][4], 443)

    def test_status_shows_labels_with_socket_cookies(self):
        labels = self.labels()
        self.assertEqual(set(labels), {"dns", "edge", "special"})
        self.assertEqual(labels["edge"]["cookies"],
                         {"tcp4": cookie(self.edge4), "tcp6": cookie(self.edge6),
                          "udp4": cookie(self.udp4), "udp6": cookie(self.udp6)})
        self.assertEqual(labels["special"]["cookies"], {"tcp4": cookie(self.special4)})
        self.assertEqual(set(labels["dns"]["cookies"]), {"tcp4", "tcp6", "udp4", "udp6"})
        mine = {cookie(s) for s in (self.edge4, self.edge6, self.udp4, self.udp6, self.special4)}
        self.assertFalse(mine & set(labels["dns"]["cookies"].values()))
        status = self.ctl("status").stdout
        self.assertIn(f"sk_lookup pinned in {self.config.pin}\n", status)

    def test_bindings_lists_every_binding(self):
        expected = set()
        for prefix in (POOL4, POOL6):
            for port in WEB_PORTS:
                expected.add(f"tcp {prefix} port {port} -> edge")
            expected.add(f"udp {prefix} port {UDP_PORT} -> edge")
            for protocol in ("udp", "tcp"):
                expected.add(f"{protocol} {prefix} port {self.config.port} -> dns")
        expected.add(f"tcp {SPECIAL_ADDRESS}/32 port 443 -> special")
        listed = self.ctl("bindings").stdout.splitlines()
        self.assertEqual(len(listed), len(set(listed)), listed)
        self.assertEqual(set(listed), expected)

    def test_pins(self):
        self.assertEqual(sorted(os.listdir(self.config.pin)),
                         ["bindings", "counters", "drain_lookups", "labels", "link", "sockets"])


# --------------------------------------------------------------------------
# The three ways of registering
# --------------------------------------------------------------------------

class RegistrationMethodsTest(SteeringTestCase):
    """Each method moves label edge (tcp4) to a new listener."""

    def assert_edge_is(self, expected_cookie):
        self.assertEqual(self.labels()["edge"]["cookies"].get("tcp4"), expected_cookie)

    def test_scm_rights(self):
        first, second = tcp_listener(), tcp_listener()
        with first, second:
            self.assert_registered("edge", first)
            self.assert_edge_is(cookie(first))
            for address in self.random_pool4(5):
                self.assert_steered(first, address, 80)
            # Registering again replaces the label's tcp4 socket.
            self.assert_registered("edge", second)
            self.assert_edge_is(cookie(second))
            for address in self.random_pool4(5):
                self.assert_steered(second, address, 8080)
                self.assertFalse(pending_connection(first))
            self.assertIn("as edge", self.log())

    def test_register_pid(self):
        child = subprocess.Popen([sys.executable, "-c", CHILD_SERVER], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE)
        self.addCleanup(child.wait)
        self.addCleanup(child.kill)
        self.addCleanup(child.stdout.close)
        lines = LineReader(child.stdout)
        first = lines.readline(timeout=10)
        self.assertIsNotNone(first, "the child did not start")
        port, child_cookie = (int(x) for x in first.split())
        done = self.ctl("register-pid", str(child.pid), "edge", "tcp", f"127.0.0.1:{port}")
        self.assertEqual(done.stdout, "")
        self.assert_edge_is(child_cookie)
        for address in self.random_pool4(10):
            port_dialed = self.rng.choice(WEB_PORTS)
            with self.connect(address, port_dialed) as client:
                line = lines.readline()
                self.assertIsNotNone(line, f"the child accepted nothing for {address}")
                words = line.split()
                self.assertEqual(words[0], "accepted")
                self.assertEqual((words[1], int(words[2])), (address, port_dialed))
                self.assertEqual((words[3], int(words[4])), client.getsockname())
        self.assertIn(f"of pid {child.pid} as edge", self.log())

    def test_register_pid_errors(self):
        child = subprocess.Popen([sys.executable, "-c", CHILD_SERVER], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE)
        self.addCleanup(child.wait)
        self.addCleanup(child.kill)
        self.addCleanup(child.stdout.close)
        port, _ = (int(x) for x in LineReader(child.stdout).readline(timeout=10).split())
        before = self.labels()["edge"]["cookies"]
        for args, reason in (
                ((str(child.pid), "edge", "tcp", f"127.0.0.1:{port + 1 if port < 65535 else 1}"),
                 "no listening tcp socket"),
                ((str(child.pid), "edge", "udp", f"127.0.0.1:{port}"), "no udp socket"),
                ((str(child.pid), "edge", "tcp", f"[::1]:{port}"), "no listening tcp socket"),
                ((str(child.pid), "nosuch", "tcp", f"127.0.0.1:{port}"), "unknown label"),
                ((str(child.pid), "edge", "sctp", f"127.0.0.1:{port}"), "tcp or udp"),
                (("999999", "edge", "tcp", f"127.0.0.1:{port}"), "pidfd_open"),
                (("-1", "edge", "tcp", f"127.0.0.1:{port}"), "bad pid")):
            done = self.ctl("register-pid", *args, expect=1)
            self.assertIn(reason, done.stderr, args)
        self.assertEqual(self.labels()["edge"]["cookies"], before)

    def test_systemd_socket_activation(self):
        listener = tcp_listener()
        with listener:
            sh = shutil.which("sh")
            code, output = run_with_fd3(
                [sh, "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" -c "$1" register edge',
                 AGILITYCTL, self.config.path], listener.fileno())
            self.assertEqual(code, 0, output)
            self.assert_edge_is(cookie(listener))
            for address in self.random_pool4(10):
                self.assert_steered(listener, address, self.rng.choice(WEB_PORTS))

    def test_systemd_activation_needs_listen_pid_of_the_process(self):
        listener = tcp_listener()
        with listener:
            before = self.labels()["edge"]["cookies"]
            sh = shutil.which("sh")
            for script in ('LISTEN_PID=1 LISTEN_FDS=1 exec "$0" -c "$1" register edge',
                           'exec "$0" -c "$1" register edge'):
                code, output = run_with_fd3([sh, "-c", script, AGILITYCTL, self.config.path],
                                            listener.fileno())
                self.assertEqual(code, 2, output)
                self.assertIn("LISTEN_PID", output)
            self.assertEqual(self.labels()["edge"]["cookies"], before)


# --------------------------------------------------------------------------
# Validation of registered sockets
# --------------------------------------------------------------------------

class RegistrationValidationTest(SteeringTestCase):
    """Unsteerable sockets and unknown labels are refused, and a refused
    registration leaves the label's socket in place."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.good = tcp_listener()
        cls.addClassCleanup(cls.good.close)
        reply = control(cls.config.control, "register edge", [cls.good.fileno()])
        if reply[-1:] != ["ok"]:
            raise AssertionError(f"register edge: {reply}\n{cls.daemon.log()}")

    def tearDown(self):
        self.assertEqual(self.labels()["edge"]["cookies"], {"tcp4": cookie(self.good)})
        self.assert_steered(self.good, self.random_pool4(1)[0], 443)

    def test_connected_tcp_sockets(self):
        with tcp_listener() as server, socket.create_connection(server.getsockname()) as client:
            accepted, _ = server.accept()
            with accepted:
                self.assert_rejected("edge", client, "must be listening")
                self.assert_rejected("edge", accepted, "must be listening")

    def test_unbound_tcp_socket(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            self.assert_rejected("edge", sock, "must be listening")

    def test_bound_tcp_socket_that_does_not_listen(self):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            self.assert_rejected("edge", sock, "must be listening")

    def test_dual_stack_ipv6_listener(self):
        with tcp_listener(socket.AF_INET6, v6only=False) as sock:
            self.assertEqual(sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY), 0)
            self.assert_rejected("edge", sock, "IPV6_V6ONLY")
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            sock.bind(("::", 0))
            self.assertEqual(sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY), 0)
            self.assert_rejected("edge", sock, "IPV6_V6ONLY")

    def test_connected_udp_socket(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("127.0.0.1", 9))
            self.assert_rejected("edge", sock, "unconnected")

    def test_not_a_tcp_or_udp_socket(self):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            self.assert_rejected("edge", sock, "only TCP and UDP")
        with open(os.devnull, "rb") as f:
            reply = control(self.config.control, "register edge", [f.fileno()])
            self.assertEqual(reply[-1:], ["error"], reply)
            self.assertIn("not a socket", "\n".join(reply))

    def test_undeclared_label(self):
        with tcp_listener() as sock:
            self.assert_rejected("nosuch", sock, "unknown label 'nosuch'")
            self.assertNotIn("nosuch", self.labels())

    def test_register_without_descriptors(self):
        reply = control(self.config.control, "register edge")
        self.assertEqual(reply[-1:], ["error"], reply)
        self.assertIn("SCM_RIGHTS", "\n".join(reply))
        done = self.ctl("register", "edge", expect=2)
        self.assertIn("LISTEN_FDS", done.stderr)

    def test_one_bad_socket_among_several(self):
        with tcp_listener() as fine, socket.socket(socket.AF_INET, socket.SOCK_STREAM) as bad:
            reply = self.register("special", fine, bad)
            self.assertEqual(reply[-1:], ["error"], reply)


# --------------------------------------------------------------------------
# Failing closed, and reloads
# --------------------------------------------------------------------------

class FailClosedAndReloadTest(SteeringTestCase):
    """A label without a socket drops what its bindings match (a counted miss;
    TCP sees a reset), while addresses without a binding take the normal
    lookup; reloads add and remove bindings, and registrations survive them.
    TTL 0 and no grace: removed pool bindings do not drain (DrainTest)."""

    @classmethod
    def configure(cls, config):
        config.ttl = 0
        config.drain_grace_s = 0

    def check_reload(self):
        done = self.ctl("reload")
        self.assertIn("generation", done.stdout)

    def test_fail_closed_then_reload(self):
        config = self.config
        listener = tcp_listener()
        special = tcp_listener()
        self.addCleanup(special.close)
        self.assert_registered("edge", listener)
        self.assert_registered("special", special)
        for address in self.random_pool4(3):
            self.assert_steered(listener, address, 443)

        # Closing the registered listener removes it from the socket map:
        # its bindings now fail closed, counted as misses.
        listener.close()
        before = self.labels()["edge"]
        self.assertEqual(before["cookies"], {})
        addresses = self.random_pool4(10)
        for i, address in enumerate(addresses):
            self.assert_refused(address, WEB_PORTS[i % len(WEB_PORTS)])
            self.assertGreaterEqual(self.labels()["edge"]["misses"], before["misses"] + i + 1)
        after = self.labels()["edge"]
        self.assertEqual(after["misses"] - before["misses"], len(addresses), f"{before} {after}")
        self.assertEqual(after["lookups"] - before["lookups"], len(addresses))
        self.assertEqual(after["errors"], 0)
        status = self.ctl("status").stdout
        self.assertRegex(status, r"label edge: no socket; lookups \d+ misses [1-9]")

        # A new listener takes over at once.
        replacement = tcp_listener()
        self.addCleanup(replacement.close)
        self.assert_registered("edge", replacement)
        for address in addresses:
            self.assert_steered(replacement, address, 80)

        # Without the policy's service its pool is not bound: the kernel's
        # normal lookup finds nothing (refused), and nothing is counted.
        config.service = None
        config.write()
        self.check_reload()
        listed = self.ctl("bindings").stdout.splitlines()
        self.assertEqual(listed, [f"tcp {SPECIAL_ADDRESS}/32 port 443 -> special"])
        before = self.labels()["edge"]
        for address in addresses[:5]:
            for port in (80, 443, 8880):
                self.assert_refused(address, port, replacement, special)
        for address in self.random_pool6(2):
            self.assert_refused(address, 443)
        after = self.labels()["edge"]
        self.assertEqual((after["lookups"], after["misses"]),
                         (before["lookups"], before["misses"]))
        self.assertEqual(after["cookies"], {"tcp4": cookie(replacement)},
                         "a reload must keep registrations")
        # The /32 binding is still there.
        self.assert_steered(special, SPECIAL_ADDRESS, 443)
        self.assert_refused(SPECIAL_ADDRESS, 80, replacement, special)

        # Without the binding too, nothing is steered.
        config.bindings = []
        config.write()
        self.check_reload()
        self.assertEqual(self.ctl("bindings").stdout, "")
        before = self.labels()["special"]
        self.assert_refused(SPECIAL_ADDRESS, 443, replacement, special)
        self.assertEqual(self.labels()["special"]["lookups"], before["lookups"])

        # A failed reload changes nothing.
        config.service = "edge"
        config.bindings = [binding("nosuch", "tcp", POOL4, 443)]
        config.write()
        done = self.ctl("reload", expect=1)
        self.assertIn("binding label 'nosuch' is not declared under services", done.stderr)
        self.assertEqual(self.ctl("bindings").stdout, "")
        self.assert_refused(addresses[0], 443, replacement, special)

        # Restoring the configuration steers again, to the same sockets.
        config.service = "edge"
        config.bindings = [binding("special", "tcp", f"{SPECIAL_ADDRESS}/32", 443)]
        config.write()
        self.check_reload()
        self.assertEqual(len(self.ctl("bindings").stdout.splitlines()), 2 * len(WEB_PORTS) + 1)
        for address in addresses[:5]:
            self.assert_steered(replacement, address, 443)
        self.assert_steered(special, SPECIAL_ADDRESS, 443)

        # SIGHUP reloads too: drop the service again.
        config.service = None
        config.write()
        self.daemon.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while self.ctl("bindings").stdout.count("-> edge") and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL)
        self.assertNotIn("-> edge", self.ctl("bindings").stdout)
        self.assert_refused(addresses[0], 443, replacement)


class MapLimitsTest(SteeringTestCase):
    """The bindings map holds 65536 entries and the labels map 256, pinned
    across restarts: reloads must neither half-apply what does not fit nor
    use up label ids. (TTL 0, no grace: nothing drains.)"""

    @classmethod
    def configure(cls, config):
        config.ttl = 0
        config.drain_grace_s = 0

    def bindings(self):
        return self.ctl("bindings").stdout.splitlines()

    def test_reload_that_does_not_fit_changes_nothing_and_a_restart_applies_it(self):
        config = self.config
        listener = tcp_listener()
        self.addCleanup(listener.close)
        # 2 prefixes x 10000 ports x 2 protocols: 40000 bindings, plus /32.
        config.policy_extra = {"ports": list(range(1, 10001)), "protocols": ["tcp", "udp"]}
        config.write()
        self.ctl("reload")
        self.assertEqual(len(self.bindings()), 40001)
        self.assert_registered("edge", listener)
        address = self.random_pool4(1)[0]
        self.assert_steered(listener, address, 8080)

        # 40000 other ones: both sets would need 80001 entries.
        config.policy_extra["ports"] = list(range(20001, 30001))
        config.write()
        done = self.ctl("reload", expect=1)
        self.assertIn("exceed the map's 65536", done.stderr)
        self.assertIn("nothing was changed", done.stderr)
        self.assertEqual(len(self.bindings()), 40001)
        self.assertIn(f"tcp {POOL4} port 8080 -> edge", self.bindings())
        self.assert_steered(listener, address, 8080)

        # A start may remove stale bindings first.
        self.assertEqual(self.daemon.stop(), 0)
        self.daemon.start()
        bindings = self.bindings()
        self.assertEqual(len(bindings), 40001)
        self.assertIn(f"tcp {POOL4} port 20001 -> edge", bindings)
        self.assertNotIn(f"tcp {POOL4} port 8080 -> edge", bindings)
        self.assert_registered("edge", listener)
        self.assert_steered(listener, address, 20001)

    def test_renamed_services_free_their_label_ids(self):
        config = self.config
        config.policy_extra = {}
        # More renames than there are label ids (256).
        for i in range(300):
            config.service = f"edge{i}"
            config.services = [config.service, "special"]
            config.write()
            lines = control(config.control, "reload")
            self.assertEqual(lines[-1], "ok", "\n".join(lines))
        labels = self.labels()
        self.assertEqual(sorted(labels), ["dns", "edge299", "special"])
        self.assertIn(f"tcp {POOL4} port 443 -> edge299", self.bindings())
        config.service, config.services = "edge", ["edge", "special"]
        config.write()
        self.ctl("reload")


# --------------------------------------------------------------------------
# Steering outlives agilityd
# --------------------------------------------------------------------------

class RestartPersistenceTest(SteeringTestCase):
    """The link and maps are pinned: steering continues while agilityd is
    gone, and a new agilityd with the same pin takes over program and state."""

    @classmethod
    def configure(cls, config):
        config.bindings += [binding("dns", "udp", POOL4, config.port)]

    def sample_steering(self, listener, special, count=10):
        for address in self.random_pool4(count):
            self.assert_steered(listener, address, self.rng.choice(WEB_PORTS))
        self.assert_steered(special, SPECIAL_ADDRESS, 443)

    def assert_control_gone(self):
        done = self.ctl("status", expect=2)
        self.assertIn("cannot connect", done.stderr)

    def test_restart_after_sigkill_and_sigterm(self):
        listener, special = tcp_listener(), tcp_listener()
        self.addCleanup(listener.close)
        self.addCleanup(special.close)
        self.assert_registered("edge", listener)
        self.assert_registered("special", special)
        self.sample_steering(listener, special)
        self.dig("127.77.9.9", "www.example.com")
        bindings = self.ctl("bindings").stdout
        before = self.labels()

        # SIGKILL: no cleanup at all.
        self.daemon.process.kill()
        self.daemon.process.wait()
        self.assert_control_gone()
        self.sample_steering(listener, special, count=20)
        self.assertEqual(sorted(os.listdir(self.config.pin)),
                         ["bindings", "counters", "drain_lookups", "labels", "link", "sockets"])

        # Same pin: the new agilityd reuses maps and link.
        self.daemon.start()
        self.assertEqual(self.ctl("bindings").stdout, bindings)
        after = self.labels()
        self.assertEqual(after["edge"]["cookies"], {"tcp4": cookie(listener)})
        self.assertEqual(after["special"]["cookies"], {"tcp4": cookie(special)})
        # Counters persisted and kept counting while agilityd was gone.
        self.assertGreaterEqual(after["edge"]["lookups"], before["edge"]["lookups"] + 20)
        self.assertNotEqual(after["dns"]["cookies"], before["dns"]["cookies"],
                            "the new agilityd registers its new DNS sockets")
        self.sample_steering(listener, special)
        self.dig("127.77.9.9", "www.example.com")
        labels = self.labels()
        for label in ("edge", "special", "dns"):
            # A second program on the same hook would make bpf_sk_assign fail
            # with EEXIST (counted as errors).
            self.assertEqual(labels[label]["errors"], 0, labels)
        self.assertEqual(self.log().count("sk_lookup attached"), 2)

        # SIGTERM: a clean stop leaves steering in place as well.
        self.assertEqual(self.daemon.stop(), 0, self.log())
        self.assert_control_gone()
        self.sample_steering(listener, special)
        self.daemon.start()
        self.assertEqual(self.ctl("bindings").stdout, bindings)
        self.sample_steering(listener, special)
        self.assertEqual(self.labels()["edge"]["errors"], 0)

        # Removing the pins with agilityd stopped detaches the program.
        self.assertEqual(self.daemon.stop(), 0, self.log())
        shutil.rmtree(self.config.pin)
        deadline = time.monotonic() + 5
        while True:
            try:
                self.assert_refused(self.random_pool4(1)[0], 443)
                self.assert_refused(SPECIAL_ADDRESS, 443)
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                while pending_connection(listener):
                    listener.accept()[0].close()
                while pending_connection(special):
                    special.accept()[0].close()
                time.sleep(0.1)



# --------------------------------------------------------------------------
# Changing addresses without breakage: drains, weighted pools, live shifts
# --------------------------------------------------------------------------

def pool_answers(port, name, count, window=64):
    """`count` A answers for `name` from 127.0.0.1:port over UDP, `window`
    queries in flight; every query must be answered (none may be lost)."""
    answers = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", port))
        s.settimeout(IO_TIMEOUT)
        sent = 0
        while len(answers) < count:
            while sent < count and sent - len(answers) < window:
                s.send(servers.a_query(name, sent % 65536))
                sent += 1
            try:
                reply = s.recv(4096)
            except socket.timeout:
                raise AssertionError(f"{sent - len(answers)} of {sent} queries for {name} "
                                     f"unanswered after {IO_TIMEOUT}s")
            _, _, addresses = servers.answer_addresses(reply)
            if not addresses:
                raise AssertionError(f"a reply for {name} without an A record: {reply!r}")
            answers.append(addresses[0])
    return answers


def shares(answers, prefixes):
    """{prefix: fraction of answers in it}; fails on an answer in none."""
    networks = [ipaddress.ip_network(p) for p in prefixes]
    counts = {str(n): 0 for n in networks}
    for address in answers:
        containing = [n for n in networks if ipaddress.ip_address(address) in n]
        if not containing:
            raise AssertionError(f"answer {address} lies outside the pool's prefixes {prefixes}")
        counts[str(containing[0])] += 1
    return {p: c / len(answers) for p, c in counts.items()}


class DrainTest(SteeringTestCase):
    """A /20 shrunk to a /24: the addresses answered from the /20 stay
    steered, to the same socket, until the answers carrying them expired (TTL
    2 s + 1 s grace), beside the new /24; then they are refused. The drain
    outlives a SIGKILL and a restart."""

    @classmethod
    def configure(cls, config):
        config.ttl = 2
        config.drain_grace_s = 1

    def setUp(self):
        self.config.pool4 = str(POOL4)
        self.config.write()
        self.ctl("reload")
        self.wait_for_no_drains()
        self.listener = tcp_listener()
        self.addCleanup(self.listener.close)
        self.assert_registered("edge", self.listener)

    def answered_outside(self, kept):
        """An address agilityd answered from the /20 that lies outside `kept`."""
        for _ in range(200):
            for line in self.dig("127.0.0.1", "www.example.com", "A"):
                address = ipaddress.ip_address(line[-1])
                self.assertIn(address, POOL4)
                if address not in kept:
                    return str(address)
        self.fail("200 answers, none outside " + str(kept))

    def bindings_json(self):
        return json.loads(self.ctl("--json", "bindings").stdout)

    def draining(self):
        return [b for b in self.bindings_json()["bindings"] if b["draining"]]

    def wait_for_no_drains(self, timeout=15):
        deadline = time.monotonic() + timeout
        while self.draining():
            if time.monotonic() > deadline:
                self.fail(f"drains still listed after {timeout}s: {self.draining()}")
            time.sleep(0.1)

    def shrink(self):
        smaller = ipaddress.ip_network("127.77.0.0/24")
        old = self.answered_outside(smaller)
        self.assert_steered(self.listener, old, 443)
        self.config.pool4 = str(smaller)
        self.config.write()
        self.ctl("reload")
        return old, time.monotonic()

    def test_answered_address_connects_during_the_drain_and_is_refused_after(self):
        old, swapped = self.shrink()
        listed = self.ctl("bindings").stdout
        self.assertRegex(listed, rf"tcp {POOL4} port 443 -> edge draining \d+s left")
        self.assertIn("tcp 127.77.0.0/24 port 443 -> edge\n", listed)
        draining = self.draining()
        self.assertEqual(len(draining), len(WEB_PORTS), draining)
        self.assertTrue(all(0 <= b["seconds_left"] <= 3 for b in draining), draining)
        self.assertIn(f"draining bindings {len(WEB_PORTS)}", self.ctl("status").stdout)
        status = json.loads(self.ctl("--json", "status").stdout)
        self.assertEqual(status["sk_lookup"]["draining_bindings"], len(WEB_PORTS))
        edge = [lab for lab in status["sk_lookup"]["labels"] if lab["label"] == "edge"][0]
        before = edge["drain_lookups"]
        self.assert_steered(self.listener, old, 443)
        self.assert_steered(self.listener, old, 8080)
        # The new /24 is steered as well, and is not a drain.
        self.assert_steered(self.listener, "127.77.0.9", 443)
        status = json.loads(self.ctl("--json", "status").stdout)
        edge = [lab for lab in status["sk_lookup"]["labels"] if lab["label"] == "edge"][0]
        self.assertEqual(edge["drain_lookups"], before + 2)
        metrics = self.ctl("stats").stdout
        self.assertIn(f"agility_sk_lookup_draining_bindings {len(WEB_PORTS)}", metrics)
        self.assertRegex(metrics, r'agility_sk_lookup_drain_lookups_total\{label="edge"\} [1-9]')

        self.wait_for_no_drains()
        # TTL 2 + grace 1: never before the answers could have expired.
        self.assertGreaterEqual(time.monotonic() - swapped, 2.0)
        self.assert_refused(old, 443, self.listener)
        self.assert_steered(self.listener, "127.77.0.9", 443)
        self.assertNotIn("draining", self.ctl("bindings").stdout)
        self.assertIn("agility_sk_lookup_draining_bindings 0", self.ctl("stats").stdout)

    def test_prefix_that_comes_back_stops_draining(self):
        self.shrink()
        self.assertTrue(self.draining())
        self.config.pool4 = str(POOL4)
        self.config.write()
        self.ctl("reload")
        # The /20 is answered again; now the /24 is what drains.
        self.assertEqual({b["prefix"] for b in self.draining()}, {"127.77.0.0/24"})
        self.assertIn(f"tcp {POOL4} port 443 -> edge\n", self.ctl("bindings").stdout)

    def test_drain_survives_sigkill_and_restart(self):
        old, swapped = self.shrink()
        self.daemon.process.kill()
        self.daemon.process.wait()
        # Pinned: steering goes on while agilityd is gone.
        self.assert_steered(self.listener, old, 443)
        self.daemon.start()
        draining = self.draining()
        self.assertEqual(len(draining), len(WEB_PORTS), self.log())
        elapsed = time.monotonic() - swapped
        if elapsed < 2:
            self.assert_steered(self.listener, old, 443)
        # The remaining time was kept, not restarted.
        self.assertTrue(all(b["seconds_left"] <= 3 for b in draining), draining)
        self.wait_for_no_drains()
        self.assert_refused(old, 443, self.listener)

    def test_config_changed_while_stopped_drains_at_start(self):
        smaller = ipaddress.ip_network("127.77.0.0/24")
        old = self.answered_outside(smaller)
        self.assertEqual(self.daemon.stop(), 0, self.log())
        self.config.pool4 = str(smaller)
        self.daemon.start()
        self.assertEqual(len(self.draining()), len(WEB_PORTS), self.log())
        self.assert_steered(self.listener, old, 443)
        self.wait_for_no_drains()
        self.assert_refused(old, 443, self.listener)


WEIGHTED = [{"prefix": "127.78.0.0/24", "weight": 3}, {"prefix": "127.78.1.0/24", "weight": 1},
            {"prefix": "127.78.2.0/26", "weight": 0}]
WEIGHTED_PREFIXES = [p["prefix"] for p in WEIGHTED]


class WeightedPoolTest(SteeringTestCase):
    """A pool of weighted prefixes: every prefix steered (weight 0 too),
    answers shared by weight; `agilityctl shift` changes a weight live, at
    once or ramping, kept across restarts until reset or the YAML changes."""

    @classmethod
    def configure(cls, config):
        config.pool4 = WEIGHTED
        config.ttl = 0
        config.drain_grace_s = 0

    def setUp(self):
        self.listener = tcp_listener()
        self.addCleanup(self.listener.close)
        self.assert_registered("edge", self.listener)

    def tearDown(self):
        for prefix in WEIGHTED_PREFIXES:
            self.ctl("shift", "edge4", prefix, "--reset")
        if self.config.pool4 != WEIGHTED:
            self.config.pool4 = WEIGHTED
            self.config.write()
            self.ctl("reload")

    def weights(self):
        status = json.loads(self.ctl("--json", "status").stdout)
        pool = [p for p in status["pools"] if p["name"] == "edge4"][0]
        return {p["prefix"]: (p["weight"], p["yaml_weight"]) for p in pool["prefixes"]}

    def measure(self, count):
        return shares(pool_answers(self.config.port, "www.example.com", count), WEIGHTED_PREFIXES)

    def assert_shares(self, measured, expected, tolerance=0.015):
        for prefix, share in expected.items():
            self.assertAlmostEqual(measured[prefix], share, delta=tolerance,
                                   msg=f"{prefix}: {measured} against {expected}")

    def test_every_prefix_is_steered_weight_zero_included(self):
        for prefix in WEIGHTED_PREFIXES:
            network = ipaddress.ip_network(prefix)
            for address in (network[0], network[-1], network[self.rng.randrange(network.num_addresses)]):
                self.assert_steered(self.listener, str(address), 443)
        self.assert_refused("127.78.2.64", 443, self.listener)

    def test_shares_over_20000_queries_follow_the_weights(self):
        measured = self.measure(20000)
        self.assert_shares(measured, {"127.78.0.0/24": 0.75, "127.78.1.0/24": 0.25,
                                      "127.78.2.0/26": 0.0}, tolerance=0.015)
        self.assertEqual(measured["127.78.2.0/26"], 0.0, "a weight-0 prefix was answered")
        metrics = self.ctl("stats").stdout
        self.assertRegex(metrics, r'agility_pool_answers_by_weighted_prefix_total\{pool="edge4",'
                                  r'prefix="127.78.0.0/24"\} [1-9]')
        self.assertIn('agility_pool_answers_by_weighted_prefix_total{pool="edge4",'
                      'prefix="127.78.2.0/26"} 0', metrics)

    def test_shift_at_once_then_reset(self):
        done = self.ctl("shift", "edge4", "127.78.2.0/26", "4")
        self.assertIn("127.78.2.0/26", done.stdout)
        self.assertEqual(self.weights()["127.78.2.0/26"], (4, 0))
        self.assert_shares(self.measure(20000), {"127.78.0.0/24": 3 / 8, "127.78.1.0/24": 1 / 8,
                                                 "127.78.2.0/26": 4 / 8})
        status = self.ctl("status").stdout
        self.assertIn("weight edge4 127.78.2.0/26: live 4, yaml 0", status)
        self.ctl("shift", "edge4", "127.78.2.0/26", "--reset")
        self.assertEqual(self.weights()["127.78.2.0/26"], (0, 0))
        self.assertNotIn("weight edge4", self.ctl("status").stdout)

    def test_ramp_moves_the_share_monotonically(self):
        self.ctl("shift", "edge4", "127.78.1.0/24", "9", "--over", "4")
        self.assertIn("ramping from 1 to 9", self.ctl("status").stdout)
        samples = []  # (weight in force before, share, weight in force after)
        deadline = time.monotonic() + 15
        while True:
            before = self.weights()["127.78.1.0/24"][0]
            share = self.measure(2000)["127.78.1.0/24"]
            after = self.weights()["127.78.1.0/24"][0]
            samples.append((before, share, after))
            if before == 9:
                break
            self.assertLess(time.monotonic(), deadline, f"ramp never reached 9: {samples}")
        weights = [before for before, _, _ in samples]
        self.assertEqual(weights, sorted(weights), f"weights went back: {samples}")
        self.assertGreaterEqual(len(set(weights)), 4, f"the ramp did not step: {samples}")
        # Windows measured under one weight: their share is that weight's,
        # 1/4 at the start up to 9/12 at the end, so it rises with the weight
        # (within sampling noise: 2000 queries give about 1 point).
        by_weight = {}
        for before, share, after in samples:
            if before == after:
                by_weight.setdefault(before, []).append(share)
        means = [(w, sum(v) / len(v), len(v)) for w, v in sorted(by_weight.items())]
        for weight, mean, windows in means:
            tolerance = 0.04 / min(windows, 4) ** 0.5 + 0.01
            self.assertAlmostEqual(mean, weight / (weight + 3), delta=tolerance,
                                   msg=f"weight {weight}: {means}")
        self.assertGreater(means[-1][1] - means[0][1], 0.4, means)
        self.assertNotIn("ramping", self.ctl("status").stdout)

    def test_overrides_persist_across_restart_and_reset_clears_them(self):
        self.ctl("shift", "edge4", "127.78.1.0/24", "7")
        self.assertEqual(self.daemon.stop(), 0, self.log())
        self.daemon.start()
        self.assert_registered("edge", self.listener)
        self.assertEqual(self.weights()["127.78.1.0/24"], (7, 1))
        self.ctl("reload")
        self.assertEqual(self.weights()["127.78.1.0/24"], (7, 1), "a reload kept the override")
        self.ctl("shift", "edge4", "127.78.1.0/24", "--reset")
        self.assertEqual(self.weights()["127.78.1.0/24"], (1, 1))
        self.assertEqual(self.daemon.stop(), 0, self.log())
        self.daemon.start()
        self.assertEqual(self.weights()["127.78.1.0/24"], (1, 1))

    def test_a_changed_yaml_weight_clears_the_override(self):
        self.ctl("shift", "edge4", "127.78.1.0/24", "7")
        self.config.pool4 = [dict(p) for p in WEIGHTED]
        self.config.pool4[1]["weight"] = 2
        self.config.write()
        done = self.ctl("reload")
        self.assertIn("its YAML weight changed from 1 to 2", done.stdout)
        self.assertEqual(self.weights()["127.78.1.0/24"], (2, 2))

    def test_bad_shifts_are_refused_and_change_nothing(self):
        generation = json.loads(self.ctl("--json", "status").stdout)["generation"]
        for args, reason in [
                (("nosuch", "127.78.0.0/24", "1"), "no pool 'nosuch'"),
                (("edge4", "127.78.9.0/24", "1"), "has no prefix 127.78.9.0/24"),
                (("edge4", "127.78.0.1/24", "1"), "host bits set"),
                (("edge4", "127.78.0.0/24", "1000001"), "0..1000000"),
                (("edge4", "127.78.0.0/24", "-1"), "usage: agilityctl"),
                (("edge4", "127.78.0.0/24", "x"), "0..1000000"),
                (("edge4", "127.78.0.0/24", "1", "--over", "y"), "seconds"),
        ]:
            done = self.ctl("shift", *args, expect=None)
            self.assertNotEqual(done.returncode, 0, f"shift {args}: {done.stdout}")
            self.assertIn(reason, done.stderr, args)
        self.ctl("shift", "edge4", "127.78.0.0/24", "0")
        done = self.ctl("shift", "edge4", "127.78.1.0/24", "0", expect=1)
        self.assertIn("at least one must be above 0", done.stderr)
        self.assertEqual(self.weights()["127.78.1.0/24"], (1, 1))
        self.assertEqual(json.loads(self.ctl("--json", "status").stdout)["generation"],
                         generation + 1, "only the one good shift published a snapshot")
        self.assertEqual(set(self.measure(500)), {"127.78.0.0/24", "127.78.1.0/24",
                                                  "127.78.2.0/26"})
        self.assertEqual(self.measure(2000)["127.78.1.0/24"], 1.0)


def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


class UnprivilegedTest(unittest.TestCase):
    """Without CAP_BPF/CAP_NET_ADMIN agilityd says so in one line and serves
    DNS; with sk_lookup.required it refuses to start."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="agility-unpriv-")
        self.addCleanup(self.tmp.cleanup)
        os.chmod(self.tmp.name, 0o777)
        self.port = servers.free_port(avoid=WEB_PORTS)
        self.config = Config(self.tmp.name, self.port, os.path.join(BPFFS, "unprivileged"))

    def run_as_nobody(self, required):
        self.config.required = required
        self.config.write()
        for name in os.listdir(self.tmp.name):
            os.chmod(os.path.join(self.tmp.name, name), 0o644)
        log = os.path.join(self.tmp.name, "agilityd.log")
        with open(log, "w") as out:
            process = subprocess.Popen(
                ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", AGILITYD, "-c", self.config.path],
                stdout=out, stderr=out)
        return process, log

    def test_serves_dns_without_steering(self):
        process, log = self.run_as_nobody(required=False)
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT
            answer = ""
            while time.monotonic() < deadline and process.poll() is None:
                done = subprocess.run(
                    ["dig", "@127.0.0.1", "-p", str(self.port), "+short", "+time=1", "+tries=1",
                     "www.example.com", "A"], capture_output=True, text=True)
                if done.returncode == 0 and done.stdout.strip():
                    answer = done.stdout.strip()
                    break
                time.sleep(POLL_INTERVAL)
            self.assertIn(ipaddress.ip_address(answer), POOL4, read_text(log))
            # DNS is answered before steering is tried: wait for the line.
            line = "sk_lookup unavailable, serving DNS without steering"
            while line not in read_text(log) and time.monotonic() < deadline:
                time.sleep(POLL_INTERVAL)
            text = read_text(log)
            self.assertEqual(text.count(line), 1, text)
        finally:
            process.terminate()
            self.assertEqual(process.wait(timeout=10), 0, read_text(log))

    def test_required_refuses_to_start(self):
        process, log = self.run_as_nobody(required=True)
        self.assertEqual(process.wait(timeout=STARTUP_TIMEOUT), 1)
        self.assertIn("sk_lookup is required", read_text(log))


CAP_NET_ADMIN, CAP_BPF = 12, 39


def as_user(uid, code):
    """Runs Python `code` as `uid` (no capabilities); returns (exit status, output)."""
    done = subprocess.run(
        ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
         "--bounding-set=-all", sys.executable, "-c", code], capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


class PrivilegeDropTest(unittest.TestCase):
    """server.user: after setup agilityd runs as nobody with only CAP_BPF and
    CAP_NET_ADMIN, still updates steering on reload, and other local users can
    neither use its control socket nor read its pinned maps."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="agility-user-")
        self.addCleanup(self.tmp.cleanup)
        os.chmod(self.tmp.name, 0o755)
        pin = os.path.join(BPFFS, "privileges")
        self.addCleanup(shutil.rmtree, pin, True)
        self.config = Config(self.tmp.name, servers.free_port(avoid=WEB_PORTS), pin)
        self.config.user = "nobody"
        self.daemon = Daemon(self.config)
        self.daemon.start()
        self.addCleanup(self.daemon.stop)
        for name in os.listdir(self.tmp.name):
            path = os.path.join(self.tmp.name, name)
            if os.path.isfile(path):
                os.chmod(path, 0o644)

    def test_runs_as_nobody_with_two_capabilities(self):
        status = read_text(f"/proc/{self.daemon.process.pid}/status")
        self.assertRegex(status, r"(?m)^Uid:\s+65534\s+65534\s+65534\s+65534$")
        effective = int(re.search(r"(?m)^CapEff:\s+([0-9a-f]+)$", status).group(1), 16)
        self.assertEqual(effective, (1 << CAP_BPF) | (1 << CAP_NET_ADMIN))
        self.assertIn("running as nobody", self.daemon.log())

    def test_steering_updates_after_the_drop(self):
        listener = tcp_listener()
        self.addCleanup(listener.close)
        self.assertEqual(control(self.config.control, "register edge", [listener.fileno()])[-1],
                         "ok")
        special = tcp_listener()
        self.addCleanup(special.close)
        self.assertEqual(control(self.config.control, "register special", [special.fileno()])[-1],
                         "ok")
        with socket.create_connection((SPECIAL_ADDRESS, 443), timeout=IO_TIMEOUT):
            self.assertTrue(select.select([special], [], [], IO_TIMEOUT)[0])
        # Reload without the /32 override: the BPF map update needs the
        # capabilities agilityd kept.
        self.config.bindings = []
        self.config.write()
        os.chmod(self.config.path, 0o644)
        done = subprocess.run([AGILITYCTL, "-c", self.config.path, "reload"],
                              capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr + self.daemon.log())
        with socket.create_connection((SPECIAL_ADDRESS, 443), timeout=IO_TIMEOUT):
            self.assertTrue(select.select([listener], [], [], IO_TIMEOUT)[0])

    def test_other_users_cannot_reach_control_socket_or_pins(self):
        code, output = as_user(65533, f"""
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect({self.config.control!r})
except PermissionError:
    sys.exit(0)
sys.exit(f"connected to the control socket")
""")
        self.assertEqual(code, 0, output)
        for name in ("bindings", "sockets", "link"):
            path = os.path.join(self.config.pin, name)
            self.assertTrue(os.path.exists(path), path)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600, path)
            code, output = as_user(65533, f"""
import os, sys
try:
    os.open({path!r}, os.O_RDONLY)
except PermissionError:
    sys.exit(0)
sys.exit("opened {path}")
""")
            self.assertEqual(code, 0, output)

if __name__ == "__main__":
    unittest.main()
