#!/usr/bin/env python3
"""Integration tests for agilityd: start the real daemon and query it with dig.

Every server-backed test class writes its own configuration and zone files to
a temporary directory, starts agilityd on a free port of 127.0.0.1 and ::1,
and stops it with SIGTERM at the end (asserting a clean exit).

Run directly (./test_agilityd.py, python3 -m unittest ...) or through
`meson test integration`. AGILITYD and AGILITYCTL name the binaries; they
default to ../../build/agilityd and ../../build/agilityctl relative to this
file. Needs `dig` (bind9-dnsutils) on PATH. Python 3 standard library only.
"""

import base64
import hmac
import ipaddress
import json
import urllib.error
import urllib.request
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AGILITYCTL, AGILITYD, POLL_INTERVAL, AgilitydProcess,  # noqa: E402,F401
                     agilityctl, dig_raw, free_port, wait_for, write_file)

RELOAD_TIMEOUT = 2.0    # seconds until a SIGHUP reload must be visible

# DNS constants used by the raw-packet tests.
TYPE_A, TYPE_NS, TYPE_CNAME, TYPE_SOA, TYPE_TXT, TYPE_AAAA = 1, 2, 5, 6, 16, 28
FLAG_QR, FLAG_AA, FLAG_TC = 0x8000, 0x0400, 0x0200
RCODE_NOERROR, RCODE_FORMERR, RCODE_NXDOMAIN, RCODE_NOTIMP = 0, 1, 3, 4
OPCODE_STATUS = 2
TSIG_KEY = "hmac-sha256:testkey:c2VjcmV0c2VjcmV0c2VjcmV0"  # dig -y: a key agilityd does not know


# --------------------------------------------------------------------------
# Configuration and zone files
# --------------------------------------------------------------------------

# sk_lookup pins maps under /sys/fs/bpf that every agilityd on the host
# shares; these daemons test DNS only and must not attach to them.
ISOLATION_SETTINGS = "sk_lookup: {enabled: false}\n"


def yaml_config(port, control, zones, pools, policies, max_udp_size=1232, metrics_port=None):
    """Renders an agilityd configuration. Values are written as JSON, which is
    valid YAML, so no YAML library is needed."""
    lines = [
        "server:",
        f"  listen: {json.dumps([f'127.0.0.1:{port}', f'[::1]:{port}'])}",
        "  workers: 2",
        f"  control: {json.dumps(control)}",
        f"  max_udp_size: {max_udp_size}",
    ]
    if metrics_port is not None:
        lines.append(f"  metrics: {json.dumps(f'127.0.0.1:{metrics_port}')}")
    lines += [
        f"zones: {json.dumps(zones)}",
        "pools:",
    ]
    lines += [f"  {name}: {json.dumps(prefix)}" for name, prefix in pools.items()]
    lines.append("policies:")
    for policy in policies:
        first = True
        for key, value in policy.items():
            lines.append(f"  {'- ' if first else '  '}{key}: {json.dumps(value)}")
            first = False
    return "\n".join(lines) + "\n" + ISOLATION_SETTINGS


def edge_config(port, control, metrics_port=None):
    """example.com.zone with one policy, "edge": *.example.com from 127.77.0.0/20."""
    return yaml_config(port, control, ["example.com.zone"], {"p4": "127.77.0.0/20"},
                       [{"name": "edge", "match": ["*.example.com"], "ipv4": "p4"}],
                       metrics_port=metrics_port)



def line_of(text, needle):
    """1-based number of the only line of `text` containing `needle`."""
    numbers = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(numbers) == 1, f"{needle!r} occurs on lines {numbers}"
    return numbers[0]


# --------------------------------------------------------------------------
# dig
# --------------------------------------------------------------------------

@dataclass
class Record:
    name: str  # as printed by dig, with the trailing dot
    ttl: int
    type: str
    rdata: str


@dataclass
class DigResult:
    text: str
    status: str = ""
    flags: set = field(default_factory=set)
    question: list = field(default_factory=list)  # (name, type) as printed
    answer: list = field(default_factory=list)
    authority: list = field(default_factory=list)
    additional: list = field(default_factory=list)
    edns: dict = None  # {"version": int, "udp": int} when an OPT came back


SECTIONS = {
    ";; QUESTION SECTION:": "question",
    ";; ZONE SECTION:": "question",  # the question of an UPDATE (RFC 2136 §2.3)
    ";; ANSWER SECTION:": "answer",
    ";; AUTHORITY SECTION:": "authority",
    ";; ADDITIONAL SECTION:": "additional",
    ";; OPT PSEUDOSECTION:": "opt",
}


def parse_dig(text):
    """Parses dig's default output for one response."""
    result = DigResult(text=text)
    section = None
    for line in text.splitlines():
        if not line.strip():
            section = None
            continue
        if line in SECTIONS:
            section = SECTIONS[line]
            continue
        if m := re.search(r"->>HEADER<<- opcode: \S+, status: (\w+)", line):
            result.status = m.group(1)
        elif m := re.match(r";; flags:([^;]*);", line):
            result.flags = set(m.group(1).split())
        elif m := re.match(r"; EDNS: version: (\d+), flags:[^;]*; udp: (\d+)", line):
            result.edns = {"version": int(m.group(1)), "udp": int(m.group(2))}
        elif section == "question":
            name, _cls, qtype = line.lstrip(";").split()
            result.question.append((name, qtype))
        elif section in ("answer", "authority", "additional") and not line.startswith(";"):
            name, ttl, _cls, rtype, *rdata = line.split(None, 4)
            getattr(result, section).append(Record(name, int(ttl), rtype, " ".join(rdata)))
    return result


def dig(port, *args, server="127.0.0.1"):
    """Runs one dig query and parses the response; fails when none came."""
    done = dig_raw(port, *args, server=server)
    if done.returncode != 0 or ";; Got answer:" not in done.stdout:
        raise AssertionError(f"dig {' '.join(args)} got no answer (exit {done.returncode}):\n"
                             f"{done.stdout}{done.stderr}")
    return parse_dig(done.stdout)


# --------------------------------------------------------------------------
# Raw DNS messages, for what dig cannot send
# --------------------------------------------------------------------------

def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def make_message(questions, qid=0x4242, flags=0, qdcount=None):
    """A message with the given (name, qtype) questions, class IN; `qdcount`
    overrides the header's question count."""
    count = len(questions) if qdcount is None else qdcount
    body = b"".join(encode_name(name) + struct.pack("!HH", qtype, 1)
                    for name, qtype in questions)
    return struct.pack("!HHHHHH", qid, flags, count, 0, 0, 0) + body


@dataclass
class Message:
    id: int
    flags: int
    counts: tuple  # QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT
    questions: list = field(default_factory=list)  # (name, qtype)
    answers: list = field(default_factory=list)    # (name, type, ttl, rdata bytes)

    @property
    def rcode(self):
        return self.flags & 0xF

    @property
    def opcode(self):
        return (self.flags >> 11) & 0xF


def read_name(data, pos):
    """Reads a possibly compressed name; returns (text, position after it)."""
    labels, end = [], None
    for _ in range(128):
        length = data[pos]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = pos + 2
            pos = (length & 0x3F) << 8 | data[pos + 1]
            continue
        pos += 1
        if length == 0:
            return ".".join(labels) + ".", pos if end is None else end
        labels.append(data[pos:pos + length].decode("ascii", "replace"))
        pos += length
    raise ValueError("compression loop")


def parse_message(data):
    """Header, questions and answer section of a response."""
    qid, flags, *counts = struct.unpack("!HHHHHH", data[:12])
    message = Message(qid, flags, tuple(counts))
    pos = 12
    for _ in range(counts[0]):
        name, pos = read_name(data, pos)
        message.questions.append((name, struct.unpack("!H", data[pos:pos + 2])[0]))
        pos += 4
    for _ in range(counts[1]):
        name, pos = read_name(data, pos)
        rtype, _cls, ttl, rdlength = struct.unpack("!HHIH", data[pos:pos + 10])
        pos += 10
        message.answers.append((name, rtype, ttl, data[pos:pos + rdlength]))
        pos += rdlength
    return message


