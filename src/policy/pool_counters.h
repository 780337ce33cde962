// Pool answers counted per policy and per pool bucket, one row per worker so
// that no two threads write one cache line.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "policy/pool.h"
#include "util/counter.h"

namespace agility::policy {

class PoolCounters {
 public:
  PoolCounters(const std::vector<Pool>& pools, size_t policies, int workers);

  void CountAnswer(int worker, uint32_t policy, int pool, const uint8_t* address) {
    Bump(worker, policy * 2 + (pools_[pool].prefix.ipv4 ? 0 : 1));
    Bump(worker, pool_offset_[pool] + static_cast<size_t>(pools_[pool].Bucket(address)));
  }

  // Answers of `policy` from its IPv4 (or IPv6) pool.
  uint64_t Policy(uint32_t policy, bool ipv6) const { return Total(policy * 2 + (ipv6 ? 1 : 0)); }
  uint64_t Bucket(int pool, int bucket) const {
    return Total(pool_offset_[pool] + static_cast<size_t>(bucket));
  }
  uint64_t PoolTotal(int pool) const;

  // Continues the totals of policies and pools that keep their name (and, for
  // buckets, their prefix) across a reload, so exported counters never fall.
  void CarryOver(const PoolCounters& previous, const std::vector<std::string>& policy_names,
                 const std::vector<std::string>& previous_policy_names);

 private:
  void Bump(int worker, size_t slot) { rows_[static_cast<size_t>(worker) * stride_ + slot].Add(); }
  uint64_t Total(size_t slot) const;

  std::vector<Pool> pools_;
  std::vector<size_t> pool_offset_;
  size_t slots_ = 0;
  size_t stride_ = 0;  // slots rounded up to whole cache lines
  int workers_ = 0;
  std::unique_ptr<Counter[]> rows_;
  std::vector<uint64_t> base_;  // carried over from the previous snapshot
};

}  // namespace agility::policy
