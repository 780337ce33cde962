// Writes a DNS response into a caller-owned buffer with name compression and
// all-or-nothing records: a record that does not fit leaves the message as it
// was, so the responder can truncate cleanly. No allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include "absl/strings/string_view.h"

namespace agility::dns {

class MessageWriter {
 public:
  // `limit` is the largest message the peer accepts, minus any reserved tail.
  MessageWriter(uint8_t* buffer, size_t limit) : buffer_(buffer), limit_(limit) {}

  size_t size() const { return size_; }
  uint8_t* data() { return buffer_; }

  // Appends raw bytes (header and question copies).
  bool Append(const uint8_t* bytes, size_t n);

  // Makes the labels of the name at packet offset `pos` available as
  // compression targets (used for the question, which is copied verbatim).
  void RememberName(size_t pos);

  // Appends one record. `owner_pos` is the packet offset of a name already in
  // the message (compression pointer target), or kNoOwner to use `owner`.
  // Names inside NS, CNAME, PTR, MX and SOA data are compressed (RFC 3597 §4).
  // Returns the offset of the record's RDATA, or 0 when it does not fit.
  static constexpr size_t kNoOwner = SIZE_MAX;
  size_t AppendRecord(size_t owner_pos, absl::string_view owner, uint16_t type, uint32_t ttl,
                      const uint8_t* rdata, size_t rdata_size);

  // Sets the size back, forgetting compression targets past it.
  void Truncate(size_t size);

 private:
  bool AppendName(absl::string_view name);
  bool AppendU16(uint16_t v);
  bool AppendU32(uint32_t v);
  // Offset of a remembered name equal to `name` (case-insensitive), or 0.
  size_t FindName(absl::string_view name) const;
  bool NameAtEquals(size_t pos, absl::string_view name) const;

  static constexpr int kMaxTargets = 48;
  uint8_t* buffer_;
  size_t limit_;
  size_t size_ = 0;
  uint16_t targets_[kMaxTargets];
  int target_count_ = 0;
};

}  // namespace agility::dns
