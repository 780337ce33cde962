// The pieces of a compact denial of existence (RFC 9824) made per query: the
// NSEC's next name and its type bitmap. No allocation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "dns/wire.h"

namespace agility::dns {

// Room for a bitmap of every type in the first windows a node can use.
inline constexpr size_t kMaxBitmapSize = 8 * (2 + 32);

// Writes into `out` (kMaxNameLength bytes) the next name of an NSEC owned by
// `name` (lowercase wire, at or below `apex`) that covers no other name:
// "\000.<name>" (RFC 9824 §3.1). At a zone cut that name would lie in the
// child, so `at_cut` takes "<label>\000.<parent>" instead (§3.4). A name too
// long for either takes RFC 4471's increment of its first label, which ends
// at the apex. Returns the size.
size_t NextName(absl::string_view name, absl::string_view apex, bool at_cut, uint8_t* out);

// Writes the RFC 4034 §4.1.2 bitmap of `types` (any order, repeats allowed,
// windows past kMaxBitmapSize left out) into `out`; returns its size.
size_t WriteTypeBitmap(const uint16_t* types, int count, uint8_t* out);

}  // namespace agility::dns
