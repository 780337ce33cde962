#include "dns/rate_limiter.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "absl/hash/hash.h"

namespace agility::dns {
namespace {

constexpr int kProbes = 4;

uint64_t RoundUpPowerOfTwo(uint64_t n) {
  uint64_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

}  // namespace

RateLimiter::RateLimiter(const RateLimitConfig& config)
    : config_(config),
      interval_ns_(
          std::max<uint64_t>(1, 1000000000 / std::max<uint32_t>(1, config.responses_per_second))),
      // A burst of one second's worth: the first response of a full bucket
      // and responses_per_second - 1 more.
      burst_ns_(interval_ns_ * (std::max<uint32_t>(1, config.responses_per_second) - 1)),
      mask_(RoundUpPowerOfTwo(std::max<uint32_t>(config.table_size, kProbes)) - 1),
      table_(std::make_unique<Bucket[]>(mask_ + 1)) {}

uint64_t RateLimiter::Key(const sockaddr* client, ResponseKind kind, absl::string_view name) const {
  uint8_t network[16] = {};
  int bits = 0;
  if (client->sa_family == AF_INET) {
    std::memcpy(network, &reinterpret_cast<const sockaddr_in*>(client)->sin_addr, 4);
    bits = config_.ipv4_prefix;
  } else {
    std::memcpy(network, &reinterpret_cast<const sockaddr_in6*>(client)->sin6_addr, 16);
    bits = config_.ipv6_prefix;
  }
  for (int bit = bits; bit < 128; ++bit)
    network[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  const uint64_t key =
      absl::HashOf(absl::string_view(reinterpret_cast<const char*>(network), sizeof(network)),
                   static_cast<int>(client->sa_family), static_cast<int>(kind), name);
  return key == 0 ? 1 : key;  // 0 marks an empty bucket
}

RateLimiter::Verdict RateLimiter::Check(const sockaddr* client, ResponseKind kind,
                                        absl::string_view name, uint64_t now_ms) {
  const uint64_t key = Key(client, kind, name);
  const uint64_t now = now_ms * 1000000;
  // A few probes; a new key takes the stalest of them.
  Bucket* bucket = nullptr;
  Bucket* stalest = nullptr;
  uint64_t stalest_full_at = UINT64_MAX;
  for (int i = 0; i < kProbes; ++i) {
    Bucket& b = table_[(key + static_cast<uint64_t>(i)) & mask_];
    if (b.key.load(std::memory_order_relaxed) == key) {
      bucket = &b;
      break;
    }
    const uint64_t full_at = b.full_at_ns.load(std::memory_order_relaxed);
    if (full_at < stalest_full_at) {
      stalest = &b;
      stalest_full_at = full_at;
    }
  }
  if (bucket == nullptr) {
    bucket = stalest;
    bucket->key.store(key, std::memory_order_relaxed);
    bucket->full_at_ns.store(now, std::memory_order_relaxed);
    bucket->limited.store(0, std::memory_order_relaxed);
  }
  uint64_t full_at = bucket->full_at_ns.load(std::memory_order_relaxed);
  while (true) {
    const uint64_t from = std::max(full_at, now);
    if (from - now > burst_ns_) break;  // no token left
    if (bucket->full_at_ns.compare_exchange_weak(full_at, from + interval_ns_,
                                                 std::memory_order_relaxed)) {
      if (bucket->limited.load(std::memory_order_relaxed) != 0) {
        bucket->limited.store(0, std::memory_order_relaxed);
      }
      return Verdict::kSend;
    }
  }
  const uint32_t limited = bucket->limited.fetch_add(1, std::memory_order_relaxed) + 1;
  if (config_.slip != 0 && limited % config_.slip == 0) return Verdict::kSlip;
  return Verdict::kDrop;
}

}  // namespace agility::dns
