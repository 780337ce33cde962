// A fixed-size cache of online signatures, one per worker (no locks). It is
// set-associative: a signature's key picks a set of four ways, and a full
// set gives up the way a CLOCK hand finds unused since it last passed. So
// the cache never grows past its budget and never empties at once (the
// wholesale clear that stalls PowerDNS, its issue 12899): what is asked for
// stays, what is not ages out a way at a time.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dns/zone_keys.h"

namespace agility::dns {

// 128 bits naming one signature: the signing key and window, the owner,
// type, TTL and RDATA of the RRset (see OnlineSigner).
struct SignatureKey {
  uint64_t hash = 0;
  uint64_t check = 0;
};

class SignatureCache {
 public:
  // Room for as many signatures as fit in `bytes` (none below one set).
  explicit SignatureCache(size_t bytes);
  ~SignatureCache();
  SignatureCache(const SignatureCache&) = delete;
  SignatureCache& operator=(const SignatureCache&) = delete;

  // The kSignatureSize bytes cached under `key`, or nullptr.
  const uint8_t* Find(const SignatureKey& key);
  // Caches `signature` (kSignatureSize bytes) under `key`; returns true when
  // that evicted another.
  bool Insert(const SignatureKey& key, const uint8_t* signature);

  size_t capacity() const { return set_count_ * kWays; }
  // Bytes reserved: at most the budget; pages are touched as sets fill.
  size_t bytes() const { return set_count_ * sizeof(Set) + set_count_; }
  static constexpr size_t kBytesPerSignature = 80;  // with its 128-bit key

 private:
  static constexpr int kWays = 4;
  // Keys first: a lookup reads one cache line, a hit one more.
  struct alignas(64) Set {
    uint64_t hash[kWays];  // 0: empty way
    uint64_t check[kWays];
    uint8_t signature[kWays][kSignatureSize];
  };
  static_assert(sizeof(Set) == kWays * kBytesPerSignature);

  size_t SetOf(uint64_t hash) const { return hash % set_count_; }

  Set* sets_ = nullptr;
  // Per set: bits 0-3 the ways used since the hand last passed, bits 4-5
  // the hand. Apart from the sets so that hits do not dirty their lines.
  uint8_t* clock_ = nullptr;
  size_t set_count_ = 0;
  size_t mapped_ = 0;
};

}  // namespace agility::dns
