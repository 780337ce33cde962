#!/usr/bin/env python3
"""Online DNSSEC signing (issue 10 §3-4), proven by validators.

online.test is an unsigned zone with keys made by ldns-keygen (a KSK and a
ZSK; ECDSA P-256, and Ed25519 in a second class): agilityd signs every answer
as it goes, denies with compact NSECs (RFC 9824), and serves DNSKEY, CDS and
CDNSKEY from the keys. Its policies draw addresses from 127.77.0.0/24 for
pool.online.test and for every name under *.wp.online.test. It delegates
secure.online.test (signed ahead, its DS in the parent) and
insecure.online.test (unsigned). presigned.test is signed ahead by
ldns-signzone, and its keys sign only its pool answers online.

- Unbound, trusting only the two KSKs and stubbed to agilityd, must return
  AD=1 for positive answers, denials, wildcards, CNAME and DNAME chains,
  the delegations, and pool answers, which must still spread over the pool.
- delv validates the same directly against agilityd.
- The compact denial has its RFC 9824 form: NOERROR with an NSEC owned by
  the name, its bitmap RRSIG NSEC NXNAME; NXDOMAIN to a query with CO.
- Key errors name their file and line; a reload picks up a new key.

Run by `meson test online_signing`; needs unbound, ldnsutils and
bind9-dnsutils (scripts/deps test). AGILITYD and AGILITYCTL name the
binaries (default build/).
"""
import ipaddress
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import AGILITYCTL, AGILITYD, servers  # noqa: E402

APEX = "online.test"
PRESIGNED = "presigned.test"
POOL = ipaddress.ip_network("127.77.0.0/24")

ZONE = """$ORIGIN online.test.
$TTL 300
@ SOA ns hostmaster 1 3600 900 604800 300
@ NS ns
ns A 127.0.0.1
www A 192.0.2.10
www AAAA 2001:db8::10
WWW2 CNAME WWW
alias CNAME www
chain CNAME alias
*.wild A 192.0.2.20
*.wildalias CNAME www
a.b.ent A 192.0.2.30
mx MX 10 www
txt TXT "hello"
dn DNAME target
y.target A 192.0.2.50
pool A 127.0.0.1
*.wp A 127.0.0.1
insecure NS ns.insecure
ns.insecure A 127.0.0.1
secure NS ns.secure
ns.secure A 127.0.0.1
far NS ns.far
ns.far A 127.0.0.9
farsec NS ns.far
farsec DS 12345 13 2 """ + "ab" * 32 + """
"""

PRESIGNED_ZONE = """$ORIGIN presigned.test.
$TTL 300
@ SOA ns hostmaster 1 3600 900 604800 300
@ NS ns
ns A 127.0.0.1
www A 192.0.2.80
pool A 127.0.0.1
"""


def child_zone(label, address):
    return (f"$ORIGIN {label}.{APEX}.\n$TTL 300\n"
            "@ SOA ns hostmaster 1 3600 900 604800 300\n@ NS ns\nns A 127.0.0.1\n"
            f"www A {address}\n")


# (name, type, rcode Unbound gives, an address the answer holds): AD=1.
# Compact denial answers a name that does not exist with NODATA (RFC 9824
# §3.1); Unbound (1.17) does not know NXNAME, so it says NOERROR.
CASES = [
    ("www", "A", "NOERROR", "192.0.2.10"),
    ("www", "AAAA", "NOERROR", "2001:db8::10"),
    ("www2", "A", "NOERROR", "192.0.2.10"),  # names of the file in upper case
    (APEX, "SOA", "NOERROR", None),
    (APEX, "DNSKEY", "NOERROR", None),
    (APEX, "CDS", "NOERROR", None),
    (APEX, "CDNSKEY", "NOERROR", None),
    (APEX, "NS", "NOERROR", None),
    ("mx", "MX", "NOERROR", None),
    ("txt", "TXT", "NOERROR", None),
    ("alias", "A", "NOERROR", "192.0.2.10"),
    ("chain", "A", "NOERROR", "192.0.2.10"),
    ("x.wild", "A", "NOERROR", "192.0.2.20"),
    ("a.b.wild", "A", "NOERROR", "192.0.2.20"),
    ("x.wildalias", "A", "NOERROR", "192.0.2.10"),
    ("x.wild", "TXT", "NOERROR", None),  # wildcard NODATA
    ("nothere", "A", "NOERROR", None),  # does not exist
    ("a.nothere", "A", "NOERROR", None),
    ("www", "TXT", "NOERROR", None),  # NODATA
    ("b.ent", "A", "NOERROR", None),  # empty non-terminal
    ("y.dn", "A", "NOERROR", "192.0.2.50"),  # DNAME
    ("x.dn", "A", "NOERROR", None),
    ("pool", "AAAA", "NOERROR", None),  # the policy has no IPv6 pool
    ("insecure", "DS", "NOERROR", None),  # no DS: an insecure delegation
    ("secure", "DS", "NOERROR", None),
    ("www.secure", "A", "NOERROR", "192.0.2.60"),
    (f"www.{PRESIGNED}", "A", "NOERROR", "192.0.2.80"),
]


