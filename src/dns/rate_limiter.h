// Response Rate Limiting for UDP, in the manner of BIND, Knot and NSD: a
// token bucket per (client network, response kind, name), so that a spoofed
// flood cannot turn the server into an amplifier against a victim, while real
// resolvers keep getting answers: every `slip`-th limited response goes out
// truncated (TC=1, nothing else), which makes a genuine client retry over
// TCP, where source addresses cannot be spoofed.
//
// One limiter per worker thread: a fixed table, no locks, no allocation.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"

namespace agility::dns {

// What a response says, for the purpose of rate limiting.
enum class ResponseKind : uint8_t { kAnswer, kNxDomain, kNoData, kReferral, kError, kAny };

struct RateLimitConfig {
  uint32_t responses_per_second = 20;  // per bucket; the burst is one second's worth
  uint32_t slip = 2;                   // every slip-th limited response is truncated; 0: none
  uint8_t ipv4_prefix = 24;
  uint8_t ipv6_prefix = 56;
  uint32_t table_size = 1 << 16;  // buckets per worker (rounded up to a power of two)
};

class RateLimiter {
 public:
  enum class Verdict { kSend, kSlip, kDrop };

  explicit RateLimiter(const RateLimitConfig& config);

  // `name` is the lowercase wire name the response is about (for NXDOMAIN
  // and errors the zone apex is better, so that random names share a
  // bucket); `now_ms` a monotonic clock.
  Verdict Check(const sockaddr* client, ResponseKind kind, absl::string_view name, uint64_t now_ms);

 private:
  struct Bucket {
    uint64_t key = 0;
    uint64_t updated_ms = 0;
    int64_t tokens_milli = 0;  // tokens x 1000, for exact refills at any rate
    uint32_t limited = 0;      // responses limited since the bucket last had tokens
  };
  uint64_t Key(const sockaddr* client, ResponseKind kind, absl::string_view name) const;

  RateLimitConfig config_;
  uint64_t mask_;
  std::unique_ptr<Bucket[]> table_;
};

}  // namespace agility::dns
