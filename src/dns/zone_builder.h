// Collects the records of one zone file and compiles them into a Zone,
// checking what RFC 1034/1035/2181 require of a zone's contents.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>
#include "absl/strings/string_view.h"

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "dns/zone.h"

namespace agility::dns {

class ZoneBuilder {
 public:
  // `source` names the file in error messages ("zones/example.com.zone").
  explicit ZoneBuilder(std::string source) : source_(std::move(source)) {}
  ZoneBuilder(const ZoneBuilder&) = delete;  // the owner index points at this
  ZoneBuilder& operator=(const ZoneBuilder&) = delete;

  // `owner` is a lowercase wire name; `rdata` wire form with names
  // uncompressed; `line` is where the record starts in `file`.
  void Add(absl::string_view owner, uint16_t type, uint32_t ttl, absl::string_view rdata,
           absl::string_view file, int line);

  size_t record_count() const { return records_.size(); }
  // Sizes the tables for about `records` records (saves rehashing).
  void Reserve(size_t records);

  // The apex is the owner of the SOA record. Fails with "file:line: message"
  // lines when the records do not form a valid zone.
  absl::StatusOr<std::unique_ptr<Zone>> Build();

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
  // The id of `owner`, new or known; records of one owner usually come in a
  // row, so the last id is tried first.
  uint32_t Intern(absl::string_view owner);
  std::string Where(const Record& r) const;

  std::string source_;
  std::vector<std::string> files_;
  uint16_t current_file_ = 0;
  std::string owners_;  // each owner once: [len u8][name]
  std::vector<uint32_t> owner_offsets_;
  struct OwnerHash {
    using is_transparent = void;
    const ZoneBuilder* builder;
    size_t operator()(absl::string_view name) const {
      return absl::Hash<absl::string_view>{}(name);
    }
    size_t operator()(uint32_t id) const { return (*this)(builder->Owner(id)); }
  };
  struct OwnerEq {
    using is_transparent = void;
    const ZoneBuilder* builder;
    bool operator()(uint32_t a, uint32_t b) const { return a == b; }
    bool operator()(uint32_t a, absl::string_view b) const { return builder->Owner(a) == b; }
    bool operator()(absl::string_view a, uint32_t b) const { return a == builder->Owner(b); }
  };
  // Owner ids, looked up by name: 4 bytes per owner.
  absl::flat_hash_set<uint32_t, OwnerHash, OwnerEq> owner_ids_{0, OwnerHash{this}, OwnerEq{this}};
  std::string rdata_;
  std::vector<Record> records_;
};

}  // namespace agility::dns
