// Domain names in uncompressed wire form. Inside agility a name is a
// absl::string_view over its wire bytes ("\3www\7example\3com\0"), lowercased
// wherever it is used as a lookup key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace agility::dns {

// Label start offsets of a validated wire name, root excluded, most specific
// first: for "\3www\7example\3com\0" they are {0, 4, 12}.
struct LabelOffsets {
  uint8_t offset[128];
  int count = 0;
};

// Fills `labels` for a validated, uncompressed wire name.
void ComputeLabelOffsets(absl::string_view name, LabelOffsets& labels);

// The name with its first `skip` labels removed; `labels` belongs to `name`.
inline absl::string_view Suffix(absl::string_view name, const LabelOffsets& labels, int skip) {
  return skip >= labels.count ? name.substr(name.size() - 1) : name.substr(labels.offset[skip]);
}

// True when `name` equals `ancestor` or lies below it (both lowercase wire).
bool IsAtOrBelow(absl::string_view name, absl::string_view ancestor);

// RFC 4034 §6.1 canonical order of two lowercase wire names: labels compared
// from the root down as unsigned octets, a name before its descendants.
// Negative, zero or positive, as memcmp.
int CanonicalCompare(absl::string_view a, absl::string_view b);

// "*.<name>" (RFC 4592), written into `buffer` (kMaxNameLength bytes); empty
// when it would be longer than a name may be.
absl::string_view WildcardOf(absl::string_view name, uint8_t* buffer);

// Length of the validated wire name starting at `p`, root label included.
size_t WireNameLength(const uint8_t* p);

// Reads an uncompressed name from a packet (the question) at `pos`, copying it
// lowercased into `lower` (kMaxNameLength bytes). Returns the offset just past
// the name, or 0 when the name is malformed, compressed or runs off the packet.
size_t ReadQuestionName(const uint8_t* packet, size_t size, size_t pos, uint8_t* lower,
                        size_t* lower_size);

// Skips a possibly compressed name in a packet; 0 when malformed.
size_t SkipPacketName(const uint8_t* packet, size_t size, size_t pos);

// Reads a possibly compressed name from a packet at `pos` into `wire`
// (kMaxNameLength bytes), case kept. Each pointer must point before the labels
// read since the previous one, so no loop is possible. Returns the offset just
// past the name where it starts, or 0 when malformed.
size_t ReadPacketName(const uint8_t* packet, size_t size, size_t pos, uint8_t* wire,
                      size_t* wire_size);

// Presentation format ("www.example.com", trailing dot optional: names in
// configuration are always absolute) to lowercase wire form.
absl::StatusOr<std::string> NameFromText(absl::string_view text);

// Wire to presentation format, for logs and status output.
std::string NameToText(absl::string_view name);

inline absl::string_view AsChars(const uint8_t* p, size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}
inline const uint8_t* AsBytes(absl::string_view s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

}  // namespace agility::dns
