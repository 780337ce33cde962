// libFuzzer harness: the zone-file loader. Every input is the text of a zone
// file, compiled by agility::dns::ParseZoneText with the initial origin
// example.com.; it must return a zone or an error, never crash. A zone that
// loads is queried through Respond (apex, the owner names the text seems to
// name, a name that does not exist, several types, both transports) and the
// responses are checked like the responder harness's. Names at and below
// pool.example.com are answered from pools (policies), the rest from the zone.
//
// Every zone is also read as a policy zone (config/policy_zone.h), as a node
// with policy_from reads its copy: refused or read, and what is read builds a
// policy table, and is written and read back the same.
//
// The source is "<temporary directory>/fuzz.zone", so relative $INCLUDEs
// resolve inside a directory of our own, which holds "a.inc" (two records)
// and "loop.inc" (includes itself, to reach the depth limit).
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "config/config.h"
#include "config/policy_zone.h"
#include "dns/name.h"
#include "dns/zone_file.h"
#include "dns/zone_set.h"
#include "dns_check.h"
#include "policy/table.h"

namespace {

using namespace agility;

constexpr char kConfig[] = R"(
zones: [fuzz.zone]
pools:
  v4: 127.77.0.0/20
  v6: "fd00:77::/44"
  one: 127.79.0.1/32
policies:
  - {name: below, match: ["*.pool.example.com"], ipv4: v4, ipv6: v6, ttl: 60}
  - {name: exact, match: ["pool.example.com"], ipv4: one}
)";

// A node taking its policy from example.com. (the harness's origin).
constexpr char kPolicyFrom[] = R"(
server: {listen: ["127.0.0.1:5353"]}
services: {edge: {}}
remotes: {p: {address: 127.0.0.1}}
policy_from: {zone: example.com, primaries: [p]}
)";

struct Fixture {
  std::string source;  // <dir>/fuzz.zone
  std::unique_ptr<policy::Table> table;
  config::Config policy_from;
};

// Pools and policies in a form to compare (match patterns as a set: a TXT
// RRset has no order).
std::string PolicyText(const config::Config& config) {
  std::string out;
  for (const config::PoolConfig& pool : config.pools) {
    out += "pool " + pool.name;
    for (const config::PoolPrefix& part : pool.prefixes) {
      out += " " + part.prefix.ToString() + "=" + std::to_string(part.weight);
    }
    out += "\n";
  }
  for (const config::PolicyConfig& policy : config.policies) {
    std::vector<std::string> match = policy.match;
    std::sort(match.begin(), match.end());
    out += "policy " + policy.name + " " + std::to_string(policy.ipv4_pool) + " " +
           std::to_string(policy.ipv6_pool) + " " + std::to_string(policy.ttl) + " " +
           policy.service + " " + std::to_string(policy.ports.size()) + " " +
           std::to_string(policy.protocols.size());
    for (const std::string& pattern : match) out += " " + pattern;
    out += "\n";
  }
  return out;
}

void CheckPolicyZone(const Fixture& f, const dns::Zone& zone) {
  config::Config read = f.policy_from;
  const absl::Status status = config::ReadPolicyZone(zone, read);
  if (fuzz::Verbose()) {
    std::fprintf(stderr, "policy zone: %s\n",
                 status.ok() ? "read" : std::string(status.message()).substr(0, 200).c_str());
  }
  if (!status.ok()) {
    FUZZ_CHECK(read.pools.empty() && read.policies.empty(), "a refused policy zone changed it");
    return;
  }
  FUZZ_CHECK(policy::Table::Build(read, 1).ok(), "a policy zone read, its table refused");
  read.policy_zone = config::WrittenZone{std::string(zone.apex()), 1};
  auto text = config::PolicyZoneText(read, 2);
  if (!text.ok()) return;  // a value too long for a TXT string of its own
  auto written = dns::ParseZoneText(*text, "written", dns::NameToText(zone.apex()));
  FUZZ_CHECK(written.ok(), "a policy zone written does not compile");
  config::Config again = f.policy_from;
  FUZZ_CHECK(config::ReadPolicyZone(**written, again).ok(), "a policy zone written is refused");
  FUZZ_CHECK(PolicyText(again) == PolicyText(read), "a policy zone reads back otherwise");
}

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    auto* f = new Fixture;
    char dir[] = "/tmp/agility-fuzz-zone.XXXXXX";
    if (mkdtemp(dir) == nullptr) {
      std::perror("mkdtemp");
      std::abort();
    }
    std::ofstream(std::string(dir) + "/a.inc") << "inc1 A 192.0.2.1\ninc2 CNAME inc1\n";
    std::ofstream(std::string(dir) + "/loop.inc") << "$INCLUDE loop.inc\n";
    f->source = std::string(dir) + "/fuzz.zone";
    auto config = config::ParseConfig(kConfig, "/tmp/fuzz.yaml");
    if (!config.ok()) std::abort();
    auto table = policy::Table::Build(*config, 1);
    if (!table.ok()) std::abort();
    f->table = std::move(*table);
    auto policy_from = config::ParseConfig(kPolicyFrom, "/tmp/fuzz-policy.yaml");
    if (!policy_from.ok()) std::abort();
    f->policy_from = *std::move(policy_from);
    return f;
  }();
  return *fixture;
}

