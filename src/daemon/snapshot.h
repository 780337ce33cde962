// Everything a worker needs to answer, immutable once published: zones,
// policy table, the config they came from and a generation number.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "config/config.h"
#include "dns/journal.h"
#include "dns/tsig.h"
#include "dns/zone_set.h"
#include "policy/table.h"
#include "sockets/bindings.h"

namespace agility::daemon {

// Counts the snapshots alive: the one in force, and any a worker or a
// metrics scrape still holds (exported as agility_snapshots_alive).
class LiveSnapshots {
 public:
  LiveSnapshots() { count_.fetch_add(1, std::memory_order_relaxed); }
  LiveSnapshots(const LiveSnapshots&) = delete;
  LiveSnapshots& operator=(const LiveSnapshots&) = delete;
  ~LiveSnapshots() { count_.fetch_sub(1, std::memory_order_relaxed); }
  static int64_t count() { return count_.load(std::memory_order_relaxed); }

 private:
  static inline std::atomic<int64_t> count_{0};
};

// A secondary zone as served (daemon/secondary.h): its copy, or a
// placeholder, and its state (SERVFAIL while unavailable, expiry).
struct SecondaryCopy {
  std::shared_ptr<const dns::Zone> zone;
  std::shared_ptr<const dns::SecondaryState> state;
  std::shared_ptr<const dns::Journal> journal;  // IXFR steps received; may be null
  // A catalog's member: a zone another source serves already is left out
  // (logged), rather than failing the whole set.
  bool from_catalog = false;
};

// Where a node's pools and policies come from when `policy_from:` names a
// zone: the serial of the copy they were read from, and the last copy
// refused (config::ReadPolicyZone says why).
struct PolicySource {
  uint32_t serial = 0;  // 0: none read yet (no pools, no policies)
  absl::Time applied_at = absl::InfinitePast();
  uint32_t rejected_serial = 0;
  std::string rejected_why;
  uint64_t rejected = 0;  // copies refused since the start
  bool operator==(const PolicySource&) const = default;
};

struct Snapshot {
  LiveSnapshots live;
  uint64_t generation = 0;
  config::Config config;
  dns::ZoneSet zones;
  // Shared by snapshots that differ only in secondary zones' copies.
  std::shared_ptr<policy::Table> table;
  std::shared_ptr<const dns::TsigKeyring> keyring;    // config `keys:`
  std::shared_ptr<const dns::CookieSecrets> cookies;  // config `cookies:`; null: off
  // Zone file changes, by apex, for IXFR out (transfer.allow set).
  absl::flat_hash_map<std::string, std::shared_ptr<const dns::Journal>> journals;
  std::vector<sockets::Binding> bindings;  // what sk_lookup steers
  // Keeps alive what the zone set's secondary entries point to.
  std::vector<std::shared_ptr<const dns::SecondaryState>> secondary_states;
  absl::Time loaded_at;
  absl::Duration load_duration;
  size_t zones_reused = 0;
  PolicySource policy_source;  // `policy_from:` only
};

// Loads every zone the config names (files, or directories of *.zone) and
// builds the policy table. Zones of `previous` whose files are unchanged are
// shared, not read again, so a reload that changes only pools or policies
// costs nothing per name. Errors are "file:line: message" lines.
// `workers` is how many worker threads will use the snapshot (per-worker
// counters): the running ones on a reload, whatever the new config says.
// `live` (may be null) overrides YAML weights. `secondaries` are the
// secondary zones to serve (Secondaries::Copies).
absl::StatusOr<std::shared_ptr<Snapshot>> LoadSnapshot(
    config::Config config, uint64_t generation, int workers, const Snapshot* previous = nullptr,
    const policy::LiveWeights* live = nullptr, const std::vector<SecondaryCopy>& secondaries = {});

// `base` with other copies of its secondary zones; everything else shared.
// Fails, naming why, when the new copies break a rule of the configuration
// (a policy in a zone now signed without keys).
absl::StatusOr<std::shared_ptr<Snapshot>> WithSecondaries(
    const Snapshot& base, const std::vector<SecondaryCopy>& secondaries);

// The TSIG keys `keys:` defines.
absl::StatusOr<std::shared_ptr<const dns::TsigKeyring>> BuildKeyring(const config::Config& config);

// `base` with other live weights: zones and bindings shared or copied, the
// policy table rebuilt cheaply (Table::Reweighted). For shifts and ramps;
// the policy zone, if any, publishes the new weights.
absl::StatusOr<std::shared_ptr<Snapshot>> WithWeights(const Snapshot& base, int workers,
                                                      const policy::LiveWeights& live);

// `base` with the pools and policies of the policy zone's copy it serves
// now (`policy_from:`), when that copy is not the one read before: the
// policy table and bindings rebuilt, zones shared. A copy that is refused
// leaves the policy in force and says why in `policy_source`. Null when
// there is nothing new to read.
absl::StatusOr<std::shared_ptr<Snapshot>> WithPolicyFrom(const Snapshot& base, int workers);

// The weights a table is serving, by WeightKey.
policy::LiveWeights TableWeights(const policy::Table& table);

// The zone of `zones` whose apex is `apex`, or null.
std::shared_ptr<const dns::Zone> ZoneAt(const dns::ZoneSet& zones, absl::string_view apex);

// A short multi-line summary: zones, names, policies, pools.
std::string Summary(const Snapshot& snapshot);

// Publishes snapshots to workers. Workers compare generations at each batch
// (one atomic load) and take the lock only when a new snapshot exists.
class SnapshotHolder {
 public:
  void Publish(std::shared_ptr<const Snapshot> snapshot) {
    const uint64_t generation = snapshot->generation;
    {
      std::lock_guard lock(mutex_);
      current_ = std::move(snapshot);
    }
    generation_.store(generation, std::memory_order_release);
  }
  std::shared_ptr<const Snapshot> Get() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mutex_;  // std::mutex: visible to ThreadSanitizer
  std::shared_ptr<const Snapshot> current_;
  std::atomic<uint64_t> generation_{0};
};

}  // namespace agility::daemon
