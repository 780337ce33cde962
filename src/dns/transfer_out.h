// Zone transfers out (AXFR, RFC 5936; an IXFR answered with the whole zone,
// RFC 1995 §4): the zone's records, SOA first and last, written into
// messages one at a time as the client takes them, straight from the
// compiled zone: nothing is copied. No I/O here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include <vector>

#include "absl/strings/string_view.h"
#include "dns/query.h"
#include "dns/transfer.h"
#include "dns/tsig.h"
#include "dns/zone.h"

namespace agility::dns {

// One message of a transfer: header and question, then records whose owners
// point to the previous owner or to the question's name (the apex), RDATA
// as the zone holds it. Far cheaper than a general compressor over tens of
// thousands of names, for about the same size.
class ZoneRecordWriter {
 public:
  ZoneRecordWriter(uint8_t* out, size_t limit, const uint8_t* id, const uint8_t* question,
                   size_t question_size);
  // False when the record does not fit.
  bool Append(absl::string_view owner, uint16_t type, uint32_t ttl, absl::string_view rdata);
  // Allows up to `limit` octets (a record too large for the usual message).
  void Grow(size_t limit) { limit_ = limit; }
  size_t size() const { return size_; }

 private:
  uint8_t* out_;
  size_t limit_;
  size_t size_ = 0;
  size_t apex_size_ = 0;
  absl::string_view last_owner_;
  size_t last_owner_at_ = 0;
};

class TransferWriter {
 public:
  // `zone` must outlive the writer (the caller keeps its snapshot).
  // `query` is the request as ParseQuery read it; `tsig`, when the request
  // was signed and checked, signs every message.
  // `diffs` (IXFR): the journal's way from the client's serial to the
  // zone's, owned by the caller too; empty: the whole zone.
  TransferWriter(const Zone& zone, const uint8_t* query, const Query& q,
                 std::optional<TsigRequest> tsig, std::vector<const ZoneDiff*> diffs = {});

  // Writes the next message into `out` (kMaxMessageSize octets); 0 when
  // the transfer is over (or a message could not be signed).
  size_t Next(uint8_t* out);
  // True when the client's IXFR serial is ours: one SOA says so, as the
  // only message.
  bool up_to_date() const { return up_to_date_; }

 private:
  static constexpr size_t kTargetMessageSize = 16384;
  // Appends one record and counts it; a record too large for the usual
  // message gets a message of its own. False when it must wait for the next.
  bool Put(ZoneRecordWriter& w, uint16_t& count, absl::string_view owner, uint16_t type,
           uint32_t ttl, absl::string_view rdata);

  const Zone& zone_;
  uint8_t header_[2];  // the ID
  uint8_t question_[kMaxNameLength + 4];
  size_t question_size_;
  std::optional<TsigStreamSigner> signer_;
  size_t tsig_space_ = 0;
  enum class Phase { kFirstSoa, kNodes, kDiffs, kLastSoa, kDone } phase_ = Phase::kFirstSoa;
  std::vector<const ZoneDiff*> diffs_;
  size_t diff_ = 0;         // kDiffs: which difference,
  size_t diff_record_ = 0;  // and which of its removed then added records
  // Where the walk is: the node (Zone::FirstNode...), its RRset and the record.
  uint32_t node_;
  int rrset_ = 0;
  RrsetView rrset_at_;
  uint16_t record_ = 0;
  const uint8_t* record_at_ = nullptr;
  bool up_to_date_ = false;
};

}  // namespace agility::dns
