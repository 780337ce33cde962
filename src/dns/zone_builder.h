// Collects the records of one zone file and compiles them into a Zone,
// checking what RFC 1034/1035/2181 require of a zone's contents.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "dns/name_table.h"
#include "dns/transfer.h"
#include "dns/zone.h"

namespace agility::dns {

class SignedZoneCheck;

class ZoneBuilder {
 public:
  // `source` names the file in error messages ("zones/example.com.zone").
  explicit ZoneBuilder(std::string source) : source_(std::move(source)) {}
  ZoneBuilder(const ZoneBuilder&) = delete;
  ZoneBuilder& operator=(const ZoneBuilder&) = delete;

  // One parsed record. `owner` is a lowercase wire name; `rdata` wire form
  // with names uncompressed; `line` is where the record starts in `file`.
  // The builder knows a file again by the address of its name, so the text
  // of `file` must stay where it is, unchanged, for the builder's lifetime.
  struct Input {
    absl::string_view owner;
    absl::string_view rdata;
    absl::string_view file;
    uint32_t ttl;
    uint32_t line;
    uint16_t type;
    uint64_t owner_hash;  // NameTable::Hash(owner): the caller's thread hashes
  };
  // Records in file order. A batch at a time lets owner lookups run a few
  // names ahead of each other instead of waiting on memory one by one.
  void Add(absl::Span<const Input> records);

  size_t record_count() const { return records_.size(); }
  // Sizes the tables for about `records` records (saves rehashing).
  void Reserve(size_t records);

  // The apex is the owner of the SOA record. Fails with "file:line: message"
  // lines when the records do not form a valid zone.
  absl::StatusOr<std::unique_ptr<Zone>> Build();

  // An overlay over `current` (ZoneBuilder::Build's zone or an earlier
  // overlay): the records added are every record of each name that changes,
  // and `deleted` names the names that lose all theirs. Every name is held
  // to the checks Build makes. Fails with FailedPrecondition when the change
  // is not one an overlay can hold (DNSSEC data, a zone cut above existing
  // names, a deletion that would change which names are empty
  // non-terminals, an overlay past kMaxOverlayBytes): a Build of the whole
  // zone is then what applies it.
  absl::StatusOr<std::unique_ptr<Zone>> BuildOverlay(std::shared_ptr<const Zone> current,
                                                     absl::Span<const std::string> deleted);
  // The records of a zone file read again, against the zone it gave before:
  // when few names differ, an overlay of those over `current` (as
  // BuildOverlay), with `diff` (if given) set to what changed, record by
  // record (for the IXFR journal). Each name is held to Build's checks.
  // FailedPrecondition when the change is not one for an overlay; Build
  // then compiles the zone whole, from the same records.
  absl::StatusOr<std::unique_ptr<Zone>> BuildChanges(std::shared_ptr<const Zone> current,
                                                     ZoneDiff* diff);
  // Past this, an overlay is compacted by a rebuild: each change copies
  // the overlay, so its size bounds a change's cost.
  static constexpr size_t kMaxOverlayBytes = size_t{2} << 20;

 private:
  struct Record {
    uint32_t owner;  // owner id: index into owner_offsets_
    uint32_t rdata;  // offset into rdata_: [len u16][rdata]
    uint32_t ttl;
    uint16_t type;
    uint16_t file;  // index into files_
    uint32_t line;
  };
  absl::string_view OwnerOf(const Record& r) const { return Owner(r.owner); }
  absl::string_view Owner(uint32_t id) const {
    const uint32_t at = owner_offsets_[id];
    return absl::string_view(owners_).substr(at + 1, static_cast<uint8_t>(owners_[at]));
  }
  absl::string_view RdataOf(const Record& r) const {
    return absl::string_view(rdata_).substr(r.rdata + 2, ReadU16(AsBytes(rdata_) + r.rdata));
  }
  // Record indexes grouped by owner, owners in the order they first came,
  // sorted by type then RDATA within each: owner g is order[start[g],
  // start[g + 1]). Empty when the records came grouped (in_runs): each run
  // of one owner's records is then a group, sorted as it is visited.
  struct Groups {
    std::vector<uint32_t> order, start;
    bool in_runs = false;
  };
  // `runs_allowed`: may answer in_runs rather than build the index.
  Groups GroupByOwner(bool runs_allowed) const;
  // Calls visit(owner id, begin, end) for each group, in owner id order.
  template <typename Visit>
  void ForEachOwner(const Groups& groups, const Visit& visit);
  // Sorts one owner's record indexes by type, then RDATA.
  void SortOwnerRecords(uint32_t* begin, uint32_t* end) const;
  // The bytes the groups take as nodes (duplicates included), or one group.
  size_t NodeBytes(const Groups& groups);
  size_t NodeBytes(const uint32_t* begin, const uint32_t* end) const;
  // Gives back the pages of the records before record `end` (and of their
  // owners and RDATA), which Build has written and will not read again.
  void ReleaseRecordsBefore(size_t end);
  // Writes one owner's records as a node at base + used, checking them;
  // false (nothing written) when the owner is outside the zone.
  bool WriteNode(const uint32_t* begin, const uint32_t* end, Zone& zone,
                 SignedZoneCheck* signed_check, uint8_t* base, size_t& used);
  // The SOA record; a second one is an error.
  const Record* FindSoa();
  // The zone's apex node, serial and negative TTL, from its SOA.
  absl::Status FinishApex(Zone& zone, const std::string& soa_where);
  void Fail(const Record& r, absl::string_view message);
  // FailedPrecondition: the change is not one for an overlay, and why.
  static absl::Status Decline(absl::string_view why);
  // OK unless `current` is of a kind no overlay goes over (a signed zone).
  static absl::Status OverlayPossible(const Zone& current);
  // Index into files_; records come file by file ($INCLUDE aside).
  uint16_t FileIndex(absl::string_view file);
  std::string Where(const Record& r) const;

  std::string source_;
  std::vector<std::string> files_;
  uint16_t current_file_ = 0;
  absl::string_view current_view_;    // the view FileIndex last matched to current_file_
  uint32_t last_owner_ = UINT32_MAX;  // id of the previous record's owner
  // Every owner's records came in one run, owners in id order (see Groups).
  bool grouped_ = true;
  std::vector<uint32_t> run_;    // scratch for ForEachOwner
  size_t released_records_ = 0;  // ReleaseRecordsBefore's progress
  std::string owners_;           // each owner once: [len u8][name]
  std::vector<uint32_t> owner_offsets_;
  // Owner ids by name; becomes the compiled zone's node index.
  NameTable owner_ids_;
  std::vector<uint16_t> covered_;    // scratch for Build: types an owner's RRSIGs cover
  std::vector<std::string> errors_;  // "file:line: message", up to kMaxErrors
  std::string rdata_;
  std::vector<Record> records_;
};

}  // namespace agility::dns
