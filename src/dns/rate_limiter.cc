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
  // A few probes; a new key takes the stalest of them (LRU within the probe).
  Bucket* bucket = nullptr;
  Bucket* stalest = nullptr;
  for (int i = 0; i < kProbes; ++i) {
    Bucket& b = table_[(key + static_cast<uint64_t>(i)) & mask_];
    if (b.key == key) {
      bucket = &b;
      break;
    }
    if (stalest == nullptr || b.updated_ms < stalest->updated_ms) stalest = &b;
  }
  const int64_t burst = int64_t{config_.responses_per_second} * 1000;
  if (bucket == nullptr) {
    bucket = stalest;
    *bucket = {key, now_ms, burst, 0};
  } else if (now_ms > bucket->updated_ms) {
    const int64_t refill =
        static_cast<int64_t>(now_ms - bucket->updated_ms) * config_.responses_per_second;
    bucket->tokens_milli = std::min(burst, bucket->tokens_milli + refill);
    bucket->updated_ms = now_ms;
  }
  if (bucket->tokens_milli >= 1000) {
    bucket->tokens_milli -= 1000;
    bucket->limited = 0;
    return Verdict::kSend;
  }
  ++bucket->limited;
  if (config_.slip != 0 && bucket->limited % config_.slip == 0) return Verdict::kSlip;
  return Verdict::kDrop;
}

}  // namespace agility::dns
