#include "policy/pool_counters.h"

#include "absl/strings/str_cat.h"

namespace agility::policy {

CounterStore::CounterStore(int workers)
    : workers_(workers),
      rows_(std::make_unique<Counter[]>(kSlots * static_cast<size_t>(workers))) {}

uint32_t CounterStore::SlotOf(const std::string& key) {
  const auto [it, inserted] =
      slots_.try_emplace(key, static_cast<uint32_t>(std::min<size_t>(slots_.size(), kSlots - 1)));
  return it->second;
}

uint64_t CounterStore::Total(uint32_t slot) const {
  uint64_t total = 0;
  for (int w = 0; w < workers_; ++w) total += rows_[static_cast<size_t>(w) * kSlots + slot].Get();
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
        store_->SlotOf(absl::StrCat("policy", std::string(1, '\0'), name, "/4")));
    policy_slot_.push_back(
        store_->SlotOf(absl::StrCat("policy", std::string(1, '\0'), name, "/6")));
  }
  for (const Pool& pool : pools_) {
    pool_offset_.push_back(bucket_slot_.size());
    const std::string prefix = absl::StrCat("bucket", std::string(1, '\0'), pool.name,
                                            std::string(1, '\0'), pool.prefix.ToString());
    for (int b = 0; b < pool.bucket_count(); ++b) {
      bucket_slot_.push_back(store_->SlotOf(absl::StrCat(prefix, std::string(1, '\0'), b)));
    }
  }
}

uint64_t PoolCounters::PoolTotal(int pool) const {
  uint64_t total = 0;
  for (int b = 0; b < pools_[pool].bucket_count(); ++b) total += Bucket(pool, b);
  return total;
}

}  // namespace agility::policy
