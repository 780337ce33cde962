#!/usr/bin/env python3
"""Differential test: agilityd, NSD and Knot DNS serve the same zone
(tests/data/differential/example.com.zone) and get the same queries (every
name of the zone and some that are not there, times the common types, over
UDP with and without EDNS, and over TCP). Where NSD and Knot agree, agilityd
must give the same rcode, AA and TC flags, and answer and authority sections,
and an additional section that adds nothing they leave out. Where NSD and
Knot disagree with each other, the case is reported, not judged.

Run by `meson test differential`; needs nsd and knotd (scripts/deps test).
AGILITYD names the binary (default build/agilityd).
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, servers  # noqa: E402

ZONE = os.path.join(ROOT, "tests", "data", "differential", "example.com.zone")

NAMES = [
    "example.com", "ns1", "mail", "www", "alias", "chain", "external", "loop1",
    "x.wild", "exact.wild", "wild", "a.b.wild", "y.wildalias", "a.b.c.ent", "b.c.ent",
    "c.ent", "_sip._udp", "_udp", "ptr", "caa", "txt", "mixed.case", "MIXED.case",
    "sub", "ns.sub", "deep.sub", "x.y.sub", "nothere", "a.nothere", "ns2",
    "dn", "x.dn", "a.b.dn", "dnin", "a.dnin", "b.dnin", "a.inside",
]
TYPES = ["A", "AAAA", "NS", "SOA", "MX", "TXT", "CNAME", "SRV", "PTR", "CAA", "DS", "ANY"]
TRANSPORTS = {
    "udp": ["+noedns"],
    "udp-edns": ["+edns=0", "+bufsize=1232"],
    "tcp": ["+tcp", "+noedns"],
    "udp-dnssec": ["+dnssec", "+bufsize=1232"],
    "tcp-dnssec": ["+tcp", "+dnssec"],
}


def show(value):
    return sorted(value) if isinstance(value, set) else value


def fqdn(name):
    return name if name == "example.com" else f"{name}.example.com"


def normalize(line):
    # Case and whitespace are not what is compared (names are
    # case-insensitive, and agilityd answers with the zone's case).
    return " ".join(line.lower().split())


def parse_dig(output):
    """Splits `dig` batch output into one response per query:
    {rcode, flags, answer, authority, additional}."""
    responses = []
    for chunk in output.split(";; ->>HEADER<<-")[1:]:
        status = re.search(r"status: (\w+)", chunk).group(1)
        flags = set(re.search(r";; flags:([^;]*);", chunk).group(1).split())
        sections = {"answer": set(), "authority": set(), "additional": set()}
        current = None
        for line in chunk.splitlines():
            header = re.match(r";; (ANSWER|AUTHORITY|ADDITIONAL) SECTION:", line)
            if header:
                current = header.group(1).lower()
            elif line.startswith(";") or not line.strip():
                if not line.strip():
                    current = None
            elif current is not None:
                fields = line.split()
                if fields[3] == "OPT":
                    continue
                sections[current].add(normalize(line))
        responses.append({"rcode": status, "aa": "aa" in flags, "tc": "tc" in flags, **sections})
    return responses


def ask_all(port, transport_options, queries):
    """Every query in one dig process; returns one parsed response each."""
    with tempfile.NamedTemporaryFile("w", suffix=".batch", delete=False) as batch:
        for name, qtype in queries:
            batch.write(f"{name} {qtype}\n")
    try:
        result = subprocess.run(
            ["dig", "@127.0.0.1", "-p", str(port), "+norec", "+nocookie", "+time=2", "+tries=2",
             "+noall", "+comments", "+answer", "+authority", "+additional",
             *transport_options, "-f", batch.name],
            capture_output=True, text=True, timeout=300)
    finally:
        os.unlink(batch.name)
    responses = parse_dig(result.stdout)
    if len(responses) != len(queries):
        raise AssertionError(f"{len(responses)} responses to {len(queries)} queries:\n"
                             + result.stdout[-3000:] + result.stderr[-1000:])
    return responses


def signed_copy(directory, options):
    """The differential zone signed by ldns-signzone (ECDSA P-256; NSEC, or
    what `options` ask for) in `directory`; returns its path."""
    run = lambda *command: subprocess.run(command, cwd=directory, check=True,
                                          capture_output=True, text=True).stdout.strip()
    ksk = run("ldns-keygen", "-a", "ECDSAP256SHA256", "-k", "example.com")
    zsk = run("ldns-keygen", "-a", "ECDSAP256SHA256", "example.com")
    signed = os.path.join(directory, "example.com.zone")
    run("ldns-signzone", *options, "-o", "example.com.", "-f", signed, ZONE, ksk, zsk)
    return signed


class DifferentialTest(unittest.TestCase):
    SIGN = None  # ldns-signzone options for a signed copy of the zone

    @classmethod
    def setUpClass(cls):
        for program in ("nsd", "knotd", "dig", "ldns-signzone"):
            if subprocess.run(["sh", "-c", f"command -v {program}"],
                              capture_output=True).returncode != 0:
                raise RuntimeError(f"{program} is not installed: run scripts/deps test")
        cls.tmp = tempfile.TemporaryDirectory(prefix="agility-differential-")
        cls.servers = {}
        zone = ZONE if cls.SIGN is None else signed_copy(cls.tmp.name, cls.SIGN)
        try:
            for kind in ("agilityd", "nsd", "knot"):
                run = os.path.join(cls.tmp.name, kind)
                os.mkdir(run)
                server = servers.Server(kind, run, zone, 1)
                cls.servers[kind] = server
                server.start(timeout=60)
        except Exception:
            cls.tearDownClass()
            raise
        cls.queries = [(fqdn(n), t) for n in NAMES for t in TYPES]

    @classmethod
    def tearDownClass(cls):
        for server in cls.servers.values():
            server.stop()
        cls.tmp.cleanup()

    def compare(self, transport):
        options = TRANSPORTS[transport]
        got = {kind: ask_all(s.port, options, self.queries) for kind, s in self.servers.items()}
        differences, undecided = [], []
        for i, (name, qtype) in enumerate(self.queries):
            ours, nsd, knot = got["agilityd"][i], got["nsd"][i], got["knot"][i]
            for field in ("rcode", "aa", "tc", "answer", "authority"):
                if nsd[field] != knot[field]:
                    undecided.append(f"{name} {qtype} {field}: NSD {show(nsd[field])}, "
                                     f"Knot {show(knot[field])}, agilityd {show(ours[field])}")
                elif ours[field] != nsd[field]:
                    differences.append(f"{name} {qtype} {field}: agilityd {show(ours[field])}, "
                                       f"NSD and Knot {show(nsd[field])}")
            # Additional data is optional; what both leave out, we must not add.
            extra = ours["additional"] - (nsd["additional"] | knot["additional"])
            if extra:
                differences.append(f"{name} {qtype} additional: agilityd adds {show(extra)}")
        print(f"\n{transport}: {len(self.queries)} queries; {len(undecided)} fields where NSD "
              f"and Knot differ (not judged), e.g.\n  " + "\n  ".join(undecided[:3]) +
              f"\n{len(differences)} differences between agilityd and NSD+Knot", file=sys.stderr)
        self.assertEqual(differences, [], "\n".join(differences))

    def test_udp(self):
        self.compare("udp")

    def test_udp_edns(self):
        self.compare("udp-edns")

    def test_tcp(self):
        self.compare("tcp")

    def test_udp_dnssec(self):
        self.compare("udp-dnssec")

    def test_tcp_dnssec(self):
        self.compare("tcp-dnssec")


class SignedNsecDifferentialTest(DifferentialTest):
    """The zone signed ahead with NSEC: with DO, RRSIGs and NSEC proofs."""
    SIGN = ()


class SignedNsec3DifferentialTest(DifferentialTest):
    """The zone signed ahead with NSEC3 (no salt, no extra iterations)."""
    SIGN = ("-n", "-t", "0")


class SignedNsec3OptOutDifferentialTest(DifferentialTest):
    """NSEC3 with opt-out and a salt."""
    SIGN = ("-n", "-p", "-t", "2", "-s", "cafe")


if __name__ == "__main__":
    unittest.main(verbosity=2)
