// The policy zone: pools and policies written as DNS data by a primary and
// read back by its secondaries, checked as the same YAML would be.
#include "config/policy_zone.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "dns/name.h"
#include "dns/zone_file.h"

namespace agility::config {
namespace {

using ::testing::HasSubstr;

constexpr char kPrimary[] = R"(
server: {listen: ["127.0.0.1:5300"]}
policy_zone: {name: policy.agility.example}
services: {edge: {}}
pools:
  web4:
    - {prefix: 127.77.0.0/24, weight: 3}
    - {prefix: 127.77.1.0/24}
    - {prefix: 127.77.2.0/24, weight: 0}
  web6: fd00:77::/44
  Edge.v4: 127.78.0.1/32
policies:
  - name: web
    match: ["*.example.com", example.com]
    ipv4: web4
    ipv6: web6
    ttl: 60
  - name: 'the "edge" one'
    match: edge.example.net
    ipv4: Edge.v4
    service: edge
    ports: [443, 8443]
    protocols: [tcp, udp]
)";

// A secondary's own settings: the services and listen addresses a policy
// from the zone is checked against.
constexpr char kSecondary[] = R"(
server: {listen: ["127.0.0.1:5301"], state_dir: /tmp}
services: {edge: {}}
remotes: {primary: {address: "127.0.0.1:5300"}}
policy_from: {zone: policy.agility.example, primaries: [primary]}
)";

