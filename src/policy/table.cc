#include "policy/table.h"

#include "dns/wire.h"

namespace agility::policy {

absl::StatusOr<std::unique_ptr<Table>> Table::Build(const Config& config, int workers,
                                                    const Table* previous) {
  auto table = std::make_unique<Table>();
  for (const PoolConfig& pool : config.pools) table->pools_.push_back({pool.name, pool.prefix});
  for (const PolicyConfig& policy : config.policies) {
    const auto index = static_cast<uint32_t>(table->policies_.size());
    table->policies_.push_back(
        {policy.name, policy.ipv4_pool, policy.ipv6_pool, policy.ttl, policy.service});
    for (const std::string& pattern : policy.match) {
      if (auto status = table->matcher_.Add(pattern, index); !status.ok()) return status;
    }
  }
  std::vector<std::string> names;
  for (const Policy& p : table->policies_) names.push_back(p.name);
  table->counters_ =
      std::make_unique<PoolCounters>(table->pools_, names, workers < 1 ? 1 : workers,
                                     previous != nullptr ? previous->counters_.get() : nullptr);
  return table;
}

bool PoolDrawer::Draw(absl::string_view name, const dns::LabelOffsets& labels, uint16_t qtype,
                      dns::PoolAddress& out) {
  const uint32_t index = table_.matcher().Match(name, labels);
  if (index == Matcher::kNoMatch) return false;
  const Policy& policy = table_.policies()[index];
  const int pool = qtype == dns::type::kA ? policy.ipv4_pool : policy.ipv6_pool;
  if (pool < 0) return false;
  const Pool& chosen = table_.pools()[pool];
  chosen.Draw(rng_, out.bytes);
  table_.counters().CountAnswer(worker_, index, pool, out.bytes);
  out.size = static_cast<uint8_t>(chosen.prefix.address_size());
  out.ttl = policy.ttl;
  return true;
}

}  // namespace agility::policy
