// Pool answers counted per policy and per pool bucket, one row per worker so
// that no two threads write one cache line.
//
// The counts live in a CounterStore that outlives snapshots: a reload builds
// new PoolCounters over the same store, where a policy (by name) or a bucket
// (by pool name and prefix) keeps its slot. Workers still answering from the
// old snapshot count into the same slots, so no answer is lost and a series
// that goes on never falls. A slot is freed when the last PoolCounters using
// it goes (its series then ends, as its policy or pool prefix is gone), so
// pools may change size forever without using the store up.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "policy/pool.h"
#include "util/counter.h"

namespace agility::policy {

class CounterStore {
 public:
  // Keys in use at once: those of the snapshots alive (the one in force and
  // any still draining), e.g. 128 pools of 256 buckets twice over.
  static constexpr uint32_t kSlots = 65536;
  // Where keys beyond kSlots count: never exported, never freed.
  static constexpr uint32_t kOverflow = kSlots;

  explicit CounterStore(int workers);

  // The slot of `key`, with one more user (new or known).
  uint32_t Acquire(const std::string& key);
  // One user fewer; the last one's leaving frees the slot, counts reset.
  void Release(uint32_t slot);

  void Add(int worker, uint32_t slot) { rows_[Row(worker) + slot].Add(); }
  uint64_t Total(uint32_t slot) const;
  int workers() const { return workers_; }

 private:
  static size_t Row(int worker) { return static_cast<size_t>(worker) * (kSlots + 1); }

  const int workers_;
  std::unique_ptr<Counter[]> rows_;
  // Acquire runs on the reloading thread, Release wherever the last reference
  // to a snapshot is dropped (a worker, the metrics server).
  std::mutex mutex_;
  absl::flat_hash_map<std::string, uint32_t> slots_;
  std::vector<std::string> keys_;  // by slot
  std::vector<uint32_t> users_;    // by slot
  std::vector<uint32_t> free_;
};

class PoolCounters {
 public:
  // `previous`: the counters of the snapshot being replaced, whose store is
  // kept when it has as many worker rows; null for a new store.
  PoolCounters(const std::vector<Pool>& pools, const std::vector<std::string>& policy_names,
               int workers, const PoolCounters* previous);
  ~PoolCounters();
  PoolCounters(const PoolCounters&) = delete;
  PoolCounters& operator=(const PoolCounters&) = delete;

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
  // False when the store was full: the pool's buckets are not counted apart.
  bool BucketsCounted(int pool) const;
  bool PolicyCounted(uint32_t policy, bool ipv6) const {
    return policy_slot_[policy * 2 + (ipv6 ? 1 : 0)] != CounterStore::kOverflow;
  }

 private:
  std::vector<Pool> pools_;
  std::vector<size_t> pool_offset_;    // first bucket of each pool in bucket_slot_
  std::vector<uint32_t> policy_slot_;  // [policy * 2 + (ipv6 ? 1 : 0)]
  std::vector<uint32_t> bucket_slot_;
  std::shared_ptr<CounterStore> store_;
};

}  // namespace agility::policy
