#include "policy/pool_counters.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace agility::policy {

CounterStore::CounterStore(int workers)
    : workers_(workers), rows_(std::make_unique<Counter[]>(Row(workers))) {}

uint32_t CounterStore::Acquire(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (const auto it = slots_.find(key); it != slots_.end()) {
    ++users_[it->second];
    return it->second;
  }
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else if (keys_.size() < kSlots) {
    slot = static_cast<uint32_t>(keys_.size());
    keys_.emplace_back();
    users_.push_back(0);
  } else {
    return kOverflow;
  }
  slots_.emplace(key, slot);
  keys_[slot] = key;
  users_[slot] = 1;
  return slot;
}

void CounterStore::Release(uint32_t slot) {
  if (slot == kOverflow) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (--users_[slot] > 0) return;
  // No snapshot holds the slot any more, so no worker counts into it.
  for (int w = 0; w < workers_; ++w) rows_[Row(w) + slot].Reset();
  slots_.erase(keys_[slot]);
  keys_[slot].clear();
  free_.push_back(slot);
}

uint64_t CounterStore::Total(uint32_t slot) const {
  uint64_t total = 0;
  for (int w = 0; w < workers_; ++w) total += rows_[Row(w) + slot].Get();
  return total;
}

PoolCounters::PoolCounters(const std::vector<Pool>& pools,
                           const std::vector<std::string>& policy_names, int workers,
                           const PoolCounters* previous) {
  store_ = previous != nullptr && previous->store_->workers() == workers
               ? previous->store_
               : std::make_shared<CounterStore>(workers);
  // Keys cannot collide: names hold no NUL byte.
  for (const std::string& name : policy_names) {
    policy_slot_.push_back(
        store_->Acquire(absl::StrCat("policy", std::string(1, '\0'), name, "/4")));
    policy_slot_.push_back(
        store_->Acquire(absl::StrCat("policy", std::string(1, '\0'), name, "/6")));
  }
  for (const Pool& pool : pools) {
    pool_first_part_.push_back(parts_.size());
    for (const SubPrefix& sub : pool.parts()) {
      parts_.push_back({sub, sub.prefix.ipv4, bucket_slot_.size()});
      // By pool name and prefix: a weight change or a reload keeps the counts.
      const std::string prefix = absl::StrCat("bucket", std::string(1, '\0'), pool.name(),
                                              std::string(1, '\0'), sub.prefix.ToString());
      for (int b = 0; b < sub.bucket_count(); ++b) {
        bucket_slot_.push_back(store_->Acquire(absl::StrCat(prefix, std::string(1, '\0'), b)));
      }
    }
  }
  pool_first_part_.push_back(parts_.size());
}

PoolCounters::~PoolCounters() {
  for (const uint32_t slot : policy_slot_) store_->Release(slot);
  for (const uint32_t slot : bucket_slot_) store_->Release(slot);
}

bool PoolCounters::BucketsCounted(int pool) const {
  const size_t first = parts_[pool_first_part_[pool]].first_bucket;
  const size_t end = pool_first_part_[pool + 1] < parts_.size()
                         ? parts_[pool_first_part_[pool + 1]].first_bucket
                         : bucket_slot_.size();
  return std::find(bucket_slot_.begin() + static_cast<std::ptrdiff_t>(first),
                   bucket_slot_.begin() + static_cast<std::ptrdiff_t>(end),
                   CounterStore::kOverflow) ==
         bucket_slot_.begin() + static_cast<std::ptrdiff_t>(end);
}

uint64_t PoolCounters::PartTotal(int pool, uint32_t part) const {
  uint64_t total = 0;
  const int buckets = parts_[pool_first_part_[pool] + part].sub.bucket_count();
  for (int b = 0; b < buckets; ++b) total += Bucket(pool, part, b);
  return total;
}

uint64_t PoolCounters::PoolTotal(int pool) const {
  uint64_t total = 0;
  const size_t parts = pool_first_part_[pool + 1] - pool_first_part_[pool];
  for (size_t part = 0; part < parts; ++part) total += PartTotal(pool, static_cast<uint32_t>(part));
  return total;
}

}  // namespace agility::policy
