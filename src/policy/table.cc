#include "policy/table.h"

#include "absl/status/status.h"
#include "dns/wire.h"

namespace agility::policy {

absl::StatusOr<std::unique_ptr<Table>> Table::Build(const config::Config& config, int workers,
                                                    const Table* previous,
                                                    const LiveWeights* live) {
  auto table = std::make_unique<Table>();
  auto matcher = std::make_shared<Matcher>();
  for (const config::PolicyConfig& policy : config.policies) {
    const auto index = static_cast<uint32_t>(table->policies_.size());
    table->policies_.push_back(
        {policy.name, policy.ipv4_pool, policy.ipv6_pool, policy.ttl, policy.service});
    for (const std::string& pattern : policy.match) {
      if (auto status = matcher->Add(pattern, index); !status.ok()) return status;
    }
  }
  table->matcher_ = std::move(matcher);
  if (auto status = table->BuildPools(config, workers, previous, live); !status.ok()) {
    return status;
  }
  return table;
}

absl::StatusOr<std::unique_ptr<Table>> Table::Reweighted(const config::Config& config, int workers,
                                                         const LiveWeights& live) const {
  auto table = std::make_unique<Table>();
  table->policies_ = policies_;
  table->matcher_ = matcher_;
  if (auto status = table->BuildPools(config, workers, this, &live); !status.ok()) return status;
  return table;
}

absl::Status Table::BuildPools(const config::Config& config, int workers, const Table* previous,
                               const LiveWeights* live) {
  for (const config::PoolConfig& pool : config.pools) {
    std::vector<SubPrefix> parts;
    uint64_t total = 0;
    for (const config::PoolPrefix& part : pool.prefixes) {
      uint32_t weight = part.weight;
      if (live != nullptr) {
        if (const auto it = live->find(WeightKey(pool.name, part.prefix)); it != live->end()) {
          weight = it->second;
        }
      }
      total += weight;
      parts.push_back({part.prefix, weight});
    }
    if (total == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("pool '", pool.name, "': every weight in force is 0"));
    }
    pools_.emplace_back(pool.name, std::move(parts));
  }
  std::vector<std::string> names;
  for (const Policy& p : policies_) names.push_back(p.name);
  counters_ =
      std::make_unique<PoolCounters>(pools_, names, workers < 1 ? 1 : workers,
                                     previous != nullptr ? previous->counters_.get() : nullptr);
  return absl::OkStatus();
}

int Table::FindPool(absl::string_view name) const {
  for (size_t i = 0; i < pools_.size(); ++i) {
    if (pools_[i].name() == name) return static_cast<int>(i);
  }
  return -1;
}

bool PoolDrawer::Governs(absl::string_view name, const dns::LabelOffsets& labels, uint16_t qtype) {
  const uint32_t index = table_.matcher().Match(name, labels);
  if (index == Matcher::kNoMatch) return false;
  const Policy& policy = table_.policies()[index];
  return (qtype == dns::type::kA ? policy.ipv4_pool : policy.ipv6_pool) >= 0;
}

bool PoolDrawer::Draw(absl::string_view name, const dns::LabelOffsets& labels, uint16_t qtype,
                      dns::PoolAddress& out) {
  const uint32_t index = table_.matcher().Match(name, labels);
  if (index == Matcher::kNoMatch) return false;
  const Policy& policy = table_.policies()[index];
  const int pool = qtype == dns::type::kA ? policy.ipv4_pool : policy.ipv6_pool;
  if (pool < 0) return false;
  const Pool& chosen = table_.pools()[pool];
  const uint32_t part = chosen.Draw(rng_, out.bytes);
  table_.counters().CountAnswer(worker_, index, pool, part, out.bytes);
  out.size = static_cast<uint8_t>(chosen.address_size());
  out.ttl = policy.ttl;
  return true;
}

}  // namespace agility::policy
