#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz harnesses (issue 6).

    tests/fuzz/make_corpus.py [OUT_DIR]     (default: tests/fuzz/corpus)

corpus/responder/  DNS queries in wire form (no TCP length prefix): names of
                   the harness's zone, every interesting type, with and without
                   EDNS (sizes, versions, options), odd classes and opcodes, and
                   malformed headers and questions.
corpus/zone/       zones/*.zone, the harness zones, and variants: directives,
                   parentheses, generic records, many types, a policy zone, and
                   broken ones.
corpus/zone_syntax/ each line of tests/data/zone_syntax/cases.txt in a zone,
                   and the zone variants without $INCLUDE.
corpus/config/     config/*.yaml and variants of every section, plus broken ones.
corpus/transfer/   a mode octet (bit 0: IXFR from serial 1; bit 1: TSIG), then
                   a TCP stream of transfer responses: AXFRs in one message and
                   several, IXFRs of one and two steps, up-to-date answers,
                   IXFRs answered whole, compressed names, and broken ones.

The output is deterministic: same files, same names, same bytes on every run,
and files no longer generated are removed.
"""
import base64
import hmac
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# --------------------------------------------------------------------------
# Queries

T = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "HINFO": 13, "MX": 15, "TXT": 16,
     "AAAA": 28, "SRV": 33, "NAPTR": 35, "DNAME": 39, "OPT": 41, "DS": 43, "RRSIG": 46,
     "NSEC": 47, "DNSKEY": 48, "SVCB": 64, "HTTPS": 65, "TKEY": 249, "TSIG": 250, "IXFR": 251, "AXFR": 252,
     "MAILB": 253, "MAILA": 254, "ANY": 255, "CAA": 257, "TYPE65280": 65280}


def wire_name(name):
    if name in ("", "."):
        return b"\x00"
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode()
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def opt_record(size=1232, version=0, do=False, co=False, options=b"", rcode_hi=0,
               owner=b"\x00"):
    ttl = (rcode_hi << 24) | (version << 16) | (0x8000 if do else 0) | (0x4000 if co else 0)
    return owner + struct.pack("!HHIH", 41, size, ttl, len(options)) + options


def query(name, qtype, qid=0x1234, flags=0x0100, qclass=1, qd=1, an=0, ns=0, extra=(),
          raw_name=None, edns=None, tail=b""):
    """edns: None, or a dict of opt_record() arguments."""
    records = list(extra)
    if edns is not None:
        records.append(opt_record(**edns))
    header = struct.pack("!HHHHHH", qid, flags, qd, an, ns, len(records))
    question = (raw_name if raw_name is not None else wire_name(name)) + struct.pack(
        "!HH", qtype, qclass)
    return header + question + b"".join(records) + tail


def responder_corpus():
    out = {}
    zone = "example.com."
    names = ["", "plain", "alias", "chain1", "loop1", "outside", "dangling", "a.b.c", "b.c",
             "x.wild", "y.z.wild", "wild", "sub", "x.sub", "ns.sub", "_sip._udp", "cdn",
             "www.cdn", "special.cdn", "x.deep.cdn", "y.x.deep.cdn", "txt.cdn", "cname.cdn",
             "a.w.cdn", "to-cdn", "to-sub", "host.v4", "c1", "ptr", "hinfo", "many", "big",
             "mail", "ns1", "nothere", "txtonly"]
    types = ["A", "AAAA", "ANY", "MX", "NS", "SOA", "CNAME", "TXT", "SRV", "DS", "PTR", "HINFO"]
    qid = 1
    for n in names:
        fqdn = (n + "." + zone) if n else zone
        label = n.replace(".", "_") or "apex"
        for t in types:
            qid += 1
            variant = qid % 4
            edns = None
            if variant == 1:
                edns = {"size": 1232}
            elif variant == 2:
                edns = {"size": 4096, "do": True}
            elif variant == 3:
                edns = {"size": 512}
            out[f"q_{label}_{t}_{variant}"] = query(fqdn, T[t], qid=qid, edns=edns)
    # The harness's signed zones, with DO: RRSIGs, NSEC and NSEC3 proofs.
    for zone in ("signed.example.", "nsec3.example."):
        for n in ["", "ns", "alias", "x.w", "w", "nothere", "a.nothere", "x.sub", "sub", "y",
                  "x.y", "a.dn"]:
            fqdn = (n + "." + zone) if n else zone
            for t in ["A", "TXT", "DS", "NS", "RRSIG", "NSEC", "DNSKEY", "ANY"]:
                qid += 1
                key = f"dnssec_{zone.split('.')[0]}_{n.replace('.', '_') or 'apex'}_{t}"
                out[key] = query(fqdn, T[t], qid=qid, edns={"size": 1232, "do": True})
    # The zone signed online: compact denials (CO set or not), wildcards, a
    # delegation and its DS, pool answers, the keys' RRsets.
    for n in ["", "www", "up", "x.w", "w", "nothere", "a.nothere", "x.pool", "b.ent", "x.sub",
              "sub"]:
        fqdn = (n + ".online.example.") if n else "online.example."
        for t in ["A", "AAAA", "TXT", "DS", "DNSKEY", "CDS", "CDNSKEY", "ANY"]:
            qid += 1
            key = f"online_{n.replace('.', '_') or 'apex'}_{t}"
            out[key] = query(fqdn, T.get(t, 59 if t == "CDS" else 60), qid=qid,
                             edns={"size": 1232, "do": True, "co": qid % 2 == 0})
    out["online_nxname"] = query("www.online.example.", 128, edns={"size": 1232, "do": True})
    # Who answers: CH TXT (RFC 4892) and NSID (RFC 5001).
    for name in ("id.server.", "hostname.bind.", "version.bind.", "version.server.",
                 "other.bind."):
        out["chaos_" + name.replace(".", "_")] = query(name, T["TXT"], qclass=3)
    out["chaos_id_server_any_edns"] = query("id.server.", T["ANY"], qclass=3,
                                            edns={"size": 1232})
    out["edns_nsid_only"] = query("www.cdn.example.com.", 1,
                                  edns={"size": 512, "options": struct.pack("!HH", 3, 0)})
    # Case, sizes, EDNS versions and options.
    out["case_mixed"] = query("WwW.CdN.ExAmPlE.CoM.", 1, edns={"size": 1232})
    # IXFR carries the client's SOA in the authority section (RFC 1995 §3);
    # compressed against the question, missing, or malformed.
    client_soa = (b"\xc0\x0c" + struct.pack("!HHIH", 6, 1, 300, 2 + 2 + 20) + b"\x01a\xc0\x0c" +
                  b"\x01b\x00" + struct.pack("!IIIII", 1, 3600, 600, 86400, 60))
    out["ixfr_with_soa"] = query("example.com.", T["IXFR"], ns=1, extra=[client_soa])
    out["ixfr_without_soa"] = query("example.com.", T["IXFR"])
    out["ixfr_short_soa"] = query("example.com.", T["IXFR"], ns=1,
                                  extra=[client_soa[:12] + client_soa[12:-4]])
    out["a_with_authority"] = query("example.com.", 1, ns=1, extra=[client_soa])
    out["big_txt_udp512"] = query("big.example.com.", 16)
    out["big_txt_edns1232"] = query("big.example.com.", 16, edns={"size": 1232})
    out["big_txt_edns4096"] = query("big.example.com.", 16, edns={"size": 4096})
    out["big_txt_edns65535"] = query("big.example.com.", 16, edns={"size": 65535})
    out["big_any_edns0"] = query("big.example.com.", 255, edns={"size": 0})
    out["edns_version1"] = query("plain.example.com.", 1, edns={"size": 1232, "version": 1})
    out["edns_version255"] = query("plain.example.com.", 1, edns={"size": 1232, "version": 255})
    out["edns_rcode_hi"] = query("plain.example.com.", 1, edns={"size": 1232, "rcode_hi": 1})
    cookie = struct.pack("!HH", 10, 8) + b"\x01\x02\x03\x04\x05\x06\x07\x08"
    ecs = struct.pack("!HHHBB", 8, 7, 1, 24, 0) + b"\xc0\x00\x02"
    nsid = struct.pack("!HH", 3, 0)
    out["edns_cookie"] = query("www.cdn.example.com.", 1, edns={"size": 1232, "options": cookie})
    # DNS cookies (RFC 7873): with a server cookie; malformed; twice; and a
    # QUERY with no question asking for a cookie alone (§5.4).
    with_server = struct.pack("!HH", 10, 24) + bytes(range(8)) + bytes.fromhex(
        "010000005cf79f111f8130c3eee29480")
    out["edns_cookie_server"] = query("plain.example.com.", 1,
                                      edns={"size": 1232, "options": with_server})
    out["edns_cookie_short"] = query("plain.example.com.", 1,
                                     edns={"size": 1232, "options": struct.pack("!HH", 10, 5) +
                                           bytes(5)})
    out["edns_cookie_twice"] = query("plain.example.com.", 1,
                                     edns={"size": 1232, "options": cookie + cookie})
    out["edns_cookie_no_question"] = (struct.pack("!HHHHHH", 0x4321, 0, 0, 0, 0, 1) +
                                      opt_record(1232, options=cookie))
    out["edns_ecs_nsid"] = query("www.cdn.example.com.", 28,
                                 edns={"size": 1232, "options": ecs + nsid})
    out["edns_two_opt"] = query("plain.example.com.", 1, edns={"size": 1232},
                                extra=[opt_record(4096)])
    out["edns_opt_nonroot"] = query("plain.example.com.", 1,
                                    extra=[opt_record(1232, owner=wire_name("x."))])
    out["edns_opt_pointer_owner"] = query("plain.example.com.", 1,
                                          extra=[opt_record(1232, owner=b"\xc0\x0c")])
    tsig_like = wire_name("key.") + struct.pack("!HHIH", 250, 255, 0, 4) + b"\x00\x00\x00\x00"
    out["additional_tsig_then_opt"] = query("plain.example.com.", 1, extra=[tsig_like],
                                            edns={"size": 1232})
    # Signed queries (RFC 8945 §4.2): hmac-sha256, a 32-byte MAC, TSIG last.
    def tsig(owner, mac=32, other=b""):
        rdata = (wire_name("hmac-sha256.") + struct.pack("!HIH", 0, 0x6a000001, 300)
                 + struct.pack("!H", mac) + b"\xab" * mac
                 + struct.pack("!HHH", 0x1234, 0, len(other)) + other)
        return owner + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata
    signed = tsig(wire_name("transfer.key."))
    out["tsig_signed"] = query("plain.example.com.", 1, extra=[signed])
    out["tsig_signed_edns"] = query("plain.example.com.", 1, extra=[opt_record(), signed])
    out["tsig_signed_notify"] = query("example.com.", 6, flags=4 << 11, extra=[signed])
    out["tsig_compressed_key_no_mac"] = query("plain.example.com.", 1,
                                              extra=[tsig(b"\x01k\xc0\x12", mac=0)])
    out["tsig_other_data"] = query("plain.example.com.", 1,
                                   extra=[tsig(wire_name("k."), other=b"\0\0\0\0\0\1")])
    # Signed with the harness's keys (dns_check.cc FuzzKeyring): right MACs,
    # at a fixed time long past, so BADTIME, signed; and wrong ones.
    def keyed(owner, algorithm, secret, digest, message, flip=False):
        signed_at = 0x6a000001
        variables = (wire_name(owner) + struct.pack("!HI", 255, 0) + wire_name(algorithm)
                     + struct.pack("!HIH", 0, signed_at, 300) + struct.pack("!HH", 0, 0))
        mac = bytearray(hmac.new(base64.b64decode(secret), message + variables, digest).digest())
        if flip:
            mac[0] ^= 1
        rdata = (wire_name(algorithm) + struct.pack("!HIH", 0, signed_at, 300)
                 + struct.pack("!H", len(mac)) + bytes(mac)
                 + struct.pack("!HHH", struct.unpack("!H", message[:2])[0], 0, 0))
        record = wire_name(owner) + struct.pack("!HHIH", 250, 255, 0, len(rdata)) + rdata
        signed = bytearray(message + record)
        signed[10:12] = struct.pack("!H", struct.unpack("!H", message[10:12])[0] + 1)
        return bytes(signed)
    sha256 = ("fuzz-key.", "hmac-sha256.", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
              "sha256")
    sha1 = ("sha1.", "hmac-sha1.", "c2VjcmV0c2VjcmV0c2VjcmV0", "sha1")
    out["tsig_keyed_badtime"] = keyed(*sha256, query("plain.example.com.", 1))
    out["tsig_keyed_badtime_edns"] = keyed(*sha256, query("www.cdn.example.com.", 1,
                                                          edns={"size": 1232, "do": True}))
    out["tsig_keyed_sha1_badtime"] = keyed(*sha1, query("example.com.", 6))
    out["tsig_keyed_badsig"] = keyed(*sha256, query("plain.example.com.", 1), flip=True)
    out["additional_truncated"] = query("plain.example.com.", 1, edns={"size": 1232})[:-3]
    # Classes, opcodes, flags, transfers, meta types.
    out["class_ch"] = query("version.bind.", 16, qclass=3)
    out["class_any"] = query("plain.example.com.", 1, qclass=255)
    out["class_none"] = query("plain.example.com.", 1, qclass=254)
    for opcode in (1, 2, 4, 5, 15):
        out[f"opcode_{opcode}"] = query("plain.example.com.", 1, flags=opcode << 11)
    out["notify_edns_do"] = query("example.com.", 6, flags=4 << 11, edns={"do": True})
    # An UPDATE: one prerequisite (answer) and one update (authority) before its OPT.
    delete_a = b"\xc0\x0c" + struct.pack("!HHIH", 1, 255, 0, 0)
    update = bytearray(query("example.com.", 6, flags=5 << 11, an=1, ns=1))
    update[11] = 1  # ARCOUNT: the OPT after the two records
    out["update_with_records_edns"] = bytes(update) + delete_a * 2 + opt_record()
    out["flags_cd_ad_z"] = query("plain.example.com.", 1, flags=0x0100 | 0x0010 | 0x0020 | 0x0040)
    out["flags_no_rd"] = query("plain.example.com.", 1, flags=0)
    out["flags_tc_aa_ra"] = query("plain.example.com.", 1, flags=0x0200 | 0x0400 | 0x0080)
    out["qr_set"] = query("plain.example.com.", 1, flags=0x8100)
    for t in ("AXFR", "IXFR", "MAILA", "MAILB", "OPT", "TSIG", "TKEY", "RRSIG", "DNSKEY",
              "HTTPS", "SVCB", "CAA", "NAPTR", "DNAME", "TYPE65280"):
        out[f"type_{t}"] = query("plain.example.com.", T[t])
    out["type_0"] = query("plain.example.com.", 0)
    # Names: outside every zone, root, long, odd bytes.
    out["outside_zone"] = query("www.example.net.", 1)
    out["root_ns"] = query(".", 2)
    out["tld_com"] = query("com.", 6)
    long_name = ".".join(["a" * 63] * 3 + ["b" * 49]) + ".example.com."
    assert len(wire_name(long_name)) == 255
    out["name_255"] = query(long_name, 1)
    out["label_63"] = query(("x" * 63) + ".cdn.example.com.", 1)
    out["label_64"] = query("", 1, raw_name=b"\x40" + b"x" * 64 + wire_name("example.com."))
    out["name_too_long"] = query("", 1, raw_name=(b"\x3f" + b"a" * 63) * 4 + b"\x00")
    out["name_binary"] = query("", 1, raw_name=b"\x03\x00.\xff\x04cdn\x07example\x03com\x00")
    out["name_wildcard_literal"] = query("*.wild.example.com.", 1)
    out["name_deep_labels"] = query("", 1, raw_name=b"\x01a" * 100 + wire_name("example.com."))
    # Malformed headers and questions.
    out["compressed_question"] = query("", 1, raw_name=b"\xc0\x0c")
    out["pointer_in_question"] = query("", 1, raw_name=b"\x03www\xc0\x12")
    out["reserved_label_type"] = query("", 1, raw_name=b"\x41abc\x00")
    out["qdcount_0"] = query("plain.example.com.", 1, qd=0)
    out["qdcount_2"] = query("plain.example.com.", 1, qd=2) + wire_name("mail.example.com.") + \
        struct.pack("!HH", 1, 1)
    out["ancount_1"] = query("plain.example.com.", 1, an=1)
    out["nscount_1"] = query("plain.example.com.", 1, ns=1)
    out["arcount_lies"] = struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 5) + \
        wire_name("plain.example.com.") + struct.pack("!HH", 1, 1)
    full = query("plain.example.com.", 1)
    out["question_cut_type"] = full[:-3]
    out["question_cut_name"] = full[:20]
    out["header_only"] = full[:12]
    out["short_11"] = full[:11]
    out["trailing_garbage"] = full + b"\xde\xad\xbe\xef"
    return out


# --------------------------------------------------------------------------
# Zones

# The responder's zone and policies, as tests/unit/responder_fixture.h holds
# them: its two raw strings, in order.
RESPONDER_ZONE, RESPONDER_POLICIES = (
    text.split(')";')[0] for text in
    open(os.path.join(HERE, "..", "unit", "responder_fixture.h")).read().split('R"(')[1:3])

ZONE_HEAD = """$ORIGIN example.com.
$TTL 3600
@ SOA ns1 hostmaster 1 7200 3600 1209600 300
@ NS ns1
ns1 A 192.0.2.1
"""

ZONE_VARIANTS = {
    "parens_comments": """$TTL 1h
example.com. IN SOA ( ns1.example.com. ; primary
    hostmaster.example.com. ; contact
    2024010101 2h 1h 2w 5m )
  IN NS ns1 ; apex NS
ns1 IN A 192.0.2.1 ; glue-ish
www 300 IN A 192.0.2.2
    IN AAAA 2001:db8::2
""",
    "origin_changes": ZONE_HEAD + """$ORIGIN sub2.example.com.
a A 192.0.2.10
$ORIGIN example.com.
b A 192.0.2.11
@ MX 10 a.sub2
""",
    "include_relative": ZONE_HEAD + "$INCLUDE a.inc\n$INCLUDE a.inc other.example.com.\n",
    "include_loop": ZONE_HEAD + "$INCLUDE loop.inc\n",
    "include_missing": ZONE_HEAD + "$INCLUDE does-not-exist.inc\n",
    "many_types": ZONE_HEAD + r"""txt TXT "one" "two" "with \"quotes\" and \; semicolon" "\065\066"
txt2 TXT a b c
hinfo HINFO "x86" "Linux"
srv._tcp SRV 10 20 443 ns1
naptr NAPTR 100 10 "u" "E2U+sip" "!^.*$!sip:info@example.com!" .
caa CAA 0 issue "letsencrypt.org"
sshfp SSHFP 1 1 123456789abcdef67890123456789abcdef67890
tlsa._443._tcp TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
loc LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m
rp RP hostmaster.example.com. txt.example.com.
dname DNAME example.net.
ptr PTR www.example.net.
@ DNSKEY 257 3 8 AwEAAagAIKlVZrpC6Ia7gEzahOR+9W29euxhJhVVLOyQbSEW0O8gcCjFFVQUTf6v58fLjwBd0YI0EzrAcQqBGCzh/RStIoO8g0NfnfL2MTJRkxoXbfDaUeVPQuYEhg37NZWAJQ9VnMVDxP/VHL496M/QZxkjf5/Efucp2gaDX6RS6CXpoY68LsvPVjR0ZSwzz1apAzvN9dlzEheX7ICJBBtuA6G3LQpzW5hOA2hzCTMjJPJ8LbqF6dsV6DoBQzgul0sGIcGOYl7OyQdXfZ57relSQageu+ipAdTTJ25AsRTAoub8ONGcLmqrAmRLKBP1dfwhYB4N7knNnulqQxA+Uk1ihz0=
@ RRSIG SOA 8 2 3600 20300101000000 20200101000000 12345 example.com. AwEAAagAIKlVZrpC6Ia7gEzahOR+9W29euxhJhVVLOyQbSEW0O8g
@ NSEC www.example.com. A NS SOA MX RRSIG NSEC DNSKEY
https HTTPS 1 . alpn=h2,h3 port=443 ipv4hint=192.0.2.1
svcb SVCB 0 www.example.com.
ds DS 12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE5B4A0C8A2B9C5E2D1F0A3B4C
""",
    "generic_rfc3597": ZONE_HEAD + r"""gen TYPE65280 \# 4 deadbeef
gen2 TYPE65281 \# 0
ga TYPE1 \# 4 c0000201
gtxt TYPE16 \# 6 05776f726c64
""",
    "wildcards_delegations": ZONE_HEAD + """* A 192.0.2.50
*.sub MX 10 mail
mail A 192.0.2.25
deleg NS ns.deleg
deleg NS ns.other.net.
ns.deleg A 192.0.2.53
ns.deleg AAAA 2001:db8::53
deep.below.deleg A 192.0.2.54
x.*.weird A 192.0.2.55
""",
    "cnames": ZONE_HEAD + """a CNAME b
b CNAME c
c CNAME a
d CNAME e.example.net.
e CNAME ns1
f CNAME deleg
deleg NS ns1
""",
    "ttls_classes": ZONE_HEAD + """t1 0 A 192.0.2.1
t2 2147483647 A 192.0.2.2
t3 1w2d3h4m5s A 192.0.2.3
t4 IN 60 A 192.0.2.4
t5 60 IN AAAA ::ffff:192.0.2.5
$TTL 0
t6 A 192.0.2.6
""",
    "escapes_names": ZONE_HEAD + r"""a\.b A 192.0.2.1
\065\066 A 192.0.2.2
x\ y TXT "space in owner"
UPPER A 192.0.2.3
""",
    "broken_no_soa": "$ORIGIN example.com.\n@ NS ns1\nns1 A 192.0.2.1\n",
    "broken_no_ns": "$ORIGIN example.com.\n@ SOA ns1 hostmaster 1 2 3 4 5\n",
    "broken_cname_and_data": ZONE_HEAD + "x CNAME ns1\nx A 192.0.2.1\n",
    "broken_outside_apex": ZONE_HEAD + "www.example.net. A 192.0.2.1\n",
    "broken_bad_rdata": ZONE_HEAD + "x A 300.1.2.3\ny AAAA zz::1\nz MX mail\n",
    "broken_unbalanced": ZONE_HEAD + "x TXT ( \"open\"\n",
    "broken_quote": ZONE_HEAD + "x TXT \"never closed\n",
    "broken_directive": ZONE_HEAD + "$BOGUS 1\n$TTL abc\n$ORIGIN notabsolute\n",
    "broken_two_soa": ZONE_HEAD + "@ SOA ns2 hm 2 2 3 4 5\n",
    "empty": "",
    # A policy zone (config/policy_zone.h), layout 1, at the harness's origin.
    "policy_zone": """$TTL 60
@ SOA @ hostmaster 1 60 10 1209600 60
@ NS @
version TXT "1"
0.pools TXT "name=web4"
127-77-0-0-24.0.pools APL 1:127.77.0.0/24
127-77-0-0-24.0.pools TXT "weight=3"
127-77-1-0-24.0.pools APL 1:127.77.1.0/24
1.pools TXT "name=web6"
x.1.pools APL 2:fd00:77::/44
0.policies TXT "name=web" "match=*.example.com" "match=www.example.com" "ipv4=web4" "ipv6=web6" "ttl=30"
1.policies TXT "name=edge" "match=edge.example.net" "ipv4=web4" "service=edge" "ports=443" "protocols=tcp"
1.1.policies TXT "match=more.example.net" "ports=8443"
""",
}


def zone_corpus():
    out = {}
    for name in sorted(os.listdir(os.path.join(ROOT, "zones"))):
        if name.endswith(".zone"):
            out["shipped_" + name.replace(".zone", "")] = open(
                os.path.join(ROOT, "zones", name), "rb").read()
    big = "".join('big TXT "%s%d"\n' % (chr(ord("a") + i % 26) * 90, i) for i in range(40))
    out["responder_zone"] = (RESPONDER_ZONE + big).encode()
    for name, text in ZONE_VARIANTS.items():
        out[name] = text.encode()
    return out


def zone_syntax_corpus():
    """Each line of tests/data/zone_syntax/cases.txt after a zone head, and
    the zone corpus's smaller files."""
    head = "$TTL 300\n@ SOA ns hostmaster 1 3600 900 604800 300\n@ NS ns\nns A 192.0.2.1\n"
    out = {}
    with open(os.path.join(ROOT, "tests", "data", "zone_syntax", "cases.txt")) as f:
        for number, line in enumerate(f, 1):
            if line.strip() and not line.startswith("#"):
                out["case_%04d" % number] = (head + line).encode()
    for name, text in ZONE_VARIANTS.items():
        if "$INCLUDE" not in text.upper():
            out[name] = text.encode()
    return out


# --------------------------------------------------------------------------
# Configurations

CONFIG_VARIANTS = {
    "responder_harness": "\nzones: [fuzz.zone]\n" + RESPONDER_POLICIES,
    "full_schema": """server:
  listen: ["127.0.0.1:5353", "[::1]:5353"]
  workers: 2
  control: run/control.sock
  tcp_idle_timeout_ms: 10000
  max_udp_size: 1232
  udp_batch_wait_us: 50
  metrics: 127.0.0.1:9153
zones:
  - ../zones/example.com.zone
  - zones.d
pools:
  edge4: 127.77.0.0/20
  edge6: "fd00:77::/44"
  one: 127.77.0.200
  one6: "fd00::1"
policies:
  - name: proxied
    match: ["example.com", "*.example.com"]
    ipv4: edge4
    ipv6: edge6
    ttl: 300
    service: edge
    ports: [80, 443, 8080]
    protocols: [tcp, udp]
  - name: single
    match: "one.example.org"
    ipv4: one
    ipv6: one6
    service: special
    ports: [0]
sk_lookup:
  enabled: true
  required: false
  pin: /sys/fs/bpf/agility
services:
  edge: {}
  special: {}
bindings:
  - {label: special, protocol: tcp, prefix: 127.77.0.200/32, port: 443}
  - {label: dns, protocol: udp, prefix: 127.77.0.0/20, port: 5353}
  - {label: edge, protocol: tcp, prefix: "fd00:77::/48", port: 0}
""",
    "minimal": "zones: [a.zone]\n",
    "flow_style": "{zones: [a.zone], pools: {p: 10.0.0.0/8}, policies: [{name: x, match: '*.a', ipv4: p}]}\n",
    "anchors": """pools: &p
  v4: 127.0.0.0/8
zones: [a.zone]
policies:
  - &pol {name: a, match: ["*.a.example"], ipv4: v4}
""",
    "ipv6_only_wide": """zones: [a.zone]
pools: {v6: "::/0", v6b: "2001:db8::/127"}
policies:
  - {name: a, match: ["*.example.com"], ipv6: v6}
  - {name: b, match: ["x.example.com"], ipv6: v6b, ttl: 0}
""",
    "ipv4_wide": """zones: [a.zone]
pools: {all: 0.0.0.0/0, host: 255.255.255.255/32}
policies:
  - {name: a, match: ["*.org"], ipv4: all}
  - {name: b, match: ["*.b.example"], ipv4: host, ttl: 2147483647}
""",
    "broken_unknown_key": "zones: [a.zone]\nbogus: 1\nserver: {listen: [], workers: 0}\n",
    "broken_pools": """zones: [a.zone]
pools:
  a: 10.0.0.1/8
  b: 10.0.0.0/33
  c: "fd00::/129"
  d: nonsense
  e: [1, 2]
""",
    "broken_policies": """zones: [a.zone]
pools: {a: 10.0.0.0/8, b: "fd00::/8"}
policies:
  - {name: x, match: ["*.a"], ipv4: b}
  - {name: x, match: ["*.a"], ipv6: a}
  - {match: [], ipv4: missing}
  - {name: y, match: ["bad..name"], ports: [70000], protocols: [sctp]}
""",
    "broken_bindings": """zones: [a.zone]
services: {s: {}, "": {}, verylonglabelthatisdefinitelymorethan31chars: {}}
bindings:
  - {label: s, protocol: tcp, prefix: 10.0.0.0/8, port: 80}
  - {label: other, protocol: tcp, prefix: 10.0.0.0/8, port: 80}
  - {label: s, protocol: icmp, prefix: 10.0.0.0/8, port: -1}
  - {label: s}
""",
    "broken_conflict": """zones: [a.zone]
pools: {a: 10.0.0.0/24}
services: {s: {}, t: {}}
policies:
  - {name: x, match: ["*.a"], ipv4: a, service: s, ports: [80]}
bindings:
  - {label: t, protocol: tcp, prefix: 10.0.0.0/24, port: 80}
""",
    "broken_sk_lookup": "zones: [a.zone]\nsk_lookup: {enabled: false, required: true, pin: ''}\n",
    "broken_server": """zones: [a.zone]
server:
  listen: ["nonsense", "127.0.0.1:99999", "[::1]"]
  workers: 1000
  tcp_idle_timeout_ms: 1
  max_udp_size: 100
  metrics: "::1"
""",
    "broken_yaml_syntax": "zones: [a.zone\npools: {a: }\n  - x\n",
    "broken_tabs": "zones:\n\t- a.zone\n",
    "not_a_map": "- a\n- b\n",
    "scalar": "hello\n",
    "empty": "",
    "weighted_pools": """server: {state_dir: state}
zones: [example.com.zone]
pools:
  edge4: 127.77.0.0/20
  split4:
    - {prefix: 127.78.0.0/24, weight: 3}
    - {prefix: 127.78.1.0/24, weight: 1}
    - {prefix: 127.78.2.0/26, weight: 0}
  split6:
    - {prefix: "fd00:78::/48", weight: 1000000}
    - prefix: "fd00:79::/128"
policies:
  - {name: p, match: ["*.example.com"], ipv4: split4, ipv6: split6, service: edge}
sk_lookup: {drain_grace_s: 0}
services: {edge: {}}
""",
}


def config_corpus():
    out = {}
    for name in sorted(os.listdir(os.path.join(ROOT, "config"))):
        if name.endswith(".yaml"):
            out["shipped_" + name.replace(".yaml", "")] = open(
                os.path.join(ROOT, "config", name), "rb").read()
    for name, text in CONFIG_VARIANTS.items():
        out[name] = text.encode()
    return out


def rr(name, rtype, rdata, ttl=300, rclass=1, raw_owner=None):
    owner = raw_owner if raw_owner is not None else wire_name(name)
    return owner + struct.pack("!HHIH", rtype, rclass, ttl, len(rdata)) + rdata


def soa_rr(serial, owner="example.net"):
    return rr(owner, 6, wire_name("ns1.example.net") + wire_name("hostmaster.example.net") +
              struct.pack("!IIIII", serial, 3600, 600, 86400, 60))


def a_rr(name, last):
    return rr(f"{name}.example.net", 1, bytes([192, 0, 2, last]))


def xfr_message(records, qtype, rcode=0, qid=0):
    header = struct.pack("!HHHHHH", qid, 0x8400 | rcode, 1, len(records), 0, 0)
    return header + wire_name("example.net") + struct.pack("!HH", qtype, 1) + b"".join(records)


def stream(mode, *messages):
    return bytes([mode]) + b"".join(struct.pack("!H", len(m)) + m for m in messages)


def transfer_corpus():
    ns = rr("example.net", 2, wire_name("ns1.example.net"))
    # The NS target compressed against the question (offset 12).
    ns_compressed = rr("example.net", 2, b"\x03ns1\xc0\x0c", raw_owner=b"\xc0\x0c")
    mx = rr("example.net", 15, b"\x00\x0a" + wire_name("www.example.net"))
    axfr, ixfr = 252, 251
    body = [soa_rr(5), ns, a_rr("ns1", 1), a_rr("www", 10), mx]
    return {
        "axfr_one_message": stream(0, xfr_message(body + [soa_rr(5)], axfr)),
        "axfr_three_messages": stream(0, xfr_message(body[:2], axfr),
                                      xfr_message(body[2:4], axfr),
                                      xfr_message(body[4:] + [soa_rr(5)], axfr)),
        "axfr_compressed": stream(0, xfr_message([soa_rr(5), ns_compressed, a_rr("ns1", 1),
                                                  soa_rr(5)], axfr)),
        "axfr_soa_only_zone": stream(0, xfr_message([soa_rr(5), soa_rr(5)], axfr)),
        "axfr_refused": stream(0, xfr_message([], axfr, rcode=5)),
        "axfr_cut": stream(0, xfr_message(body, axfr)),
        "axfr_other_id": stream(0, xfr_message(body + [soa_rr(5)], axfr, qid=7)),
        "axfr_class_ch": stream(0, xfr_message([soa_rr(5), rr("example.net", 2, wire_name(
            "ns1.example.net"), rclass=3), soa_rr(5)], axfr)),
        "axfr_signed_unsigned": stream(2, xfr_message(body + [soa_rr(5)], axfr)),
        "ixfr_one_step": stream(1, xfr_message([soa_rr(2), soa_rr(1), a_rr("www", 10), soa_rr(2),
                                                a_rr("new", 77), soa_rr(2)], ixfr)),
        "ixfr_two_steps": stream(1, xfr_message([soa_rr(3), soa_rr(1), a_rr("www", 11),
                                                 soa_rr(2), a_rr("new", 77)], ixfr),
                                 xfr_message([soa_rr(2), a_rr("new", 77), soa_rr(3),
                                              a_rr("newer", 78), soa_rr(3)], ixfr)),
        "ixfr_soa_only": stream(1, xfr_message([soa_rr(2), soa_rr(1), soa_rr(2), soa_rr(2)],
                                               ixfr)),
        "ixfr_removes_missing": stream(1, xfr_message([soa_rr(2), soa_rr(1), a_rr("none", 1),
                                                       soa_rr(2), soa_rr(2)], ixfr)),
        "ixfr_up_to_date": stream(1, xfr_message([soa_rr(1)], ixfr)),
        "ixfr_older": stream(1, xfr_message([soa_rr(0)], ixfr)),
        "ixfr_whole_zone": stream(1, xfr_message(body + [soa_rr(5)], ixfr)),
        "ixfr_bad_chain": stream(1, xfr_message([soa_rr(3), soa_rr(1), soa_rr(2), soa_rr(1),
                                                 soa_rr(3), soa_rr(3)], ixfr)),
        "ixfr_signed_unsigned": stream(3, xfr_message([soa_rr(1)], ixfr)),
    }


def write(directory, files, extension):
    if os.path.isdir(directory):
        shutil.rmtree(directory)
    os.makedirs(directory)
    for name, data in sorted(files.items()):
        with open(os.path.join(directory, name + extension), "wb") as f:
            f.write(data)
    return len(files)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus")
    counts = {
        "responder": write(os.path.join(out, "responder"), responder_corpus(), ".bin"),
        "zone": write(os.path.join(out, "zone"), zone_corpus(), ".zone"),
        "zone_syntax": write(os.path.join(out, "zone_syntax"), zone_syntax_corpus(), ".zone"),
        "config": write(os.path.join(out, "config"), config_corpus(), ".yaml"),
        "transfer": write(os.path.join(out, "transfer"), transfer_corpus(), ".bin"),
    }
    print(", ".join(f"{n}: {k} files" for n, k in counts.items()), "in", out)


if __name__ == "__main__":
    main()
