#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"

namespace agility::config {
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
  EXPECT_EQ(config->server.dnssec_cache_mb, 256u);
  EXPECT_TRUE(config->server.udp_batch_wait.adaptive);
  EXPECT_EQ(config->server.identity, "");
  EXPECT_EQ(config->server.version, "");
  EXPECT_TRUE(config->dnssec.empty());
}

TEST(ConfigTest, UdpBatchWaitIsAdaptiveOrFixed) {
  auto adaptive = ParseConfig("server: {udp_batch_wait_us: auto}\nzones: [a.zone]\n", "c.yaml");
  ASSERT_TRUE(adaptive.ok()) << adaptive.status();
  EXPECT_TRUE(adaptive->server.udp_batch_wait.adaptive);
  auto fixed = ParseConfig("server: {udp_batch_wait_us: 150}\nzones: [a.zone]\n", "c.yaml");
  ASSERT_TRUE(fixed.ok()) << fixed.status();
  EXPECT_EQ(fixed->server.udp_batch_wait, (sockets::BatchWait{.adaptive = false, .fixed_us = 150}));
  auto never = ParseConfig("server: {udp_batch_wait_us: 0}\nzones: [a.zone]\n", "c.yaml");
  ASSERT_TRUE(never.ok()) << never.status();
  EXPECT_EQ(never->server.udp_batch_wait, (sockets::BatchWait{.adaptive = false, .fixed_us = 0}));
}

TEST(ConfigTest, UdpIoIsAutoUnlessTold) {
  auto plain = ParseConfig("zones: [a.zone]\n", "c.yaml");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->server.udp_io, sockets::UdpIo::kAuto);
  for (const auto& [text, io] : {std::pair{"io_uring", sockets::UdpIo::kIoUring},
                                 std::pair{"recvmmsg", sockets::UdpIo::kRecvmmsg},
                                 std::pair{"auto", sockets::UdpIo::kAuto}}) {
    auto told =
        ParseConfig(absl::StrCat("server: {udp_io: ", text, "}\nzones: [a.zone]\n"), "c.yaml");
    ASSERT_TRUE(told.ok()) << told.status();
    EXPECT_EQ(told->server.udp_io, io) << text;
  }
}

