// The steering table derived from the configuration: every pool address of
// a policy with a service, on each of its ports and protocols, plus the
// explicit `bindings:` entries.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"

namespace agility::sockets {

struct Binding {
  std::string label;
  config::Protocol protocol = config::Protocol::kTcp;
  policy::Prefix prefix;
  uint16_t port = 0;   // 0 = every port
  std::string source;  // where it came from, for error messages and listings
  // A pool prefix's binding: its addresses are handed out in answers with
  // TTLs up to `ttl`, so it drains when it goes (see sockets::Drains).
  bool answered = false;
  uint32_t ttl = 0;
  bool draining = false;  // kept only until answers that carried it expire

  // (protocol, prefix, port): what the LPM trie holds one label for.
  std::string Key() const;

  // Prefix length over the IPv4-mapped IPv6 address space.
  int mapped_length() const { return prefix.ipv4 ? 96 + prefix.length : prefix.length; }
  // The address as IPv6 (IPv4 mapped as ::ffff:a.b.c.d).
  void MappedAddress(uint8_t (&out)[16]) const;
  std::string ToString() const;
};

// Fails when one (protocol, prefix, port) is bound to two different labels.
absl::StatusOr<std::vector<Binding>> BindingsFromConfig(const config::Config& config);

}  // namespace agility::sockets
