// The responder's test zone and policies: one copy for the unit tests
// (responder_test.cc), the fuzz harness (fuzz_responder.cc) and the corpus
// generator (tests/fuzz/make_corpus.py reads kResponderZone from here).
#pragma once

namespace agility::fixtures {

// Names of every kind the answer algorithm tells apart: data, CNAME chains
// and loops, wildcards, delegations with glue (one with DS), SRV and MX
// targets, names under the pools.
inline constexpr char kResponderZone[] = R"($ORIGIN example.com.
$TTL 3600
@         SOA   ns1 hostmaster 42 7200 3600 1209600 300
@         NS    ns1
@         NS    ns2.elsewhere.net.
@         MX    10 mail
ns1       A     192.0.2.1
mail      A     192.0.2.25
mail      AAAA  2001:db8::25
plain     A     192.0.2.10
plain     AAAA  2001:db8::10
plain     TXT   "plain text"
txtonly   TXT   "hello"
alias     CNAME plain
chain1    CNAME chain2
chain2    CNAME plain
loop1     CNAME loop2
loop2     CNAME loop1
outside   CNAME www.example.net.
dangling  CNAME missing
a.b.c     A     192.0.2.30
*.wild    A     192.0.2.99
*.wild    TXT   "wild"
sub       NS    ns.sub
sub       NS    ns.other.net.
ns.sub    A     192.0.2.53
secure    NS    ns.secure
ns.secure A     192.0.2.54
secure    DS    12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE5B4A0C8A2B9C5E2D1F0A3B4C
_sip._udp SRV   0 5 5060 mail
_sip._tcp SRV   0 5 5060 mail
_sip._tcp SRV   10 5 5061 MAIL
_sip._tcp SRV   20 5 5062 ns1
_web._tcp SRV   0 0 443 www.cdn
_web._tcp SRV   0 0 8443 www.cdn
cdn       A     192.0.2.79
www.cdn   A     192.0.2.80
special.cdn A   192.0.2.81
x.deep.cdn A    192.0.2.82
txt.cdn   TXT   "only text"
cname.cdn CNAME plain
*.w.cdn   A     192.0.2.83
to-cdn    CNAME www.cdn
to-sub    CNAME host.sub
host.v4   A     192.0.2.44
host.v4   AAAA  2001:db8::44
c1 CNAME c2
c2 CNAME c3
c3 CNAME c4
c4 CNAME c5
c5 CNAME c6
c6 CNAME c7
c7 CNAME c8
c8 CNAME c9
c9 CNAME c10
c10 CNAME www.cdn
ptr       PTR   plain.example.com.
hinfo     HINFO "PC" "Linux"
many      NS    ns1
many      NS    ns.sub
many      MX    20 mail
many      MX    30 host.v4
many      MX    40 MAIL
many      SRV   0 0 443 www.cdn
many      SRV   0 0 8443 www.cdn
)";

// Pools and policies over kResponderZone's names; each user adds its own
// `zones:` entry (and may add policies after the last).
inline constexpr char kResponderPolicies[] = R"(pools:
  v4a: 127.77.0.0/20
  v4b: 127.78.1.0/24
  v4c: 127.79.0.1/32
  v6: "fd00:77::/44"
policies:
  - {name: cdn, match: ["*.cdn.example.com"], ipv4: v4a, ipv6: v6, ttl: 60}
  - {name: special, match: ["special.cdn.example.com"], ipv4: v4c, ttl: 30}
  - {name: deep, match: ["*.deep.cdn.example.com"], ipv4: v4b, ttl: 45}
  - {name: v4only, match: ["*.v4.example.com"], ipv4: v4a}
)";

}  // namespace agility::fixtures
