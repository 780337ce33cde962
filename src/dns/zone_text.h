// Zones back to master-file text: what a secondary keeps of a transferred
// zone (server.state_dir), and how a transfer becomes a Zone. The text goes
// through the same reader and checks as any zone file, so a transferred zone
// is held to what a zone file is. Not for the hot path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "dns/transfer.h"
#include "dns/zone.h"

namespace agility::dns {

class ZoneTextWriter {
 public:
  ZoneTextWriter();
  ~ZoneTextWriter();
  ZoneTextWriter(const ZoneTextWriter&) = delete;
  ZoneTextWriter& operator=(const ZoneTextWriter&) = delete;

  // One record: the owner in wire form, RDATA in wire form with names
  // uncompressed. Fails when the RDATA is not valid for its type.
  absl::Status Add(absl::string_view owner, uint16_t type, uint32_t ttl, absl::string_view rdata);
  absl::Status Add(const TransferRecord& r) { return Add(r.owner, r.type, r.ttl, r.rdata); }
  // Every record of `zone`.
  absl::Status AddZone(const Zone& zone);
  std::string& text() { return text_; }

 private:
  std::string text_;
  char* line_ = nullptr;  // libknot's dump buffer, grown by it
  size_t line_size_ = 0;
};

// Writes `base` with `diffs` applied, in order, to `out`. The diffs must
// continue from the base's serial, and every record one removes must be in
// the zone at that point (RFC 1995 §4); records added twice are kept once.
absl::Status ApplyDiffs(const Zone& base, const std::vector<ZoneDiff>& diffs, ZoneTextWriter& out);

}  // namespace agility::dns
