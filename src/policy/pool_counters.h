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

  // An answer of `policy` drawn from sub-prefix `part` of `pool`.
  void CountAnswer(int worker, uint32_t policy, int pool, uint32_t part, const uint8_t* address) {
    const Part& p = parts_[pool_first_part_[pool] + part];
    store_->Add(worker, policy_slot_[policy * 2 + (p.ipv4 ? 0 : 1)]);
    store_->Add(worker, bucket_slot_[p.first_bucket + static_cast<size_t>(p.sub.Bucket(address))]);
  }

  // Answers of `policy` from its IPv4 (or IPv6) pool.
  uint64_t Policy(uint32_t policy, bool ipv6) const {
    return store_->Total(policy_slot_[policy * 2 + (ipv6 ? 1 : 0)]);
  }
  uint64_t Bucket(int pool, uint32_t part, int bucket) const {
    return store_->Total(bucket_slot_[parts_[pool_first_part_[pool] + part].first_bucket +
                                      static_cast<size_t>(bucket)]);
  }
  // Answers from one sub-prefix: the sum of its buckets.
  uint64_t PartTotal(int pool, uint32_t part) const;
  uint64_t PoolTotal(int pool) const;
  // False when the store was full: the pool's buckets are not counted apart.
  bool BucketsCounted(int pool) const;
  bool PolicyCounted(uint32_t policy, bool ipv6) const {
    return policy_slot_[policy * 2 + (ipv6 ? 1 : 0)] != CounterStore::kOverflow;
  }

 private:
  struct Part {
    SubPrefix sub;
    bool ipv4;
    size_t first_bucket;  // in bucket_slot_
  };
  std::vector<Part> parts_;              // every pool's sub-prefixes, pool after pool
  std::vector<size_t> pool_first_part_;  // by pool, its first entry in parts_ (and one past)
  std::vector<uint32_t> policy_slot_;    // [policy * 2 + (ipv6 ? 1 : 0)]
  std::vector<uint32_t> bucket_slot_;
  std::shared_ptr<CounterStore> store_;
};

}  // namespace agility::policy
