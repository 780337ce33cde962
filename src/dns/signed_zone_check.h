// What kzonecheck checks in a zone signed ahead (RFC 4034, RFC 4035 §2),
// gathered while ZoneBuilder writes the zone and judged once it is whole:
// errors for RRsets without RRSIG, names without NSEC (or without the NSEC3
// of their hash, opt-out aside), an NSEC or NSEC3 chain that skips or invents
// a link, and type bitmaps that do not match the name's types; warnings for
// signatures that expire within 7 days.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "dns/zone.h"

namespace agility::dns {

class SignedZoneCheck {
 public:
  // Where a record was read: ZoneBuilder's file index and line.
  struct Where {
    uint16_t file;
    uint32_t line;
  };

  // `now` in seconds since the epoch, for signature expiry.
  explicit SignedZoneCheck(int64_t now) : now_(now) {}

  // An RRset at the node at arena offset `node` that no RRSIG covers.
  void Unsigned(uint32_t node, uint16_t type, Where where) {
    unsigned_.push_back({node, type, where});
  }
  // An RRSIG record, for its expiry.
  void Signature(absl::string_view owner, absl::string_view rdata, Where where);
  // The NSEC record at `node`.
  void Nsec(uint32_t node, Where where) { nsecs_.push_back({node, 0, where}); }
  // A node with data and no NSEC (fine below a cut, or in an NSEC3 zone).
  void NoNsec(uint32_t node, Where where) { no_nsec_.push_back({node, 0, where}); }
  // The NSEC3 record at `node`.
  void Nsec3(uint32_t node, Where where) { nsec3s_.push_back({node, 0, where}); }

  // Judges the whole zone (node flags final, NSEC owners sorted); messages
  // are "file:line: ..." with `files` naming ZoneBuilder's file indexes.
  void Finish(const Zone& zone, const std::vector<std::string>& files,
              std::vector<std::string>& errors, std::vector<std::string>& warnings) const;

 private:
  struct Entry {
    uint32_t node;
    uint16_t type;
    Where where;
  };
  void CheckNsec3(const Zone& zone, const std::vector<std::string>& files,
                  std::vector<std::string>& errors) const;
  int64_t now_;
  std::vector<Entry> unsigned_;
  std::vector<Entry> nsecs_;
  std::vector<Entry> no_nsec_;
  std::vector<Entry> nsec3s_;
  struct Expiring {
    std::string owner;
    uint16_t covered;
    uint32_t expiration;
    Where where;
  };
  std::vector<Expiring> expiring_;
};

}  // namespace agility::dns
