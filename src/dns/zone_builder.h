// Collects the records of one zone file and compiles them into a Zone,
// checking what RFC 1034/1035/2181 require of a zone's contents.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"
#include <vector>

#include "absl/status/statusor.h"
#include "dns/zone.h"

namespace agility::dns {

class ZoneBuilder {
 public:
  // `source` names the file in error messages ("zones/example.com.zone").
  explicit ZoneBuilder(std::string source) : source_(std::move(source)) {}

  // `owner` is a lowercase wire name; `rdata` wire form with names
  // uncompressed; `line` is where the record starts in `file`.
  void Add(absl::string_view owner, uint16_t type, uint32_t ttl, absl::string_view rdata,
           absl::string_view file, int line);

  size_t record_count() const { return records_.size(); }

  // The apex is the owner of the SOA record. Fails with "file:line: message"
  // lines when the records do not form a valid zone.
  absl::StatusOr<std::unique_ptr<Zone>> Build();

 private:
  struct Record {
    uint32_t owner;  // offset into bytes_: [len u8][name]
    uint32_t rdata;  // offset into bytes_: [len u16][rdata]
    uint32_t ttl;
    uint16_t type;
    uint16_t file;  // index into files_
    uint32_t line;
  };
  absl::string_view OwnerOf(const Record& r) const {
    return absl::string_view(bytes_).substr(r.owner + 1, static_cast<uint8_t>(bytes_[r.owner]));
  }
  absl::string_view RdataOf(const Record& r) const {
    return absl::string_view(bytes_).substr(r.rdata + 2, ReadU16(AsBytes(bytes_) + r.rdata));
  }
  std::string Where(const Record& r) const;

  std::string source_;
  std::vector<std::string> files_;
  std::string bytes_;
  std::vector<Record> records_;
};

}  // namespace agility::dns
