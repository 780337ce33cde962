// The zones a snapshot serves, found by longest matching apex.
#pragma once

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

class ZoneSet {
 public:
  // Fails when another zone already has the same apex.
  absl::Status Add(std::shared_ptr<const Zone> zone);

  // Gives a zone already added the keys it is signed with online; fails
  // when no zone has that apex.
  absl::Status SetKeys(std::shared_ptr<const ZoneKeys> keys);

  // The zone whose apex is the longest suffix of `name` with at most
  // `max_apex_labels` labels, or nullptr; its online signing keys, if any,
  // in `keys`.
  const Zone* FindBest(absl::string_view name, const LabelOffsets& labels,
                       int max_apex_labels = kMaxLabels, const ZoneKeys** keys = nullptr) const;

  // The online signing keys of a zone of this set, or nullptr.
  const ZoneKeys* KeysOf(const Zone& zone) const;

  const std::vector<std::shared_ptr<const Zone>>& zones() const { return zones_; }
  size_t name_count() const;

 private:
  struct Served {
    const Zone* zone;
    const ZoneKeys* keys;
  };
  std::vector<std::shared_ptr<const Zone>> zones_;
  std::vector<std::shared_ptr<const ZoneKeys>> keys_;
  absl::flat_hash_map<std::string, Served> by_apex_;
  int min_labels_ = 128;
  int max_labels_ = 0;
};

}  // namespace agility::dns
