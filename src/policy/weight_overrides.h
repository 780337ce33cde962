// Live weights: `agilityctl shift` sets one sub-prefix's weight at once or
// ramps it linearly. Overrides are plain data, persisted by the daemon in
// server.state_dir (the operator's YAML is never written); a reload in which
// the YAML weight of an overridden prefix changed clears the override, since
// the newest intent wins.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "policy/table.h"

namespace agility::policy {

class WeightOverrides {
 public:
  struct Override {
    std::string pool;
    Prefix prefix;
    uint32_t yaml_weight = 0;   // the YAML's when set; a different one clears it
    uint32_t from = 0, to = 0;  // linear from `from` at start_ms to `to` at end_ms
    int64_t start_ms = 0, end_ms = 0;

    uint32_t At(int64_t now_ms) const;
    bool Ramping(int64_t now_ms) const { return now_ms < end_ms; }
  };

  // Sets `pool`'s `prefix` to `weight`, ramping from the weight in force
  // (`current`) over `over_ms` (0: at once). Fails, changing nothing, for an
  // unknown pool or prefix, a weight out of range, or when the pool would
  // end with every weight at 0.
  absl::Status Shift(const config::Config& config, const std::string& pool,
                     const std::string& prefix, uint32_t weight, uint32_t current, int64_t over_ms,
                     int64_t now_ms);
  // Back to the YAML weight; fails for an unknown pool or prefix.
  absl::Status Reset(const config::Config& config, const std::string& pool,
                     const std::string& prefix);

  // Drops overrides of prefixes that are gone, or whose YAML weight changed;
  // returns a line for each, for the log.
  std::vector<std::string> Reconcile(const config::Config& config);

  // Every sub-prefix's weight at `now_ms`. A pool caught mid-ramp with all
  // weights at 0 takes the ramps' targets, which Shift, Reset and Reconcile
  // keep above 0 in total.
  LiveWeights At(const config::Config& config, int64_t now_ms) const;
  bool Ramping(int64_t now_ms) const;

  const std::vector<Override>& overrides() const { return overrides_; }

  std::string Serialize() const;
  static absl::StatusOr<WeightOverrides> Parse(const std::string& text, const std::string& source);

 private:
  // The sum of `pool`'s weights once every ramp is done, with `changed` at
  // `weight`.
  uint64_t FinalTotal(const config::Config& config, const std::string& pool, const Prefix& changed,
                      uint32_t weight) const;
  // The weight `part` of `pool` ends at: its override's target, or the YAML's.
  uint32_t Target(const std::string& pool, const config::PoolPrefix& part) const;

  std::vector<Override> overrides_;
};

}  // namespace agility::policy