def fqdn(name):
    return name if name.endswith(".test") else f"{name}.{APEX}"


def run(command, directory):
    return subprocess.run(command, cwd=directory, check=True, capture_output=True,
                          text=True).stdout.strip()


def dig(port, name, qtype, *options):
    """dig's output once it has an answer. A loaded machine may lose a UDP
    datagram or keep Unbound busy past dig's timeout: asked again, up to 5
    times, rather than failing on the first silence."""
    for _ in range(5):
        out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=5",
                              *options, fqdn(name), qtype], capture_output=True, text=True,
                             timeout=30).stdout
        if "status:" in out:
            return out
    raise AssertionError(f"no answer to {name} {qtype} on port {port}:\n{out}")


def flags(out):
    return out.split(";; flags:")[1].split(";")[0].split()


def records(out, rtype):
    """The presentation fields of the records of `rtype` in dig's output."""
    return [line.split() for line in out.splitlines()
            if not line.startswith(";") and len(line.split()) > 4 and line.split()[3] == rtype]


def keygen(directory, zone, algorithm, ksk):
    return run(["ldns-keygen", "-a", algorithm, *(["-k"] if ksk else []), zone], directory)


def anchor(directory, base):
    with open(os.path.join(directory, base + ".key")) as f:
        return f.read().split(";")[0].strip()


