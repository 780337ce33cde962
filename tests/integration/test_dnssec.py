#!/usr/bin/env python3
"""DNSSEC of zones signed ahead (issue 10), proven by validators.

A parent zone, signed.test, is signed here with ldns-signzone (ECDSA P-256;
NSEC, NSEC3, and NSEC3 with opt-out, a test class each); it delegates secure.signed.test (signed, its DS in the parent) and
insecure.signed.test (unsigned), both served by the same agilityd. Then:

- Unbound, with signed.test's key as its only trust anchor and stubs that
  keep it on this machine, resolves through agilityd: positive answers,
  NXDOMAIN, NODATA, an empty non-terminal, wildcard answers and wildcard
  NODATA, CNAME and DNAME chains, and names below the secure delegation must
  come back with AD set; below the insecure delegation, answered and without
  AD (the NSEC proves there is no DS).
- delv validates the same answers directly against agilityd.
- Without DO, answers carry no DNSSEC records.

Run by `meson test dnssec`; needs unbound, ldnsutils and bind9-dnsutils
(scripts/deps test). AGILITYD names the binary (default build/agilityd).
"""
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AGILITYD, servers  # noqa: E402

APEX = "signed.test"

PARENT = """$ORIGIN signed.test.
$TTL 300
@ SOA ns hostmaster 1 3600 900 604800 300
@ NS ns
ns A 127.0.0.1
www A 192.0.2.10
www AAAA 2001:db8::10
alias CNAME www
chain CNAME alias
*.wild A 192.0.2.20
*.wildalias CNAME www
a.b.ent A 192.0.2.30
mx MX 10 www
txt TXT "hello"
dn DNAME target
y.target A 192.0.2.50
insecure NS ns.insecure
ns.insecure A 127.0.0.1
secure NS ns.secure
ns.secure A 127.0.0.1
""" + "".join(f'big TXT "{i}{"x" * 209}"\n' for i in range(5))


def child_zone(label, address):
    """A zone delegated from the parent: its own SOA and NS, and www."""
    return (f"$ORIGIN {label}.signed.test.\n$TTL 300\n"
            "@ SOA ns hostmaster 1 3600 900 604800 300\n@ NS ns\nns A 127.0.0.1\n"
            f"www A {address}\n")


SECURE = child_zone("secure", "192.0.2.60")
INSECURE = child_zone("insecure", "192.0.2.70")

# (name, type, rcode, an address the answer holds or None): validated, AD.
SECURE_CASES = [
    ("www", "A", "NOERROR", "192.0.2.10"),
    ("www", "AAAA", "NOERROR", "2001:db8::10"),
    (APEX, "SOA", "NOERROR", None),
    (APEX, "DNSKEY", "NOERROR", None),
    (APEX, "NS", "NOERROR", None),
    ("mx", "MX", "NOERROR", None),
    ("txt", "TXT", "NOERROR", None),
    ("alias", "A", "NOERROR", "192.0.2.10"),
    ("chain", "A", "NOERROR", "192.0.2.10"),
    ("x.wild", "A", "NOERROR", "192.0.2.20"),
    ("a.b.wild", "A", "NOERROR", "192.0.2.20"),
    ("x.wildalias", "A", "NOERROR", "192.0.2.10"),
    ("x.wild", "TXT", "NOERROR", None),  # wildcard NODATA
    ("nothere", "A", "NXDOMAIN", None),
    ("a.nothere", "A", "NXDOMAIN", None),
    ("www", "TXT", "NOERROR", None),  # NODATA
    ("b.ent", "A", "NOERROR", None),  # empty non-terminal
    ("ent", "A", "NOERROR", None),
    ("y.dn", "A", "NOERROR", "192.0.2.50"),  # DNAME
    ("x.dn", "A", "NXDOMAIN", None),
    ("insecure", "DS", "NOERROR", None),  # no DS, proven by NSEC
    ("secure", "DS", "NOERROR", None),
    ("www.secure", "A", "NOERROR", "192.0.2.60"),
    ("nothere.secure", "A", "NXDOMAIN", None),
]
INSECURE_CASES = [
    ("www.insecure", "A", "NOERROR", "192.0.2.70"),
]


def fqdn(name):
    return name if name.endswith(APEX) else f"{name}.{APEX}"


def run(command, directory):
    return subprocess.run(command, cwd=directory, check=True, capture_output=True,
                          text=True).stdout.strip()


