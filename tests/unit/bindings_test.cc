#include "sockets/bindings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace agility::sockets {
namespace {

using ::testing::HasSubstr;

config::Config Parse(const std::string& yaml) {
  auto config = config::ParseConfig(yaml, "b.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : config::Config{};
}

constexpr char kBase[] = R"(zones: [a.zone]
pools: {v4: 127.77.0.0/20, v6: "fd00:77::/44"}
services: {edge: {}, special: {}}
)";

TEST(BindingsTest, PolicyPoolsOnDefaultWebPorts) {
  auto bindings = BindingsFromConfig(Parse(std::string(kBase) + R"(policies:
  - {name: p, match: ["*.example.com"], ipv4: v4, ipv6: v6, service: edge}
)"));
  ASSERT_TRUE(bindings.ok()) << bindings.status();
  ASSERT_EQ(bindings->size(), 26u);  // 13 web ports x 2 families, TCP only
  for (const Binding& b : *bindings) {
    EXPECT_EQ(b.label, "edge");
    EXPECT_EQ(b.protocol, config::Protocol::kTcp);
  }
  EXPECT_EQ((*bindings)[0].ToString(), "tcp 127.77.0.0/20 port 80 -> edge");
  EXPECT_EQ((*bindings)[0].mapped_length(), 116);
}

TEST(BindingsTest, PortsProtocolsAndExplicitBindings) {
  auto bindings = BindingsFromConfig(Parse(std::string(kBase) + R"(policies:
  - {name: p, match: [a.com], ipv4: v4, service: edge, ports: [0], protocols: [tcp, udp]}
  - {name: q, match: [b.com], ipv4: v4}
bindings:
  - {label: special, protocol: tcp, prefix: 127.77.0.200/32, port: 443}
)"));
  ASSERT_TRUE(bindings.ok()) << bindings.status();
  ASSERT_EQ(bindings->size(), 3u);
  EXPECT_EQ((*bindings)[0].ToString(), "tcp 127.77.0.0/20 port any -> edge");
  EXPECT_EQ((*bindings)[1].ToString(), "udp 127.77.0.0/20 port any -> edge");
  EXPECT_EQ((*bindings)[2].ToString(), "tcp 127.77.0.200/32 port 443 -> special");
  uint8_t mapped[16];
  (*bindings)[2].MappedAddress(mapped);
  EXPECT_EQ(mapped[10], 0xff);
  EXPECT_EQ(mapped[15], 200);
}

TEST(BindingsTest, SameTripleOnTwoLabelsIsAnError) {
  auto bindings = BindingsFromConfig(Parse(std::string(kBase) + R"(policies:
  - {name: p, match: [a.com], ipv4: v4, service: edge, ports: [443]}
bindings:
  - {label: special, protocol: tcp, prefix: 127.77.0.0/20, port: 443}
)"));
  ASSERT_FALSE(bindings.ok());
  EXPECT_THAT(std::string(bindings.status().message()), HasSubstr("b.yaml:7: "));
  EXPECT_THAT(std::string(bindings.status().message()), HasSubstr("conflicts with"));
}

TEST(BindingsTest, ConfigRejectsUndeclaredLabels) {
  auto config = config::ParseConfig(std::string(kBase) + R"(policies:
  - {name: p, match: [a.com], ipv4: v4, service: nobody}
bindings:
  - {label: ghost, protocol: udp, prefix: 127.0.0.1/32, port: 53}
  - {label: dns, protocol: udp, prefix: 127.0.0.2/32, port: 53}
)",
                                    "b.yaml");
  ASSERT_FALSE(config.ok());
  const std::string message(config.status().message());
  EXPECT_THAT(message, HasSubstr("b.yaml:5: policy 'p': service 'nobody' is not declared"));
  EXPECT_THAT(message, HasSubstr("b.yaml:7: binding label 'ghost'"));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("'dns'")));
}

TEST(BindingsTest, ConfigChecksSkLookupAndBindingFields) {
  auto config = config::ParseConfig(std::string(kBase) + R"(sk_lookup: {required: maybe}
bindings:
  - {label: edge, protocol: sctp, prefix: 127.0.0.1/32, port: 53}
  - {label: edge, protocol: tcp, prefix: 127.0.0.1/32, port: 70000}
  - {label: edge, protocol: tcp, port: 80}
policies:
  - {name: p, match: [a.com], ipv4: v4, ports: [80]}
)",
                                    "b.yaml");
  ASSERT_FALSE(config.ok());
  const std::string message(config.status().message());
  EXPECT_THAT(message, HasSubstr("b.yaml:4: sk_lookup.required must be true or false"));
  EXPECT_THAT(message, HasSubstr("b.yaml:6: protocol must be tcp or udp"));
  EXPECT_THAT(message, HasSubstr("b.yaml:7: binding port must be an integer in 0..65535"));
  EXPECT_THAT(message, HasSubstr("b.yaml:8: a binding needs 'prefix'"));
  EXPECT_THAT(message, HasSubstr("b.yaml:10: policy 'p': ports and protocols need a service"));
}

}  // namespace
}  // namespace agility::sockets