class OnlineSigningTest(unittest.TestCase):
    ALGORITHM = "ECDSAP256SHA256"
    NUMBER = "13"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="agility-online-")
        d = cls.tmp.name
        cls.keys = os.path.join(d, "keys")
        os.makedirs(cls.keys)
        cls.ksk = keygen(cls.keys, APEX, cls.ALGORITHM, True)
        cls.zsk = keygen(cls.keys, APEX, cls.ALGORITHM, False)
        # The secure child, signed ahead; its DS goes into the parent.
        with open(os.path.join(d, "secure.unsigned"), "w") as f:
            f.write(child_zone("secure", "192.0.2.60"))
        child_key = keygen(d, f"secure.{APEX}", "ECDSAP256SHA256", True)
        secure = os.path.join(d, f"secure.{APEX}.zone")
        run(["ldns-signzone", "-o", f"secure.{APEX}.", "-f", secure, "secure.unsigned",
             child_key], d)
        with open(os.path.join(d, child_key + ".ds")) as f:
            child_ds = f.read().split(";")[0].strip()
        cls.zone = os.path.join(d, f"{APEX}.zone")
        with open(cls.zone, "w") as f:
            f.write(ZONE + child_ds + "\n")
        insecure = os.path.join(d, f"insecure.{APEX}.zone")
        with open(insecure, "w") as f:
            f.write(child_zone("insecure", "192.0.2.70"))
        # presigned.test: signed ahead with the keys that sign its pool.
        cls.presigned_keys = os.path.join(d, "presigned-keys")
        os.makedirs(cls.presigned_keys)
        pksk = keygen(cls.presigned_keys, PRESIGNED, "ECDSAP256SHA256", True)
        pzsk = keygen(cls.presigned_keys, PRESIGNED, "ECDSAP256SHA256", False)
        with open(os.path.join(d, "presigned.unsigned"), "w") as f:
            f.write(PRESIGNED_ZONE)
        cls.presigned = os.path.join(d, f"{PRESIGNED}.zone")
        run(["ldns-signzone", "-o", f"{PRESIGNED}.", "-f", cls.presigned,
             os.path.join(d, "presigned.unsigned"), os.path.join(cls.presigned_keys, pksk),
             os.path.join(cls.presigned_keys, pzsk)], d)
        # ldns-signzone leaves .ds files; they are not keys.
        cls.port = servers.free_port()
        cls.unbound_port = servers.free_port(avoid={cls.port})
        dead_port = servers.free_port(avoid={cls.port, cls.unbound_port})
        cls.config = os.path.join(d, "agility.yaml")
        with open(cls.config, "w") as f:
            f.write(f'server: {{listen: ["127.0.0.1:{cls.port}"], workers: 2, '
                    f'control: "{d}/control.sock", state_dir: "{d}/state", '
                    'dnssec_cache_mb: 1}\n'
                    'sk_lookup: {enabled: false}\n'
                    f'zones: ["{cls.zone}", "{secure}", "{insecure}", "{cls.presigned}"]\n'
                    'pools: {web: 127.77.0.0/24}\n'
                    'policies:\n'
                    f'  - {{name: web, match: [pool.{APEX}, "*.wp.{APEX}", pool.{PRESIGNED}], '
                    'ipv4: web, ttl: 60}\n'
                    f'dnssec:\n  {APEX}: {{keys: {cls.keys}}}\n'
                    f'  {PRESIGNED}: {{keys: {cls.presigned_keys}}}\n')
        anchors = [anchor(cls.keys, cls.ksk), anchor(cls.presigned_keys, pksk)]
        with open(os.path.join(d, "anchor.key"), "w") as f:
            f.write("\n".join(anchors) + "\n")
        servers.write_delv_anchors(os.path.join(d, "delv.conf"), anchors)
        servers.write_unbound_conf(
            os.path.join(d, "unbound.conf"), d, cls.unbound_port, os.path.join(d, "anchor.key"),
            (APEX, f"secure.{APEX}", f"insecure.{APEX}", PRESIGNED), cls.port, dead_port)
        cls.log = open(os.path.join(d, "servers.log"), "w")
        cls.agilityd = subprocess.Popen([AGILITYD, "-c", cls.config], stdout=cls.log,
                                        stderr=cls.log)
        cls.unbound = subprocess.Popen(["unbound", "-d", "-c", os.path.join(d, "unbound.conf")],
                                       stdout=cls.log, stderr=cls.log)
        deadline = time.monotonic() + 60
        for port in (cls.port, cls.unbound_port):
            while not servers.ask(port, APEX):
                if time.monotonic() > deadline:
                    raise AssertionError(f"nothing answers on port {port}")
                time.sleep(0.05)

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

    def test_unbound_validates_online_signed_answers(self):
        for name, qtype, rcode, address in CASES:
            with self.subTest(name=name, qtype=qtype):
                out = dig(self.unbound_port, name, qtype, "+dnssec")
                self.assertIn(f"status: {rcode}", out, out + self.unbound_log())
                self.assertIn("ad", flags(out), out + self.unbound_log())
                if address is not None:
                    self.assertIn(address, out)

    def test_unbound_answers_below_the_insecure_delegation(self):
        out = dig(self.unbound_port, "www.insecure", "A", "+dnssec")
        self.assertIn("status: NOERROR", out, out + self.unbound_log())
        self.assertIn("192.0.2.70", out)
        self.assertNotIn("ad", flags(out))

    def test_pool_answers_validate_and_spread_over_the_pool(self):
        # A fresh name each time, so that Unbound asks agilityd each time.
        seen = set()
        for i in range(40):
            out = dig(self.unbound_port, f"h{i}.wp", "A", "+dnssec")
            self.assertIn("status: NOERROR", out, out + self.unbound_log())
            self.assertIn("ad", flags(out), out + self.unbound_log())
            addresses = [r[4] for r in records(out, "A")]
            self.assertEqual(len(addresses), 1, out)
            self.assertIn(ipaddress.ip_address(addresses[0]), POOL)
            seen.add(addresses[0])
        # 40 draws from 256 addresses: all alike would be 1 in 256^39.
        self.assertGreater(len(seen), 20, seen)
        for name in ("pool", f"pool.{PRESIGNED}"):
            out = dig(self.unbound_port, name, "A", "+dnssec")
            self.assertIn("ad", flags(out), out + self.unbound_log())
            self.assertIn(ipaddress.ip_address(records(out, "A")[0][4]), POOL)

    def delv(self, name, qtype):
        root = PRESIGNED if fqdn(name).endswith(PRESIGNED) else APEX
        out = subprocess.run(
            ["delv", "-a", os.path.join(self.tmp.name, "delv.conf"), f"+root={root}",
             "@127.0.0.1", "-p", str(self.port), fqdn(name), qtype],
            capture_output=True, text=True, timeout=30)
        return out.stdout + out.stderr

    def test_delv_validates_against_agilityd(self):
        # delv asks agilityd as it would a forwarder: the names of the zones
        # it serves, the delegations' DS included, but not below them.
        for name, qtype, _, _ in CASES + [("h1.wp", "A", None, None), ("pool", "A", None, None),
                                          (f"pool.{PRESIGNED}", "A", None, None)]:
            if ".secure" in name:
                continue
            with self.subTest(name=name, qtype=qtype):
                text = self.delv(name, qtype)
                self.assertIn("fully validated", text)

    def test_compact_denial_of_a_name_that_does_not_exist(self):
        out = dig(self.port, "nothere", "A", "+dnssec", "+norec")
        self.assertIn("status: NOERROR", out)
        nsec = records(out, "NSEC")
        self.assertEqual(len(nsec), 1, out)
        self.assertEqual(nsec[0][0], f"nothere.{APEX}.")
        self.assertEqual(nsec[0][4], f"\\000.nothere.{APEX}.")
        self.assertEqual(nsec[0][5:], ["RRSIG", "NSEC", "TYPE128"])
        self.assertEqual(nsec[0][1], "300")  # min(SOA TTL, SOA MINIMUM), RFC 9077
        self.assertEqual([r[4] for r in records(out, "RRSIG")], ["SOA", "NSEC"])
        # Without DO: a plain NXDOMAIN, no DNSSEC records.
        plain = dig(self.port, "nothere", "A", "+norec")
        self.assertIn("status: NXDOMAIN", plain)
        self.assertNotIn("NSEC", plain)
        self.assertNotIn("RRSIG", plain)

    def query_with_compact_ok(self, name):
        """(rcode, EDNS flags) of a DO+CO query (dig cannot set CO)."""
        wire = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
        query = (struct.pack(">HHHHHH", 0x4242, 0, 1, 0, 0, 1) + wire + struct.pack(">HH", 1, 1)
                 + b"\0" + struct.pack(">HHIH", 41, 1232, 0xC000, 0))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            s.sendto(query, ("127.0.0.1", self.port))
            reply = s.recv(4096)
        # The OPT is the last record: owner, type, class, TTL (its flags in
        # the low half), RDLENGTH 0.
        return reply[3] & 0xF, struct.unpack(">H", reply[-4:-2])[0]

    def test_compact_answers_ok_gets_nxdomain(self):
        rcode, edns_flags = self.query_with_compact_ok(f"nothere.{APEX}")
        self.assertEqual(rcode, 3)  # RFC 9824 §5.1
        self.assertEqual(edns_flags, 0xC000)  # DO and CO echoed
        rcode, _ = self.query_with_compact_ok(f"www.{APEX}")
        self.assertEqual(rcode, 0)

    def test_nodata_lists_the_types_of_the_name(self):
        out = dig(self.port, "www", "TXT", "+dnssec", "+norec")
        nsec = records(out, "NSEC")
        self.assertEqual(nsec[0][4:], [f"\\000.www.{APEX}.", "A", "AAAA", "RRSIG", "NSEC"])
        ent = records(dig(self.port, "b.ent", "A", "+dnssec", "+norec"), "NSEC")
        self.assertEqual(ent[0][5:], ["RRSIG", "NSEC"])
        # The policy answers A at pool.online.test: listed, though the file
        # has it too; and A at any name under *.wp.
        wp = records(dig(self.port, "x.wp", "TXT", "+dnssec", "+norec"), "NSEC")
        self.assertEqual(wp[0][0], f"x.wp.{APEX}.")
        self.assertEqual(wp[0][5:], ["A", "RRSIG", "NSEC"])
        apex = records(dig(self.port, APEX, "TXT", "+dnssec", "+norec"), "NSEC")
        self.assertEqual(apex[0][5:], ["NS", "SOA", "RRSIG", "NSEC", "DNSKEY", "CDS", "CDNSKEY"])

    def test_insecure_referral_has_its_nsec_in_the_parent(self):
        # far.online.test is delegated to a server elsewhere: a referral.
        out = dig(self.port, "www.far", "A", "+dnssec", "+norec")
        self.assertNotIn("aa", flags(out))
        nsec = records(out, "NSEC")
        # RFC 9824 §3.4: the next name stays in the parent.
        self.assertEqual(nsec[0][:1] + nsec[0][4:], [f"far.{APEX}.", f"far\\000.{APEX}.", "NS",
                                                     "RRSIG", "NSEC"])
        self.assertEqual([r[4] for r in records(out, "RRSIG")], ["NSEC"])
        self.assertEqual(records(out, "A")[0][4], "127.0.0.9")  # glue, unsigned
        secure = dig(self.port, "www.farsec", "A", "+dnssec", "+norec")
        self.assertEqual(len(records(secure, "DS")), 1, secure)
        self.assertEqual([r[4] for r in records(secure, "RRSIG")], ["DS"])

    def test_wildcard_answers_are_signed_as_the_name(self):
        # RFC 9824 §3.3: labels is the name's count, and no NSEC is needed.
        out = dig(self.port, "a.b.wild", "A", "+dnssec", "+norec")
        rrsig = records(out, "RRSIG")
        self.assertEqual(rrsig[0][:1] + rrsig[0][4:7], [f"a.b.wild.{APEX}.", "A",
                                                        self.NUMBER, "5"])
        self.assertEqual(records(out, "NSEC"), [])

    def test_keys_publish_dnskey_cds_and_cdnskey(self):
        dnskey = records(dig(self.port, APEX, "DNSKEY", "+dnssec", "+norec"), "DNSKEY")
        self.assertEqual(sorted(r[4] for r in dnskey), ["256", "257"])
        cds = records(dig(self.port, APEX, "CDS", "+norec"), "CDS")
        with open(os.path.join(self.keys, self.ksk + ".key")) as f:
            key_line = f.read().split(";")[0]
        # ldns-key2ds writes the DS of the KSK: the CDS must be the same.
        with open(os.path.join(self.tmp.name, "ksk.key"), "w") as f:
            f.write(key_line + "\n")
        run(["ldns-key2ds", "-n", "-2", os.path.join(self.tmp.name, "ksk.key")], self.tmp.name)
        ds = run(["ldns-key2ds", "-n", "-2", os.path.join(self.tmp.name, "ksk.key")],
                 self.tmp.name).split()
        self.assertEqual(len(cds), 1)
        self.assertEqual(cds[0][4:7], ds[4:7])
        self.assertEqual("".join(cds[0][7:]).lower(), "".join(ds[7:]).lower())
        cdnskey = records(dig(self.port, APEX, "CDNSKEY", "+norec"), "CDNSKEY")
        self.assertEqual([r[4] for r in cdnskey], ["257"])
        # The KSK signs the key RRsets, the ZSK everything else.
        ksk_tag = str(int(self.ksk.rsplit("+", 1)[1]))
        zsk_tag = str(int(self.zsk.rsplit("+", 1)[1]))
        key_sigs = records(dig(self.port, APEX, "DNSKEY", "+dnssec", "+norec"), "RRSIG")
        self.assertEqual([r[10] for r in key_sigs], [ksk_tag])
        soa_sigs = records(dig(self.port, APEX, "SOA", "+dnssec", "+norec"), "RRSIG")
        self.assertEqual([r[10] for r in soa_sigs], [zsk_tag])

    def test_signature_window_is_aligned_and_a_week_ahead(self):
        out = dig(self.port, "www", "A", "+dnssec", "+norec")
        again = dig(self.port, "www", "A", "+dnssec", "+norec")
        first, second = records(out, "RRSIG")[0], records(again, "RRSIG")[0]
        # Signed for the same window: the same inception and expiration.
        self.assertEqual(first[:12], second[:12])
        expiration = time.mktime(time.strptime(first[8], "%Y%m%d%H%M%S")) - time.timezone
        inception = time.mktime(time.strptime(first[9], "%Y%m%d%H%M%S")) - time.timezone
        self.assertGreaterEqual(expiration - time.time(), 7 * 86400)
        self.assertLess(inception, time.time())

    def test_rrsig_and_nsec_queries_are_refused(self):
        # Signatures and denials exist only inside answers (as in Knot's
        # mod-onlinesign); without DO the name simply has no such data.
        for qtype in ("RRSIG", "NSEC"):
            self.assertIn("status: REFUSED", dig(self.port, "www", qtype, "+dnssec", "+norec"))
            self.assertIn("status: NOERROR", dig(self.port, "www", qtype, "+norec"))

    def test_answers_without_do_are_unsigned(self):
        for name, qtype in (("www", "A"), ("pool", "A"), ("nothere", "A"), (APEX, "DNSKEY")):
            out = dig(self.port, name, qtype, "+norec")
            self.assertNotIn("RRSIG", out)

    def test_status_counts_signatures_and_cache_hits(self):
        for _ in range(3):
            dig(self.port, "txt", "TXT", "+dnssec", "+norec")
        status = subprocess.run([AGILITYCTL, "-c", self.config, "status"], capture_output=True,
                                text=True, timeout=30).stdout
        match = re.search(r"online signatures made (\d+), cache hits (\d+) misses (\d+) "
                          r"evictions (\d+), failures (\d+)", status)
        self.assertIsNotNone(match, status)
        made, hits, misses, _, failures = map(int, match.groups())
        self.assertGreater(made, 0)
        self.assertGreater(hits, 0)
        self.assertEqual(made, misses)
        self.assertEqual(failures, 0)

    def check(self, keys_dir, zone=None, apex=APEX):
        """agilityd --check of `apex`'s zone signed with the keys in `keys_dir`."""
        config = os.path.join(self.tmp.name, "check.yaml")
        with open(config, "w") as f:
            f.write(f'sk_lookup: {{enabled: false}}\nzones: ["{zone or self.zone}"]\n'
                    f'dnssec:\n  {apex}: {{keys: "{keys_dir}"}}\n')
        return config, subprocess.run([AGILITYD, "--check", "-c", config], capture_output=True,
                                      text=True, timeout=60)

    def copy_keys(self, name):
        directory = os.path.join(self.tmp.name, name)
        shutil.rmtree(directory, ignore_errors=True)
        shutil.copytree(self.keys, directory)
        return directory

    def test_bad_key_files_are_errors_with_file_and_line(self):
        broken = self.copy_keys("broken-keys")
        private = os.path.join(broken, self.zsk + ".private")
        with open(private) as f:
            text = f.read()
        with open(private, "w") as f:
            f.write(re.sub(r"PrivateKey: .*", "PrivateKey: not-base64!", text))
        line = text.splitlines().index(next(l for l in text.splitlines()
                                            if l.startswith("PrivateKey"))) + 1
        config, out = self.check(broken)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(f"{private}:{line}: PrivateKey must be 32 octets of base64", out.stderr)
        self.assertIn(f"({config}:4: dnssec.{APEX}.)", out.stderr)
        self.assertNotIn(text.split("PrivateKey: ")[1].split()[0], out.stderr)
        # The other KSK's private key: it signs, but not for this DNSKEY.
        mismatched = self.copy_keys("mismatched-keys")
        other = keygen(self.tmp.name, APEX, self.ALGORITHM, False)
        shutil.copy(os.path.join(self.tmp.name, other + ".private"),
                    os.path.join(mismatched, self.zsk + ".private"))
        _, out = self.check(mismatched)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("the private key does not match the public key", out.stderr)
        # No private key at all: nothing could sign.
        public_only = self.copy_keys("public-only")
        for name in os.listdir(public_only):
            if name.endswith(".private"):
                os.unlink(os.path.join(public_only, name))
        _, out = self.check(public_only)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("no key has its .private file", out.stderr)
        # Keys of other zones in the same directory are left alone; a file
        # named for this zone that holds another's key is an error.
        stray = self.copy_keys("stray-keys")
        other = keygen(stray, "other.test", self.ALGORITHM, False)
        _, out = self.check(stray)
        self.assertEqual(out.returncode, 0, out.stderr)
        misnamed = os.path.join(stray, f"K{APEX}.+0{self.NUMBER}+00001.key")
        os.rename(os.path.join(stray, other + ".key"), misnamed)
        _, out = self.check(stray)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(f"{misnamed}:1: the key is for 'other.test.'", out.stderr)

    def test_bind_style_key_files_are_read(self):
        # dnssec-keygen's .key: comment lines, a TTL, base64 in chunks.
        bind = self.copy_keys("bind-keys")
        path = os.path.join(bind, self.zsk + ".key")
        with open(path) as f:
            fields = f.read().split(";")[0].split()
        key = fields[-1]
        with open(path, "w") as f:
            f.write(f"; This is a zone-signing key, keyid {int(self.zsk.rsplit('+', 1)[1])}, "
                    f"for {APEX}.\n; Created: 20261127000000 (Fri Nov 27 00:00:00 2026)\n"
                    f"{APEX}. 3600 IN DNSKEY 256 3 {self.NUMBER} {key[:40]} {key[40:]}\n")
        _, out = self.check(bind)
        self.assertEqual(out.returncode, 0, out.stderr)

    def test_presigned_zone_needs_its_keys_in_its_dnskey_rrset(self):
        _, out = self.check(self.keys, self.presigned, PRESIGNED)
        self.assertEqual(out.returncode, 1, out.stderr)
        # The keys are online.test's: none for presigned.test.
        self.assertIn(f"no K{PRESIGNED}.+*.key files", out.stderr)
        foreign = os.path.join(self.tmp.name, "foreign-keys")
        shutil.rmtree(foreign, ignore_errors=True)
        os.makedirs(foreign)
        keygen(foreign, PRESIGNED, "ECDSAP256SHA256", False)
        _, out = self.check(foreign, self.presigned, PRESIGNED)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn("whose DNSKEY RRset", out.stderr)
        self.assertIn("lacks it", out.stderr)

    def test_policy_in_signed_zone_without_keys_says_what_to_add(self):
        config = os.path.join(self.tmp.name, "nokeys.yaml")
        with open(config, "w") as f:
            f.write(f'sk_lookup: {{enabled: false}}\nzones: ["{self.presigned}"]\n'
                    'pools: {edge: 127.77.0.0/20}\n'
                    f'policies:\n  - {{name: edge, match: [pool.{PRESIGNED}], ipv4: edge}}\n')
        out = subprocess.run([AGILITYD, "--check", "-c", config], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 1, out.stderr)
        self.assertIn(f"{config}:5: policy 'edge'", out.stderr)
        self.assertIn(f"dnssec: {{{PRESIGNED}.: {{keys: DIRECTORY}}}}", out.stderr)


