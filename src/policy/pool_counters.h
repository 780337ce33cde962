// Pool answers counted per policy and per pool bucket, one row per worker so
// that no two threads write one cache line.
//
// The counts live in a CounterStore that outlives snapshots: a reload builds
// new PoolCounters over the same store, where a policy (by name) or a bucket
// (by pool name and prefix) keeps its slot. Workers still answering from the
// old snapshot count into the same slots, so no answer is lost and exported
// counters never fall.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "policy/pool.h"
#include "util/counter.h"

namespace agility::policy {

class CounterStore {
 public:
  // Distinct keys over the process's life; beyond, keys share the last slot.
  static constexpr uint32_t kSlots = 8192;

  explicit CounterStore(int workers);

  // The slot of `key`, new or known. Called while building a table, never
  // by two threads at once (the first load, then one reload at a time).
  uint32_t SlotOf(const std::string& key);

  void Add(int worker, uint32_t slot) { rows_[static_cast<size_t>(worker) * kSlots + slot].Add(); }
  uint64_t Total(uint32_t slot) const;
  int workers() const { return workers_; }

 private:
  int workers_;
  std::unique_ptr<Counter[]> rows_;
  absl::flat_hash_map<std::string, uint32_t> slots_;
};

class PoolCounters {
 public:
  // `previous`: the counters of the snapshot being replaced, whose store is
  // kept when it has as many worker rows; null for a new store.
  PoolCounters(const std::vector<Pool>& pools, const std::vector<std::string>& policy_names,
               int workers, const PoolCounters* previous);

  void CountAnswer(int worker, uint32_t policy, int pool, const uint8_t* address) {
    store_->Add(worker, policy_slot_[policy * 2 + (pools_[pool].prefix.ipv4 ? 0 : 1)]);
    store_->Add(
        worker,
        bucket_slot_[pool_offset_[pool] + static_cast<size_t>(pools_[pool].Bucket(address))]);
  }

  // Answers of `policy` from its IPv4 (or IPv6) pool.
  uint64_t Policy(uint32_t policy, bool ipv6) const {
    return store_->Total(policy_slot_[policy * 2 + (ipv6 ? 1 : 0)]);
  }
  uint64_t Bucket(int pool, int bucket) const {
    return store_->Total(bucket_slot_[pool_offset_[pool] + static_cast<size_t>(bucket)]);
  }
  uint64_t PoolTotal(int pool) const;

 private:
  std::vector<Pool> pools_;
  std::vector<size_t> pool_offset_;    // first bucket of each pool in bucket_slot_
  std::vector<uint32_t> policy_slot_;  // [policy * 2 + (ipv6 ? 1 : 0)]
  std::vector<uint32_t> bucket_slot_;
  std::shared_ptr<CounterStore> store_;
};

}  // namespace agility::policy
