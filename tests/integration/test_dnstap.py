#!/usr/bin/env python3
"""dnstap query logging on the real agilityd: what it writes to a file and
to a Frame Streams collector (fstrm_capture) is read back by dnstap-ldns
(and BIND's dnstap-read);
message types and sampling are honoured; a collector that is not there, or
one that stops reading, costs messages (counted) but never answers.

Run by `meson test dnstap`; needs dig, dnstap-read (bind9-dnsutils), dnsperf,
dnstap-ldns and fstrm_capture (scripts/deps test).
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AGILITYD, dig_raw, free_port, wait_for, write_file  # noqa: E402
from test_agilityd import (RELOAD_ZONE, ServerTestCase, dig, edge_config,  # noqa: E402
                           make_message, parse_metrics, udp_exchange)

CONTENT_TYPE = "protobuf:dnstap.Dnstap"


def read_back(path):
    """dnstap-ldns's one-line summaries of `path`: (type, protocol, qname, qtype)."""
    done = subprocess.run(["dnstap-ldns", "-r", path], capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"dnstap-ldns failed on {path}: {done.stderr}")
    found = []
    for line in done.stdout.splitlines():
        fields = re.match(r'\S+ \S+ (AQ|AR) \S+ (UDP|TCP) \d+b "([^"]*)" IN (\w+)', line)
        if fields is None:
            raise AssertionError(f"unexpected dnstap-ldns line: {line}")
        found.append(fields.groups())
    return found


def connected(socket_path):
    """True when a client is connected to the Unix socket at `socket_path`
    (an accepted socket of that path, state 03, in /proc/net/unix)."""
    with open("/proc/net/unix") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == socket_path and fields[5] == "03":
                return True
    return False


class Capture:
    """fstrm_capture listening on `socket_path`, writing `out_path`."""

    def __init__(self, socket_path, out_path, log_path):
        self.log = open(log_path, "wb")
        self.process = subprocess.Popen(
            ["fstrm_capture", "-t", CONTENT_TYPE, "-u", socket_path, "-w", out_path],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: os.path.exists(socket_path), "fstrm_capture's socket")

    def stop(self):
        """SIGTERM: it writes out what it holds and closes the file."""
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        self.process.wait(timeout=10)
        self.log.close()


class DnstapCase(ServerTestCase):
    ZONES = {"example.com.zone": RELOAD_ZONE}
    DNSTAP = "{file: FILE}"
    WORKERS = 2

    @classmethod
    def setUpClass(cls):
        cls.started_collector = False
        super().setUpClass()

    @classmethod
    def config_text(cls):
        cls.metrics_port = free_port()
        cls.output = os.path.join(cls.dir, "out.fstrm")
        cls.socket_path = os.path.join(cls.dir, "dnstap.sock")
        text = edge_config(cls.port, cls.control, cls.metrics_port)
        dnstap = cls.DNSTAP.replace("FILE", cls.output).replace("SOCKET", cls.socket_path)
        return (text.replace("  workers: 2", f"  workers: {cls.WORKERS}") +
                f"dnstap: {dnstap}\n")

    def metric(self, outcome):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics") as r:
            metrics = parse_metrics(r.read().decode())
        return metrics.get(("agility_dnstap_messages_total", (("outcome", outcome),)), 0.0)

    def stop_server(self):
        """Stops agilityd (which writes out what is queued); asserts exit 0."""
        self.assertEqual(self.server.stop(), 0, self.server.log())


