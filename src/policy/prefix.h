// An IPv4 or IPv6 prefix such as 127.77.0.0/20 or fd00:77::/44.
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace agility::policy {

struct Prefix {
  // The network address; IPv4 uses the first 4 bytes.
  uint8_t bytes[16] = {};
  uint8_t length = 0;
  bool ipv4 = true;

  // Accepts "a.b.c.d/n", "x::y/n", or a bare address (a /32 or /128). Host
  // bits must be zero so that a typo cannot silently widen or move a pool.
  static absl::StatusOr<Prefix> Parse(absl::string_view text);

  int address_size() const { return ipv4 ? 4 : 16; }
  int max_length() const { return ipv4 ? 32 : 128; }
  int host_bits() const { return max_length() - length; }
  bool Contains(const uint8_t* address) const;
  std::string ToString() const;
  // Number of addresses, saturated at 2^64 - 1 for very short IPv6 prefixes.
  uint64_t size() const;
};

bool operator==(const Prefix& a, const Prefix& b);

}  // namespace agility::policy
