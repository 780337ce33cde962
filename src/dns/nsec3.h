// NSEC3 (RFC 5155): the hashed owner names of a zone signed with NSEC3.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace agility::dns {

inline constexpr size_t kNsec3HashSize = 20;  // SHA-1, the one algorithm defined

// A zone's NSEC3PARAM: how its names are hashed.
struct Nsec3Params {
  uint16_t iterations = 0;
  uint8_t salt_size = 0;
  uint8_t salt[255];
};

// Reads NSEC3 or NSEC3PARAM RDATA's leading fields (algorithm, flags,
// iterations, salt). False when the data is short or the algorithm is not
// SHA-1.
bool ReadNsec3Params(const uint8_t* rdata, size_t size, Nsec3Params& params);

// The NSEC3 hash of a lowercase wire name (RFC 5155 §5). No allocation: it
// runs for negative answers.
void Nsec3Hash(absl::string_view name, const Nsec3Params& params, uint8_t out[kNsec3HashSize]);

// Decodes the base32hex (RFC 4648 §7) label of an NSEC3 owner, 32
// characters without padding, either case. False when it is not one.
bool DecodeNsec3Label(absl::string_view label, uint8_t out[kNsec3HashSize]);

}  // namespace agility::dns
