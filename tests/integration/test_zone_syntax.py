#!/usr/bin/env python3
"""Zone-file syntax against Knot DNS as the oracle (issue 15).

Every record line of tests/data/zone_syntax/cases.txt becomes a zone of its
own, cN.t., after a fixed head. Then:

1. Verdict. kzonecheck (Knot DNS) and `agilityd --check` must agree on
   whether the line is valid syntax. Knot's verdict is its zone loader's: a
   semantic complaint of kzonecheck is not a syntax error. The only exceptions
   are the lines of tests/data/zone_syntax/disagreements.txt, each with the
   verdict we chose and why; an exception Knot no longer disagrees with fails
   too, so that list stays true.
2. Wire. Every zone both accept is served by knotd and by agilityd, and the
   record is asked for over TCP: the RDATA must be the same bytes (names
   decompressed only where RFC 3597 allows compression; names compared
   without case where Knot lowercases them; NSEC3 is not asked, Knot
   answers no query for it).

The table grows without expectations written by hand: add lines to cases.txt.
Run by `meson test zone_syntax`; needs knot and knot-dnssecutils
(scripts/deps test). AGILITYD names the binary (default build/agilityd).
"""
import concurrent.futures
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AGILITYD, ROOT, servers  # noqa: E402

DATA = os.environ.get("ZONE_SYNTAX_DATA", os.path.join(ROOT, "tests", "data", "zone_syntax"))
HEAD = "$TTL 300\n@ SOA ns hostmaster 1 3600 900 604800 300\n@ NS ns\nns A 192.0.2.1\n"

# Mnemonics of the types Knot DNS 3.2 reads, for the query type of a case.
TYPES = {
    "A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "HINFO": 13, "MINFO": 14, "MX": 15,
    "TXT": 16, "RP": 17, "AFSDB": 18, "RT": 21, "KEY": 25, "AAAA": 28, "LOC": 29, "SRV": 33,
    "NAPTR": 35, "KX": 36, "CERT": 37, "DNAME": 39, "APL": 42, "DS": 43, "SSHFP": 44,
    "IPSECKEY": 45, "RRSIG": 46, "NSEC": 47, "DNSKEY": 48, "DHCID": 49, "NSEC3": 50,
    "NSEC3PARAM": 51, "TLSA": 52, "SMIMEA": 53, "CDS": 59, "CDNSKEY": 60, "OPENPGPKEY": 61,
    "CSYNC": 62, "ZONEMD": 63, "SVCB": 64, "HTTPS": 65, "SPF": 99, "NID": 104, "L32": 105,
    "L64": 106, "LP": 107, "EUI48": 108, "EUI64": 109, "URI": 256, "CAA": 257,
}
# RFC 3597 section 4: the only types whose names a server may compress.
COMPRESSIBLE = {2: (0, 1, 0), 5: (0, 1, 0), 12: (0, 1, 0), 6: (0, 2, 20), 15: (2, 1, 0),
                14: (0, 2, 0), 3: (0, 1, 0), 4: (0, 1, 0), 7: (0, 1, 0), 8: (0, 1, 0),
                9: (0, 1, 0)}
# Knot DNS lowercases the names in these types' RDATA as it loads them (the
# canonical form of RFC 4034 section 6.2); agilityd keeps their case, as NSD
# and BIND do. Names are compared without case there: (bytes before the
# first name, names). NAPTR's name comes after three strings.
LOWERCASED_BY_KNOT = {2: (0, 1), 3: (0, 1), 4: (0, 1), 5: (0, 1), 7: (0, 1), 8: (0, 1),
                      9: (0, 1), 12: (0, 1), 39: (0, 1), 6: (0, 2), 14: (0, 2), 17: (0, 2),
                      15: (2, 1), 18: (2, 1), 21: (2, 1), 36: (2, 1), 33: (6, 1), 26: (2, 2),
                      46: (18, 1), 24: (18, 1), 30: (0, 1), 35: (4, 1)}