class FileTest(DnstapCase):
    DNSTAP = "{file: FILE}"

    def test_every_query_and_response_read_back_by_dnstap_ldns(self):
        names = [f"n{i}.example.com" for i in range(10)]
        before = self.metric("queued")
        for name in names:
            dig(self.port, name, "A")
            dig(self.port, "+tcp", name, "TXT")
        self.assertEqual(self.metric("queued") - before, 40)
        self.assertEqual(self.metric("dropped"), 0)
        self.stop_server()
        logged = [entry for entry in read_back(self.output) if entry[2] != "example.com."]
        for name in names:
            for kind in ("AQ", "AR"):
                self.assertIn((kind, "UDP", f"{name}.", "A"), logged)
                self.assertIn((kind, "TCP", f"{name}.", "TXT"), logged)
        self.assertEqual(len(logged), 40)  # the start's readiness probes aside
        # The stream says who wrote it.
        done = subprocess.run(["dnstap-ldns", "-y", "-r", self.output], capture_output=True,
                              text=True, timeout=60)
        self.assertIn('version: "agility ', done.stdout)
        self.assertIn("type: AUTH_RESPONSE", done.stdout)
        self.assertIn('query_address: "127.0.0.1"', done.stdout)
        # BIND's reader too.
        done = subprocess.run(["dnstap-read", self.output], capture_output=True, text=True,
                              timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        for name in names:
            self.assertRegex(done.stdout, rf"AQ 127\.0\.0\.1:\d+ -> \S+ UDP \d+b {name}/IN/A")
            self.assertRegex(done.stdout, rf"AR 127\.0\.0\.1:\d+ <- \S+ TCP \d+b {name}/IN/TXT")


class TransferAndNotifyTest(DnstapCase):
    """Zone transfers and NOTIFYs are logged like queries: the query, and
    the first message of a transfer's answer."""
    DNSTAP = "{file: FILE}"

    @classmethod
    def config_text(cls):
        return super().config_text() + "transfer: {allow: [{prefix: 127.0.0.0/8}]}\n"

    def test_a_transfer_and_a_notify_read_back(self):
        transfer = dig_raw(self.port, "example.com", "AXFR")
        # Whole: the SOA opens and closes it.
        self.assertEqual(len(re.findall(r"\sIN\s+SOA\s", transfer.stdout)), 2, transfer.stdout)
        notify_opcode = 4 << 11
        reply = udp_exchange(self.port, make_message([("other.test", 6)], qid=7,
                                                     flags=notify_opcode))
        self.assertIsNotNone(reply)
        self.assertEqual(reply[3] & 0xF, 5)  # REFUSED: not a zone we follow
        self.stop_server()
        logged = read_back(self.output)
        for kind in ("AQ", "AR"):
            self.assertIn((kind, "TCP", "example.com.", "AXFR"), logged)
            self.assertIn((kind, "UDP", "other.test.", "SOA"), logged)
        done = subprocess.run(["dnstap-ldns", "-y", "-r", self.output], capture_output=True,
                              text=True, timeout=60)
        self.assertIn("opcode: NOTIFY", done.stdout)


class SampleTest(DnstapCase):
    """One worker, so that one query in ten is exactly every tenth."""
    DNSTAP = '{file: FILE, sample: "1/10", responses: false}'
    WORKERS = 1

    def test_one_query_in_ten_and_no_responses(self):
        for i in range(100):
            reply = udp_exchange(self.port, make_message([(f"s{i}.example.com", 1)], qid=i))
            self.assertIsNotNone(reply)
        self.stop_server()
        # The start's readiness probes were counted too: which tenth is
        # logged depends on them; that it is every tenth does not.
        logged = [entry for entry in read_back(self.output) if entry[2] != "example.com."]
        self.assertEqual(len(logged), 10, logged)
        self.assertTrue(all(kind == "AQ" for kind, _, _, _ in logged), logged)
        numbers = sorted(int(name[1:].split(".")[0]) for _, _, name, _ in logged)
        self.assertEqual(numbers, list(range(numbers[0], 100, 10)), logged)


class SocketTest(DnstapCase):
    """A collector on a Unix socket: absent at first (messages go nowhere,
    answers go out), then there, then stopped reading."""
    DNSTAP = "{socket: SOCKET}"

    def test_a_collector_that_comes_late_gets_what_follows(self):
        # No collector: answered all the same.
        for i in range(5):
            dig(self.port, f"early{i}.example.com", "A")
        capture = Capture(self.socket_path, self.output, os.path.join(self.dir, "capture.log"))
        try:
            # The writer thread tries again every second.
            wait_for(lambda: connected(self.socket_path), "agilityd to connect", timeout=10)
            for i in range(5):
                dig(self.port, f"late{i}.example.com", "A")
            self.stop_server()
        finally:
            capture.stop()
        logged = read_back(self.output)
        for i in range(5):
            self.assertIn(("AQ", "UDP", f"late{i}.example.com.", "A"), logged)
            self.assertIn(("AR", "UDP", f"late{i}.example.com.", "A"), logged)


class StalledCollectorCase(DnstapCase):
    """fstrm_capture connected, then stopped (SIGSTOP) under a load."""
    DNSTAP = "{socket: SOCKET}"

    def stall_under_load(self, capture):
        """Stops the collector and sends 60 000 queries with dnsperf (within
        30 s even in a sanitized build): 120 000 messages, more than the two
        workers' queues (16 384 each) hold. Returns dnsperf's report."""
        wait_for(lambda: connected(self.socket_path), "agilityd to connect")
        capture.process.send_signal(signal.SIGSTOP)
        queries = os.path.join(self.dir, "queries.txt")
        write_file(queries, "".join(f"q{i}.example.com A\n" for i in range(1000)))
        done = subprocess.run(
            ["dnsperf", "-s", "127.0.0.1", "-p", str(self.port), "-d", queries,
             "-n", "60", "-l", "30", "-q", "200", "-t", "5"],
            capture_output=True, text=True, timeout=60)
        self.assertGreater(self.metric("dropped"), 0, "the collector's buffers filled")
        return done.stdout + done.stderr

    def capture(self):
        return Capture(self.socket_path, self.output, os.path.join(self.dir, "capture.log"))


class SlowCollectorTest(StalledCollectorCase):
    """Messages drop and are counted; every query is still answered."""

    def test_a_stalled_collector_drops_messages_not_answers(self):
        capture = self.capture()
        try:
            report = self.stall_under_load(capture)
            sent = re.search(r"Queries sent:\s+(\d+)", report)
            completed = re.search(r"Queries completed:\s+(\d+)", report)
            self.assertIsNotNone(completed, report)
            self.assertEqual(int(sent.group(1)), 60000, report)
            self.assertEqual(int(completed.group(1)), 60000, f"queries went unanswered:\n{report}")
        finally:
            # Reading again, so that the shutdown's flush can finish.
            capture.process.send_signal(signal.SIGCONT)
            self.stop_server()
            capture.stop()
        self.assertGreater(len(read_back(self.output)), 0)


class StalledShutdownTest(StalledCollectorCase):
    """A collector that stopped reading holds agilityd's stop for two
    seconds at most: what it has not taken is left, and said so."""

    def test_stop_does_not_wait_for_a_stalled_collector(self):
        capture = self.capture()
        try:
            self.stall_under_load(capture)
            started = time.monotonic()
            self.stop_server()
            self.assertLess(time.monotonic() - started, 8)
            self.assertIn("dnstap: the collector stopped reading", self.server.log())
        finally:
            capture.stop()


class CheckTest(unittest.TestCase):
    def test_settings_are_checked(self):
        with tempfile.TemporaryDirectory() as directory:
            write_file(os.path.join(directory, "example.com.zone"), RELOAD_ZONE)
            config = os.path.join(directory, "agility.yaml")
            for dnstap, message in (
                    ("{}", "dnstap needs one of socket"),
                    ("{socket: a, file: b}", "dnstap needs one of socket"),
                    ("{file: x, sample: 0}", "dnstap.sample must be 1/N or N"),
                    ("{file: x, sample: 1/x}", "dnstap.sample must be 1/N or N"),
                    ("{file: x, every: 3}", "unknown key 'every'")):
                write_file(config, "zones: [example.com.zone]\n"
                           f"dnstap: {dnstap}\n")
                done = subprocess.run([AGILITYD, "--check", "-c", config], capture_output=True,
                                      text=True, timeout=30)
                self.assertNotEqual(done.returncode, 0, dnstap)
                self.assertIn(f"{config}:2:", done.stderr + done.stdout, dnstap)
                self.assertIn(message, done.stderr + done.stdout, dnstap)


if __name__ == "__main__":
    unittest.main(verbosity=2)
