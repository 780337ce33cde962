#include "policy/pool_counters.h"

#include "absl/container/flat_hash_map.h"

namespace agility::policy {

PoolCounters::PoolCounters(const std::vector<Pool>& pools, size_t policies, int workers)
    : pools_(pools), workers_(workers) {
  slots_ = policies * 2;
  for (const auto& pool : pools_) {
    pool_offset_.push_back(slots_);
    slots_ += static_cast<size_t>(pool.bucket_count());
  }
  stride_ = (slots_ + 7) / 8 * 8;
  rows_ = std::make_unique<Counter[]>(stride_ * static_cast<size_t>(workers_));
  base_.assign(slots_, 0);
}

uint64_t PoolCounters::Total(size_t slot) const {
  uint64_t total = base_[slot];
  for (int w = 0; w < workers_; ++w) {
    total += rows_[static_cast<size_t>(w) * stride_ + slot].Get();
  }
  return total;
}

uint64_t PoolCounters::PoolTotal(int pool) const {
  uint64_t total = 0;
  for (int b = 0; b < pools_[pool].bucket_count(); ++b) total += Bucket(pool, b);
  return total;
}

void PoolCounters::CarryOver(const PoolCounters& previous,
                             const std::vector<std::string>& policy_names,
                             const std::vector<std::string>& previous_policy_names) {
  absl::flat_hash_map<std::string, uint32_t> old_policies;
  for (size_t i = 0; i < previous_policy_names.size(); ++i) {
    old_policies[previous_policy_names[i]] = static_cast<uint32_t>(i);
  }
  for (size_t i = 0; i < policy_names.size(); ++i) {
    if (const auto it = old_policies.find(policy_names[i]); it != old_policies.end()) {
      base_[i * 2] = previous.Policy(it->second, false);
      base_[i * 2 + 1] = previous.Policy(it->second, true);
    }
  }
  for (size_t p = 0; p < pools_.size(); ++p) {
    for (size_t q = 0; q < previous.pools_.size(); ++q) {
      if (previous.pools_[q].name != pools_[p].name ||
          !(previous.pools_[q].prefix == pools_[p].prefix)) {
        continue;
      }
      for (int b = 0; b < pools_[p].bucket_count(); ++b) {
        base_[pool_offset_[p] + static_cast<size_t>(b)] = previous.Bucket(static_cast<int>(q), b);
      }
    }
  }
}

}  // namespace agility::policy