// Candidate owner names: the first word of lines that start with one, taken
// relative to the apex unless absolute.
std::vector<std::string> CandidateNames(absl::string_view text, absl::string_view apex) {
  std::vector<std::string> names;
  const std::string apex_text = dns::NameToText(apex);
  size_t pos = 0;
  while (pos < text.size() && names.size() < 12) {
    size_t eol = text.find('\n', pos);
    if (eol == absl::string_view::npos) eol = text.size();
    const absl::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty() || line[0] == ' ' || line[0] == '\t' || line[0] == ';' || line[0] == '$' ||
        line[0] == '@') {
      continue;
    }
    const size_t end = line.find_first_of(" \t\r(;");
    std::string word(line.substr(0, end));
    if (word.empty()) continue;
    if (word.back() != '.') word += "." + apex_text;
    auto wire = dns::NameFromText(word);
    if (wire.ok()) names.push_back(*wire);
  }
  return names;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  GetFixture();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  // Absolute $INCLUDEs of devices or kernel files (/dev/zero, /proc/...)
  // would read forever: not what this harness is after.
  for (const char* path : {"/dev", "/proc", "/sys"}) {
    if (text.find(path) != absl::string_view::npos) return -1;
  }
  // FUZZ_SKIP=generic: leave out RFC 3597 "\#" RDATA (known findings, see
  // tests/fuzz/regressions/zone/).
  if (fuzz::Skipped("generic") && text.find("\\#") != absl::string_view::npos) return -1;
  const Fixture& f = GetFixture();
  auto zone = dns::ParseZoneText(text, f.source, "example.com.");
  if (fuzz::Verbose()) {
    std::fprintf(stderr, "zone: %s\n",
                 zone.ok() ? "ok" : std::string(zone.status().message()).c_str());
  }
  if (!zone.ok()) {
    FUZZ_CHECK(!zone.status().message().empty(), "error without a message");
    return 0;
  }
  std::shared_ptr<const dns::Zone> compiled = std::move(*zone);
  FUZZ_CHECK(compiled->apex_node().valid(), "zone without an apex node");
  const std::string apex(compiled->apex());
  dns::ZoneSet zones;
  FUZZ_CHECK(zones.Add(compiled).ok(), "ZoneSet::Add failed for a single zone");
  CheckPolicyZone(f, *compiled);

  std::vector<std::string> names = {apex, std::string("\x07nothere") + apex,
                                    std::string("\x01x\x04wild") + apex};
  for (std::string& name : CandidateNames(text, apex)) {
    names.push_back(name);
    if (name.size() + 2 <= 255) names.push_back("\x01z" + name);  // wildcard expansion, NXDOMAIN
  }
  // One query type drawn from the input, beside the usual ones.
  uint16_t hashed = 0;
  for (size_t i = 0; i < size; ++i) hashed = static_cast<uint16_t>(hashed * 31 + data[i]);
  const uint16_t types[] = {1, 28, 255, 15, 2, 6, 5, 16, 33, 43, 12, 46, 47, 48, hashed};

  fuzz::CheckOptions options;
  options.tc_only_udp = false;  // zones can hold RRsets larger than 64 KiB
  uint16_t id = 1;
  for (const std::string& name : names) {
    for (const uint16_t qtype : types) {
      const bool edns = (id & 1) != 0;
      const bool dnssec_ok = edns && (id & 2) != 0;
      const std::vector<uint8_t> query = fuzz::MakeQuery(name, qtype, id++, edns, 4096, dnssec_ok);
      fuzz::RespondAndCheck(query.data(), query.size(), zones, f.table.get(), {1232}, options);
    }
  }
  return 0;
}