def udp_exchange(port, packet, timeout=1.0):
    """Sends one datagram; returns the response bytes, or None on timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(packet, ("127.0.0.1", port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def recv_exact(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise AssertionError(f"connection closed after {len(data)} of {size} bytes")
        data += chunk
    return data


def tcp_exchange(port, packets, timeout=3.0):
    """Sends all `packets` length-prefixed on one TCP connection in a single
    write, then reads as many responses."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"".join(struct.pack("!H", len(p)) + p for p in packets))
        responses = []
        for _ in packets:
            (length,) = struct.unpack("!H", recv_exact(s, 2))
            responses.append(recv_exact(s, length))
        return responses


# --------------------------------------------------------------------------
# The daemon
# --------------------------------------------------------------------------

class Agilityd(AgilitydProcess):
    """agilityd serving the example.com zone of its configuration."""

    def start(self, port):
        # DNS is answered before the control socket is made: ready is both.
        def ready():
            done = dig_raw(port, "+time=1", "example.com", "SOA")
            control = self.control_path()
            return (done.returncode == 0 and "status: NOERROR" in done.stdout and
                    (control is None or os.path.exists(control)))
        super().start(ready)

    def control_path(self):
        """The control socket the configuration names, if any."""
        with open(self.config_path, encoding="utf-8") as f:
            found = re.search(r'control:\s*"([^"]+)"', f.read())
        return found.group(1) if found else None


def udp_burst(source, destination, port, count, sockets=1):
    """Sends `count` queries at once from `source` to `destination`, spread
    over `sockets` source ports; returns (full, truncated, silent)."""
    family = socket.AF_INET6 if ":" in destination else socket.AF_INET
    opened = [socket.socket(family, socket.SOCK_DGRAM) for _ in range(sockets)]
    try:
        for s in opened:
            s.bind((source, 0))
        for i in range(count):
            opened[i % sockets].sendto(make_message([("www.example.com", 1)], qid=i),
                                       (destination, port))
        full = truncated = 0
        deadline = time.monotonic() + 0.5
        for s in opened:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                while True:
                    reply = parse_message(s.recv(4096))
                    if reply.flags & 0x0200:
                        truncated += 1
                    else:
                        full += 1
            except socket.timeout:
                pass
    finally:
        for s in opened:
            s.close()
    return full, truncated, count - full - truncated


class ServerTestCase(unittest.TestCase):
    """Starts agilityd once per class with the class's configuration."""

    # Subclasses define these: zone file name -> text, pool name -> prefix,
    # and the list of policies.
    ZONES = {}
    POOLS = {}
    POLICIES = []

    @classmethod
    def config_text(cls):
        return yaml_config(cls.port, cls.control, sorted(cls.ZONES), cls.POOLS, cls.POLICIES)

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="agility-it-")
        cls.dir = cls.tmp.name
        cls.port = free_port()
        cls.control = os.path.join(cls.dir, "control.sock")
        cls.config = os.path.join(cls.dir, "agility.yaml")
        for name, text in cls.ZONES.items():
            write_file(os.path.join(cls.dir, name), text)
        write_file(cls.config, cls.config_text())
        cls.server = Agilityd(cls.config, os.path.join(cls.dir, "agilityd.log"))
        try:
            cls.server.start(cls.port)
        except BaseException:
            cls.server.stop()
            cls.tmp.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        code = cls.server.stop()
        log = cls.server.log()
        cls.tmp.cleanup()
        if code != 0:
            raise AssertionError(f"agilityd exit status after SIGTERM: {code}, expected 0:\n{log}")

    def dig(self, *args, **kwargs):
        return dig(self.port, *args, **kwargs)

    def assertInNetwork(self, address, network):
        self.assertIn(ipaddress.ip_address(address), ipaddress.ip_network(network),
                      f"{address} is not in {network}")

    def assertSoaAuthority(self, result, apex, ttl):
        """Negative answers carry the zone's SOA with TTL min(SOA TTL, MINIMUM)."""
        self.assertEqual([(r.name, r.type) for r in result.authority], [(apex, "SOA")],
                         result.text)
        self.assertEqual(result.authority[0].ttl, ttl, result.text)


# --------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------

EDGE4, EDGE6 = "127.77.0.0/20", "fd00:77::/44"
SMALL4 = "127.78.1.0/24"
FIXED4, EXACT4, DEEP4 = "127.79.0.1/32", "127.79.0.2/32", "127.79.0.3/32"

BIG_TXT_COUNT = 40
BIG_TXT = [f"{i:02d}" + "x" * 98 for i in range(BIG_TXT_COUNT)]  # 100 bytes each
# ~1.2 kB of TXT: over 512 bytes, within an EDNS buffer of 1232.
MEDIUM_TXT = [f"{i:02d}" + "m" * 98 for i in range(10)]

EXAMPLE_COM_ZONE = """\
; Test zone. The SOA's own TTL (900) exceeds its MINIMUM (300): negative
; answers must carry TTL 300.
$TTL 3600
@              900 IN SOA  ns1 hostmaster ( 2024010101 7200 3600 1209600 300 )
                   IN NS   ns1
                   IN NS   ns2
                   IN MX   10 mail
ns1                IN A    127.0.0.53
ns2                IN A    127.0.0.54
mail               IN A    127.0.0.25
; outside every policy
www                IN A    192.0.2.80
multi              IN A    192.0.2.81
multi              IN AAAA 2001:db8::81
multi              IN TXT  "multi"
multi              IN MX   10 mail
shop               IN CNAME www
leaf.ent           IN A    192.0.2.30
*.wild             IN A    192.0.2.90
; policy names: *.cdn.example.com -> edge, special.cdn -> exact,
; *.eu.cdn -> deep, *.small -> small, fixed -> fixed
a.cdn              IN A    192.0.2.10
a.cdn              IN AAAA 2001:db8::10
special.cdn        IN A    192.0.2.11
x.eu.cdn           IN A    192.0.2.12
*.apps.cdn         IN A    192.0.2.15
redirect.cdn       IN CNAME www
alias              IN CNAME a.cdn
host.small         IN A    192.0.2.13
fixed              IN A    192.0.2.14
; delegation with glue
sub                IN NS   ns.sub
ns.sub             IN A    127.0.0.55
""" + "".join(f'big                IN TXT  "{text}"\n' for text in BIG_TXT) \
  + "".join(f'medium             IN TXT  "{text}"\n' for text in MEDIUM_TXT)

# The SOA's TTL (120) is below its MINIMUM (600): negative TTL 120.
EXAMPLE_NET_ZONE = """\
$TTL 3600
@       120 IN SOA ns1.example.com. hostmaster.example.com. ( 7 7200 3600 1209600 600 )
            IN NS  ns1.example.com.
host        IN A   192.0.2.100
"""


