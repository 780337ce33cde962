// IXFR's memory (RFC 1995 §4): the differences between consecutive serials
// of a zone, newest last, within a size bound, so that a secondary that is
// a few changes behind gets only those. Immutable: appending makes a new
// journal sharing the old one's differences.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "dns/transfer.h"
#include "dns/zone.h"

namespace agility::dns {

// What changed from `before` to `after` (same apex), SOA included.
// Not for the hot path: one pass over each zone.
ZoneDiff DiffZones(const Zone& before, const Zone& after);

class Journal {
 public:
  // `base` (may be null) with `diff` after it, the oldest differences
  // dropped while the whole is over `max_bytes`. A diff that does not
  // continue from the base's newest serial starts a new journal.
  static std::shared_ptr<const Journal> Append(const Journal* base,
                                               std::shared_ptr<const ZoneDiff> diff,
                                               size_t max_bytes);

  // The differences from `serial` to the newest, in order; empty when the
  // journal does not reach back to `serial`.
  std::vector<const ZoneDiff*> From(uint32_t serial) const;
  size_t bytes() const { return bytes_; }
  size_t size() const { return diffs_.size(); }
  // The newest serial it reaches; 0 when empty.
  uint32_t last_serial() const { return diffs_.empty() ? 0 : diffs_.back()->to_serial; }

  // What a journal file holds (server.state_dir): every difference with
  // its records in wire form. Parse takes it back, failing on anything
  // that is not such a file, whole.
  std::string Serialize() const;
  static absl::StatusOr<std::shared_ptr<const Journal>> Parse(absl::string_view bytes,
                                                              size_t max_bytes);

 private:
  std::vector<std::shared_ptr<const ZoneDiff>> diffs_;
  size_t bytes_ = 0;
};

}  // namespace agility::dns
