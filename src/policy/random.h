// The per-worker random generator behind pool draws: PCG64 from Abseil, fast
// and seeded from the OS; tests seed it explicitly to be reproducible.
#pragma once

#include <cstdint>
#include <random>

#include "absl/random/random.h"

namespace agility::policy {

using Rng = absl::InsecureBitGen;

inline Rng SeededRng(uint64_t seed) {
  std::seed_seq sequence{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  return Rng(sequence);
}

}  // namespace agility::policy
