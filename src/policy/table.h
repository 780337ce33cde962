// The policy table of one snapshot: pools, policies and the name matcher,
// built from a validated config::Config; plus the per-worker drawer that answers the
// responder's AddressSource questions from it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

#include "config/config.h"
#include "dns/address_source.h"
#include "policy/matcher.h"
#include "policy/pool.h"
#include "policy/pool_counters.h"
#include "policy/random.h"

namespace agility::policy {

struct Policy {
  std::string name;
  int ipv4_pool = -1;
  int ipv6_pool = -1;
  uint32_t ttl = 0;
  std::string service;
};

// Weights in force instead of the YAML's (live shifts), by WeightKey.
using LiveWeights = absl::flat_hash_map<std::string, uint32_t>;
inline std::string WeightKey(absl::string_view pool, const Prefix& prefix) {
  return absl::StrCat(pool, " ", prefix.ToString());
}

class Table {
 public:
  // `previous` (may be null) is the table being replaced; its answer counts
  // carry over. `workers` sizes the counters. `live` (may be null) overrides
  // YAML weights; a pool whose weights would all be 0 is an error.
  static absl::StatusOr<std::unique_ptr<Table>> Build(const config::Config& config, int workers,
                                                      const Table* previous = nullptr,
                                                      const LiveWeights* live = nullptr);

  // The same policies and matcher (shared, not rebuilt) with other weights:
  // the cheap rebuild behind a live shift.
  absl::StatusOr<std::unique_ptr<Table>> Reweighted(const config::Config& config, int workers,
                                                    const LiveWeights& live) const;

  const std::vector<Pool>& pools() const { return pools_; }
  const std::vector<Policy>& policies() const { return policies_; }
  const Matcher& matcher() const { return *matcher_; }
  PoolCounters& counters() const { return *counters_; }
  // The pool named `name`, or -1.
  int FindPool(absl::string_view name) const;

 private:
  absl::Status BuildPools(const config::Config& config, int workers, const Table* previous,
                          const LiveWeights* live);

  std::vector<Pool> pools_;
  std::vector<Policy> policies_;
  std::shared_ptr<const Matcher> matcher_;
  std::unique_ptr<PoolCounters> counters_;
};

// Lives on a worker's stack for one batch: table of the current snapshot,
// generator of the worker.
class PoolDrawer final : public dns::AddressSource {
 public:
  PoolDrawer(const Table& table, Rng& rng, int worker)
      : table_(table), rng_(rng), worker_(worker) {}

  bool Draw(absl::string_view name, const dns::LabelOffsets& labels, uint16_t qtype,
            dns::PoolAddress& out) override;
  bool Governs(absl::string_view name, const dns::LabelOffsets& labels, uint16_t qtype) override;

 private:
  const Table& table_;
  Rng& rng_;
  int worker_;
};

}  // namespace agility::policy
