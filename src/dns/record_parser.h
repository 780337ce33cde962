// Parses, without ldns, the master-file records that make up almost every
// large zone: A, AAAA, NS, CNAME, PTR, MX and TXT, with plain names and a
// numeric TTL. Anything else (other types, escapes, TTL units, errors) is left
// to ldns, which also produces the error messages.
#pragma once

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace agility::dns {

struct ParsedRecord {
  std::string owner;  // lowercase wire
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::string rdata;  // wire
};

// `entry` is one logical record (comments and parentheses already removed).
// An entry starting with a blank inherits `previous_owner` (lowercase wire);
// relative names are completed with `origin` (wire). Returns false when the
// entry is not for the fast path; `out` is then unspecified.
bool ParseCommonRecord(absl::string_view entry, absl::string_view origin,
                       absl::string_view previous_owner, uint32_t default_ttl, ParsedRecord& out);

// True when `rdata` has the layout its type demands, for the types whose data
// the server reads (A, AAAA, NS, CNAME, PTR, DNAME, MX, SRV, SOA, TXT): names
// complete and in bounds, fixed fields present, nothing left over. Generic
// data (RFC 3597 "\# 0") can otherwise describe any bytes at all.
bool IsWellFormedRdata(uint16_t type, absl::string_view rdata);

}  // namespace agility::dns