def sign(directory, origin, text, extra="", options=()):
    """Writes `origin`'s zone, makes a KSK and a ZSK, signs it (NSEC, unless
    `options` ask ldns-signzone for NSEC3); returns (signed zone path, the
    KSK's DNSKEY line, the KSK's DS line)."""
    unsigned = os.path.join(directory, f"{origin}.unsigned")
    with open(unsigned, "w") as f:
        f.write(text + extra)
    ksk = run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", origin], directory)
    zsk = run(["ldns-keygen", "-a", "ECDSAP256SHA256", origin], directory)
    signed = os.path.join(directory, f"{origin}.zone")
    run(["ldns-signzone", *options, "-o", f"{origin}.", "-f", signed, unsigned, ksk, zsk],
        directory)
    with open(os.path.join(directory, ksk + ".key")) as f:
        dnskey = f.read().split(";")[0].strip()
    with open(os.path.join(directory, ksk + ".ds")) as f:
        ds = f.read().split(";")[0].strip()
    return signed, dnskey, ds


def dig(port, name, qtype, *options):
    return subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=5",
                           *options, fqdn(name), qtype], capture_output=True, text=True,
                          timeout=30).stdout


def wait_for(port, name, deadline):
    while time.monotonic() < deadline:
        if "status:" in dig(port, name, "SOA"):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing answers on port {port}")


