#!/usr/bin/env python3
"""DNS replication (issue 11): agilityd as a secondary and as a primary.

- Knot DNS is the primary of example.net, with TSIG; two agilityd
  secondaries follow it. They take the zone by AXFR, then each change Knot
  commits (an addition, a deletion, a SOA-only change) by IXFR after Knot's
  NOTIFY; their counters say IXFR, not AXFR. Policy answers work in the
  secondary zone as in file zones.
- A secondary with the wrong TSIG secret gets nothing and answers SERVFAIL;
  a NOTIFY from an address that is not a primary is REFUSED.
- A primary that cuts a transfer in the middle (a Python one, which the test
  controls) leaves the copy in force serving.
- The primary stops: the secondaries keep serving; a restart serves the
  saved copy at once; past the SOA expire, they answer SERVFAIL.
- `agilityd --check` of a secondary configuration contacts nobody.
- agilityd is the primary of example.org (signed ahead, 3 000 names) for
  Knot DNS, NSD and another agilityd, with TSIG: what Knot and NSD received
  passes kzonecheck and ldns-verify-zone; a reload with one changed record
  reaches all three through agilityd's NOTIFY, by IXFR from the journal of the
  change; unsigned, wrongly signed and UDP transfer requests are refused.

Run by `meson test transfer`; needs knot, nsd, ldnsutils and bind9-dnsutils
(scripts/deps test). AGILITYD and AGILITYCTL name the binaries (default build/).
"""
import base64
import ipaddress
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AGILITYCTL, AGILITYD, AgilitydProcess, servers, wait_for  # noqa: E402,F401
APEX = "example.net"
POOL = ipaddress.ip_network("127.77.0.0/24")
# Refresh every 2 s and expire 12 s after the last contact: short enough to
# see expiry in a test, long enough that a restart finds a live copy.
SOA_TIMERS = "2 1 12 60"

ZONE = f"""$ORIGIN {APEX}.
$TTL 300
@ SOA ns1 hostmaster 1 {SOA_TIMERS}
@ NS ns1
ns1 A 192.0.2.1
www A 192.0.2.10
mail MX 10 www
txt TXT "hello world" "two"
*.wp A 127.0.0.1
"""


def dig(port, name, qtype="A", *options):
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+time=2", "+tries=2",
                          *options, name, qtype], capture_output=True, text=True, timeout=30)
    return out.stdout + out.stderr


def status(out):
    found = re.search(r"status: (\w+)", out)
    return found.group(1) if found else None


def short(port, name, qtype="A"):
    return dig(port, name, qtype, "+short").split()


def metric(ctl_config, name, labels=None):
    out = subprocess.run([AGILITYCTL, "-c", ctl_config, "stats"], capture_output=True, text=True,
                         timeout=10).stdout
    sample = name if labels is None else name + "{" + labels + "}"
    found = re.search("^" + re.escape(sample) + r" (\S+)", out, re.M)
    return float(found.group(1)) if found else None


class Agilityd(AgilitydProcess):
    """A secondary of `primary_port`'s example.net, state and control socket
    in a directory of its own."""

    def __init__(self, directory, name, primary_port, secret, extra=""):
        self.dir = os.path.join(directory, name)
        os.makedirs(self.dir)
        self.port = servers.free_port()
        self.config = os.path.join(self.dir, "agility.yaml")
        with open(self.config, "w") as f:
            f.write(f"""server:
  listen: ["127.0.0.1:{self.port}"]
  workers: 1
  control: "{self.dir}/control.sock"
  state_dir: "{self.dir}/state"
sk_lookup: {{enabled: false}}
keys:
  xfr: {{algorithm: hmac-sha256, secret: "{secret}"}}
remotes:
  hidden: {{address: "127.0.0.1:{primary_port}", key: xfr}}
zones:
  - {{name: {APEX}, primaries: [hidden]}}
{extra}""")
        super().__init__(self.config, os.path.join(self.dir, "agilityd.log"))

    def start(self):
        # Ready once the control socket is there: a secondary may have no
        # copy to answer from yet.
        super().start(lambda: os.path.exists(os.path.join(self.dir, "control.sock")), timeout=30)

    def stop(self, kill=False):
        """SIGTERM (or SIGKILL); the control socket a killed one leaves goes."""
        if kill:
            self.kill()
        else:
            super().stop()
        if os.path.exists(os.path.join(self.dir, "control.sock")):
            os.unlink(os.path.join(self.dir, "control.sock"))

    def text_log(self):
        return self.log()

    def transfers(self, kind):
        return metric(self.config, "agility_transfers_in_total", f'kind="{kind}"') or 0


