#include "policy/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace agility::policy {
namespace {

using ::testing::HasSubstr;

constexpr char kGood[] = R"(server:
  listen: ["127.0.0.1:5353", "[::1]:5353"]
  workers: 2
  control: run/control.sock
zones:
  - ../zones/example.com.zone
pools:
  edge4: 127.77.0.0/20
  edge6: "fd00:77::/44"
services:
  edge: {}
policies:
  - name: proxied
    match: ["example.com", "*.example.com"]
    ipv4: edge4
    ipv6: edge6
    ttl: 120
    service: edge
)";

TEST(ConfigTest, ParsesTheSchema) {
  auto config = ParseConfig(kGood, "/etc/agility/agility.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->server.listen.size(), 2u);
  EXPECT_EQ(config->server.listen[0].ToString(), "127.0.0.1:5353");
  EXPECT_EQ(config->server.listen[1].ToString(), "[::1]:5353");
  EXPECT_EQ(config->server.workers, 2);
  EXPECT_EQ(config->server.control, "/etc/agility/run/control.sock");
  ASSERT_EQ(config->zones.size(), 1u);
  EXPECT_EQ(config->zones[0].path, "/etc/zones/example.com.zone");
  EXPECT_EQ(config->zones[0].line, 6);
  ASSERT_EQ(config->pools.size(), 2u);
  ASSERT_EQ(config->policies.size(), 1u);
  const PolicyConfig& p = config->policies[0];
  EXPECT_EQ(p.name, "proxied");
  EXPECT_EQ(p.ttl, 120u);
  EXPECT_EQ(p.service, "edge");
  EXPECT_EQ(config->pools[p.ipv4_pool].name, "edge4");
  EXPECT_EQ(config->pools[p.ipv6_pool].name, "edge6");
}

TEST(ConfigTest, Defaults) {
  auto config = ParseConfig("zones: [a.zone]\n", "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->server.listen.size(), 1u);
  EXPECT_EQ(config->server.listen[0].ToString(), "127.0.0.1:5353");
  EXPECT_EQ(config->server.workers, static_cast<int>(std::thread::hardware_concurrency()));
  EXPECT_EQ(config->server.control, "/run/agility/control.sock");
  EXPECT_EQ(config->server.max_udp_size, 1232);
}

struct BadCase {
  const char* yaml;
  const char* where;    // expected "file:line:" prefix of the error
  const char* message;  // expected part of the message
};

class ConfigErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigErrorTest, NamesFileAndLine) {
  auto config = ParseConfig(GetParam().yaml, "bad.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(GetParam().where));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(GetParam().message));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ConfigErrorTest,
    ::testing::Values(
        BadCase{"zones: [a.zone]\nsurprise: 1\n", "bad.yaml:2:", "unknown key 'surprise'"},
        BadCase{"server:\n  listen: [\"127.0.0.1\"]\nzones: [a]\n",
                "bad.yaml:2:", "expected IPv4:port"},
        BadCase{"server:\n  workers: 0\nzones: [a]\n", "bad.yaml:2:", "1..256"},
        BadCase{"server:\n  speed: fast\nzones: [a]\n", "bad.yaml:2:", "unknown key 'speed'"},
        BadCase{"zones: [a]\npools:\n  p: 10.0.0.1/8\n", "bad.yaml:3:", "host bits"},
        BadCase{"zones: [a]\npools:\n  p: 10.0.0.0/8\n  p: 11.0.0.0/8\n",
                "bad.yaml:4:", "defined twice"},
        BadCase{"zones: [a]\npolicies:\n  - name: x\n    match: [a.com]\n    ipv4: nowhere\n",
                "bad.yaml:5:", "pool 'nowhere' is not defined"},
        BadCase{"zones: [a]\npools: {v6: \"fd00::/64\"}\npolicies:\n  - name: x\n"
                "    match: [a.com]\n    ipv4: v6\n",
                "bad.yaml:6:", "needs an IPv4 pool"},
        BadCase{"zones: [a]\npools: {p: 10.0.0.0/8}\npolicies:\n"
                "  - {name: x, match: [a.com], ipv4: p}\n"
                "  - {name: y, match: [b.com, a.com], ipv4: p}\n",
                "bad.yaml:5:", "already matched by policy 'x'"},
        BadCase{"zones: [a]\npools: {p: 10.0.0.0/8}\npolicies:\n"
                "  - {name: x, match: [a.com], ipv4: p}\n"
                "  - {name: x, match: [b.com], ipv4: p}\n",
                "bad.yaml:5:", "policy 'x' is defined twice"},
        BadCase{"zones: [a]\npools: {p: 10.0.0.0/8}\npolicies:\n"
                "  - {name: x, match: [a.com], ipv4: p, ttl: -1}\n",
                "bad.yaml:4:", "ttl must be an integer"},
        BadCase{"zones: [a]\npolicies:\n  - {name: x, match: [a.com]}\n",
                "bad.yaml:3:", "needs an ipv4 or ipv6 pool"},
        BadCase{"zones: [a]\npools: {p: 10.0.0.0/8}\npolicies:\n"
                "  - {name: x, match: [\"a.*.com\"], ipv4: p}\n",
                "bad.yaml:4:", "'*' may appear only"},
        BadCase{"zones: [a\n", "bad.yaml:", "YAML syntax error"},
        BadCase{"pools: {}\n", "bad.yaml:1:", "no zones configured"},
        BadCase{"zones: [a]\nrate_limit: {enabled: true, slip: 101}\n",
                "bad.yaml:2:", "rate_limit.slip must be an integer in 0..100"},
        BadCase{"zones: [a]\nrate_limit:\n  responses_per_second: 0\n",
                "bad.yaml:3:", "rate_limit.responses_per_second must be an integer in 1..1000000"},
        BadCase{"zones: [a]\nrate_limit: {burst: 3}\n", "bad.yaml:2:", "unknown key 'burst'"},
        BadCase{"server:\n  tcp_max_connections: 0\nzones: [a]\n",
                "bad.yaml:2:", "server.tcp_max_connections must be an integer"},
        BadCase{"server:\n  tcp_query_timeout_ms: 5\nzones: [a]\n",
                "bad.yaml:2:", "server.tcp_query_timeout_ms must be an integer"},
        BadCase{"server:\n  udp_batch_wait_us: 5000\nzones: [a]\n",
                "bad.yaml:2:", "server.udp_batch_wait_us must be an integer in 0..1000"},
        BadCase{"server:\n  udp_queries_per_address: -1\nzones: [a]\n",
                "bad.yaml:2:", "server.udp_queries_per_address must be an integer in 0..100000000"},
        // Replies to the "dns" label leave from the listen port.
        BadCase{"server: {listen: [\"127.0.0.1:5353\"]}\nzones: [a]\nbindings:\n"
                "  - {label: dns, protocol: udp, prefix: 127.88.0.0/24, port: 53}\n",
                "bad.yaml:4:", "label dns: port 53 is not the IPv4 listen port 5353"},
        BadCase{"server: {listen: [\"127.0.0.1:5353\"]}\nzones: [a]\n"
                "pools: {p: 127.88.0.0/24}\npolicies:\n"
                "  - {name: x, match: [a.com], ipv4: p, service: dns}\n",
                "bad.yaml:5:", "label dns: port 80 is not the IPv4 listen port 5353"},
        BadCase{"server: {listen: [\"127.0.0.1:5353\"]}\nzones: [a]\nbindings:\n"
                "  - {label: dns, protocol: udp, prefix: \"fd00::/64\", port: 5353}\n",
                "bad.yaml:4:", "label dns needs exactly one IPv6 listen port"},
        BadCase{"server: {listen: [\"127.0.0.1:5353\", \"127.0.0.2:53\"]}\nzones: [a]\n"
                "bindings:\n  - {label: dns, protocol: tcp, prefix: 127.88.0.0/24, port: 53}\n",
                "bad.yaml:4:", "label dns needs exactly one IPv4 listen port"}));

TEST(ConfigTest, DnsLabelOnTheListenPort) {
  auto config = ParseConfig(
      "server: {listen: [\"127.0.0.1:5353\", \"[::1]:5353\"]}\nzones: [a]\n"
      "pools: {p: 127.88.0.0/24, q: \"fd00::/64\"}\npolicies:\n"
      "  - {name: x, match: [a.com], ipv4: p, ipv6: q, service: dns, ports: [5353],"
      " protocols: [udp, tcp]}\n",
      "c.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
}

TEST(ConfigTest, RateLimitSettings) {
  auto config = ParseConfig(
      "zones: [a]\nrate_limit: {enabled: true, responses_per_second: 50, slip: 3, "
      "ipv4_prefix: 20, ipv6_prefix: 48, table_size: 1024}\n",
      "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->rate_limit.enabled);
  EXPECT_EQ(config->rate_limit.limits.responses_per_second, 50u);
  EXPECT_EQ(config->rate_limit.limits.slip, 3u);
  EXPECT_EQ(config->rate_limit.limits.ipv4_prefix, 20);
  EXPECT_EQ(config->rate_limit.limits.ipv6_prefix, 48);
  EXPECT_EQ(config->rate_limit.limits.table_size, 1024u);
  EXPECT_FALSE(ParseConfig("zones: [a]\n", "c.yaml")->rate_limit.enabled) << "off by default";
}

}  // namespace
}  // namespace agility::policy
