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
                           const PoolCounters* previous)
    : pools_(pools) {
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
  for (const Pool& pool : pools_) {
    pool_offset_.push_back(bucket_slot_.size());
    const std::string prefix = absl::StrCat("bucket", std::string(1, '\0'), pool.name,
                                            std::string(1, '\0'), pool.prefix.ToString());
    for (int b = 0; b < pool.bucket_count(); ++b) {
      bucket_slot_.push_back(store_->Acquire(absl::StrCat(prefix, std::string(1, '\0'), b)));
    }
  }
}

PoolCounters::~PoolCounters() {
  for (const uint32_t slot : policy_slot_) store_->Release(slot);
  for (const uint32_t slot : bucket_slot_) store_->Release(slot);
}

bool PoolCounters::BucketsCounted(int pool) const {
  const auto first = bucket_slot_.begin() + static_cast<std::ptrdiff_t>(pool_offset_[pool]);
  return std::find(first, first + pools_[pool].bucket_count(), CounterStore::kOverflow) ==
         first + pools_[pool].bucket_count();
}

uint64_t PoolCounters::PoolTotal(int pool) const {
  uint64_t total = 0;
  for (int b = 0; b < pools_[pool].bucket_count(); ++b) total += Bucket(pool, b);
  return total;
}

}  // namespace agility::policy
