#include "dns/zone_set.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace agility::dns {

absl::Status ZoneSet::Add(std::shared_ptr<const Zone> zone) {
  const auto [it, inserted] =
      by_apex_.emplace(std::string(zone->apex()), Served{zone.get(), nullptr});
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat(zone->source(), ":1: zone '", NameToText(zone->apex()),
                     "' is already loaded from ", it->second.zone->source()));
  }
  min_labels_ = std::min(min_labels_, zone->apex_labels());
  max_labels_ = std::max(max_labels_, zone->apex_labels());
  zones_.push_back(std::move(zone));
  return absl::OkStatus();
}

absl::Status ZoneSet::SetKeys(std::shared_ptr<const ZoneKeys> keys) {
  const auto it = by_apex_.find(keys->apex());
  if (it == by_apex_.end()) {
    return absl::NotFoundError(absl::StrCat("no zone '", NameToText(keys->apex()), "' is served"));
  }
  it->second.keys = keys.get();
  keys_.push_back(std::move(keys));
  return absl::OkStatus();
}

const Zone* ZoneSet::FindBest(absl::string_view name, const LabelOffsets& labels,
                              int max_apex_labels, const ZoneKeys** keys) const {
  // Try suffixes from the longest candidate apex down to the shortest.
  for (int apex_labels = std::min({max_labels_, labels.count, max_apex_labels});
       apex_labels >= min_labels_; --apex_labels) {
    const auto it = by_apex_.find(Suffix(name, labels, labels.count - apex_labels));
    if (it != by_apex_.end()) {
      if (keys != nullptr) *keys = it->second.keys;
      return it->second.zone;
    }
  }
  return nullptr;
}

const ZoneKeys* ZoneSet::KeysOf(const Zone& zone) const {
  const auto it = by_apex_.find(zone.apex());
  return it != by_apex_.end() && it->second.zone == &zone ? it->second.keys : nullptr;
}

size_t ZoneSet::name_count() const {
  size_t n = 0;
  for (const auto& zone : zones_) n += zone->name_count();
  return n;
}

}  // namespace agility::dns
