// libFuzzer harness: the YAML configuration loader. Every input is the text
// of a configuration, parsed by agility::config::ParseConfig; when that
// succeeds, the steering bindings (sockets::BindingsFromConfig) and the policy
// table (policy::Table::Build) are derived from it, their invariants checked,
// every pool drawn from, and a few queries answered with the table over a
// fixed zone.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "config/config.h"
#include "dns/zone_file.h"
#include "dns/zone_set.h"
#include "dns_check.h"
#include "policy/random.h"
#include "policy/table.h"
#include "sockets/bindings.h"

namespace {

using namespace agility;

constexpr char kZone[] = R"($ORIGIN example.com.
$TTL 3600
@     SOA   ns1 hostmaster 1 7200 3600 1209600 300
@     NS    ns1
@     A     192.0.2.1
@     MX    10 mail
ns1   A     192.0.2.53
mail  A     192.0.2.25
www   A     192.0.2.80
www   AAAA  2001:db8::80
*.apps A    192.0.2.90
alias CNAME www
)";

const dns::ZoneSet& Zones() {
  static const dns::ZoneSet* zones = [] {
    auto* set = new dns::ZoneSet;
    auto zone = dns::ParseZoneText(kZone, "fuzz.zone", "example.com.");
    if (!zone.ok() || !set->Add(std::move(*zone)).ok()) std::abort();
    return set;
  }();
  return *zones;
}

std::string Wire(std::initializer_list<const char*> labels) {
  std::string wire;
  for (const char* label : labels) {
    wire += static_cast<char>(std::char_traits<char>::length(label));
    wire += label;
  }
  wire += '\0';
  return wire;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  Zones();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  auto config = config::ParseConfig(yaml, "/tmp/fuzz.yaml");
  if (fuzz::Verbose()) {
    std::fprintf(stderr, "config: %s\n",
                 config.ok() ? "ok" : std::string(config.status().message()).c_str());
  }
  if (!config.ok()) {
    FUZZ_CHECK(!config.status().message().empty(), "error without a message");
    return 0;
  }

  // What ParseConfig promises about a configuration it accepts.
  FUZZ_CHECK(!config->server.listen.empty(), "no listen address");
  FUZZ_CHECK(config->server.workers >= 1, "workers < 1");
  FUZZ_CHECK(config->server.max_udp_size >= 512 && config->server.max_udp_size <= 4096,
             "max_udp_size outside 512..4096");
  FUZZ_CHECK(!config->zones.empty(), "no zones");
  const int pool_count = static_cast<int>(config->pools.size());
  for (const config::PoolConfig& pool : config->pools) {
    FUZZ_CHECK(!pool.prefixes.empty(), "pool without a prefix");
    uint64_t total = 0;
    for (const config::PoolPrefix& part : pool.prefixes) {
      FUZZ_CHECK(part.prefix.length <= part.prefix.max_length(), "prefix length too long");
      FUZZ_CHECK(part.prefix.ipv4 == pool.ipv4(), "a pool mixes families");
      FUZZ_CHECK(part.weight <= config::kMaxWeight, "weight above the maximum");
      total += part.weight;
    }
    FUZZ_CHECK(total > 0, "a pool with every weight at 0");
  }
  for (const config::PolicyConfig& p : config->policies) {
    FUZZ_CHECK(p.ipv4_pool < pool_count && p.ipv6_pool < pool_count, "pool index out of range");
    FUZZ_CHECK(p.ipv4_pool >= 0 || p.ipv6_pool >= 0, "policy without a pool");
    if (p.ipv4_pool >= 0) FUZZ_CHECK(config->pools[p.ipv4_pool].ipv4(), "ipv4: an IPv6 pool");
    if (p.ipv6_pool >= 0) FUZZ_CHECK(!config->pools[p.ipv6_pool].ipv4(), "ipv6: an IPv4 pool");
    FUZZ_CHECK(p.ttl <= 0x7fffffff, "policy TTL above 2^31-1");
  }

  auto bindings = sockets::BindingsFromConfig(*config);
  if (bindings.ok()) {
    for (const sockets::Binding& b : *bindings) {
      FUZZ_CHECK(!b.label.empty(), "binding without a label");
      FUZZ_CHECK(b.mapped_length() <= 128, "binding prefix longer than 128 bits");
      uint8_t mapped[16];
      b.MappedAddress(mapped);
      (void)b.ToString();
    }
  }

  auto table = policy::Table::Build(*config, 1);
  if (!table.ok()) return 0;
  FUZZ_CHECK(static_cast<int>((*table)->pools().size()) == pool_count, "pool count differs");

  // Every pool draws addresses inside its prefix.
  policy::Rng rng = policy::SeededRng(size);
  for (const policy::Pool& pool : (*table)->pools()) {
    for (int i = 0; i < 4; ++i) {
      uint8_t address[16] = {};
      const uint32_t part = pool.Draw(rng, address);
      FUZZ_CHECK(part < pool.parts().size(), "sub-prefix index out of range");
      const policy::SubPrefix& sub = pool.parts()[part];
      FUZZ_CHECK(sub.weight > 0, "drew from a prefix of weight 0");
      FUZZ_CHECK(sub.prefix.Contains(address),
                 "pool '" + pool.name() + "' drew an address outside " + sub.prefix.ToString());
      const int bucket = sub.Bucket(address);
      FUZZ_CHECK(bucket >= 0 && bucket < sub.bucket_count(), "bucket out of range");
    }
  }

  // Answers drawn from this table stay well-formed.
  fuzz::CheckOptions options;
  const std::string names[] = {Wire({"example", "com"}), Wire({"www", "example", "com"}),
                               Wire({"x", "apps", "example", "com"}),
                               Wire({"alias", "example", "com"}), Wire({"mail", "example", "com"})};
  uint16_t id = 1;
  for (const std::string& name : names) {
    for (const uint16_t qtype : {1, 28, 255, 15}) {
      const auto query = fuzz::MakeQuery(name, qtype, id, (id & 1) != 0, 1232);
      ++id;
      fuzz::RespondAndCheck(query.data(), query.size(), Zones(), table->get(),
                            {config->server.max_udp_size}, options);
    }
  }
  return 0;
}