TEST(ConfigTest, DnssecZonesAndIdentity) {
  auto config = ParseConfig(
      "server: {identity: edge-fra-1, version: \"agility 1\", dnssec_cache_mb: 64}\n"
      "zones: [a.zone]\ndnssec:\n  Example.COM.: {keys: keys/example.com}\n",
      "/etc/agility/c.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.identity, "edge-fra-1");
  EXPECT_EQ(config->server.version, "agility 1");
  EXPECT_EQ(config->server.dnssec_cache_mb, 64u);
  ASSERT_EQ(config->dnssec.size(), 1u);
  EXPECT_EQ(config->dnssec[0].apex, std::string("\7example\3com\0", 13));
  EXPECT_EQ(config->dnssec[0].keys, "/etc/agility/keys/example.com");
  EXPECT_EQ(config->dnssec[0].line, 4);
}

TEST(ConfigTest, RemotesAndSecondaryZones) {
  auto config = ParseConfig(
      "keys:\n  xfr: {algorithm: hmac-sha256, secret: AAAA}\n"
      "remotes:\n  hidden: {address: \"127.0.0.1:5300\", key: xfr}\n"
      "  bare: {address: \"::1\"}\n"
      "zones:\n  - a.zone\n  - {name: Example.NET, primaries: [hidden, bare]}\n",
      "/etc/agility/c.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->remotes.size(), 2u);
  EXPECT_EQ(config->remotes[0].address.ToString(), "127.0.0.1:5300");
  EXPECT_EQ(config->remotes[0].key, "xfr");
  EXPECT_EQ(config->remotes[1].address.ToString(), "[::1]:53");
  EXPECT_EQ(config->remotes[1].key, "");
  ASSERT_EQ(config->zones.size(), 1u);
  ASSERT_EQ(config->secondaries.size(), 1u);
  EXPECT_EQ(config->secondaries[0].apex, std::string("\7example\3net\0", 13));
  EXPECT_EQ(config->secondaries[0].primaries, (std::vector<std::string>{"hidden", "bare"}));
  EXPECT_EQ(config->secondaries[0].line, 8);
}

TEST(ConfigTest, Catalogs) {
  auto config = ParseConfig(
      "remotes:\n  hidden: {address: \"127.0.0.1:5300\"}\n"
      "catalogs:\n  - {name: catalog.invalid, primaries: [hidden], max_zones: 500}\n"
      "server: {state_dir: /var/lib/agility}\n",
      "/etc/agility/c.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->secondaries.size(), 1u);
  EXPECT_TRUE(config->secondaries[0].catalog);
  EXPECT_EQ(config->secondaries[0].max_zones, 500u);
  EXPECT_EQ(config->secondaries[0].primaries, (std::vector<std::string>{"hidden"}));
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
        BadCase{"remotes:\n  p: {address: \"127.0.0.1:53\", key: nokey}\n"
                "zones: [{name: a.example, primaries: [p]}]\n",
                "bad.yaml:2:", "remote 'p': key 'nokey' is not defined under keys:"},
        BadCase{"zones:\n  - {name: a.example, primaries: [nowhere]}\n",
                "bad.yaml:2:", "primary 'nowhere' is not defined under remotes:"},
        BadCase{"remotes:\n  p: {address: \"not an address\"}\nzones: [a]\n",
                "bad.yaml:2:", "remotes.p.address 'not an address'"},
        BadCase{"remotes:\n  p: {address: \"127.0.0.1\", port: 53}\nzones: [a]\n",
                "bad.yaml:2:", "unknown key 'port' in remotes.p"},
        BadCase{"remotes:\n  p: {address: \"127.0.0.1\"}\n"
                "zones:\n  - {name: a.example, primaries: [p]}\n"
                "  - {name: A.example., primaries: [p]}\n",
                "bad.yaml:5:", "zone 'A.example.' is listed twice (line 4)"},
        BadCase{"zones:\n  - {name: a.example}\n",
                "bad.yaml:2:", "a secondary zone needs name and primaries"},
        BadCase{"catalogs:\n  - {name: c.invalid, primaries: [nowhere]}\n",
                "bad.yaml:2:", "primary 'nowhere' is not defined under remotes:"},
        BadCase{"remotes:\n  p: {address: \"127.0.0.1\"}\n"
                "catalogs:\n  - {name: c.invalid, primaries: [p], max_zones: 0}\n",
                "bad.yaml:4:", "max_zones must be an integer in 1..10000000"},
        BadCase{"remotes:\n  p: {address: \"127.0.0.1\"}\n"
                "catalogs:\n  - {name: c.invalid, primaries: [p], coo: x}\n",
                "bad.yaml:4:", "unknown key 'coo' in a catalog"},
        BadCase{"remotes:\n  p: {address: \"127.0.0.1\"}\n"
                "zones:\n  - {name: c.invalid, primaries: [p]}\n"
                "catalogs:\n  - {name: c.invalid, primaries: [p]}\n",
                "bad.yaml:6:", "zone 'c.invalid' is listed twice (line 4)"},
        BadCase{"zones:\n  - {name: a.example, primaries: [], notify: x}\n",
                "bad.yaml:2:", "unknown key 'notify' in a secondary zone"},
        BadCase{"zones: [a]\nkeys:\n  xfr: {algorithm: hmac-md4, secret: AAAA}\n",
                "bad.yaml:3:", "unknown TSIG algorithm 'hmac-md4'"},
        BadCase{"zones: [a]\nkeys:\n  xfr: {algorithm: hmac-sha256, secret: \"n0t b64!\"}\n",
                "bad.yaml:3:", "the secret must be base64"},
        BadCase{"zones: [a]\nkeys:\n  xfr: {algorithm: hmac-sha256}\n",
                "bad.yaml:3:", "keys.xfr needs algorithm and secret"},
        BadCase{"zones: [a]\nkeys:\n  xfr: {algorithm: hmac-sha256, secret: AAAA, x: 1}\n",
                "bad.yaml:3:", "unknown key 'x' in keys.xfr"},
        BadCase{"server:\n  identity: [a]\nzones: [a]\n",
                "bad.yaml:2:", "server.identity must be a string of at most 255 octets"},
        BadCase{"zones: [a]\ndnssec:\n  example..com: {keys: k}\n",
                "bad.yaml:3:", "dnssec: 'example..com' is not a zone name"},
        BadCase{"zones: [a]\ndnssec:\n  example.com: {kyes: k}\n",
                "bad.yaml:3:", "unknown key 'kyes' in dnssec.example.com"},
        BadCase{"zones: [a]\ndnssec:\n  example.com: {}\n",
                "bad.yaml:3:", "dnssec.example.com needs keys"},
        BadCase{"server:\n  dnssec_cache_mb: -1\nzones: [a]\n",
                "bad.yaml:2:", "server.dnssec_cache_mb must be an integer"},
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
        BadCase{"zones: [a]\ncookies:\n  secrets:\n    - 00112233445566778899aabbccddeeff\n"
                "    - 0011\n",
                "bad.yaml:5:", "a cookie secret is 32 hexadecimal digits"},
        BadCase{"zones: [a]\ncookies: {secrets: e5e973e5a6b2a43f48e7dc849e37bfcf}\n",
                "bad.yaml:2:", "cookies.secrets must be a list"},
        BadCase{"zones: [a]\ncookies: {secret: x}\n", "bad.yaml:2:", "unknown key 'secret'"},
        BadCase{"server:\n  tcp_max_connections: 0\nzones: [a]\n",
                "bad.yaml:2:", "server.tcp_max_connections must be an integer"},
        BadCase{"server:\n  tcp_query_timeout_ms: 5\nzones: [a]\n",
                "bad.yaml:2:", "server.tcp_query_timeout_ms must be an integer"},
        BadCase{"server:\n  udp_batch_wait_us: 5000\nzones: [a]\n", "bad.yaml:2:",
                "server.udp_batch_wait_us must be an integer in 0..1000 or \"auto\""},
        BadCase{"server:\n  udp_batch_wait_us: soon\nzones: [a]\n", "bad.yaml:2:",
                "server.udp_batch_wait_us must be an integer in 0..1000 or \"auto\""},
        BadCase{"server:\n  udp_io: epoll\nzones: [a]\n",
                "bad.yaml:2:", "server.udp_io must be auto, io_uring or recvmmsg, not \"epoll\""},
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

// Weighted pools: a list of {prefix, weight}.
INSTANTIATE_TEST_SUITE_P(
    WeightedPools, ConfigErrorTest,
    ::testing::Values(
        BadCase{"zones: [a]\npools:\n  p:\n    - {prefix: 10.0.0.0/24, weight: 1}\n"
                "    - {prefix: 10.0.1.0/24, weight: 1000001}\n",
                "bad.yaml:5:", "pool 'p': weight must be an integer in 0..1000000"},
        BadCase{"zones: [a]\npools:\n  p:\n    - {prefix: 10.0.0.0/24, weight: -1}\n",
                "bad.yaml:4:", "pool 'p': weight must be an integer in 0..1000000"},
        BadCase{"zones: [a]\npools:\n  p:\n    - {prefix: 10.0.0.0/24, weight: 1.5}\n",
                "bad.yaml:4:", "pool 'p': weight must be an integer"},
        BadCase{"zones: [a]\npools:\n  p:\n    - {prefix: 10.0.0.0/24, weight: 0}\n"
                "    - {prefix: 10.0.1.0/24, weight: 0}\n",
                "bad.yaml:4:", "pool 'p': at least one weight must be above 0"},
        BadCase{"zones: [a]\npools:\n  p: [{prefix: 10.0.0.0/24, weight: 0}]\n",
                "bad.yaml:3:", "pool 'p': at least one weight must be above 0"},
        BadCase{"zones: [a]\npools:\n  p:\n    - {prefix: 10.0.0.0/16, weight: 1}\n"
                "    - {prefix: 10.0.1.0/24, weight: 1}\n",
                "bad.yaml:5:", "pool 'p': 10.0.1.0/24 overlaps 10.0.0.0/16 (line 4)"},
        // The later line is named, whichever prefix is the wider.
        BadCase{"zones: [a]\npools:\n  p:\n    - {prefix: 10.0.1.0/24, weight: 1}\n"
                "    - {prefix: 10.9.0.0/24, weight: 1}\n    - {prefix: 10.0.0.0/16, weight: 1}\n",
                "bad.yaml:6:", "pool 'p': 10.0.0.0/16 overlaps 10.0.1.0/24 (line 4)"},
        BadCase{"zones: [a]\npools:\n  p:\n    - prefix: 10.0.0.0/24\n      weight: 2\n"
                "    - prefix: 10.0.0.0/24\n",
                "bad.yaml:6:", "pool 'p': 10.0.0.0/24 overlaps 10.0.0.0/24 (line 4)"},
        BadCase{"zones: [a]\npools:\n  p:\n    - {prefix: \"fd00::/64\", weight: 1}\n"
                "    - {prefix: 10.0.1.0/24, weight: 1}\n",
                "bad.yaml:5:", "pool 'p': 10.0.1.0/24 and fd00::/64 mix IPv4 and IPv6"},
        BadCase{"zones: [a]\npools:\n  p:\n    - {prefix: 10.0.0.0/24, weight: 1}\n"
                "    - {prefix: 10.0.1.0/24, wieght: 2}\n",
                "bad.yaml:5:", "unknown key 'wieght' in pool 'p': a prefix"},
        BadCase{"zones: [a]\npools:\n  p:\n    - {prefix: 10.0.0.0/24}\n    - {weight: 2}\n",
                "bad.yaml:5:", "pool 'p': each entry needs a prefix"},
        BadCase{"zones: [a]\npools:\n  p:\n    - {prefix: 10.0.0.0/24}\n    - 10.0.1.0/24\n",
                "bad.yaml:5:", "pool 'p': a prefix must be a mapping"},
        BadCase{"zones: [a]\npools:\n  p:\n    - {prefix: 10.0.0.1/24, weight: 1}\n",
                "bad.yaml:4:", "pool 'p': '10.0.0.1/24' has host bits set"},
        BadCase{"zones: [a]\npools:\n  p: []\n",
                "bad.yaml:3:", "pool 'p' must be a prefix or a non-empty list"},
        BadCase{"zones: [a]\npools:\n  p: {prefix: 10.0.0.0/24}\n",
                "bad.yaml:3:", "pool 'p' must be a prefix or a non-empty list"},
        BadCase{"zones: [a]\npools:\n  p: ~\n",
                "bad.yaml:3:", "pool 'p' must be a prefix or a non-empty list"},
        BadCase{"zones: [a]\nsk_lookup: {drain_grace_s: 604801}\n",
                "bad.yaml:2:", "sk_lookup.drain_grace_s must be an integer in 0..604800"},
        BadCase{"zones: [a]\nsk_lookup:\n  drain_grace_s: -1\n",
                "bad.yaml:3:", "sk_lookup.drain_grace_s must be an integer"},
        BadCase{"zones: [a]\nsk_lookup: {grace: 5}\n", "bad.yaml:2:", "unknown key 'grace'"},
        BadCase{"server:\n  state_dir: \"\"\nzones: [a]\n",
                "bad.yaml:2:", "server.state_dir must be a non-empty string"},
        BadCase{"server:\n  state_dir: [a, b]\nzones: [a]\n",
                "bad.yaml:2:", "server.state_dir must be a non-empty string"}));

TEST(ConfigTest, WeightedPool) {
  auto config = ParseConfig(R"(server:
  state_dir: state
zones: [a.zone]
sk_lookup: {drain_grace_s: 0}
pools:
  edge4:
    - {prefix: 127.77.0.0/24, weight: 3}
    - prefix: 127.77.1.0/24
      weight: 1
    - {prefix: 127.77.2.0/24, weight: 0}
    - {prefix: 127.77.3.4/32}
  edge6: "fd00:77::/44"
  single: [{prefix: "fd00:78::/48", weight: 1000000}]
)",
                            "/etc/agility/agility.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.state_dir, "/etc/agility/state");
  EXPECT_EQ(config->sk_lookup.drain_grace_s, 0u);
  ASSERT_EQ(config->pools.size(), 3u);

  const PoolConfig& edge4 = config->pools[0];
  EXPECT_EQ(edge4.name, "edge4");
  EXPECT_EQ(edge4.line, 6);
  EXPECT_TRUE(edge4.ipv4());
  ASSERT_EQ(edge4.prefixes.size(), 4u);
  const char* prefixes[] = {"127.77.0.0/24", "127.77.1.0/24", "127.77.2.0/24", "127.77.3.4/32"};
  const uint32_t weights[] = {3, 1, 0, 1};
  const int lines[] = {7, 8, 10, 11};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(edge4.prefixes[i].prefix.ToString(), prefixes[i]) << i;
    EXPECT_EQ(edge4.prefixes[i].weight, weights[i]) << i;
    EXPECT_EQ(edge4.prefixes[i].line, lines[i]) << i;
  }

  const PoolConfig& edge6 = config->pools[1];
  EXPECT_EQ(edge6.name, "edge6");
  EXPECT_FALSE(edge6.ipv4());
  ASSERT_EQ(edge6.prefixes.size(), 1u);
  EXPECT_EQ(edge6.prefixes[0].prefix.ToString(), "fd00:77::/44");
  EXPECT_EQ(edge6.prefixes[0].weight, 1u) << "a bare prefix weighs 1";
  EXPECT_EQ(edge6.prefixes[0].line, 12);

  const PoolConfig& single = config->pools[2];
  ASSERT_EQ(single.prefixes.size(), 1u);
  EXPECT_EQ(single.prefixes[0].weight, kMaxWeight);
  EXPECT_EQ(single.prefixes[0].line, 13);
}

TEST(ConfigTest, WeightedPoolsServePolicies) {
  auto config = ParseConfig(
      "zones: [a]\npools:\n  p:\n    - {prefix: 10.0.0.0/24, weight: 0}\n"
      "    - {prefix: 10.0.2.0/23, weight: 5}\n    - {prefix: 10.0.1.0/24, weight: 5}\n"
      "  q: [{prefix: \"fd00::/64\"}, {prefix: \"fd00:0:0:1::/64\", weight: 2}]\n"
      "policies:\n  - {name: x, match: [a.com], ipv4: p, ipv6: q}\n",
      "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->policies.size(), 1u);
  EXPECT_EQ(config->pools[config->policies[0].ipv4_pool].name, "p");
  EXPECT_EQ(config->pools[config->policies[0].ipv6_pool].name, "q");
  EXPECT_EQ(config->pools[0].prefixes.size(), 3u) << "adjacent prefixes do not overlap";
}

// An empty value ("p:" and nothing) is a null node whose yaml-cpp mark is the
// next token: the error must name the key's line instead.
TEST(ConfigTest, EmptyPoolNamesTheKeyLine) {
  auto config = ParseConfig("zones: [a]\npools:\n  p:\n  q: 10.0.0.0/8\n", "bad.yaml");
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()),
              HasSubstr("bad.yaml:3: pool 'p' must be a prefix or a non-empty list"));
}

TEST(ConfigTest, StateAndGraceDefaults) {
  auto config = ParseConfig("zones: [a]\n", "c.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server.state_dir, "/var/lib/agility");
  EXPECT_EQ(config->sk_lookup.drain_grace_s, 60u);
  auto absolute = ParseConfig(
      "server: {state_dir: /srv/agility/state}\nzones: [a]\nsk_lookup: {drain_grace_s: 604800}\n",
      "/etc/c.yaml");
  ASSERT_TRUE(absolute.ok()) << absolute.status();
  EXPECT_EQ(absolute->server.state_dir, "/srv/agility/state");
  EXPECT_EQ(absolute->sk_lookup.drain_grace_s, 604800u);
}

TEST(ConfigTest, WeightedPoolReportsEveryBadEntry) {
  auto config = ParseConfig(
      "zones: [a]\npools:\n  p:\n    - {prefix: 10.0.0.0/24, weight: 2000000}\n"
      "    - {prefix: 10.0.1.0/24, colour: red}\n    - {prefix: 10.0.2.1/24}\n",
      "bad.yaml");
  ASSERT_FALSE(config.ok());
  const std::string message(config.status().message());
  EXPECT_THAT(message, HasSubstr("bad.yaml:4: pool 'p': weight must be"));
  EXPECT_THAT(message, HasSubstr("bad.yaml:5: unknown key 'colour'"));
  EXPECT_THAT(message, HasSubstr("bad.yaml:6: pool 'p': '10.0.2.1/24' has host bits"));
}

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

TEST(ConfigTest, CookieSettings) {
  EXPECT_FALSE(ParseConfig("zones: [a]\n", "c.yaml")->cookies.enabled) << "off by default";
  auto random = ParseConfig("zones: [a]\ncookies: {}\n", "c.yaml");
  ASSERT_TRUE(random.ok()) << random.status();
  EXPECT_TRUE(random->cookies.enabled);
  EXPECT_TRUE(random->cookies.secrets.empty()) << "a random secret per process";
  auto fleet = ParseConfig(
      "zones: [a]\ncookies: {secrets: [E5E973E5A6B2A43F48E7DC849E37BFCF, "
      "445536bcd2513298075a5d379663c962]}\n",
      "c.yaml");
  ASSERT_TRUE(fleet.ok()) << fleet.status();
  ASSERT_EQ(fleet->cookies.secrets.size(), 2u);
  EXPECT_EQ(fleet->cookies.secrets[0][0], 0xe5);
  EXPECT_EQ(fleet->cookies.secrets[1][15], 0x62);
}

}  // namespace
}  // namespace agility::config
