// Parses, without ldns, the master-file records that make up almost every
// large zone: A, AAAA, NS, CNAME, PTR, MX and TXT, with plain names and a
// numeric TTL. Anything else (other types, escapes, TTL units, errors) is left
// to ldns, which also produces the error messages.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
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

// A TTL as master files write it: seconds, or BIND's units ("1h30m", "2D"),
// at most 2^31-1 (RFC 2181 §8). Fails on anything else.
absl::StatusOr<uint32_t> ParseTtl(absl::string_view token);

// The TTL `entry` states, if any, and where: after the owner (absent when
// the entry starts with a blank) come TTL and class in either order (RFC 1035
// §5.1). For records the fast path leaves to ldns, which wraps large TTLs,
// ignores what follows the digits, turns a $TTL of 0 into 3600 and does not
// take a TTL after the class: the caller removes the token and applies the
// TTL itself.
struct TtlField {
  std::optional<uint32_t> ttl;
  size_t begin = 0, end = 0;  // the token in `entry`
};
absl::StatusOr<TtlField> ExplicitTtl(absl::string_view entry);

// True when `rdata` has the layout its type demands, for the types whose data
// the server reads (A, AAAA, NS, CNAME, PTR, DNAME, MX, SRV, SOA, TXT): names
// complete and in bounds, fixed fields present, nothing left over. Generic
// data (RFC 3597 "\# 0") can otherwise describe any bytes at all.
bool IsWellFormedRdata(uint16_t type, absl::string_view rdata);

}  // namespace agility::dns
