// Response Rate Limiting for UDP, in the manner of BIND, Knot and NSD: a
// token bucket per (client network, response kind, name), so that a spoofed
// flood cannot turn the server into an amplifier against a victim, while real
// resolvers keep getting answers: every `slip`-th limited response goes out
// truncated (TC=1, nothing else), which makes a genuine client retry over
// TCP, where source addresses cannot be spoofed.
//
// One limiter serves every worker thread: SO_REUSEPORT spreads a client's
// queries over the workers by source port, and a spoofed flood must still
// meet one budget per bucket. The table is fixed and updated with atomic
// operations: no locks, no allocation. Two threads racing for one bucket can
// let a response or two more through; the limit holds within that.
#pragma once

#include <sys/socket.h>

#include <atomic>
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
  uint32_t table_size = 1 << 16;  // buckets (rounded up to a power of two)
  bool operator==(const RateLimitConfig&) const = default;
};

class RateLimiter {
 public:
  enum class Verdict { kSend, kSlip, kDrop };

  explicit RateLimiter(const RateLimitConfig& config);

  // `name` is the lowercase wire name the response is about (for NXDOMAIN
  // and errors the zone apex is better, so that random names share a
  // bucket); `now_ms` a monotonic clock. Safe to call from many threads.
  Verdict Check(const sockaddr* client, ResponseKind kind, absl::string_view name, uint64_t now_ms);

 private:
  // A token bucket kept as one number (the generic cell rate algorithm):
  // `full_at_ns` is when the bucket will be full again. Each response sent
  // moves it one interval on; a response is sent while that leaves it at
  // most a burst ahead of now. A bucket full_at the past is as good as
  // empty, so reusing the stalest one loses nothing.
  struct Bucket {
    std::atomic<uint64_t> key{0};  // 0: never used
    std::atomic<uint64_t> full_at_ns{0};
    std::atomic<uint32_t> limited{0};  // responses limited since the last one sent
  };
  uint64_t Key(const sockaddr* client, ResponseKind kind, absl::string_view name) const;

  RateLimitConfig config_;
  uint64_t interval_ns_;  // between responses at the configured rate
  uint64_t burst_ns_;     // how far ahead of now full_at_ns may run
  uint64_t mask_;
  std::unique_ptr<Bucket[]> table_;
};

}  // namespace agility::dns