class KnotControl:
    """knotc against the class's Knot (cls.knot_conf), for test classes."""

    def knotc(self, *args):
        out = subprocess.run(["knotc", "-c", self.knot_conf, *args], capture_output=True,
                             text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def knot_change(self, zone, *edits):
        """One transaction on `zone`: each edit is a knotc command line."""
        self.knotc("zone-begin", zone)
        for edit in edits:
            self.knotc(*edit)
        self.knotc("zone-commit", zone)


class KnotPrimaryTest(KnotControl, unittest.TestCase):
    """Knot primary, two agilityd secondaries, TSIG on."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="agility-transfer-")
        d = cls.tmp.name
        cls.secret = base64.b64encode(os.urandom(32)).decode()
        cls.knot_port = servers.free_port()
        with open(os.path.join(d, f"{APEX}.zone"), "w") as f:
            f.write(ZONE)
        # Secondary "a" serves IXFR in turn, from the steps it received.
        policy = ('pools: {edge: "127.77.0.0/24"}\n'
                  f'policies: [{{name: edge, match: ["*.wp.{APEX}"], ipv4: edge}}]\n'
                  'transfer: {allow: [{prefix: 127.0.0.0/8, key: xfr}]}\n')
        # Secondary "b" signs its answers online with keys of its own.
        keys = os.path.join(d, "keys-b")
        os.makedirs(keys)
        for flags in (["-k"], []):
            subprocess.run(["ldns-keygen", "-a", "ECDSAP256SHA256", *flags, APEX], cwd=keys,
                           check=True, capture_output=True)
        cls.secondaries = [Agilityd(d, "a", cls.knot_port, cls.secret, policy),
                           Agilityd(d, "b", cls.knot_port, cls.secret,
                                    f'dnssec: {{{APEX}: {{keys: "{keys}"}}}}\n')]
        cls.knot_conf = os.path.join(d, "knot.conf")
        remotes = "".join(f"  - id: s{i}\n    address: 127.0.0.1@{s.port}\n    key: xfr\n"
                          for i, s in enumerate(cls.secondaries))
        servers.write_knot_conf(
            cls.knot_conf, d, cls.knot_port, [(APEX, os.path.join(d, f"{APEX}.zone"))],
            sections=(f"key:\n  - id: xfr\n    algorithm: hmac-sha256\n    secret: {cls.secret}\n"
                      f"remote:\n{remotes}"
                      "acl:\n  - id: xfr\n    address: 127.0.0.0/8\n    key: xfr\n"
                      "    action: transfer\n"),
            zone_settings="    notify: [s0, s1]\n    acl: xfr\n    journal-content: changes\n")
        cls.start_knot()
        for secondary in cls.secondaries:
            secondary.start()
        for secondary in cls.secondaries:
            wait_for(lambda: short(secondary.port, f"www.{APEX}") == ["192.0.2.10"],
                     "the first AXFR")

    @classmethod
    def start_knot(cls):
        if getattr(cls, "knot_log", None) is not None:
            cls.knot_log.close()
        cls.knot_log = open(os.path.join(cls.tmp.name, "knot.log"), "a")
        cls.knot = subprocess.Popen(["knotd", "-c", cls.knot_conf], stdout=cls.knot_log,
                                    stderr=cls.knot_log)
        wait_for(lambda: servers.ask(cls.knot_port, f"www.{APEX}"), "knotd")

    @classmethod
    def tearDownClass(cls):
        if cls.knot.poll() is None:
            cls.knot.terminate()
            cls.knot.wait(timeout=20)
        cls.knot_log.close()
        for secondary in cls.secondaries:
            secondary.stop()
        cls.tmp.cleanup()

    def change(self, *edits):
        self.knot_change(APEX, *edits)

    def serial(self, port):
        answer = short(port, APEX, "SOA")
        return int(answer[2]) if len(answer) > 2 else None

    def test_1_axfr_then_ixfr_for_each_change(self):
        for s in self.secondaries:
            self.assertEqual(short(s.port, f"txt.{APEX}", "TXT"), ['"hello', 'world"', '"two"'])
            self.assertEqual(s.transfers("axfr"), 1, s.text_log())
        # An addition.
        first = self.serial(self.secondaries[0].port)
        self.change(("zone-set", APEX, "new", "300", "A", "192.0.2.77"))
        for s in self.secondaries:
            wait_for(lambda: short(s.port, f"new.{APEX}") == ["192.0.2.77"], "the addition")
        # Secondary "a" answers an IXFR from the older serial with that step.
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(self.secondaries[0].port), APEX,
                              f"IXFR={first}", "-y", f"hmac-sha256:xfr:{self.secret}", "+nocmd",
                              "+nostats"], capture_output=True, text=True, timeout=30).stdout
        self.assertIn("192.0.2.77", out)
        self.assertNotIn("hello world", out, "an IXFR answered with the whole zone")
        self.assertEqual(out.count("\tSOA\t"), 4, out)
        # A deletion.
        self.change(("zone-unset", APEX, "www", "A", "192.0.2.10"))
        for s in self.secondaries:
            wait_for(lambda: status(dig(s.port, f"www.{APEX}")) == "NXDOMAIN", "the deletion")
        # A change of the SOA alone.
        before = self.serial(self.secondaries[0].port)
        self.change(("zone-set", APEX, "@", "300", "SOA",
                     f"ns1 hostmaster {before + 10} {SOA_TIMERS}"))
        for s in self.secondaries:
            wait_for(lambda: self.serial(s.port) == before + 10, "the SOA change")
        for s in self.secondaries:
            self.assertEqual(s.transfers("axfr"), 1, s.text_log())
            self.assertGreaterEqual(s.transfers("ixfr"), 3, s.text_log())
            self.assertIn("IXFR of serial", s.text_log())
            # Each step changed a few names over the compiled zone.
            self.assertIn("applied in place", s.text_log())
            # The copy saved at the AXFR stays; the journal holds the steps.
            with open(os.path.join(s.dir, "state", f"{APEX}.zone")) as f:
                saved = f.read()
            self.assertIn("192.0.2.10", saved)
            self.assertTrue(os.path.exists(os.path.join(s.dir, "state", f"{APEX}.ixfr")))
        # What a restart serves is what was served: the saved copy brought
        # up to date by the journal.
        a = self.secondaries[0]
        served = self.serial(a.port)
        a.stop()
        a.start()
        wait_for(lambda: self.serial(a.port) == served, "the restarted secondary")
        self.assertIn(f"brought to serial {served} by its journal (applied in place)",
                      a.text_log())
        self.assertEqual(short(a.port, f"new.{APEX}"), ["192.0.2.77"])
        self.assertEqual(status(dig(a.port, f"www.{APEX}")), "NXDOMAIN")

    def test_1c_online_signed_secondary_publishes_its_keys(self):
        # The DNSKEY RRset takes the SOA's TTL: the transferred zone's, not
        # the placeholder's it was served from before the first transfer.
        b = self.secondaries[1]
        out = dig(b.port, APEX, "DNSKEY", "+dnssec", "+noall", "+answer")
        dnskeys = [line.split() for line in out.splitlines() if "\tDNSKEY\t" in line]
        self.assertEqual(len(dnskeys), 2, out)
        self.assertTrue(all(fields[1] == "300" for fields in dnskeys), out)
        self.assertIn("\tRRSIG\tDNSKEY ", out)
        self.assertIn("\tRRSIG\tA ", dig(b.port, f"ns1.{APEX}", "A", "+dnssec", "+noall",
                                          "+answer"))

    def test_1d_sigkill_while_following_leaves_a_usable_copy(self):
        # SIGKILL as a change arrives (the refresh may be under way, or the
        # copy and journal half written): the restart serves a whole copy,
        # the old serial or the new, then follows the primary.
        a = self.secondaries[0]
        before = self.serial(a.port)
        self.change(("zone-set", APEX, "killed", "300", "A", "192.0.2.88"))
        a.stop(kill=True)
        a.start()
        wait_for(lambda: self.serial(a.port) is not None, "the restarted secondary")
        self.assertGreaterEqual(self.serial(a.port), before)
        self.assertNotIn("is not usable", a.text_log())
        self.assertNotIn("do not apply", a.text_log())
        wait_for(lambda: short(a.port, f"killed.{APEX}") == ["192.0.2.88"], "the change")

    def test_1b_edns_expire_tells_what_is_left(self):
        # RFC 7314: a secondary says how long its copy stays valid (SOA
        # expire 12 s, refreshed every 2 s).
        for s in self.secondaries:
            found = re.search(r"EXPIRE: (\d+)", dig(s.port, APEX, "SOA", "+expire"))
            self.assertIsNotNone(found)
            self.assertTrue(6 <= int(found.group(1)) <= 12, found.group(0))

    def test_2_policy_answers_in_a_secondary_zone(self):
        seen = set()
        for i in range(20):
            answer = short(self.secondaries[0].port, f"h{i}.wp.{APEX}")
            self.assertEqual(len(answer), 1, answer)
            self.assertIn(ipaddress.ip_address(answer[0]), POOL)
            seen.add(answer[0])
        self.assertGreater(len(seen), 5, seen)

    def test_3_wrong_secret_gets_nothing(self):
        wrong = Agilityd(self.tmp.name, "wrong", self.knot_port,
                         base64.b64encode(os.urandom(32)).decode())
        wrong.start()
        try:
            wait_for(lambda: wrong.transfers("failed") >= 1, "a failed transfer")
            self.assertEqual(status(dig(wrong.port, f"ns1.{APEX}")), "SERVFAIL")
            self.assertEqual(wrong.transfers("axfr"), 0)
            self.assertIn("refresh failed", wrong.text_log())
        finally:
            wrong.stop()

    def test_4_notify_from_elsewhere_is_refused(self):
        s = self.secondaries[1]
        query = struct.pack("!HHHHHH", 0x1234, 4 << 11, 1, 0, 0, 0)
        query += b"".join(bytes([len(label)]) + label.encode() for label in APEX.split("."))
        query += b"\0" + struct.pack("!HH", 6, 1)
        for source in ("127.0.0.1", "127.0.0.2"):
            # From the primary's address but unsigned, and from elsewhere.
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind((source, 0))
                sock.settimeout(5)
                sock.sendto(query, ("127.0.0.1", s.port))
                reply = sock.recv(512)
            self.assertEqual(reply[:2], b"\x12\x34")
            self.assertEqual(reply[3] & 0xF, 5, reply)  # REFUSED
            self.assertTrue(reply[2] & 0x80)  # QR
        self.assertGreaterEqual(
            metric(s.config, "agility_notifies_in_total", 'result="refused"'), 2)

    def test_5_primary_down_restart_then_expiry(self):
        a, b = self.secondaries
        self.knot.terminate()
        self.knot.wait(timeout=20)
        # Serving goes on without the primary...
        for s in self.secondaries:
            self.assertEqual(status(dig(s.port, f"ns1.{APEX}")), "NOERROR")
        # ...and a restart serves the saved copy at once.
        b.stop()
        b.start()
        wait_for(lambda: status(dig(b.port, f"ns1.{APEX}")) in ("NOERROR", "SERVFAIL"), "b")
        self.assertEqual(short(b.port, f"ns1.{APEX}"), ["192.0.2.1"], b.text_log())
        self.assertIn("serving the saved copy", b.text_log())
        # Past the SOA expire (12 s), SERVFAIL.
        for s in self.secondaries:
            wait_for(lambda: status(dig(s.port, f"ns1.{APEX}")) == "SERVFAIL", "expiry", 40)
            self.assertIn("expired", s.text_log())
        # The primary is back: the zone serves again.
        self.start_knot()
        for s in self.secondaries:
            wait_for(lambda: status(dig(s.port, f"ns1.{APEX}")) == "NOERROR", "recovery", 30)


def message(query_id, flags, question, answers):
    return (struct.pack("!HHHHHH", query_id, flags, 1 if question else 0, len(answers), 0, 0) +
            question + b"".join(answers))


def wire_name(name):
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"


def record(name, rtype, rdata, ttl=300):
    return wire_name(name) + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def soa(serial):
    rdata = wire_name(f"ns1.{APEX}") + wire_name(f"hostmaster.{APEX}") + struct.pack(
        "!IIIII", serial, 3600, 1, 86400, 60)
    return record(APEX, 6, rdata)


class CuttingPrimary(threading.Thread):
    """A primary that answers the first transfer whole (serial 1) and cuts
    every later one (serial 2) after its first message."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.transfers = 0

    def run(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                length = struct.unpack("!H", conn.recv(2))[0]
                query = b""
                while len(query) < length:
                    query += conn.recv(length - len(query))
                end = 12
                while query[end] != 0:
                    end += query[end] + 1
                question = query[12:end + 5]
                self.transfers += 1
                first = self.transfers == 1
                body = [soa(1 if first else 2), record(APEX, 2, wire_name(f"ns1.{APEX}")),
                        record(f"ns1.{APEX}", 1, bytes([192, 0, 2, 1]))]
                if first:
                    body.append(record(f"www.{APEX}", 1, bytes([192, 0, 2, 10])))
                    body.append(soa(1))
                reply = message(query[0] << 8 | query[1], 0x8400, question, body)
                conn.sendall(struct.pack("!H", len(reply)) + reply)
                # The cut: the connection closes before the closing SOA.

    def close(self):
        self.sock.close()


class CatalogTest(KnotControl, unittest.TestCase):
    """A catalog zone (RFC 9432) on Knot lists member zones; an agilityd
    secondary of the catalog follows the members it lists."""

    CATALOG = "catalog.invalid"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="agility-catalog-")
        d = cls.tmp.name
        cls.secret = base64.b64encode(os.urandom(32)).decode()
        cls.knot_port = servers.free_port()
        zones = [(APEX, ZONE)]
        for member in ("member1.test", "member2.test"):
            zones.append((member, f"$ORIGIN {member}.\n$TTL 300\n"
                                  f"@ SOA ns1 hostmaster 1 {SOA_TIMERS}\n@ NS ns1\n"
                                  "ns1 A 192.0.2.1\nwww A 192.0.2.50\n"))
        # member1 is listed, with a change-of-ownership property agilityd
        # does not honour; member2 is served by Knot but not listed yet.
        zones.append((cls.CATALOG, f"$ORIGIN {cls.CATALOG}.\n$TTL 0\n"
                                   f"@ SOA invalid. invalid. 1 {SOA_TIMERS}\n@ NS invalid.\n"
                                   'version TXT "2"\n'
                                   "m1.zones PTR member1.test.\n"
                                   "coo.m1.zones PTR other.invalid.\n"))
        paths = []
        for name, text in zones:
            path = os.path.join(d, f"{name}.zone")
            with open(path, "w") as f:
                f.write(text)
            paths.append((name, path))
        cls.knot_conf = os.path.join(d, "knot.conf")
        servers.write_knot_conf(
            cls.knot_conf, d, cls.knot_port, paths,
            sections=(f"key:\n  - id: xfr\n    algorithm: hmac-sha256\n    secret: {cls.secret}\n"
                      "remote:\n  - id: s\n    address: 127.0.0.1@PORT\n    key: xfr\n"
                      "acl:\n  - id: xfr\n    address: 127.0.0.0/8\n    key: xfr\n"
                      "    action: transfer\n"),
            zone_settings="    notify: [s]\n    acl: xfr\n")
        cls.secondary = Agilityd(d, "s", cls.knot_port, cls.secret,
                                 f"catalogs: [{{name: {cls.CATALOG}, primaries: [hidden]}}]\n")
        with open(cls.knot_conf) as f:
            conf = f.read().replace("PORT", str(cls.secondary.port))
        with open(cls.knot_conf, "w") as f:
            f.write(conf)
        cls.knot_log = open(os.path.join(d, "knot.log"), "a")
        cls.knot = subprocess.Popen(["knotd", "-c", cls.knot_conf], stdout=cls.knot_log,
                                    stderr=cls.knot_log)
        wait_for(lambda: servers.ask(cls.knot_port, f"www.{APEX}"), "knotd")
        cls.secondary.start()

    @classmethod
    def tearDownClass(cls):
        cls.knot.terminate()
        cls.knot.wait(timeout=20)
        cls.knot_log.close()
        cls.secondary.stop()
        cls.tmp.cleanup()

    def change_catalog(self, *edits):
        self.knot_change(self.CATALOG, *[(edit[0], self.CATALOG, *edit[1:]) for edit in edits])

    def serves(self, member):
        return short(self.secondary.port, f"www.{member}") == ["192.0.2.50"]

    def state_file(self, member):
        return os.path.join(self.secondary.dir, "state", f"{member}.zone")

    def test_1_members_come_and_go_with_the_catalog(self):
        s = self.secondary
        wait_for(lambda: self.serves("member1.test"), "the listed member")
        self.assertFalse(self.serves("member2.test"))
        self.assertEqual(status(dig(s.port, "www.member2.test")), "REFUSED")
        self.assertIn("change-of-ownership (coo) properties not honoured", s.text_log())
        # A member added to the catalog is served within 2 s of Knot's commit
        # (its NOTIFY, the catalog's IXFR, then the member's AXFR).
        started = time.monotonic()
        self.change_catalog(("zone-set", "m2.zones", "0", "PTR", "member2.test."))
        wait_for(lambda: self.serves("member2.test"), "the added member", 10)
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertIn("member member2.test. added", s.text_log())
        self.assertTrue(os.path.exists(self.state_file("member2.test")))
        # A member removed stops being served, and its state goes.
        self.change_catalog(("zone-unset", "m1.zones", "PTR"),
                            ("zone-unset", "coo.m1.zones", "PTR"))
        wait_for(lambda: status(dig(s.port, "www.member1.test")) == "REFUSED", "the removal")
        self.assertIn("member member1.test. removed", s.text_log())
        self.assertFalse(os.path.exists(self.state_file("member1.test")))
        self.assertTrue(self.serves("member2.test"))

    def test_2_a_broken_catalog_changes_nothing(self):
        s = self.secondary
        wait_for(lambda: self.serves("member2.test"), "member2")
        # Without its version record the catalog is broken (RFC 9432 §4.2.1);
        # the member it would drop stays.
        self.change_catalog(("zone-unset", "version", "TXT"),
                            ("zone-unset", "m2.zones", "PTR"))
        wait_for(lambda: "no version.catalog.invalid. TXT" in s.text_log(), "the broken catalog")
        self.assertTrue(self.serves("member2.test"))
        # Mended, it applies again.
        self.change_catalog(("zone-set", "version", "0", "TXT", '"2"'))
        wait_for(lambda: status(dig(s.port, "www.member2.test")) == "REFUSED", "the mended catalog")



class CutTransferTest(unittest.TestCase):
    def test_a_cut_transfer_leaves_the_old_zone_serving(self):
        with tempfile.TemporaryDirectory(prefix="agility-cut-") as d:
            primary = CuttingPrimary()
            primary.start()
            s = Agilityd(d, "s", primary.port, base64.b64encode(os.urandom(32)).decode())
            with open(s.config) as f:
                text = f.read().replace(", key: xfr}", "}")
            with open(s.config, "w") as f:
                f.write(text)
            s.start()
            try:
                wait_for(lambda: short(s.port, f"www.{APEX}") == ["192.0.2.10"], "the first AXFR")
                # An unsigned NOTIFY from the primary's address asks for the
                # next serial, whose transfer is cut.
                query = message(7, 4 << 11, wire_name(APEX) + struct.pack("!HH", 6, 1), [])
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                    sock.settimeout(5)
                    sock.sendto(query, ("127.0.0.1", s.port))
                    self.assertEqual(sock.recv(512)[3] & 0xF, 0)  # NOERROR
                wait_for(lambda: s.transfers("failed") >= 1, "the cut transfer")
                self.assertEqual(short(s.port, f"www.{APEX}"), ["192.0.2.10"])
                self.assertEqual(short(s.port, APEX, "SOA")[2], "1")
                self.assertIn("the connection closed", s.text_log())
            finally:
                s.stop()
                primary.close()


class CheckTest(unittest.TestCase):
    def test_check_contacts_nobody(self):
        with tempfile.TemporaryDirectory(prefix="agility-check-") as d:
            dead = servers.free_port()
            s = Agilityd(d, "s", dead, base64.b64encode(os.urandom(32)).decode())
            out = subprocess.run([AGILITYD, "--check", "-c", s.config], capture_output=True,
                                 text=True, timeout=10)
            self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
            self.assertIn("awaiting its first transfer", out.stdout)
            self.assertFalse(os.path.exists(os.path.join(s.dir, "state")))
            with open(s.config, "a") as f:
                f.write("  - {name: other.example, primaries: [nowhere]}\n")
            out = subprocess.run([AGILITYD, "--check", "-c", s.config], capture_output=True,
                                 text=True, timeout=10)
            self.assertEqual(out.returncode, 1)
            self.assertRegex(out.stderr, r"agility\.yaml:\d+: zone 'other\.example\.': primary "
                             r"'nowhere' is not defined under remotes:")



class AgilitydPrimaryTest(unittest.TestCase):
    """agilityd as the primary of Knot DNS, NSD and another agilityd."""

    ORG_ZONE = """$ORIGIN example.org.
$TTL 300
@ SOA ns1 hostmaster {serial} 3600 600 86400 60
@ NS ns1
ns1 A 192.0.2.1
www A {www}
mail MX 10 www
txt TXT "a b" "c"
sub NS ns.sub
ns.sub A 192.0.2.53
""" + "".join(f"h{i} A 198.51.100.{i % 250}\nh{i} TXT \"{'x' * (i % 200)}\"\n"
              for i in range(3000))

    @classmethod
    def write_zone(cls, serial, www):
        """Signed ahead by ldns-signzone: what the secondaries receive must
        pass ldns-verify-zone too."""
        unsigned = os.path.join(cls.tmp.name, "example.org.unsigned")
        with open(unsigned, "w") as f:
            f.write(cls.ORG_ZONE.format(serial=serial, www=www))
        subprocess.run(["ldns-signzone", "-f", cls.zone_file + ".new", unsigned, cls.key],
                       check=True, capture_output=True, timeout=60)
        os.replace(cls.zone_file + ".new", cls.zone_file)

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="agility-primary-")
        d = cls.tmp.name
        cls.secret = base64.b64encode(os.urandom(32)).decode()
        cls.zone_file = os.path.join(d, "example.org.zone")
        cls.key = os.path.join(d, subprocess.run(
            ["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", "example.org"], cwd=d, check=True,
            capture_output=True, text=True, timeout=60).stdout.strip())
        cls.write_zone(1, "192.0.2.10")
        cls.knot_port, cls.nsd_port = servers.free_port(), servers.free_port()
        cls.secondary = Agilityd(d, "secondary", 0, cls.secret)
        cls.port = servers.free_port(avoid=(cls.knot_port, cls.nsd_port))
        # The secondary follows the primary on cls.port.
        with open(cls.secondary.config) as f:
            text = f.read().replace("127.0.0.1:0", f"127.0.0.1:{cls.port}").replace(
                f"name: {APEX}", "name: example.org")
        with open(cls.secondary.config, "w") as f:
            f.write(text)
        cls.config = os.path.join(d, "primary.yaml")
        with open(cls.config, "w") as f:
            f.write(f"""server:
  listen: ["127.0.0.1:{cls.port}"]
  workers: 1
  control: "{d}/primary.sock"
  state_dir: "{d}/primary-state"
sk_lookup: {{enabled: false}}
keys:
  xfr: {{algorithm: hmac-sha256, secret: "{cls.secret}"}}
remotes:
  knot: {{address: "127.0.0.1:{cls.knot_port}", key: xfr}}
  nsd: {{address: "127.0.0.1:{cls.nsd_port}", key: xfr}}
  agility: {{address: "127.0.0.1:{cls.secondary.port}", key: xfr}}
zones: ["{cls.zone_file}"]
transfer:
  allow: [{{prefix: 127.0.0.0/8, key: xfr}}]
  notify: [knot, nsd, agility]
""")
        cls.log = open(os.path.join(d, "servers.log"), "a")
        cls.primary = subprocess.Popen([AGILITYD, "-c", cls.config], stdout=cls.log,
                                       stderr=cls.log)
        wait_for(lambda: servers.ask(cls.port, "www.example.org"), "the primary")
        knot_dir = os.path.join(d, "knot")
        os.makedirs(knot_dir)
        servers.write_knot_conf(
            os.path.join(knot_dir, "knot.conf"), knot_dir, cls.knot_port,
            [("example.org", os.path.join(knot_dir, "example.org.zone"))],
            sections=(f"key:\n  - id: xfr\n    algorithm: hmac-sha256\n    secret: {cls.secret}\n"
                      f"remote:\n  - id: primary\n    address: 127.0.0.1@{cls.port}\n"
                      "    key: xfr\n"
                      "acl:\n  - id: notify\n    address: 127.0.0.1\n    key: xfr\n"
                      "    action: notify\n"
                      "  - id: out\n    address: 127.0.0.1\n    action: transfer\n"),
            zone_settings="    master: primary\n    acl: [notify, out]\n")
        nsd_dir = os.path.join(d, "nsd")
        os.makedirs(nsd_dir)
        with open(os.path.join(nsd_dir, "nsd.conf"), "w") as f:
            f.write(f"""server:
  ip-address: 127.0.0.1@{cls.nsd_port}
  username: ""
  database: ""
  zonelistfile: "{nsd_dir}/zone.list"
  xfrdfile: "{nsd_dir}/xfrd.state"
  xfrdir: "{nsd_dir}"
  pidfile: "{nsd_dir}/nsd.pid"
  logfile: "{nsd_dir}/nsd.log"
  verbosity: 2
remote-control:
  control-enable: no
key:
  name: xfr
  algorithm: hmac-sha256
  secret: "{cls.secret}"
zone:
  name: example.org
  zonefile: "{nsd_dir}/example.org.zone"
  request-xfr: 127.0.0.1@{cls.port} xfr
  allow-notify: 127.0.0.1 xfr
  provide-xfr: 127.0.0.1 NOKEY
""")
        cls.knot = subprocess.Popen(["knotd", "-c", os.path.join(knot_dir, "knot.conf")],
                                    stdout=cls.log, stderr=cls.log)
        cls.nsd = subprocess.Popen(["nsd", "-d", "-c", os.path.join(nsd_dir, "nsd.conf")],
                                   stdout=cls.log, stderr=cls.log)
        cls.secondary.start()
        cls.followers = {"knot": cls.knot_port, "nsd": cls.nsd_port,
                         "agilityd": cls.secondary.port}
        for name, port in cls.followers.items():
            wait_for(lambda: short(port, "www.example.org") == ["192.0.2.10"],
                     f"{name}'s first transfer", 60)

    @classmethod
    def tearDownClass(cls):
        for process in (cls.knot, cls.nsd, cls.primary):
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)
        cls.secondary.stop()
        cls.log.close()
        cls.tmp.cleanup()

    def axfr(self, port, *options):
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+nocmd", "+nostats",
                              "+onesoa", *options, "example.org", "AXFR"],
                             capture_output=True, text=True, timeout=60)
        return out.stdout + out.stderr

    def test_1_secondaries_hold_a_zone_their_checkers_accept(self):
        for name in ("knot", "nsd"):
            text = self.axfr(self.followers[name])
            path = os.path.join(self.tmp.name, f"from-{name}.zone")
            with open(path, "w") as f:
                f.write(text)
            self.assertEqual(text.count("\tA\t198.51.100."), 3000, text[-2000:])
            for check in (["kzonecheck", "-o", "example.org", path],
                          ["ldns-verify-zone", path]):
                out = subprocess.run(check, capture_output=True, text=True, timeout=60)
                self.assertEqual(out.returncode, 0, f"{name}: {check[0]}: {out.stdout}{out.stderr}")
        # What agilityd sends is what the file holds: every record, SOA
        # first and last, many messages, signed.
        signed = self.axfr(self.port, "-y", f"hmac-sha256:xfr:{self.secret}", "+multiline")
        self.assertNotIn("failed", signed)
        self.assertEqual(signed.count("198.51.100."), 3000)
        self.assertIn("RRSIG", signed)

    def test_2_a_reload_reaches_every_secondary(self):
        before = metric(self.config, "agility_transfers_out_total", 'result="sent"')
        incremental_before = metric(self.config, "agility_transfers_out_ixfr_total")
        self.write_zone(2, "192.0.2.99")
        out = subprocess.run([AGILITYCTL, "-c", self.config, "reload"], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        started = time.monotonic()
        for name, port in self.followers.items():
            wait_for(lambda: short(port, "www.example.org") == ["192.0.2.99"],
                     f"{name} to follow the reload", 30)
        self.assertLess(time.monotonic() - started, 10)
        # By IXFR, from the journal of the zone file's change.
        self.assertGreaterEqual(self.secondary.transfers("ixfr"), 1, self.secondary.text_log())
        self.assertIn("IXFR of serial 2", self.secondary.text_log())
        self.assertGreaterEqual(
            metric(self.config, "agility_transfers_out_total", 'result="sent"'), before + 3)
        # Knot, NSD and agilityd each asked by IXFR and got the journal's step.
        self.assertGreaterEqual(metric(self.config, "agility_transfers_out_ixfr_total"),
                                incremental_before + 3)

    def test_2b_edns_expire_of_a_primary_is_its_soa_expire(self):
        self.assertIn("EXPIRE: 86400", dig(self.port, "example.org", "SOA", "+expire"))

    def test_4_a_change_without_a_new_serial_is_reported(self):
        self.write_zone(2, "192.0.2.98")  # serial 2 again, another address
        out = subprocess.run([AGILITYCTL, "-c", self.config, "reload"], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        wait_for(lambda: "is not newer than 2" in open(self.log.name).read(), "the warning")
        self.assertEqual(short(self.port, "www.example.org"), ["192.0.2.98"])

    def test_2c_the_journal_outlives_a_restart(self):
        self.primary.terminate()
        self.primary.wait(timeout=20)
        if os.path.exists(os.path.join(self.tmp.name, "primary.sock")):
            os.unlink(os.path.join(self.tmp.name, "primary.sock"))
        type(self).primary = subprocess.Popen([AGILITYD, "-c", self.config], stdout=self.log,
                                              stderr=self.log)
        wait_for(lambda: os.path.exists(os.path.join(self.tmp.name, "primary.sock")),
                 "the primary again")
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(self.port), "example.org", "IXFR=1",
                              "-y", f"hmac-sha256:xfr:{self.secret}", "+nocmd", "+nostats"],
                             capture_output=True, text=True, timeout=30).stdout
        self.assertIn("192.0.2.99", out)
        self.assertNotIn("198.51.100.", out, "an IXFR answered with the whole zone")

    def test_3_unsigned_or_badly_signed_requests_are_refused(self):
        unsigned = self.axfr(self.port)
        self.assertIn("Transfer failed", unsigned)
        wrong = self.axfr(self.port, "-y",
                          f"hmac-sha256:xfr:{base64.b64encode(os.urandom(32)).decode()}")
        self.assertIn("BADSIG", wrong)
        # AXFR over UDP is never served.
        query = struct.pack("!HHHHHH", 9, 0, 1, 0, 0, 0) + wire_name("example.org") + \
            struct.pack("!HH", 252, 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(query, ("127.0.0.1", self.port))
            self.assertEqual(sock.recv(512)[3] & 0xF, 5)  # REFUSED
        self.assertGreaterEqual(
            metric(self.config, "agility_transfers_out_total", 'result="refused"'), 2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