NAPTR = 35
# Knot keeps NSEC3 records apart from the zone's names and answers no query
# for them: there is nothing of Knot's to compare ours with.
NOT_ASKED = {50}
CLASS = re.compile(r"^(IN|CH|CS|HS|CLASS\d+)$", re.I)


def read_cases():
    """[(line number in cases.txt, record text)]."""
    cases = []
    with open(os.path.join(DATA, "cases.txt")) as f:
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.strip() and not line.startswith("#"):
                cases.append((number, line))
    return cases


def read_disagreements():
    """{record text: (our verdict, reason)}: '# reason' lines, then
    'accept<TAB>record' or 'reject<TAB>record'."""
    chosen, reason, comment = {}, [], False
    with open(os.path.join(DATA, "disagreements.txt")) as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                if not comment:  # a new group's reason begins
                    reason = []
                reason.append(line[1:].strip())
                comment = True
            elif not line.strip():
                comment = False  # a blank line ends a comment block
            else:
                verdict, record = line.split("\t", 1)
                assert verdict in ("accept", "reject"), line
                chosen[record] = (verdict == "accept", " ".join(reason))
                comment = False
    return chosen


def zone_text(record):
    words = record.split()
    head = HEAD
    if words[0] == "@" and {"SOA", "TYPE6"} & {w.upper() for w in words[1:4]}:
        head = "\n".join(line for line in HEAD.splitlines() if " SOA " not in line) + "\n"
    return head + record + "\n"


def query_of(record, zone):
    """(qname, qtype) the record answers, or None when the text does not say
    plainly (an owner with escapes, a type Knot does not read)."""
    words = record.split()
    owner = words[0]
    if "\\" in owner:
        return None
    name = zone if owner == "@" else owner if owner.endswith(".") else f"{owner}.{zone}"
    at = 1
    while at < len(words) and (words[at][0].isdigit() or CLASS.match(words[at])):
        at += 1
    if at == len(words):
        return None
    mnemonic = words[at].upper()
    if mnemonic in TYPES:
        return name, TYPES[mnemonic]
    match = re.fullmatch(r"TYPE(\d+)", mnemonic)
    return (name, int(match.group(1))) if match else None


def knot_verdict(path, zone):
    """(syntax valid, kzonecheck's message), or (None, why) when kzonecheck
    gave no verdict: Knot 3.2's checker now and then crashes or hangs on
    RFC 3597 data that is no record of its type, so it gets three tries."""
    for _ in range(3):
        try:
            run = subprocess.run(["kzonecheck", "-v", "-o", zone, path], capture_output=True,
                                 text=True, timeout=10)
        except subprocess.TimeoutExpired:
            continue
        if run.returncode in (0, 1):
            break
    else:
        return None, "kzonecheck crashed or hung three times"
    output = (run.stdout + run.stderr).strip()
    # Its zone loader's errors ("zone loader, error in zone", "... fatal
    # error ...", "... failed to load zone"), not its warnings.
    failed = re.search(r"zone loader, (error|fatal error|failed)", output)
    return failed is None, output


def read_name(message, at):
    """(uncompressed wire name, offset past it in the record)."""
    labels, end, jumps = b"", None, 0
    while True:
        length = message[at]
        if length >= 0xC0:
            if end is None:
                end = at + 2
            at = ((length & 0x3F) << 8) | message[at + 1]
            jumps += 1
            assert jumps < 64, "compression loop"
            continue
        labels += message[at:at + 1 + length]
        at += 1 + length
        if length == 0:
            return labels, end if end is not None else at


def without_name_case(rtype, rdata):
    """`rdata` with the names Knot lowercases in lowercase."""
    if rtype not in LOWERCASED_BY_KNOT:
        return rdata
    at, names = LOWERCASED_BY_KNOT[rtype]
    if rtype == NAPTR:
        for _ in range(3):  # flags, services, regexp
            at += 1 + rdata[at]
    out = bytearray(rdata)
    for _ in range(names):
        while out[at] != 0:
            length = out[at]
            out[at + 1:at + 1 + length] = out[at + 1:at + 1 + length].lower()
            at += 1 + length
        at += 1
    return bytes(out)


