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

// OK when neither Knot DNS nor ldns knows `type` (any bytes are valid data
// then); for a type Knot knows, when `rdata` reads as that type's wire form
// and writing it back out as text and scanning that text gives the same
// bytes; for a type only ldns knows (MB, MG, WKS...), when ldns's wire parser
// reads it to the last byte. Not for the hot path: it allocates and scans.
absl::Status CheckGenericRdata(uint16_t type, absl::string_view rdata);

// OK when libknot's text dumper may be given `rdata` of `type`: the salt
// and hash lengths inside NSEC3 and NSEC3PARAM data fit the data (the
// dumper of Debian 12's libknot 3.2 reads past the data when they do not;
// upstream checks since 2026), and the type is not TSIG or TKEY (whose
// dumper has the same flaw, and which no zone holds).
absl::Status CheckDumpable(uint16_t type, absl::string_view rdata);

}  // namespace agility::dns
