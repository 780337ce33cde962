// The zones a snapshot serves, found by longest matching apex.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "dns/name.h"
#include "dns/zone.h"
#include "dns/zone_keys.h"

namespace agility::dns {

// A zone as served: the zone, and its keys when it is signed online.
// What a secondary zone's refreshes decide and answers read, without a
// lock and without a new snapshot.
struct SecondaryState {
  // No copy in force (never transferred, or expired): SERVFAIL.
  std::atomic<bool> unavailable{true};
  // When the copy expires, in steady-clock milliseconds (EDNS EXPIRE).
  std::atomic<int64_t> expires_at_ms{0};
};

// Milliseconds of the steady clock SecondaryState counts in.
int64_t SteadyClockMs();

struct ServedZone {
  const Zone* zone;
  const ZoneKeys* keys;             // null: no online signing
  const SecondaryState* secondary;  // null: not a secondary zone
  bool unavailable() const {
    return secondary != nullptr && secondary->unavailable.load(std::memory_order_relaxed);
  }
};

class ZoneSet {
 public:
  // Fails when another zone already has the same apex. `secondary`, for a
  // secondary zone, must outlive the set.
  absl::Status Add(std::shared_ptr<const Zone> zone, const SecondaryState* secondary = nullptr);

  // Gives a zone already added the keys it is signed with online; fails
  // when no zone has that apex. Copies of a set share its entries: keys are
  // set while the set is built, before it is copied or published.
  absl::Status SetKeys(std::shared_ptr<const ZoneKeys> keys);

  // The zone whose apex is the longest suffix of `name` with at most
  // `max_apex_labels` labels, or nullptr.
  const ServedZone* FindBest(absl::string_view name, const LabelOffsets& labels,
                             int max_apex_labels = kMaxLabels) const;

  // The online signing keys of a zone of this set, or nullptr.
  const ZoneKeys* KeysOf(const Zone& zone) const;
  // The keys' owner, for sharing them with another set.
  std::shared_ptr<const ZoneKeys> SharedKeysOf(const Zone& zone) const;

  const std::vector<std::shared_ptr<const Zone>>& zones() const { return zones_; }
  // The entry of zones()[i].
  const ServedZone& served(size_t i) const { return *served_[i]; }
  size_t name_count() const;

 private:
  std::vector<std::shared_ptr<const Zone>> zones_;
  std::vector<std::shared_ptr<const ZoneKeys>> keys_;
  // One pointer per apex: the table's lookup stays inlined into FindBest
  // (some 15 ns a query faster than with ServedZone slots).
  std::vector<std::shared_ptr<ServedZone>> served_;
  absl::flat_hash_map<std::string, ServedZone*> by_apex_;
  int min_labels_ = 128;
  int max_labels_ = 0;
};

}  // namespace agility::dns