def records(message, qtype):
    """The RDATA of every qtype record in the answer and authority sections."""
    _, _, qdcount, ancount, nscount, _ = struct.unpack("!HHHHHH", message[:12])
    at = 12
    for _ in range(qdcount):
        _, at = read_name(message, at)
        at += 4
    found = []
    for _ in range(ancount + nscount):
        _, at = read_name(message, at)
        rtype, _, _, length = struct.unpack("!HHIH", message[at:at + 10])
        at += 10
        rdata = message[at:at + length]
        if rtype == qtype and rtype in COMPRESSIBLE:
            fixed, names, tail = COMPRESSIBLE[rtype]
            expanded, pos = rdata[:fixed], at + fixed
            for _ in range(names):
                name, pos = read_name(message, pos)
                expanded += name
            rdata = expanded + message[pos:pos + tail]
        if rtype == qtype:
            found.append(without_name_case(rtype, rdata))
        at += length
    return sorted(found)


def ask_tcp(port, name, qtype):
    question = b"".join(bytes([len(label)]) + label.encode()
                        for label in name.rstrip(".").split(".")) + b"\0"
    query = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + question + struct.pack("!HH", qtype, 1)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(struct.pack("!H", len(query)) + query)
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed before the answer")
            data += chunk
    return data[2:]


def rcode_of(message):
    return message[3] & 0xF


def wait_until_served(port, zones, deadline):
    """Until every zone's SOA is answered (Knot loads zones after it starts)."""
    pending = list(zones)
    while pending:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(pending)} zones not served, e.g. {pending[:3]}")
        try:
            reply = ask_tcp(port, pending[-1], 6)
        except OSError:
            time.sleep(0.05)
            continue
        if rcode_of(reply) == 0 and struct.unpack("!H", reply[6:8])[0] > 0:
            pending.pop()
        else:
            time.sleep(0.05)


class ZoneSyntaxTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="agility-zone-syntax-")
        d = cls.tmp.name
        cls.cases = read_cases()
        cls.chosen = read_disagreements()
        cls.zones = []  # (case line, record, zone name, path)
        for index, (number, record) in enumerate(cls.cases):
            zone = f"c{index}.t."
            path = os.path.join(d, f"{zone}zone")
            with open(path, "w") as f:
                f.write(zone_text(record))
            cls.zones.append((number, record, zone, path))
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            cls.knot = list(pool.map(lambda z: knot_verdict(z[3], z[2]), cls.zones))
        # One agilityd --check over every zone: it reports each failing zone.
        config = os.path.join(d, "check.yaml")
        with open(config, "w") as f:
            f.write("sk_lookup: {enabled: false}\nzones:\n")
            f.writelines(f'  - "{z[3]}"\n' for z in cls.zones)
        run = subprocess.run([AGILITYD, "--check", "-c", config], capture_output=True, text=True,
                             timeout=120)
        cls.ours = {}
        for line in run.stderr.splitlines():
            path = line.split(":", 1)[0]
            cls.ours.setdefault(path, line)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_verdicts_agree_with_knot(self):
        disagreements, stale, unjudged, accepted = [], [], [], 0
        for (number, record, _, path), (knot_ok, knot_says) in zip(self.zones, self.knot):
            ours_ok = path not in self.ours
            accepted += ours_ok
            if knot_ok is None:
                unjudged.append(f"cases.txt:{number}: {record!r}")
                continue
            if record in self.chosen:
                verdict, reason = self.chosen[record]
                if ours_ok != verdict:
                    disagreements.append(f"cases.txt:{number}: {record!r}: we "
                                         f"{'accept' if ours_ok else 'reject'}, "
                                         f"disagreements.txt says otherwise ({reason[:160]})")
                if knot_ok == verdict:
                    stale.append(f"cases.txt:{number}: {record!r}: Knot agrees now, so the "
                                 f"reason no longer holds ({reason[:160]})")
                continue
            if ours_ok != knot_ok:
                disagreements.append(
                    f"cases.txt:{number}: {record!r}: Knot "
                    f"{'accepts' if knot_ok else 'rejects'} ({knot_says[:120]!r}), "
                    f"agilityd {'accepts' if ours_ok else 'rejects'}"
                    f"{'' if ours_ok else ' (' + self.ours[path][:160] + ')'}")
        print(f"\n{len(self.cases)} cases: agilityd accepts {accepted}, rejects "
              f"{len(self.cases) - accepted}; {len(self.chosen)} chosen disagreements; "
              f"kzonecheck gave no verdict on {len(unjudged)}", file=sys.stderr)
        for case in unjudged:
            print(f"  no verdict from kzonecheck: {case}", file=sys.stderr)
        self.assertLessEqual(len(unjudged), len(self.cases) // 100, "the oracle failed too often")
        if disagreements or stale:
            self.fail(f"{len(disagreements + stale)} differences:\n" + "\n".join(disagreements + stale))

    def test_every_rejection_names_file_and_line(self):
        for _, record, _, path in self.zones:
            if path in self.ours:
                self.assertRegex(self.ours[path], r"^[^:]+:\d+: \S", record)
                # The head is four lines: the record is on line 5 (4 without SOA).
                line = int(self.ours[path].split(":")[1])
                self.assertIn(line, (4, 5), f"{record!r}: {self.ours[path]}")

    def test_served_rdata_matches_knot(self):
        served = [(number, record, zone, path)
                  for (number, record, zone, path), (knot_ok, _) in zip(self.zones, self.knot)
                  if knot_ok and path not in self.ours]
        self.assertGreater(len(served), 100, "too few accepted cases to compare")
        d = self.tmp.name
        knot_port = servers.free_port()
        ours_port = servers.free_port(avoid={knot_port})
        servers.write_knot_conf(os.path.join(d, "knot.conf"), d, knot_port,
                                [(z[2], z[3]) for z in served], tcp_workers=2)
        with open(os.path.join(d, "serve.yaml"), "w") as f:
            f.write(f'server: {{listen: ["127.0.0.1:{ours_port}"], workers: 1, '
                    f'control: "{d}/control.sock"}}\nsk_lookup: {{enabled: false}}\nzones:\n')
            f.writelines(f'  - "{z[3]}"\n' for z in served)
        logs = open(os.path.join(d, "servers.log"), "w")
        knot = subprocess.Popen(["knotd", "-c", os.path.join(d, "knot.conf")], stdout=logs,
                                stderr=logs)
        ours = subprocess.Popen([AGILITYD, "-c", os.path.join(d, "serve.yaml")], stdout=logs,
                                stderr=logs)
        try:
            deadline = time.monotonic() + 120
            zones = [z[2] for z in served]
            wait_until_served(knot_port, zones, deadline)
            wait_until_served(ours_port, zones, deadline)
            mismatches, compared = [], 0
            for number, record, zone, _ in served:
                question = query_of(record, zone)
                if question is None or question[1] in NOT_ASKED:
                    continue
                theirs = records(ask_tcp(knot_port, *question), question[1])
                mine = records(ask_tcp(ours_port, *question), question[1])
                compared += 1
                if not theirs or theirs != mine:
                    mismatches.append(f"cases.txt:{number}: {record!r}: Knot "
                                      f"{[r.hex() for r in theirs]}, agilityd "
                                      f"{[r.hex() for r in mine]}")
            print(f"\nRDATA compared for {compared} of {len(served)} accepted cases",
                  file=sys.stderr)
            self.assertGreater(compared, 0.9 * len(served))
            if mismatches:
                self.fail(f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches))
        finally:
            for process in (knot, ours):
                process.terminate()
                process.wait(timeout=20)
            logs.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
