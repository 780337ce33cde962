// RFC 3597 lets a zone file give any record's data as "\# length hex". For a
// type whose layout is known, those bytes must still be data the type's text
// form could have produced: a name that is complete, fixed fields present,
// TXT strings that add up, no compression pointers, SVCB keys in order, NSEC
// bitmaps without empty windows.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace agility::dns {

// OK when Knot DNS does not know `type` (any bytes are valid data then), or
// when `rdata` reads as that type's wire form and writing it back out as text
// and scanning that text gives the same bytes. Not for the hot path: it
// allocates and scans.
absl::Status CheckGenericRdata(uint16_t type, absl::string_view rdata);

}  // namespace agility::dns