Config Parse(const std::string& yaml) {
  auto config = ParseConfig(yaml, "test.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *std::move(config) : Config();
}

std::unique_ptr<dns::Zone> Compile(const std::string& text) {
  auto zone = dns::ParseZoneText(text, "policy zone", "policy.agility.example.");
  EXPECT_TRUE(zone.ok()) << zone.status().ToString().substr(0, 2000);
  return zone.ok() ? *std::move(zone) : nullptr;
}

std::string Published(const std::string& yaml, uint32_t serial = 7) {
  auto text = PolicyZoneText(Parse(yaml), serial);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? *text : "";
}

// A policy zone: the SOA, NS and version a primary writes, and `records`.
std::string HandWritten(const std::string& records, const std::string& version = "1") {
  return absl::StrCat(
      "$ORIGIN policy.agility.example.\n@ 60 SOA @ hostmaster 9 60 10 1209600 60\n@ 60 NS @\n",
      version.empty() ? "" : absl::StrCat("version 60 TXT \"", version, "\"\n"), records);
}

absl::Status Read(const std::string& zone_text, Config& config) {
  auto zone = Compile(zone_text);
  if (zone == nullptr) return absl::InternalError("did not compile");
  return ReadPolicyZone(*zone, config);
}

std::string Describe(const Config& config) {
  std::string out;
  for (const PoolConfig& pool : config.pools) {
    absl::StrAppend(&out, "pool ", pool.name, ":");
    for (const PoolPrefix& part : pool.prefixes) {
      absl::StrAppend(&out, " ", part.prefix.ToString(), "=", part.weight);
    }
    out += "\n";
  }
  for (const PolicyConfig& policy : config.policies) {
    std::vector<std::string> match = policy.match;
    std::vector<uint16_t> ports = policy.ports;
    std::sort(match.begin(), match.end());
    std::sort(ports.begin(), ports.end());
    absl::StrAppend(&out, "policy ", policy.name, ": ", absl::StrJoin(match, ","), " v4 ",
                    policy.ipv4_pool >= 0 ? config.pools[policy.ipv4_pool].name : "-", " v6 ",
                    policy.ipv6_pool >= 0 ? config.pools[policy.ipv6_pool].name : "-", " ttl ",
                    policy.ttl, " service ", policy.service, " ports ", absl::StrJoin(ports, ","),
                    " protocols ", policy.protocols.size(), "\n");
  }
  return out;
}

TEST(PolicyZoneTest, ASecondaryReadsWhatThePrimaryWrote) {
  const Config primary = Parse(kPrimary);
  Config secondary = Parse(kSecondary);
  ASSERT_TRUE(secondary.pools.empty());
  const std::string text = Published(kPrimary);
  ASSERT_TRUE(Read(text, secondary).ok()) << Read(text, secondary) << "\n" << text;
  EXPECT_EQ(Describe(secondary), Describe(primary)) << text;
  EXPECT_THAT(text, HasSubstr("version 60 TXT \"1\""));
  EXPECT_THAT(text,
              HasSubstr("127-77-0-0-24.0.pools.policy.agility.example. 60 APL 1:127.77.0.0/24"));
  EXPECT_THAT(text, HasSubstr("60 APL 2:fd00:77::/44"));
  EXPECT_THAT(text, HasSubstr("\"name=the \\\"edge\\\" one\""));
}

TEST(PolicyZoneTest, ALongMatchListSpansTxtRecords) {
  std::string yaml =
      "server: {listen: [\"127.0.0.1:5300\"]}\npolicy_zone: {name: policy.agility.example}\n"
      "pools: {p: 127.77.0.0/24}\npolicies:\n  - name: many\n    ipv4: p\n    match:\n";
  for (int i = 0; i < 3000; ++i) absl::StrAppend(&yaml, "      - host", i, ".example.com\n");
  const std::string text = Published(yaml);
  EXPECT_THAT(text, HasSubstr("\n1.0.policies.policy.agility.example. 60 TXT \"match="));
  Config secondary = Parse(kSecondary);
  ASSERT_TRUE(Read(text, secondary).ok()) << Read(text, secondary);
  ASSERT_EQ(secondary.policies.size(), 1u);
  EXPECT_EQ(secondary.policies[0].match.size(), 3000u);
  EXPECT_EQ(Describe(secondary), Describe(Parse(yaml)));
}

TEST(PolicyZoneTest, TooLongAValueIsAnErrorOfThePrimary) {
  const std::string yaml = absl::StrCat(
      "server: {listen: [\"127.0.0.1:5300\"]}\npolicy_zone: {name: policy.agility.example}\n"
      "pools: {p: 127.77.0.0/24}\npolicies:\n  - {name: ",
      std::string(260, 'n'), ", ipv4: p, match: a.example}\n");
  auto text = PolicyZoneText(Parse(yaml), 1);
  ASSERT_FALSE(text.ok());
  EXPECT_THAT(std::string(text.status().message()), HasSubstr("255 bytes"));
}

// Each is refused, naming the record at fault, and leaves the policy in force.
TEST(PolicyZoneTest, WhatYamlRefusesTheZoneRefuses) {
  const std::string pool = "0.pools TXT \"name=web4\"\n";
  const std::string prefix = "a.0.pools APL 1:127.77.0.0/24\n";
  const std::string policy = "0.policies TXT \"name=web\" \"match=*.example.com\" \"ipv4=web4\"\n";
  struct Case {
    std::string zone, error;
  };
  const std::vector<Case> cases = {
      {HandWritten(pool + prefix + policy, ""), "no version.policy.agility.example. TXT \"1\""},
      {HandWritten(pool + prefix + policy, "2"), "layout this agilityd reads"},
      {HandWritten(pool + prefix + "b.0.pools APL 1:127.77.0.0/20\n" + policy),
       "b.0.pools.policy.agility.example.: pool 'web4': 127.77.0.0/20 overlaps 127.77.0.0/24 "
       "(a.0.pools.policy.agility.example.)"},
      {HandWritten(pool + prefix + "b.0.pools APL 2:fd00::/64\n" + policy), "mix IPv4 and IPv6"},
      {HandWritten(pool + prefix + "a.0.pools TXT \"weight=0\"\n" + policy),
       "at least one weight must be above 0"},
      {HandWritten(pool + prefix + "a.0.pools TXT \"weight=x\"\n" + policy),
       "weight must be an integer"},
      {HandWritten(pool + prefix + "a.0.pools TXT \"colour=red\"\n" + policy),
       "unknown key 'colour'"},
      {HandWritten(pool + "a.0.pools APL 1:127.77.0.0/24 1:127.78.0.0/24\n" + policy),
       "other than one prefix"},
      {HandWritten(pool + "a.0.pools APL !1:127.77.0.0/24\n" + policy), "negated"},
      {HandWritten(pool + prefix +
                   "0.policies TXT \"name=web\" \"match=a.example\" \"ipv4=nope\"\n"),
       "0.policies.policy.agility.example.: policy 'web': pool 'nope' is not defined under pools"},
      {HandWritten(pool + prefix + policy +
                   "1.policies TXT \"name=other\" \"match=*.example.com\" "
                   "\"ipv4=web4\"\n"),
       "is already matched by policy 'web'"},
      {HandWritten(pool + prefix +
                   "0.policies TXT \"name=web\" \"match=a.example\" \"ipv4=web4\" "
                   "\"ttl=1\" \"ttl=2\"\n"),
       "duplicate key 'ttl'"},
      {HandWritten(pool + prefix +
                   "0.policies TXT \"name=web\" \"match=a.example\" \"ipv4=web4\" "
                   "\"service=nginx\"\n"),
       "service 'nginx' is not declared under services"},
      {HandWritten(pool + prefix + policy + "0.policies TXT \"just text\"\n"), "is not key=value"},
      {HandWritten(pool + prefix + policy + "www TXT \"name=x\"\n"), "not a name of policy layout"},
      {HandWritten(pool + prefix + policy + "0.pools A 192.0.2.1\n"), "type 1 is not part"},
      {HandWritten("a.0.pools APL 1:127.77.0.0/24\n" + policy), "a pool needs name="},
      {HandWritten(pool + prefix + "1.0.policies TXT \"match=a.example\" \"ipv4=web4\"\n"),
       "0.policies.policy.agility.example.: a policy needs a name"},
      {HandWritten(pool + "1.pools TXT \"name=web4\"\nb.1.pools APL 1:127.78.0.0/24\n" + prefix +
                   policy),
       "pool 'web4' is defined twice"},
  };
  for (const Case& c : cases) {
    Config config = Parse(kSecondary);
    config.pools.push_back(PoolConfig{"kept", {}, 1});
    const absl::Status status = Read(c.zone, config);
    EXPECT_FALSE(status.ok()) << c.zone;
    EXPECT_THAT(std::string(status.message()), HasSubstr(c.error)) << c.zone;
    ASSERT_EQ(config.pools.size(), 1u) << c.zone;
    EXPECT_EQ(config.pools[0].name, "kept");
  }
  // The same records, well formed, are read; signed with NSEC3 too.
  Config signed_config = Parse(kSecondary);
  const absl::Status signed_status =
      Read(HandWritten(pool + prefix + policy +
                       "@ NSEC3PARAM 1 0 0 -\n"
                       "b4um86eghhds6nea196smvmlo4ors995 NSEC3 1 0 0 - "
                       "c4um86eghhds6nea196smvmlo4ors995 A\n"),
           signed_config);
  EXPECT_TRUE(signed_status.ok()) << signed_status;
  EXPECT_EQ(signed_config.pools.size(), 1u);
  // The same records, well formed, are read.
  Config config = Parse(kSecondary);
  ASSERT_TRUE(Read(HandWritten(pool + prefix + policy), config).ok());
  EXPECT_EQ(Describe(config),
            "pool web4: 127.77.0.0/24=1\npolicy web: *.example.com v4 web4 v6 - "
            "ttl 300 service  ports 80,443,2052,2053,2082,2083,2086,2087,2095,"
            "2096,8080,8443,8880 protocols 1\n");
}

TEST(PolicyZoneTest, PolicyFromExcludesLocalPolicy) {
  for (const std::string extra :
       {"pools: {p: 127.77.0.0/24}\n", "policies: []\n", "policy_zone: {name: other.example}\n"}) {
    auto config = ParseConfig(std::string(kSecondary) + extra, "test.yaml");
    ASSERT_FALSE(config.ok()) << extra;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr("exclude each other")) << extra;
  }
  const Config config = Parse(kSecondary);
  ASSERT_EQ(config.secondaries.size(), 1u);
  EXPECT_TRUE(config.secondaries[0].policy);
  EXPECT_EQ(config.policy_from, config.secondaries[0].apex);
}

TEST(PolicyZoneTest, ZonesAgilitydWritesAreNamedOnce) {
  const std::string head = "server: {listen: [\"127.0.0.1:5300\"]}\n";
  const Config both =
      Parse(head + "policy_zone: {name: p.example}\ncatalog_zone: {name: c.example}\n");
  EXPECT_EQ(WrittenZones(both), (std::vector<std::string>{*dns::NameFromText("p.example"),
                                                          *dns::NameFromText("c.example")}));
  auto same = ParseConfig(
      head + "policy_zone: {name: p.example}\ncatalog_zone: {name: p.example}\n", "test.yaml");
  ASSERT_FALSE(same.ok());
  EXPECT_THAT(std::string(same.status().message()), HasSubstr("test.yaml:3: catalog_zone and "
                                                              "policy_zone name the same zone"));
  auto unnamed = ParseConfig(head + "catalog_zone: {nom: c.example}\n", "test.yaml");
  ASSERT_FALSE(unnamed.ok());
  EXPECT_THAT(std::string(unnamed.status().message()), HasSubstr("unknown key 'nom'"));
}

}  // namespace
}  // namespace agility::config
