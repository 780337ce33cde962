#include "dns/zone_set.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"

namespace agility::dns {

int64_t SteadyClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

absl::Status ZoneSet::Add(std::shared_ptr<const Zone> zone, const SecondaryState* secondary) {
  auto served = std::make_shared<ServedZone>(ServedZone{zone.get(), nullptr, secondary});
  const auto [it, inserted] = by_apex_.emplace(std::string(zone->apex()), served.get());
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat(zone->source(), ":1: zone '", NameToText(zone->apex()),
                     "' is already loaded from ", it->second->zone->source()));
  }
  min_labels_ = std::min(min_labels_, zone->apex_labels());
  max_labels_ = std::max(max_labels_, zone->apex_labels());
  served_.push_back(std::move(served));
  zones_.push_back(std::move(zone));
  return absl::OkStatus();
}

absl::Status ZoneSet::SetKeys(std::shared_ptr<const ZoneKeys> keys) {
  // Setup only, and a scan: by_apex_.find keeps FindBest as its only caller,
  // which is what keeps it inlined there.
  for (const auto& served : served_) {
    if (served->zone->apex() != keys->apex()) continue;
    served->keys = keys.get();
    keys_.push_back(std::move(keys));
    return absl::OkStatus();
  }
  return absl::NotFoundError(absl::StrCat("no zone '", NameToText(keys->apex()), "' is served"));
}

const ServedZone* ZoneSet::FindBest(absl::string_view name, const LabelOffsets& labels,
                                    int max_apex_labels) const {
  // Try suffixes from the longest candidate apex down to the shortest.
  for (int apex_labels = std::min({max_labels_, labels.count, max_apex_labels});
       apex_labels >= min_labels_; --apex_labels) {
    const auto it = by_apex_.find(Suffix(name, labels, labels.count - apex_labels));
    if (it != by_apex_.end()) return it->second;
  }
  return nullptr;
}

const ZoneKeys* ZoneSet::KeysOf(const Zone& zone) const {
  for (const auto& served : served_) {
    if (served->zone == &zone) return served->keys;
  }
  return nullptr;
}

std::shared_ptr<const ZoneKeys> ZoneSet::SharedKeysOf(const Zone& zone) const {
  const ZoneKeys* keys = KeysOf(zone);
  for (const auto& owned : keys_) {
    if (owned.get() == keys) return owned;
  }
  return nullptr;
}

size_t ZoneSet::name_count() const {
  size_t n = 0;
  for (const auto& zone : zones_) n += zone->name_count();
  return n;
}

}  // namespace agility::dns
