// A pool of addresses: draws one address of a prefix uniformly at random.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "policy/prefix.h"
#include "policy/random.h"

namespace agility::policy {

struct Pool {
  std::string name;
  Prefix prefix;

  // Writes prefix.address_size() bytes of `out`. Pool sizes are powers of two, so
  // masking uniform random bits is exactly uniform: no modulo bias, and every
  // address of the prefix, network and broadcast included, is reachable.
  void Draw(Rng& rng, uint8_t (&out)[16]) const {
    const int host_bits = prefix.host_bits();
    if (prefix.ipv4) {
      const uint32_t host = host_bits == 0 ? 0 : static_cast<uint32_t>(rng() >> (64 - host_bits));
      const uint32_t base = static_cast<uint32_t>(prefix.bytes[0]) << 24 |
                            static_cast<uint32_t>(prefix.bytes[1]) << 16 |
                            static_cast<uint32_t>(prefix.bytes[2]) << 8 | prefix.bytes[3];
      const uint32_t address = base | host;
      out[0] = static_cast<uint8_t>(address >> 24);
      out[1] = static_cast<uint8_t>(address >> 16);
      out[2] = static_cast<uint8_t>(address >> 8);
      out[3] = static_cast<uint8_t>(address);
      return;
    }
    std::memcpy(out, prefix.bytes, 16);
    // Fill the host bits from the last byte backwards, 64 bits at a time.
    int remaining = host_bits;
    int byte = 15;
    while (remaining > 0) {
      uint64_t bits = rng();
      for (int i = 0; i < 8 && remaining > 0; ++i, --byte) {
        const int take = remaining >= 8 ? 8 : remaining;
        const uint8_t mask = static_cast<uint8_t>((1u << take) - 1);
        out[byte] = static_cast<uint8_t>((out[byte] & ~mask) | (bits & mask));
        bits >>= 8;
        remaining -= take;
      }
    }
  }
};

}  // namespace agility::policy
