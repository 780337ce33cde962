"""What every integration suite shares: where the binaries are, free ports,
waiting for a condition (never for a time), files written atomically, dig,
agilityctl, and one agilityd process with its log.

AGILITYD and AGILITYCTL name the binaries (default build/ at the top of the
tree). Python 3 standard library only; perf/servers.py starts the peers.
"""
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "perf"))
import servers  # noqa: E402
from servers import free_port  # noqa: E402,F401  (re-exported)

AGILITYD = os.path.abspath(os.environ.get("AGILITYD", os.path.join(ROOT, "build", "agilityd")))
AGILITYCTL = os.path.abspath(
    os.environ.get("AGILITYCTL", os.path.join(ROOT, "build", "agilityctl")))

POLL_INTERVAL = 0.02
STARTUP_TIMEOUT = 10.0  # seconds for agilityd to be ready
STOP_TIMEOUT = 20.0     # seconds for agilityd to exit after SIGTERM


def wait_for(condition, what, timeout=30.0):
    """Polls `condition` until it returns something true, which is returned;
    fails naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL_INTERVAL)


def write_file(path, text):
    """Atomically, so that a reloading daemon never sees half a file."""
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temporary, path)


def dig_raw(port, *args, server="127.0.0.1"):
    """One dig run (no recursion asked, 2 s, one try); the finished process."""
    return subprocess.run(
        ["dig", f"@{server}", "-p", str(port), "+norec", "+time=2", "+tries=1", *args],
        capture_output=True, text=True, timeout=30)


def agilityctl(*args, timeout=30):
    return subprocess.run([AGILITYCTL, *args], capture_output=True, text=True, timeout=timeout)


class AgilitydProcess:
    """One agilityd on `config_path`, its output appended to `log_path`."""

    def __init__(self, config_path, log_path):
        self.config_path = config_path
        self.log_path = log_path
        self.process = None

    def start(self, ready, timeout=STARTUP_TIMEOUT):
        """Starts it and waits until `ready()` is true; fails with the log
        when it exits first or is not ready within `timeout` seconds."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([AGILITYD, "-c", self.config_path],
                                            stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=subprocess.STDOUT)

        deadline = time.monotonic() + timeout
        while not ready():
            if self.process.poll() is not None:
                raise AssertionError(f"agilityd exited with {self.process.returncode} during "
                                     f"startup:\n{self.log()}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError(f"agilityd was not ready within {timeout} s:\n{self.log()}")
            time.sleep(POLL_INTERVAL)

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        """SIGTERM, then waits; returns the exit status (None if never
        started), or a string saying it had to be killed."""
        if not self.running():
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            return "killed after SIGTERM timed out"

    def kill(self):
        if self.running():
            self.process.kill()
            self.process.wait()

    def signal(self, signum):
        self.process.send_signal(signum)

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return "(no log)"
