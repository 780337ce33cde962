// libFuzzer harness: the query parser and the responder. Every input is one
// query (raw DNS message bytes), answered by agility::dns::Respond over TCP
// and over UDP (server limits 512, 1232 and 4096) from a fixed small zone
// with pool policies; each response is checked by fuzz::CheckResponse and the
// transports are compared (see dns_check.h).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "config/config.h"
#include "dns/responder.h"
#include "dns/zone_file.h"
#include "dns/zone_keys.h"
#include "dns/zone_set.h"
#include "dns_check.h"
#include "policy/table.h"
#include "responder_fixture.h"
#include "test_keys.h"

namespace {

using namespace agility;

// The zone of tests/unit/responder_test.cc: CNAME chains and loops,
// wildcards, a delegation with glue, SRV/MX additional data, policies below
// cdn and v4; "big" makes answers that only fit over TCP or large EDNS.
constexpr const char* kZone = fixtures::kResponderZone;

// Two signed zones (placeholder signatures: the responder does not verify
// them), so that queries with DO meet RRSIGs, NSEC and NSEC3 proofs.
constexpr char kSig[] = " 13 2 300 20300101000000 20200101000000 1 signed.example. AAAA";

std::string NsecZoneText() {
  return std::string("$ORIGIN signed.example.\n@ SOA ns h 1 2 3 4 300\n@ NS ns\n") +
         "@ DNSKEY 257 3 13 AAAA\n@ RRSIG SOA" + kSig + "\n@ RRSIG DNSKEY" + kSig + "\n@ RRSIG NS" +
         kSig + "\n@ NSEC alias.signed.example. NS SOA RRSIG NSEC DNSKEY\n" +
         "alias CNAME *.w\nalias RRSIG CNAME" + kSig + "\nalias NSEC ns.signed.example. CNAME\n" +
         "ns A 192.0.2.1\nns RRSIG A" + kSig + "\nns NSEC sub.signed.example. A RRSIG NSEC\n" +
         "sub NS ns.sub\nsub DS 1 13 2 AABBCCDD\nsub RRSIG DS" + kSig +
         "\nsub NSEC *.w.signed.example. NS DS\nns.sub A 192.0.2.2\n" +
         "*.w A 192.0.2.3\n*.w RRSIG A" + kSig + "\n*.w NSEC x.y.signed.example. A\n" +
         "x.y TXT \"t\"\nx.y RRSIG TXT" + kSig + "\nx.y NSEC signed.example. TXT\n" +
         "dn DNAME x.y\ndn RRSIG DNAME" + kSig + "\n";
}

std::string Nsec3ZoneText() {
  return std::string("$ORIGIN nsec3.example.\n@ SOA ns h 1 2 3 4 300\n@ NS ns\n") +
         "@ DNSKEY 257 3 13 AAAA\n@ RRSIG SOA" + kSig + "\n@ NSEC3PARAM 1 0 2 abcd\n" +
         "ns A 192.0.2.1\n*.w A 192.0.2.2\nsub NS ns.sub\nns.sub A 192.0.2.3\n" +
         "0123456789abcdefghijklmnopqrstuv NSEC3 1 1 2 abcd 4123456789abcdefghijklmnopqrstuv A\n" +
         "4123456789abcdefghijklmnopqrstuv NSEC3 1 1 2 abcd 8123456789abcdefghijklmnopqrstuv A\n" +
         "8123456789abcdefghijklmnopqrstuv NSEC3 1 0 2 abcd 0123456789abcdefghijklmnopqrstuv A\n";
}

const std::string kConfig =
    std::string("zones: [fuzz.zone]\n") + fixtures::kResponderPolicies +
    "  - {name: online, match: [\"*.pool.online.example\"], ipv4: v4b, ipv6: v6}\n";

// Signed online with a KSK and a ZSK made at start: compact denials,
// wildcards, a delegation, a DS, and pool answers signed per draw.
constexpr char kOnlineZone[] = R"($ORIGIN online.example.
@       SOA   ns h 1 2 3 4 300
@       NS    ns
ns      A     192.0.2.1
www     A     192.0.2.2
Up      CNAME WWW
*.w     A     192.0.2.3
*.pool  A     192.0.2.4
a.b.ent TXT   "x"
sub     NS    ns.sub
sub     DS    1 13 2 abababababababababababababababababababababababababababababababab
ns.sub  A     192.0.2.5
)";

std::string ZoneText() {
  std::string zone = kZone;
  for (int i = 0; i < 40; ++i) {
    zone += "big TXT \"" + std::string(90, static_cast<char>('a' + i % 26)) + std::to_string(i) +
            "\"\n";
  }
  return zone;
}

struct Fixture {
  dns::ZoneSet zones;
  std::unique_ptr<policy::Table> table;
};

[[noreturn]] void SetupFailed(const std::string& what) {
  std::fprintf(stderr, "fuzz_responder setup failed: %s\n", what.c_str());
  std::abort();
}

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    auto* f = new Fixture;
    for (const auto& [text, origin] :
         {std::pair{ZoneText(), "example.com."}, std::pair{NsecZoneText(), "signed.example."},
          std::pair{Nsec3ZoneText(), "nsec3.example."},
          std::pair{std::string(kOnlineZone), "online.example."}}) {
      auto zone = dns::ParseZoneText(text, "fuzz.zone", origin);
      if (!zone.ok()) SetupFailed(std::string(zone.status().message()));
      if (auto status = f->zones.Add(std::move(*zone)); !status.ok()) {
        SetupFailed(std::string(status.message()));
      }
    }
    {
      testing::TempDir keys_dir;
      testing::WriteKey(keys_dir.path(), "online.example", 257, false);
      testing::WriteKey(keys_dir.path(), "online.example", 256, true);
      auto keys = dns::ZoneKeys::Load(std::string("\6online\7example\0", 16), keys_dir.path(), 300);
      if (!keys.ok()) SetupFailed(std::string(keys.status().message()));
      if (auto status = f->zones.SetKeys(*std::move(keys)); !status.ok()) {
        SetupFailed(std::string(status.message()));
      }
    }
    auto config = config::ParseConfig(kConfig, "/tmp/fuzz.yaml");
    if (!config.ok()) SetupFailed(std::string(config.status().message()));
    auto table = policy::Table::Build(*config, 1);
    if (!table.ok()) SetupFailed(std::string(table.status().message()));
    f->table = std::move(*table);
    return f;
  }();
  return *fixture;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  GetFixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& f = GetFixture();
  fuzz::CheckOptions options;  // strict RDATA, ldns cross-check, TC only over UDP
  // libFuzzer hands us an exactly sized heap copy: reads past it are caught.
  fuzz::RespondAndCheck(data, size, f.zones, f.table.get(), {512, 1232, 4096}, options);
  return 0;
}
