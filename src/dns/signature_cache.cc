#include "dns/signature_cache.h"

#include <sys/mman.h>

#include <cstring>

namespace agility::dns {

SignatureCache::SignatureCache(size_t bytes) {
  set_count_ = bytes / (sizeof(Set) + 1);
  if (set_count_ == 0) return;
  // Anonymous pages: zero until written, so the budget is an upper bound on
  // memory, not an up-front cost.
  mapped_ = set_count_ * (sizeof(Set) + 1);
  void* memory = mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    set_count_ = 0;
    mapped_ = 0;
    return;
  }
  sets_ = static_cast<Set*>(memory);
  clock_ = reinterpret_cast<uint8_t*>(sets_ + set_count_);
}

SignatureCache::~SignatureCache() {
  if (mapped_ != 0) munmap(sets_, mapped_);
}

const uint8_t* SignatureCache::Find(const SignatureKey& key) {
  if (set_count_ == 0) return nullptr;
  const size_t index = SetOf(key.hash);
  Set& set = sets_[index];
  const uint64_t hash = key.hash | 1;  // never 0, the empty way
  for (int way = 0; way < kWays; ++way) {
    if (set.hash[way] == hash && set.check[way] == key.check) {
      if (!(clock_[index] & (1u << way))) clock_[index] |= static_cast<uint8_t>(1u << way);
      return set.signature[way];
    }
  }
  return nullptr;
}

bool SignatureCache::Insert(const SignatureKey& key, const uint8_t* signature) {
  if (set_count_ == 0) return false;
  const size_t index = SetOf(key.hash);
  Set& set = sets_[index];
  uint8_t& clock = clock_[index];
  int way = 0;
  while (way < kWays && set.hash[way] != 0) ++way;
  const bool evicts = way == kWays;
  if (evicts) {
    // The second-chance sweep: a way used since the hand last passed loses
    // its mark and is spared once.
    int hand = clock >> 4;
    while (clock & (1u << hand)) {
      clock &= static_cast<uint8_t>(~(1u << hand));
      hand = (hand + 1) % kWays;
    }
    way = hand;
    clock = static_cast<uint8_t>((clock & 0x0f) | (((hand + 1) % kWays) << 4));
  }
  set.hash[way] = key.hash | 1;
  set.check[way] = key.check;
  std::memcpy(set.signature[way], signature, kSignatureSize);
  // Unmarked until asked for again: a signature used once (a random name's
  // denial) goes before one that is asked for again and again.
  clock &= static_cast<uint8_t>(~(1u << way));
  return evicts;
}

}  // namespace agility::dns