class SignedZoneTest(unittest.TestCase):
    """The parent signed with NSEC."""
    SIGN_OPTIONS = ()

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="agility-dnssec-")
        d = cls.tmp.name
        child, _, child_ds = sign(d, "secure.signed.test", SECURE, options=cls.SIGN_OPTIONS)
        cls.zone, cls.dnskey, _ = sign(d, APEX, PARENT, child_ds + "\n", cls.SIGN_OPTIONS)
        with open(cls.zone) as f:
            signed = f.read()
        denial = "NSEC3" if "-n" in cls.SIGN_OPTIONS else "NSEC"
        assert f"\t{denial}\t" in signed, f"ldns-signzone wrote no {denial}"
        insecure = os.path.join(d, "insecure.signed.test.zone")
        with open(insecure, "w") as f:
            f.write(INSECURE)
        cls.port = servers.free_port()
        cls.unbound_port = servers.free_port(avoid={cls.port})
        dead_port = servers.free_port(avoid={cls.port, cls.unbound_port})
        with open(os.path.join(d, "agility.yaml"), "w") as f:
            f.write(f'server: {{listen: ["127.0.0.1:{cls.port}"], workers: 1, '
                    f'control: "{d}/control.sock"}}\nsk_lookup: {{enabled: false}}\n'
                    f'zones: ["{cls.zone}", "{child}", "{insecure}"]\n')
        with open(os.path.join(d, "anchor.key"), "w") as f:
            f.write(cls.dnskey + "\n")
        servers.write_delv_anchors(os.path.join(d, "delv.conf"), [cls.dnskey])
        servers.write_unbound_conf(
            os.path.join(d, "unbound.conf"), d, cls.unbound_port, os.path.join(d, "anchor.key"),
            (APEX, f"secure.{APEX}", f"insecure.{APEX}"), cls.port, dead_port)
        cls.log = open(os.path.join(d, "servers.log"), "w")
        cls.agilityd = subprocess.Popen([AGILITYD, "-c", os.path.join(d, "agility.yaml")],
                                        stdout=cls.log, stderr=cls.log)
        cls.unbound = subprocess.Popen(["unbound", "-d", "-c", os.path.join(d, "unbound.conf")],
                                       stdout=cls.log, stderr=cls.log)
        deadline = time.monotonic() + 60
        wait_for(cls.port, APEX, deadline)
        wait_for(cls.unbound_port, APEX, deadline)

    @classmethod
    def tearDownClass(cls):
        for process in (cls.unbound, cls.agilityd):
            process.terminate()
            process.wait(timeout=20)
        cls.log.close()
        cls.tmp.cleanup()

    def unbound_log(self):
        with open(os.path.join(self.tmp.name, "unbound.log")) as f:
            return f.read()[-3000:]

    def check_resolved(self, cases, secure):
        for name, qtype, rcode, address in cases:
            with self.subTest(name=name, qtype=qtype):
                out = dig(self.unbound_port, name, qtype, "+dnssec")
                self.assertIn(f"status: {rcode}", out, out + self.unbound_log())
                flags = out.split(";; flags:")[1].split(";")[0].split()
                if secure:
                    self.assertIn("ad", flags, out + self.unbound_log())
                else:
                    self.assertNotIn("ad", flags, out)
                if address is not None:
                    self.assertIn(address, out)

    INSECURE_BY_OPT_OUT = set()

    def test_unbound_validates_signed_answers(self):
        self.check_resolved([c for c in SECURE_CASES if c[0] not in self.INSECURE_BY_OPT_OUT],
                            secure=True)
        self.check_resolved([c for c in SECURE_CASES if c[0] in self.INSECURE_BY_OPT_OUT],
                            secure=False)

    def test_unbound_answers_below_an_insecure_delegation(self):
        self.check_resolved(INSECURE_CASES, secure=False)

    def test_delv_validates_against_agilityd(self):
        # delv asks agilityd as it would a forwarder: no referrals, so the
        # names of the zone itself (the delegations' DS included).
        for name, qtype, rcode, _ in SECURE_CASES:
            if name.endswith("secure") and qtype != "DS" or ".secure" in name:
                continue
            if name in self.INSECURE_BY_OPT_OUT:
                continue
            with self.subTest(name=name, qtype=qtype):
                out = subprocess.run(
                    ["delv", "-a", os.path.join(self.tmp.name, "delv.conf"), f"+root={APEX}",
                     "@127.0.0.1", "-p", str(self.port), fqdn(name), qtype],
                    capture_output=True, text=True, timeout=30)
                text = out.stdout + out.stderr
                self.assertIn("fully validated", text)
                if rcode == "NXDOMAIN":
                    self.assertIn("nxdomain", text)

    def test_answers_without_do_carry_no_dnssec_records(self):
        for name, qtype in (("www", "A"), ("nothere", "A"), ("www", "TXT"), ("x.wild", "A")):
            out = dig(self.port, name, qtype, "+norec")
            self.assertNotIn("RRSIG", out)
            self.assertNotIn("NSEC", out)

    def test_signed_answers_carry_their_proofs(self):
        denial = "NSEC3" if "-n" in self.SIGN_OPTIONS else "NSEC"

        def records(out):
            """[(type, what an RRSIG covers, its labels field)] of the answer."""
            found = []
            for line in out.splitlines():
                fields = line.split()
                if len(fields) > 4 and not line.startswith(";") and fields[2] == "IN":
                    rrsig = fields[3] == "RRSIG"
                    found.append((fields[3], fields[4] if rrsig else None,
                                  fields[6] if rrsig else None))
            return found

        nxdomain = dig(self.port, "nothere", "A", "+dnssec", "+norec")
        self.assertIn("status: NXDOMAIN", nxdomain)
        found = records(nxdomain)
        proofs = [r for r in found if r[0] == denial]
        # NSEC: the name's and the wildcard's (one record may do both);
        # NSEC3: the closest encloser, next closer and wildcard.
        self.assertGreaterEqual(len(proofs), 1 if denial == "NSEC" else 3, nxdomain)
        self.assertEqual(len([r for r in found if r[:2] == ("RRSIG", denial)]), len(proofs))
        self.assertIn(("RRSIG", "SOA", "2"), found)
        wild = records(dig(self.port, "x.wild", "A", "+dnssec", "+norec"))
        self.assertIn(("RRSIG", "A", "3"), wild)  # the wildcard's label count, not 4
        self.assertTrue(any(r[0] == denial for r in wild), wild)


    def test_signed_answer_too_big_for_udp_is_truncated(self):
        # 5 TXT records of 210 octets fit 1232 octets; with their RRSIG they
        # do not, and RFC 4035 §3.1.1 asks for TC rather than a bare RRset.
        plain = dig(self.port, "big", "TXT", "+norec", "+bufsize=1232", "+ignore")
        self.assertNotIn(" tc", plain.split(";; flags:")[1].split(";")[0])
        signed = dig(self.port, "big", "TXT", "+norec", "+dnssec", "+bufsize=1232", "+ignore")
        self.assertIn(" tc", signed.split(";; flags:")[1].split(";")[0], signed)
        tcp = dig(self.port, "big", "TXT", "+norec", "+dnssec", "+tcp")
        self.assertEqual(tcp.count("\tTXT\t") + tcp.count(" TXT "), 5, tcp)
        self.assertIn("RRSIG\tTXT ", tcp)

    def test_a_policy_in_a_signed_zone_is_refused(self):
        # Its drawn addresses could not be signed: --check says which
        # policy and which zone, with the configuration's file and line.
        config = os.path.join(self.tmp.name, "policy.yaml")
        with open(config, "w") as f:
            f.write(f'sk_lookup: {{enabled: false}}\nzones: ["{self.zone}"]\n'
                    'pools: {edge: 127.77.0.0/20}\n'
                    'policies:\n  - {name: edge, match: ["*.pool.signed.test"], ipv4: edge}\n')
        run = subprocess.run([AGILITYD, "--check", "-c", config], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertIn(f"{config}:5: policy 'edge'", run.stderr)
        self.assertIn("signed zone 'signed.test.'", run.stderr)

    def check(self, zone_text, name="check"):
        """agilityd --check on `zone_text` as signed.test's zone file."""
        directory = os.path.join(self.tmp.name, name)
        os.makedirs(directory, exist_ok=True)
        zone = os.path.join(directory, "signed.test.zone")
        with open(zone, "w") as f:
            f.write(zone_text)
        config = os.path.join(directory, "check.yaml")
        with open(config, "w") as f:
            f.write(f'sk_lookup: {{enabled: false}}\nzones: ["{zone}"]\n')
        return zone, subprocess.run([AGILITYD, "--check", "-c", config], capture_output=True,
                                    text=True, timeout=60)

    def test_check_passes_the_signed_zone(self):
        with open(self.zone) as f:
            _, run = self.check(f.read(), "good")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(run.stderr, "")

    def test_check_finds_broken_dnssec_data(self):
        with open(self.zone) as f:
            lines = f.read().splitlines()
        # No RRSIG for txt's TXT; a name with neither NSEC nor RRSIG; a type
        # www's NSEC (or NSEC3) does not list.
        kept = [line for line in lines
                if not (line.startswith("txt.") and "\tRRSIG\tTXT " in line)]
        kept += ["extra.signed.test.\t300\tIN\tA\t192.0.2.1",
                 'www.signed.test.\t300\tIN\tTXT\t"added"']
        zone, run = self.check("\n".join(kept) + "\n", "broken")
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertRegex(run.stderr, re.escape(zone) + r":\d+: the TXT RRset at txt\.signed\.test\. "
                         "has no RRSIG")
        self.assertRegex(run.stderr, re.escape(zone) + r":\d+: the A RRset at extra\.signed\.test\.")
        if "-n" not in self.SIGN_OPTIONS:
            self.assertIn("extra.signed.test. has no NSEC", run.stderr)
            self.assertRegex(run.stderr, r"the NSEC of www\.signed\.test\. lists the types A AAAA "
                             r"RRSIG NSEC but the name has A TXT AAAA RRSIG NSEC")
        else:
            self.assertIn("extra.signed.test. has no NSEC3 of its hash", run.stderr)
            self.assertRegex(run.stderr, r"the NSEC3 of www\.signed\.test\. lists the types A AAAA "
                             r"RRSIG but the name has A TXT AAAA RRSIG")
            # One NSEC3 less: its predecessor names a hash that is gone.
            nsec3 = [line for line in lines if "\tNSEC3\t" in line]
            dropped = nsec3[len(nsec3) // 2].split()[0]
            _, chain = self.check("\n".join(line for line in lines
                                            if not line.startswith(dropped)) + "\n", "chain")
            self.assertEqual(chain.returncode, 1, chain.stderr)
            self.assertIn("the NSEC3 chain is broken", chain.stderr)

    def test_check_warns_of_signatures_about_to_expire(self):
        directory = os.path.join(self.tmp.name, "expiring")
        os.makedirs(directory, exist_ok=True)
        soon = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() + 3 * 86400))
        signed, _, _ = sign(directory, APEX, PARENT, options=self.SIGN_OPTIONS + ("-e", soon))
        with open(signed) as f:
            zone, run = self.check(f.read(), "expiring-check")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertRegex(run.stderr, "warning: " + re.escape(zone) +
                         r":\d+: the RRSIG of SOA at signed\.test\. expires on \d{4}-\d\d-\d\d")

    def test_rrsig_and_denial_types_are_answered(self):
        rrsig = dig(self.port, "www", "RRSIG", "+norec", "+dnssec")
        self.assertIn("RRSIG\tA ", rrsig)
        self.assertIn("RRSIG\tAAAA ", rrsig)
        key = dig(self.port, APEX, "DNSKEY", "+norec", "+dnssec")
        self.assertIn("DNSKEY\t257 3 13 ", key)
        self.assertIn("RRSIG\tDNSKEY ", key)


class Nsec3ZoneTest(SignedZoneTest):
    """The parent and the secure child signed with NSEC3: no salt, no extra
    iterations (RFC 9276)."""
    SIGN_OPTIONS = ("-n", "-t", "0")


class Nsec3OptOutZoneTest(SignedZoneTest):
    """NSEC3 with opt-out: the insecure delegation has no NSEC3 of its own,
    the span covering it says so (RFC 5155 §7.2.7). Every NSEC3 of the zone
    has the opt-out flag, so what rests on a covering NSEC3 (NXDOMAIN, a
    wildcard's next closer name) can only be insecure (RFC 5155 §9.2): those
    answers must come back right and not bogus, without AD."""
    SIGN_OPTIONS = ("-n", "-p", "-t", "1", "-s", "abcd")
    INSECURE_BY_OPT_OUT = {"nothere", "a.nothere", "x.dn", "nothere.secure", "x.wild",
                           "a.b.wild", "x.wildalias"}


if __name__ == "__main__":
    unittest.main(verbosity=2)
