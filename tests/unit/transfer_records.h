// Records of example.net. in the form transfers carry them, for the unit
// tests of transfers, journals and overlays.
#pragma once

#include <cstdint>
#include <string>

#include "dns/name.h"
#include "dns/transfer.h"
#include "dns/wire.h"

namespace agility::dns::testing {

inline std::string Wire(const std::string& text) { return *NameFromText(text); }
inline std::string U16(uint16_t v) {
  return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}
inline std::string U32(uint32_t v) { return U16(static_cast<uint16_t>(v >> 16)) + U16(v & 0xffff); }

// The apex SOA at `serial` (refresh 3600, retry 600, expire 86400, minimum 60).
inline TransferRecord Soa(uint32_t serial) {
  return {Wire("example.net."),
          Wire("ns1.example.net.") + Wire("h.example.net.") + U32(serial) + U32(3600) + U32(600) +
              U32(86400) + U32(60),
          300, type::kSoa};
}

}  // namespace agility::dns::testing