class AnswerTests(ServerTestCase):
    ZONES = {"example.com.zone": EXAMPLE_COM_ZONE, "example.net.zone": EXAMPLE_NET_ZONE}
    POOLS = {"edge4": EDGE4, "edge6": EDGE6, "small4": SMALL4,
             "fixed4": FIXED4, "exact4": EXACT4, "deep4": DEEP4}
    POLICIES = [
        {"name": "edge", "match": ["*.cdn.example.com", "*.example.net"],
         "ipv4": "edge4", "ipv6": "edge6", "ttl": 60},
        {"name": "exact", "match": ["special.cdn.example.com"], "ipv4": "exact4", "ttl": 30},
        {"name": "deep", "match": ["*.eu.cdn.example.com"], "ipv4": "deep4", "ttl": 45},
        {"name": "small", "match": ["*.small.example.com"], "ipv4": "small4", "ttl": 20},
        {"name": "fixed", "match": ["fixed.example.com"], "ipv4": "fixed4", "ttl": 120},
    ]

    def single_answer(self, *args, **kwargs):
        result = self.dig(*args, **kwargs)
        self.assertEqual(result.status, "NOERROR", result.text)
        self.assertEqual(len(result.answer), 1, result.text)
        return result.answer[0]

    # --- pools and policies

    def test_pool_a_over_udp_and_tcp(self):
        for transport in ("+notcp", "+tcp"):
            with self.subTest(transport=transport):
                result = self.dig(transport, "a.cdn.example.com", "A")
                self.assertIn("aa", result.flags)
                self.assertEqual(len(result.answer), 1, result.text)
                record = result.answer[0]
                self.assertEqual((record.name, record.type), ("a.cdn.example.com.", "A"))
                self.assertInNetwork(record.rdata, EDGE4)

    def test_pool_aaaa_over_udp_and_tcp(self):
        for transport in ("+notcp", "+tcp"):
            with self.subTest(transport=transport):
                record = self.single_answer(transport, "a.cdn.example.com", "AAAA")
                self.assertEqual((record.name, record.type), ("a.cdn.example.com.", "AAAA"))
                self.assertInNetwork(record.rdata, EDGE6)

    def test_ipv6_listener(self):
        record = self.single_answer("a.cdn.example.com", "A", server="::1")
        self.assertInNetwork(record.rdata, EDGE4)

    def test_slash24_pool_gives_many_addresses(self):
        # One dig process, 500 queries: dig's batch mode (-f).
        batch = os.path.join(self.dir, "batch.txt")
        write_file(batch, "host.small.example.com A\n" * 500)
        done = dig_raw(self.port, "+short", "-f", batch)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        addresses = done.stdout.split()
        self.assertEqual(len(addresses), 500, done.stdout)
        for address in addresses:
            self.assertInNetwork(address, SMALL4)
        self.assertGreaterEqual(len(set(addresses)), 200)

    def test_slash32_pool_is_constant(self):
        for transport in ("+notcp", "+tcp"):
            for _ in range(10):
                record = self.single_answer(transport, "fixed.example.com", "A")
                self.assertEqual(record.rdata, "127.79.0.1")

    def test_policy_ttl(self):
        for name, qtype, ttl in [("a.cdn.example.com", "A", 60),
                                 ("a.cdn.example.com", "AAAA", 60),
                                 ("special.cdn.example.com", "A", 30),
                                 ("x.eu.cdn.example.com", "A", 45),
                                 ("host.small.example.com", "A", 20),
                                 ("fixed.example.com", "A", 120),
                                 ("host.example.net", "A", 60)]:
            with self.subTest(name=name, qtype=qtype):
                self.assertEqual(self.single_answer(name, qtype).ttl, ttl)

    def test_exact_match_beats_wildcard(self):
        record = self.single_answer("special.cdn.example.com", "A")
        self.assertEqual(record.rdata, "127.79.0.2")

    def test_longer_wildcard_beats_shorter(self):
        record = self.single_answer("x.eu.cdn.example.com", "A")
        self.assertEqual(record.rdata, "127.79.0.3")

    def test_policy_in_second_zone(self):
        record = self.single_answer("host.example.net", "A")
        self.assertInNetwork(record.rdata, EDGE4)

    def test_zone_data_outside_policies(self):
        record = self.single_answer("www.example.com", "A")
        self.assertEqual((record.rdata, record.ttl), ("192.0.2.80", 3600))

    # --- negative answers

    def test_nxdomain_under_policy_pattern(self):
        for name, apex, ttl in [("nope.cdn.example.com", "example.com.", 300),
                                ("deeper.nope.cdn.example.com", "example.com.", 300),
                                ("nope.example.net", "example.net.", 120)]:
            with self.subTest(name=name):
                result = self.dig(name, "A")
                self.assertEqual(result.status, "NXDOMAIN", result.text)
                self.assertIn("aa", result.flags)
                self.assertEqual(result.answer, [])
                self.assertSoaAuthority(result, apex, ttl)

    def test_nodata(self):
        for name, qtype in [("www.example.com", "TXT"), ("www.example.com", "AAAA")]:
            with self.subTest(name=name, qtype=qtype):
                result = self.dig(name, qtype)
                self.assertEqual(result.status, "NOERROR", result.text)
                self.assertIn("aa", result.flags)
                self.assertEqual(result.answer, [])
                self.assertSoaAuthority(result, "example.com.", 300)

    def test_nodata_negative_ttl_soa_ttl_below_minimum(self):
        result = self.dig("host.example.net", "TXT")
        self.assertEqual(result.status, "NOERROR", result.text)
        self.assertEqual(result.answer, [])
        self.assertSoaAuthority(result, "example.net.", 120)

    def test_empty_non_terminal_is_nodata(self):
        # ent.example.com owns nothing but leaf.ent.example.com exists;
        # eu.cdn.example.com likewise, and lies under the edge policy.
        for name in ("ent.example.com", "eu.cdn.example.com"):
            with self.subTest(name=name):
                result = self.dig(name, "A")
                self.assertEqual(result.status, "NOERROR", result.text)
                self.assertEqual(result.answer, [])
                self.assertSoaAuthority(result, "example.com.", 300)

    # --- CNAME

    def test_cname_followed_in_zone(self):
        result = self.dig("shop.example.com", "A")
        self.assertEqual(result.status, "NOERROR", result.text)
        self.assertIn("aa", result.flags)
        self.assertEqual(
            [(r.name, r.type, r.rdata) for r in result.answer],
            [("shop.example.com.", "CNAME", "www.example.com."),
             ("www.example.com.", "A", "192.0.2.80")], result.text)

    def test_cname_to_policy_name_gets_pool_address(self):
        for qtype, network in [("A", EDGE4), ("AAAA", EDGE6)]:
            with self.subTest(qtype=qtype):
                result = self.dig("alias.example.com", qtype)
                self.assertEqual(result.status, "NOERROR", result.text)
                self.assertEqual([(r.name, r.type) for r in result.answer],
                                 [("alias.example.com.", "CNAME"),
                                  ("a.cdn.example.com.", qtype)], result.text)
                self.assertEqual(result.answer[0].rdata, "a.cdn.example.com.")
                self.assertInNetwork(result.answer[1].rdata, network)
                self.assertEqual(result.answer[1].ttl, 60)

    def test_cname_wins_over_policy(self):
        result = self.dig("redirect.cdn.example.com", "A")
        self.assertEqual(result.status, "NOERROR", result.text)
        self.assertEqual(
            [(r.name, r.type, r.rdata) for r in result.answer],
            [("redirect.cdn.example.com.", "CNAME", "www.example.com."),
             ("www.example.com.", "A", "192.0.2.80")], result.text)

    # --- delegation

    def test_referral_for_delegated_subdomain(self):
        for name in ("host.sub.example.com", "sub.example.com"):
            with self.subTest(name=name):
                result = self.dig(name, "A")
                self.assertEqual(result.status, "NOERROR", result.text)
                self.assertNotIn("aa", result.flags)
                self.assertEqual(result.answer, [])
                self.assertEqual([(r.name, r.type, r.rdata) for r in result.authority],
                                 [("sub.example.com.", "NS", "ns.sub.example.com.")],
                                 result.text)
                self.assertIn(("ns.sub.example.com.", "A", "127.0.0.55"),
                              [(r.name, r.type, r.rdata) for r in result.additional],
                              result.text)

    # --- zone wildcards (RFC 4592)

    def test_zone_wildcard_synthesis(self):
        for name in ("foo.wild.example.com", "a.b.wild.example.com"):
            with self.subTest(name=name):
                result = self.dig(name, "A")
                self.assertEqual(result.status, "NOERROR", result.text)
                self.assertIn("aa", result.flags)
                self.assertEqual([(r.name, r.type, r.rdata) for r in result.answer],
                                 [(name + ".", "A", "192.0.2.90")], result.text)

    def test_zone_wildcard_nodata_and_parent(self):
        result = self.dig("foo.wild.example.com", "TXT")
        self.assertEqual(result.status, "NOERROR", result.text)
        self.assertEqual(result.answer, [])
        self.assertSoaAuthority(result, "example.com.", 300)
        # The wildcard's parent is an empty non-terminal.
        result = self.dig("wild.example.com", "A")
        self.assertEqual(result.status, "NOERROR", result.text)
        self.assertEqual(result.answer, [])

    def test_zone_wildcard_under_policy_uses_pool(self):
        for qtype, network in [("A", EDGE4), ("AAAA", EDGE6)]:
            with self.subTest(qtype=qtype):
                record = self.single_answer("anything.apps.cdn.example.com", qtype)
                self.assertEqual((record.name, record.type),
                                 ("anything.apps.cdn.example.com.", qtype))
                self.assertInNetwork(record.rdata, network)
                self.assertEqual(record.ttl, 60)

    # --- flags, rcodes, question

    def test_aa_flag_on_authoritative_answers(self):
        for args in [("www.example.com", "A"), ("a.cdn.example.com", "A"),
                     ("example.com", "SOA"), ("nope.example.com", "A"),
                     ("www.example.com", "TXT")]:
            with self.subTest(query=args):
                result = self.dig(*args)
                self.assertIn("aa", result.flags, result.text)
                self.assertIn("qr", result.flags, result.text)

    def test_refused_outside_every_zone(self):
        for name in ("www.example.org", "com", "example.com.evil.test"):
            with self.subTest(name=name):
                result = self.dig(name, "A")
                self.assertEqual(result.status, "REFUSED", result.text)
                self.assertNotIn("aa", result.flags)
                self.assertEqual(result.answer, [])

    def test_question_case_preserved(self):
        for name, qtype in [("WwW.ExAmPlE.cOm", "A"), ("A.cDn.ExAmPlE.CoM", "A"),
                            ("ShOp.ExAmPlE.cOm", "A")]:
            with self.subTest(name=name):
                result = self.dig(name, qtype)
                self.assertEqual(result.status, "NOERROR", result.text)
                self.assertEqual(result.question, [(name + ".", qtype)], result.text)
                self.assertEqual(result.answer[0].name, name + ".", result.text)

    # --- EDNS (RFC 6891)

    def test_edns_opt_echoed(self):
        result = self.dig("+edns=0", "+bufsize=4096", "www.example.com", "A")
        self.assertEqual(result.status, "NOERROR", result.text)
        self.assertEqual(result.edns, {"version": 0, "udp": 1232}, result.text)
        result = self.dig("+noedns", "www.example.com", "A")
        self.assertIsNone(result.edns, result.text)
        self.assertEqual(len(result.answer), 1, result.text)

    def test_edns_version_1_badvers(self):
        result = self.dig("+edns=1", "+noednsnegotiation", "www.example.com", "A")
        self.assertEqual(result.status, "BADVERS", result.text)
        self.assertIsNotNone(result.edns, result.text)
        self.assertEqual(result.edns["version"], 0, result.text)
        self.assertEqual(result.answer, [])

    # --- message size and TCP (RFC 7766)

    def test_truncation_over_udp_full_answer_over_tcp(self):
        udp = self.dig("+noedns", "+ignore", "big.example.com", "TXT")
        self.assertIn("tc", udp.flags, udp.text)
        self.assertLess(len(udp.answer), BIG_TXT_COUNT)
        udp = self.dig("+edns=0", "+bufsize=1232", "+ignore", "big.example.com", "TXT")
        self.assertIn("tc", udp.flags, udp.text)
        tcp = self.dig("+tcp", "big.example.com", "TXT")
        self.assertEqual(tcp.status, "NOERROR", tcp.text)
        self.assertNotIn("tc", tcp.flags)
        self.assertEqual(sorted(r.rdata.strip('"') for r in tcp.answer), BIG_TXT)

    def test_edns_buffer_size_decides_truncation(self):
        classic = self.dig("+noedns", "+ignore", "medium.example.com", "TXT")
        self.assertIn("tc", classic.flags, classic.text)
        edns = self.dig("+edns=0", "+bufsize=1232", "+ignore", "medium.example.com", "TXT")
        self.assertNotIn("tc", edns.flags, edns.text)
        self.assertEqual(sorted(r.rdata.strip('"') for r in edns.answer), MEDIUM_TXT)
        # A client buffer below 512 is treated as 512 (RFC 6891 section 6.2.5).
        tiny = self.dig("+edns=0", "+bufsize=100", "+ignore", "www.example.com", "A")
        self.assertNotIn("tc", tiny.flags, tiny.text)
        self.assertEqual(len(tiny.answer), 1, tiny.text)

    def test_several_queries_on_one_tcp_connection(self):
        queries = [make_message([("www.example.com", TYPE_A)], qid=0x1111),
                   make_message([("fixed.example.com", TYPE_A)], qid=0x2222),
                   make_message([("nope.example.com", TYPE_A)], qid=0x3333)]
        first, second, third = (parse_message(r) for r in tcp_exchange(self.port, queries))
        self.assertEqual((first.id, first.rcode), (0x1111, RCODE_NOERROR))
        self.assertEqual(first.answers[0][3], socket.inet_aton("192.0.2.80"))
        self.assertEqual((second.id, second.rcode), (0x2222, RCODE_NOERROR))
        self.assertEqual(second.answers[0][3], socket.inet_aton("127.79.0.1"))
        self.assertEqual((third.id, third.rcode), (0x3333, RCODE_NXDOMAIN))

    def test_dig_keepopen_several_names_over_tcp(self):
        done = dig_raw(self.port, "+tcp", "+keepopen", "+short",
                       "www.example.com", "A", "fixed.example.com", "A")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertEqual(done.stdout.split(), ["192.0.2.80", "127.79.0.1"])

    # --- malformed and unusual messages

    def test_garbage_over_udp(self):
        header = struct.pack("!HHHHHH", 0x1234, 0, 1, 0, 0, 0)  # a query, QDCOUNT=1
        garbage = [
            b"\x00",                                          # shorter than a header
            b"\xab\xcd\x00\x00" + bytes(range(0xF0, 0x100)),  # absurd counts
            header + b"\x3f" + b"\xff" * 30,                  # label runs past the end
            header + b"\xc0\x0c\x00\x01\x00\x01",             # pointer in the question
            header + b"\x40abc\x00\x00\x01\x00\x01",          # reserved label type
        ]
        for packet in garbage:
            with self.subTest(packet=packet):
                response = udp_exchange(self.port, packet, timeout=0.5)
                if response is not None:
                    self.assertEqual(parse_message(response).rcode, RCODE_FORMERR)
        self.assertEqual(self.single_answer("www.example.com", "A").rdata, "192.0.2.80")

    def test_two_questions_formerr(self):
        packet = make_message([("www.example.com", TYPE_A), ("mail.example.com", TYPE_A)],
                              qid=0xBEEF)
        response = udp_exchange(self.port, packet)
        self.assertIsNotNone(response, "no response to QDCOUNT=2")
        message = parse_message(response)
        self.assertEqual(message.id, 0xBEEF)
        self.assertTrue(message.flags & FLAG_QR)
        self.assertEqual(message.rcode, RCODE_FORMERR)

    def test_signed_query_gets_badkey(self):
        # No TSIG key is configured: RFC 8945 §5.2.1, as NSD and Knot answer.
        for transport in ("+notcp", "+tcp"):
            with self.subTest(transport=transport):
                r = self.dig("-y", TSIG_KEY, transport, "www.example.com", "A")
                self.assertEqual(r.status, "NOTAUTH")
                self.assertIn("tsig indicates error", r.text)
                self.assertRegex(r.text, r"(?m)^testkey\.\s+0\s+ANY\s+TSIG\s+hmac-sha256\. "
                                         r"\d+ 300 0 \d+ BADKEY 0")
                self.assertEqual(r.answer, [])

    def test_opcode_status_notimp(self):
        packet = make_message([("www.example.com", TYPE_A)], qid=0x5151,
                              flags=OPCODE_STATUS << 11)
        response = udp_exchange(self.port, packet)
        self.assertIsNotNone(response, "no response to opcode STATUS")
        message = parse_message(response)
        self.assertEqual(message.id, 0x5151)
        self.assertTrue(message.flags & FLAG_QR)
        self.assertEqual(message.opcode, OPCODE_STATUS)
        self.assertEqual(message.rcode, RCODE_NOTIMP)
        self.assertEqual(message.questions, [("www.example.com.", TYPE_A)])

    def test_update_notimp_and_foreign_notify_refused_echo_question_and_opt(self):
        # NOTIFY is taken only from a secondary zone's primaries (test_transfer).
        for opcode, status in (("notify", "REFUSED"), ("update", "NOTIMP")):
            for transport in ("+notcp", "+tcp"):
                with self.subTest(opcode=opcode, transport=transport):
                    r = self.dig(f"+opcode={opcode}", transport, "+dnssec", "example.com", "SOA")
                    self.assertEqual(r.status, status)
                    self.assertEqual(r.question, [("example.com.", "SOA")])
                    self.assertIsNotNone(r.edns, "no OPT in the NOTIMP reply")
                    self.assertIn("do", r.text.split("; EDNS:")[1].splitlines()[0])
                    if opcode == "update":
                        self.assertNotIn("aa", r.flags)
                    self.assertEqual(r.answer + r.authority, [])

    def test_response_bit_set_gets_no_response(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(1.0)
            s.connect(("127.0.0.1", self.port))
            s.send(make_message([("www.example.com", TYPE_A)], qid=0x0001, flags=FLAG_QR))
            s.send(make_message([("www.example.com", TYPE_A)], qid=0x0002))
            # Only the second, a proper query, is answered.
            self.assertEqual(parse_message(s.recv(65535)).id, 0x0002)
            with self.assertRaises(socket.timeout):
                s.recv(65535)

    def test_header_only_formerr(self):
        packet = struct.pack("!HHHHHH", 0x7777, 0, 1, 0, 0, 0)
        response = udp_exchange(self.port, packet)
        self.assertIsNotNone(response, "no response to a header-only query")
        message = parse_message(response)
        self.assertEqual(message.id, 0x7777)
        self.assertEqual(message.rcode, RCODE_FORMERR)

    # --- ANY and additional-section processing

    def test_any_returns_one_rrset(self):
        for name in ("multi.example.com", "example.com"):
            with self.subTest(name=name):
                result = self.dig(name, "ANY")
                self.assertEqual(result.status, "NOERROR", result.text)
                self.assertGreaterEqual(len(result.answer), 1, result.text)
                self.assertEqual(len({(r.name, r.type) for r in result.answer}), 1, result.text)

    def test_any_at_cname_under_policy_returns_the_cname(self):
        # The CNAME is the only RRset at the name (RFC 1034 section 3.6.2),
        # and a CNAME wins over the policy: no pool address may appear.
        result = self.dig("redirect.cdn.example.com", "ANY")
        self.assertEqual(result.status, "NOERROR", result.text)
        self.assertEqual([(r.name, r.type, r.rdata) for r in result.answer],
                         [("redirect.cdn.example.com.", "CNAME", "www.example.com.")],
                         result.text)

    def test_mx_target_address_in_additional(self):
        result = self.dig("example.com", "MX")
        self.assertEqual([(r.type, r.rdata) for r in result.answer],
                         [("MX", "10 mail.example.com.")], result.text)
        self.assertIn(("mail.example.com.", "A", "127.0.0.25"),
                      [(r.name, r.type, r.rdata) for r in result.additional], result.text)

    # --- control

    def test_agilityctl_status(self):
        done = agilityctl("-c", self.config, "status")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertRegex(done.stdout, r"(?m)^generation 1: 2 zones")
        self.assertRegex(done.stdout, r"(?m)^\s+zone example\.com\. serial 2024010101")
        self.assertRegex(done.stdout, r"(?m)^\s+zone example\.net\. serial 7")

    def test_tcp_queries_after_pauses_are_answered_at_once(self):
        """Each query sent after a pause on an open connection is answered
        at once, well before any timer (the query timeout is 2 s) would wake
        the worker: the connection is watched whichever way UDP goes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            for i in range(3):
                time.sleep(0.3)
                query = make_message([("www.example.com", 1)], qid=i)
                started = time.monotonic()
                s.sendall(struct.pack("!H", len(query)) + query)
                (length,) = struct.unpack("!H", recv_exact(s, 2))
                self.assertEqual(recv_exact(s, length)[:2], struct.pack("!H", i))
                self.assertLess(time.monotonic() - started, 0.5)

    # --- how UDP reaches the kernel

    UDP_IO = None  # server.udp_io; None: the default, auto

    @classmethod
    def config_text(cls):
        text = super().config_text()
        if cls.UDP_IO is not None:
            text = text.replace("  workers: 2\n", f"  workers: 2\n  udp_io: {cls.UDP_IO}\n")
        return text

    def test_udp_goes_through_the_io_asked_for(self):
        line = wait_for(lambda: re.search(r"UDP through (\S+)", self.server.log()),
                        "the serving line")
        if self.UDP_IO is None and "io_uring unavailable" in self.server.log():
            self.skipTest("io_uring is unavailable here (Linux 6.1 or later, not disabled "
                          "by sysctl or seccomp): " + self.server.log())
        self.assertEqual(line.group(1), self.UDP_IO or "io_uring")


class RecvmmsgAnswerTests(AnswerTests):
    """Every answer test again, with UDP through recvmmsg/sendmmsg behind
    epoll rather than io_uring."""
    UDP_IO = "recvmmsg"


# --------------------------------------------------------------------------
# agilityd --check
# --------------------------------------------------------------------------

CHECK_ZONE = """\
$TTL 3600
@    IN SOA ns1 hostmaster ( 1 7200 3600 1209600 300 )
     IN NS  ns1
ns1  IN A   127.0.0.53
www  IN A   192.0.2.80
"""


class CheckTests(unittest.TestCase):
    """`agilityd --check` validates configuration and zones, then exits."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="agility-check-")
        self.addCleanup(self.tmp.cleanup)
        self.dir = self.tmp.name
        self.zone = os.path.join(self.dir, "example.com.zone")
        write_file(self.zone, CHECK_ZONE)

    def write_config(self, pool="p4"):
        text = yaml_config(free_port(), os.path.join(self.dir, "control.sock"),
                           ["example.com.zone"], {"p4": "127.79.0.1/32", "p6": "fd00:77::/44"},
                           [{"name": "edge", "match": ["*.example.com"], "ipv4": pool,
                             "ipv6": "p6", "ttl": 60}])
        path = os.path.join(self.dir, "agility.yaml")
        write_file(path, text)
        return path, text

    def check(self, config):
        return subprocess.run([AGILITYD, "-c", config, "--check"],
                              capture_output=True, text=True, timeout=30)

    def test_version(self):
        for binary, name in ((AGILITYD, "agilityd"), (AGILITYCTL, "agilityctl")):
            done = subprocess.run([binary, "--version"], capture_output=True, text=True,
                                  timeout=30)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertRegex(done.stdout, rf"^{name} \d+\.\d+\.\d+\n$")

    def test_good_config(self):
        config, _ = self.write_config()
        done = self.check(config)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertRegex(done.stdout, r"generation 1: 1 zones, \d+ names, 1 policies, 2 pools")
        self.assertIn("zone example.com.", done.stdout)
        self.assertIn("pool p4 127.79.0.1/32", done.stdout)

    def test_undefined_pool_points_at_its_line(self):
        config, text = self.write_config(pool="nosuchpool")
        line = line_of(text, "nosuchpool")
        done = self.check(config)
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn(f"{config}:{line}:", done.stderr)
        self.assertIn("nosuchpool", done.stderr)

    def test_zone_syntax_error_points_at_its_line(self):
        config, _ = self.write_config()
        broken = CHECK_ZONE + "mail IN A 999.1.2.3\nother IN A 192.0.2.1\n"
        write_file(self.zone, broken)
        done = self.check(config)
        self.assertEqual(done.returncode, 1, done.stdout + done.stderr)
        self.assertIn(f"{self.zone}:{line_of(broken, '999.1.2.3')}:", done.stderr)


# --------------------------------------------------------------------------
# Reloading
# --------------------------------------------------------------------------

RELOAD_ZONE = """\
$TTL 3600
@    IN SOA ns1 hostmaster ( 1 7200 3600 1209600 300 )
     IN NS  ns1
ns1  IN A   127.0.0.53
www  IN A   192.0.2.80
"""


class ReloadTests(ServerTestCase):
    ZONES = {"example.com.zone": RELOAD_ZONE}
    FIRST, SECOND = "127.79.0.1", "127.79.0.9"

    @classmethod
    def pool_config(cls, address, pool_name="p4"):
        return yaml_config(cls.port, cls.control, ["example.com.zone"], {"p4": f"{address}/32"},
                           [{"name": "edge", "match": ["*.example.com"], "ipv4": pool_name,
                             "ttl": 60}])

    @classmethod
    def config_text(cls):
        return cls.pool_config(cls.FIRST)

    def setUp(self):
        # Every test starts from the first pool, loaded synchronously.
        write_file(self.config, self.pool_config(self.FIRST))
        done = agilityctl("-c", self.config, "reload")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertRegex(done.stdout, r"^generation \d+: 1 zones")
        self.assertEqual(self.answer(), self.FIRST)

    def answer(self):
        result = self.dig("www.example.com", "A")
        self.assertEqual(len(result.answer), 1, result.text)
        return result.answer[0].rdata

    def generation(self):
        done = agilityctl("-s", self.control, "status")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        return int(re.search(r"(?m)^generation (\d+):", done.stdout).group(1))

    def write_broken_config(self):
        text = self.pool_config(self.SECOND, pool_name="undefined_pool")
        write_file(self.config, text)
        return line_of(text, "undefined_pool")

    def test_sighup_reload_then_broken_config_keeps_last_good(self):
        write_file(self.config, self.pool_config(self.SECOND))
        self.server.signal(signal.SIGHUP)
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while self.answer() != self.SECOND:
            self.assertLess(time.monotonic(), deadline,
                            f"still not answering from the new pool {RELOAD_TIMEOUT} s after SIGHUP")
            time.sleep(POLL_INTERVAL)
        good_generation = self.generation()

        failures = self.server.log().count("reload failed")
        line = self.write_broken_config()
        self.server.signal(signal.SIGHUP)
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while self.server.log().count("reload failed") == failures:
            self.assertLess(time.monotonic(), deadline, "no 'reload failed' in the log")
            time.sleep(POLL_INTERVAL)
        self.assertIn(f"{self.config}:{line}:", self.server.log())
        for _ in range(5):
            self.assertEqual(self.answer(), self.SECOND)
        self.assertEqual(self.generation(), good_generation)

    def assert_zone_reload_fails_and_old_serves(self, damage, expected):
        zone = os.path.join(self.dir, "example.com.zone")
        before = self.generation()
        damage(zone)
        try:
            write_file(self.config, self.pool_config(self.SECOND))
            done = agilityctl("-s", self.control, "reload")
            self.assertNotEqual(done.returncode, 0)
            self.assertIn(expected, done.stdout + done.stderr)
            self.assertEqual(self.generation(), before)
            self.assertEqual(self.answer(), self.FIRST)
        finally:
            if os.path.isdir(zone):
                os.rmdir(zone)
            write_file(zone, RELOAD_ZONE)

    def test_unreadable_zone_keeps_last_good(self):
        # A directory where the zone file was: the read fails (EISDIR).
        def replace_with_directory(path):
            os.remove(path)
            os.mkdir(path)
        self.assert_zone_reload_fails_and_old_serves(replace_with_directory, "example.com.zone")

    def test_half_written_zone_keeps_last_good(self):
        # What a full disk leaves behind: the file ends mid-record.
        def truncate(path):
            write_file(path, RELOAD_ZONE[:RELOAD_ZONE.index("ns1  IN A") + 10])
        self.assert_zone_reload_fails_and_old_serves(truncate, "example.com.zone:4:")

    def test_agilityctl_reload_broken_config_fails(self):
        before = self.generation()
        line = self.write_broken_config()
        # Through the daemon (-s: the socket given, the config read by agilityd).
        done = agilityctl("-s", self.control, "reload")
        self.assertNotEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn(f"{self.config}:{line}:", done.stdout + done.stderr)
        # The usual way, -c: the error reaches the user either way.
        done = agilityctl("-c", self.config, "reload")
        self.assertNotEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn(f"{self.config}:{line}:", done.stdout + done.stderr)
        self.assertEqual(self.answer(), self.FIRST)
        self.assertEqual(self.generation(), before)

    def test_server_settings_wait_for_a_restart_and_say_so(self):
        # workers 2 -> 1 and a new rate_limit: the pool change applies now,
        # the rest is reported as waiting for a restart.
        text = self.pool_config(self.SECOND).replace("  workers: 2", "  workers: 1")
        write_file(self.config, text + "rate_limit: {enabled: true}\n")
        done = agilityctl("-c", self.config, "reload")
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("the changed server and rate_limit settings take effect at the next "
                      "restart", done.stdout)
        self.assertEqual(self.answer(), self.SECOND)
        for _ in range(20):  # not rate limited: the running settings stay
            self.assertEqual(self.answer(), self.SECOND)
        # setUp's reload (the original settings) carries no note.
        self.setUp()
        done = agilityctl("-c", self.config, "reload")
        self.assertNotIn("restart", done.stdout)


METRIC_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.]+(?:e[+-]?[0-9]+)?)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_metrics(text):
    """Strict parse of the Prometheus text format: returns {(name, labels): value}
    and fails on anything malformed, undeclared or duplicated."""
    types, samples = {}, {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge"), f"line {number}: type {kind}"
            assert name not in types, f"line {number}: {name} declared twice"
            types[name] = kind
            continue
        match = METRIC_LINE.match(line)
        assert match, f"line {number}: malformed sample: {line!r}"
        name, label_text, value = match.groups()
        assert name in types, f"line {number}: {name} has no TYPE"
        if types[name] == "counter":
            assert name.endswith("_total"), f"line {number}: counter {name} lacks _total"
        labels = ()
        if label_text:
            pairs = LABEL.findall(label_text)
            assert "".join(f'{k}="{v}"{sep}' for k, v, sep in pairs) == label_text, line
            labels = tuple((k, v) for k, v, _ in pairs)
        key = (name, labels)
        assert key not in samples, f"line {number}: duplicate sample {line!r}"
        samples[key] = float(value)
    return samples


class MetricsTests(ServerTestCase):
    ZONES = {"example.com.zone": RELOAD_ZONE}

    @classmethod
    def pool_config(cls, prefix):
        return yaml_config(cls.port, cls.control, ["example.com.zone"], {"p4": prefix},
                           [{"name": "edge", "match": ["*.example.com"], "ipv4": "p4"}],
                           metrics_port=cls.metrics_port)

    @classmethod
    def config_text(cls):
        cls.metrics_port = free_port()
        return cls.pool_config("127.77.0.0/20")

    def scrape(self):
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            self.assertEqual(response.status, 200)
            self.assertIn("text/plain", response.headers["Content-Type"])
            return parse_metrics(response.read().decode())

    @staticmethod
    def value(samples, name, **labels):
        return samples.get((name, tuple(labels.items())), 0.0)

    def test_counters_follow_queries_and_reloads(self):
        before = self.scrape()
        for _ in range(20):
            self.assertEqual(len(self.dig("www.example.com", "A").answer), 1)
        for _ in range(5):
            self.dig("nothere.example.com", "A")
        for _ in range(3):
            self.dig("www.example.com", "A", "+tcp")
        for _ in range(2):
            self.dig("www.example.com", "A", "-y", TSIG_KEY)
        m = self.scrape()

        def delta(name, **labels):
            return self.value(m, name, **labels) - self.value(before, name, **labels)

        self.assertEqual(delta("agility_queries_total", transport="udp", rcode="NOERROR",
                               qtype="A"), 20)
        self.assertEqual(delta("agility_queries_total", transport="udp", rcode="NXDOMAIN",
                               qtype="A"), 5)
        self.assertEqual(delta("agility_queries_total", transport="tcp", rcode="NOERROR",
                               qtype="A"), 3)
        self.assertEqual(delta("agility_queries_total", transport="udp", rcode="NOTAUTH",
                               qtype="A"), 2)
        self.assertEqual(delta("agility_pool_answers_total", policy="edge", pool="p4"), 23)
        by_prefix = sum(v for (name, labels), v in m.items()
                        if name == "agility_pool_answers_by_prefix_total")
        self.assertEqual(len([1 for (name, _) in m if name == "agility_pool_answers_by_prefix_total"]), 16,
                         "a /20 is shown as 16 /24s")
        self.assertEqual(by_prefix, self.value(m, "agility_pool_answers_total", policy="edge",
                                               pool="p4"))
        self.assertEqual(self.value(m, "agility_pool_size_addresses", pool="p4",
                                    prefix="127.77.0.0/20"), 4096)
        self.assertEqual(self.value(m, "agility_zone_names", zone="example.com."), 3)
        generation = self.value(m, "agility_generation")

        write_file(self.config, "pools: [broken\n")
        self.assertNotEqual(agilityctl("-s", self.control, "reload").returncode, 0)
        m = self.scrape()
        self.assertEqual(self.value(m, "agility_last_reload_success"), 0)
        self.assertGreaterEqual(self.value(m, "agility_reloads_total", result="failure"), 1)
        self.assertEqual(self.value(m, "agility_generation"), generation)

        write_file(self.config, self.pool_config("127.77.0.0/20"))
        self.assertEqual(agilityctl("-s", self.control, "reload").returncode, 0)
        m = self.scrape()
        self.assertEqual(self.value(m, "agility_last_reload_success"), 1)
        self.assertEqual(self.value(m, "agility_generation"), generation + 1)
        # Counters continue across the reload rather than restart at zero.
        self.assertGreaterEqual(self.value(m, "agility_pool_answers_total", policy="edge",
                                           pool="p4"), 23)

    def test_idle_workers_let_old_snapshots_go(self):
        # A worker takes the snapshot in force with its first query; reloads
        # follow with no traffic at all: the old snapshots must still go.
        self.assertEqual(len(self.dig("www.example.com", "A").answer), 1)
        for prefix in ("127.78.0.0/24", "127.79.0.1/32", "127.77.0.0/20"):
            write_file(self.config, self.pool_config(prefix))
            self.assertEqual(agilityctl("-s", self.control, "reload").returncode, 0)
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while self.value(self.scrape(), "agility_snapshots_alive") != 1:
            self.assertLess(time.monotonic(), deadline, "an old snapshot is still alive")
            time.sleep(POLL_INTERVAL)

    def test_other_paths_are_not_found(self):
        with self.assertRaises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/", timeout=5)
        self.assertEqual(raised.exception.code, 404)


class ShutdownTests(unittest.TestCase):
    """SIGTERM stops agilityd at once, whatever its control and metrics
    clients are doing; a SIGHUP while it stops is ignored."""

    def test_idle_control_and_metrics_clients_do_not_hold_the_exit(self):
        with tempfile.TemporaryDirectory(prefix="agility-stop-") as directory:
            port, metrics_port = free_port(), free_port()
            control = os.path.join(directory, "control.sock")
            config = os.path.join(directory, "agility.yaml")
            write_file(os.path.join(directory, "example.com.zone"), RELOAD_ZONE)
            write_file(config, edge_config(port, control, metrics_port))
            server = Agilityd(config, os.path.join(directory, "agilityd.log"))
            server.start(port)
            idle_control = socket.socket(socket.AF_UNIX)
            idle_metrics = None
            try:
                idle_control.connect(control)
                idle_metrics = socket.create_connection(("127.0.0.1", metrics_port))
                idle_metrics.sendall(b"GET /metr")  # half a request
                time.sleep(0.2)
                started = time.monotonic()
                server.signal(signal.SIGTERM)
                server.signal(signal.SIGHUP)
                code = server.process.wait(timeout=5)
                self.assertEqual(code, 0, server.log())
                self.assertLess(time.monotonic() - started, 2.0)
            finally:
                idle_control.close()
                if idle_metrics is not None:
                    idle_metrics.close()
                server.stop()


class RestartTests(unittest.TestCase):
    """SIGKILL under load, then a restart: serving again within a second."""

    def test_sigkill_under_load_then_restart(self):
        with tempfile.TemporaryDirectory(prefix="agility-kill-") as directory:
            port = free_port()
            control = os.path.join(directory, "control.sock")
            config = os.path.join(directory, "agility.yaml")
            write_file(os.path.join(directory, "example.com.zone"), RELOAD_ZONE)
            write_file(config, edge_config(port, control))
            first = Agilityd(config, os.path.join(directory, "first.log"))
            first.start(port)
            stop = threading.Event()

            def load():
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    packet = make_message([("www.example.com", 1)])
                    while not stop.is_set():
                        s.sendto(packet, ("127.0.0.1", port))
                        time.sleep(0.0002)
            sender = threading.Thread(target=load)
            sender.start()
            try:
                time.sleep(0.5)
                first.kill()
                second = Agilityd(config, os.path.join(directory, "second.log"))
                started = time.monotonic()
                # Ready at its first UDP answer, the control socket aside.
                AgilitydProcess.start(
                    second,
                    lambda: udp_exchange(port, make_message([("www.example.com", 1)]), 0.05),
                    timeout=5)
                self.assertLess(time.monotonic() - started, 1.0, second.log())
                self.assertEqual(second.stop(), 0, second.log())
            finally:
                stop.set()
                sender.join()


class IdentityTests(ServerTestCase):
    """server.identity and server.version: NSID (RFC 5001) and CH TXT
    id.server, hostname.bind, version.bind (RFC 4892)."""
    ZONES = {"example.com.zone": RELOAD_ZONE}

    @classmethod
    def config_text(cls):
        text = edge_config(cls.port, cls.control)
        return text.replace("server:\n", 'server:\n  identity: "edge-fra-1"\n'
                            '  version: "agility test"\n', 1)

    def test_nsid_carries_the_identity(self):
        out = dig_raw(self.port, "+nsid", "www.example.com", "A").stdout
        self.assertIn('NSID: 65 64 67 65 2d 66 72 61 2d 31 ("edge-fra-1")', out)
        self.assertNotIn("NSID", dig_raw(self.port, "www.example.com", "A").stdout)

    def test_chaos_txt_tells_identity_and_version(self):
        for name, text in (("id.server", "edge-fra-1"), ("hostname.bind", "edge-fra-1"),
                           ("version.bind", "agility test"), ("version.server", "agility test")):
            for transport in ((), ("+tcp",)):
                out = dig_raw(self.port, "CH", "TXT", name, *transport).stdout
                self.assertIn("status: NOERROR", out)
                self.assertRegex(out, rf'{re.escape(name)}\.\s+0\s+CH\s+TXT\s+"{text}"')
        self.assertIn("status: REFUSED", dig_raw(self.port, "CH", "TXT", "other.bind").stdout)


TSIG_SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="  # base64 of 32 octets


class TsigTests(ServerTestCase):
    """keys: queries signed with a configured TSIG key (RFC 8945) are answered
    with signed responses that dig verifies; a wrong MAC, an unknown key or
    algorithm, and a stale time get NOTAUTH with the TSIG error."""
    ZONES = {"example.com.zone": RELOAD_ZONE}

    @classmethod
    def config_text(cls):
        return edge_config(cls.port, cls.control) + (
            f'keys:\n  xfr: {{algorithm: hmac-sha256, secret: "{TSIG_SECRET}"}}\n')

    def test_signed_queries_get_signed_responses(self):
        for transport in ((), ("+tcp",)):
            out = dig_raw(self.port, "-y", f"hmac-sha256:xfr:{TSIG_SECRET}", "www.example.com",
                          "A", *transport)
            self.assertIn("status: NOERROR", out.stdout)
            # dig checks the MAC: a response it cannot verify says so.
            self.assertNotIn("Couldn't verify", out.stdout + out.stderr)
            self.assertNotIn("could not be validated", out.stdout)
            self.assertRegex(out.stdout, r"xfr\.\s+0\s+ANY\s+TSIG\s+hmac-sha256\. \d+ 300 32 ")

    def test_bad_signatures_and_keys_get_notauth(self):
        wrong = "d3Jvbmd3cm9uZ3dyb25nd3Jvbmd3cm9uZ3dyb25nMTI="
        for key, error in ((f"hmac-sha256:xfr:{wrong}", "BADSIG"),
                           (f"hmac-sha256:other:{TSIG_SECRET}", "BADKEY"),
                           (f"hmac-sha512:xfr:{TSIG_SECRET}", "BADKEY")):
            out = dig_raw(self.port, "-y", key, "www.example.com", "A").stdout
            self.assertIn("status: NOTAUTH", out)
            self.assertRegex(out, rf"TSIG\s+hmac-sha\d+\. \d+ 300 0 \d+ {error} 0")

    def test_stale_time_gets_a_signed_badtime(self):
        secret = base64.b64decode(TSIG_SECRET)
        key, algorithm = encode_name("xfr"), encode_name("hmac-sha256")
        query = make_message([("www.example.com", 1)], qid=0x7777)
        signed_at = int(time.time()) - 3600
        variables = (key + struct.pack("!HI", 255, 0) + algorithm +
                     struct.pack("!HIH", signed_at >> 32, signed_at & 0xffffffff, 300) +
                     struct.pack("!HH", 0, 0))
        mac = hmac.new(secret, query + variables, "sha256").digest()
        rdata = (algorithm + struct.pack("!HIH", signed_at >> 32, signed_at & 0xffffffff, 300) +
                 struct.pack("!H", len(mac)) + mac + struct.pack("!HHH", 0x7777, 0, 0))
        message = bytearray(query + key + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata)
        message[10:12] = struct.pack("!H", 1)  # ARCOUNT
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(bytes(message), ("127.0.0.1", self.port))
            reply = s.recv(4096)
        self.assertEqual(reply[3] & 0xF, 9)  # NOTAUTH
        # The TSIG closes the reply: ... MAC size, MAC, original ID, error
        # BADTIME (18), other length 6, the server's time.
        error, other_length = struct.unpack("!HH", reply[-10:-6])
        self.assertEqual((error, other_length), (18, 6))
        server_time = int.from_bytes(reply[-6:], "big")
        self.assertLess(abs(server_time - time.time()), 60)
        mac_size = struct.unpack("!H", reply[-14 - 32:-12 - 32])[0]
        self.assertEqual(mac_size, 32, "BADTIME's response is signed (RFC 8945 §5.2.3)")


class FixedBatchWaitTests(ServerTestCase):
    """udp_batch_wait_us: 1000 waits after every partial batch for more
    queries; one query at a time never fills a batch, and each must still be
    answered, the wait ending by its own timeout."""
    ZONES = {"example.com.zone": RELOAD_ZONE}
    UDP_IO = "auto"  # io_uring where the kernel has it

    @classmethod
    def config_text(cls):
        text = edge_config(cls.port, cls.control)
        return text.replace("  workers: 2\n", "  workers: 1\n  udp_batch_wait_us: 1000\n"
                            f"  udp_io: {cls.UDP_IO}\n")

    def test_queries_one_at_a_time_are_all_answered(self):
        for i in range(50):
            started = time.monotonic()
            reply = udp_exchange(self.port, make_message([("n1.example.com", 1)], qid=i))
            self.assertIsNotNone(reply, f"query {i} unanswered")
            self.assertEqual(reply[:2], struct.pack("!H", i))
            self.assertLess(time.monotonic() - started, 0.5)


class FixedBatchWaitRecvmmsgTests(FixedBatchWaitTests):
    UDP_IO = "recvmmsg"


class RateLimitTests(ServerTestCase):
    """Response Rate Limiting: per client /24, a burst of 5 a second, then every
    2nd limited response slips out truncated and the rest are dropped."""
    ZONES = {"example.com.zone": RELOAD_ZONE}

    @classmethod
    def config_text(cls):
        cls.metrics_port = free_port()
        text = edge_config(cls.port, cls.control, cls.metrics_port)
        return text.replace("  workers: 2", "  workers: 1") + (
            "rate_limit: {enabled: true, responses_per_second: 5, slip: 2}\n")

    def burst(self, source, count=40, sockets=1):
        return udp_burst(source, "127.0.0.1", self.port, count, sockets)

    def test_flood_is_limited_with_slip(self):
        full, truncated, silent = self.burst("127.0.0.1")
        self.assertGreaterEqual(full, 5)
        self.assertLessEqual(full, 7, "more than the burst went out whole")
        self.assertGreaterEqual(truncated, 15)
        self.assertGreaterEqual(silent, 15)
        # Another /24 has its own bucket.
        full_other, _, _ = self.burst("127.0.1.1", count=5)
        self.assertEqual(full_other, 5)
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics") as r:
            metrics = parse_metrics(r.read().decode())
        self.assertGreaterEqual(metrics[("agility_rate_limited_total", (("action", "dropped"),))], 15)
        self.assertGreaterEqual(metrics[("agility_rate_limited_total", (("action", "slipped"),))], 15)

    def test_tcp_is_not_limited(self):
        self.burst("127.0.0.1")
        result = self.dig("www.example.com", "A", "+tcp")
        self.assertEqual(len(result.answer), 1)


class RateLimitAcrossWorkersTests(RateLimitTests):
    """Two workers: SO_REUSEPORT spreads a client's queries over both by
    source port, and the client still gets one budget, not one per worker."""

    @classmethod
    def config_text(cls):
        return super().config_text().replace("  workers: 1", "  workers: 2")

    def test_one_budget_for_all_workers(self):
        # 16 source ports land on both workers (all on one: p = 2^-15).
        full, truncated, silent = self.burst("127.0.2.1", count=80, sockets=16)
        self.assertGreaterEqual(full, 5)
        self.assertLessEqual(full, 7, "each worker gave its own burst")
        self.assertGreaterEqual(truncated, 30)
        self.assertGreaterEqual(silent, 30)


class QueryFilterTests(ServerTestCase):
    """server.udp_queries_per_address: the eBPF socket filter admits 50 UDP
    queries a second (a burst of 50) to each destination address. agilityd
    listens on 127.0.0.1, 127.0.0.2 and ::1; a flood at one of them leaves
    the others answered."""
    ZONES = {"example.com.zone": RELOAD_ZONE}

    @classmethod
    def config_text(cls):
        cls.metrics_port = free_port()
        text = edge_config(cls.port, cls.control, cls.metrics_port)
        first = f'"127.0.0.1:{cls.port}", '
        assert first in text
        return text.replace(first, first + f'"127.0.0.2:{cls.port}", ').replace(
            "  workers: 2", "  workers: 2\n  udp_queries_per_address: 50")

    def test_flood_at_one_address_spares_the_others(self):
        # The burst of 50, less the start-up probes, plus what refills meanwhile.
        full, _, silent = udp_burst("127.0.0.1", "127.0.0.1", self.port, 400, sockets=8)
        self.assertGreaterEqual(full, 40)
        self.assertLessEqual(full, 60, "more than the burst of 50 (and refill) got through")
        other, _, _ = udp_burst("127.0.0.1", "127.0.0.2", self.port, 40, sockets=4)
        self.assertEqual(other, 40, "queries to another address were dropped")
        full6, _, _ = udp_burst("::1", "::1", self.port, 400, sockets=8)
        self.assertGreaterEqual(full6, 40)
        self.assertLessEqual(full6, 60, "IPv6: more than the burst got through")
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics") as r:
            metrics = parse_metrics(r.read().decode())
        dropped = metrics[("agility_udp_query_filter_total", (("verdict", "dropped"),))]
        passed = metrics[("agility_udp_query_filter_total", (("verdict", "passed"),))]
        self.assertEqual(dropped, 400 - full + 400 - full6)
        self.assertGreaterEqual(passed, full + other + full6)

    def test_tcp_is_not_filtered(self):
        udp_burst("127.0.0.1", "127.0.0.1", self.port, 200, sockets=4)
        result = self.dig("www.example.com", "A", "+tcp")
        self.assertEqual(len(result.answer), 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