class Ed25519OnlineSigningTest(OnlineSigningTest):
    """The same with Ed25519 keys (RFC 8080)."""
    ALGORITHM = "ED25519"
    NUMBER = "15"


class KeyReloadTest(unittest.TestCase):
    """A key added to the directory is published and signs after a reload."""

    def test_reload_picks_up_a_new_key(self):
        with tempfile.TemporaryDirectory(prefix="agility-keys-") as d:
            keys = os.path.join(d, "keys")
            os.makedirs(keys)
            keygen(keys, APEX, "ECDSAP256SHA256", True)
            zone = os.path.join(d, f"{APEX}.zone")
            with open(zone, "w") as f:
                f.write(ZONE)
            port = servers.free_port()
            config = os.path.join(d, "agility.yaml")
            with open(config, "w") as f:
                f.write(f'server: {{listen: ["127.0.0.1:{port}"], workers: 1, '
                        f'control: "{d}/control.sock", state_dir: "{d}/state"}}\n'
                        f'sk_lookup: {{enabled: false}}\nzones: ["{zone}"]\n'
                        f'dnssec:\n  {APEX}: {{keys: {keys}}}\n')
            with open(os.path.join(d, "log"), "w") as log:
                agilityd = subprocess.Popen([AGILITYD, "-c", config], stdout=log, stderr=log)
                try:
                    deadline = time.monotonic() + 60
                    while not os.path.exists(os.path.join(d, "control.sock")):
                        self.assertLess(time.monotonic(), deadline)
                        time.sleep(0.05)
                    before = records(dig(port, APEX, "DNSKEY", "+norec"), "DNSKEY")
                    self.assertEqual(len(before), 1)
                    zsk = keygen(keys, APEX, "ECDSAP256SHA256", False)
                    subprocess.run([AGILITYCTL, "-c", config, "reload"], check=True,
                                   capture_output=True, timeout=30)
                    after = records(dig(port, APEX, "DNSKEY", "+norec"), "DNSKEY")
                    self.assertEqual(len(after), 2)
                    # The new ZSK now signs the zone's other RRsets.
                    sigs = records(dig(port, "www", "A", "+dnssec", "+norec"), "RRSIG")
                    self.assertEqual([r[10] for r in sigs], [str(int(zsk.rsplit("+", 1)[1]))])
                finally:
                    agilityd.terminate()
                    agilityd.wait(timeout=20)


if __name__ == "__main__":
    unittest.main(verbosity=2)
