#include "dns/transfer_out.h"

#include <cstring>

#include "dns/message_writer.h"
#include "dns/transfer.h"
#include "dns/wire.h"

namespace agility::dns {

TransferWriter::TransferWriter(const Zone& zone, const uint8_t* query, const Query& q,
                               std::optional<TsigRequest> tsig, std::vector<const ZoneDiff*> diffs)
    : zone_(zone), question_size_(q.question_end - kHeaderSize), diffs_(std::move(diffs)) {
  std::memcpy(header_, query, 2);
  std::memcpy(question_, query + kHeaderSize, question_size_);
  if (tsig.has_value() && tsig->key != nullptr) {
    tsig_space_ = TsigSpace(*tsig->key);
    signer_.emplace(*tsig);
  }
  // RFC 1995 §2: a client as new as we are (or newer) gets our SOA alone.
  up_to_date_ =
      q.qtype == type::kIxfr && q.has_ixfr_serial && !SerialNewer(zone.serial(), q.ixfr_serial);
}

size_t TransferWriter::Next(uint8_t* out) {
  if (phase_ == Phase::kDone) return 0;
  MessageWriter w(out, kMaxMessageSize - tsig_space_);
  uint8_t header[kHeaderSize] = {};
  std::memcpy(header, header_, 2);
  WriteU16(header + 2, flag::kQr | flag::kAa);
  WriteU16(header + 4, first_message_ ? 1 : 0);
  w.Append(header, kHeaderSize);
  if (first_message_) {
    w.Append(question_, question_size_);
    w.RememberName(kHeaderSize);
  }
  const RrsetView soa = zone_.apex_node().Find(type::kSoa);
  const auto put = [&w](absl::string_view owner, const RrsetView& rrset, const uint8_t* record) {
    return w.AppendRecord(MessageWriter::kNoOwner, owner, rrset.type(), rrset.ttl(), record + 2,
                          ReadU16(record)) != 0;
  };
  uint16_t count = 0;
  while (phase_ != Phase::kDone) {
    if (phase_ == Phase::kFirstSoa || phase_ == Phase::kLastSoa) {
      if (!put(zone_.apex(), soa, soa.records())) break;
      ++count;
      phase_ = phase_ == Phase::kLastSoa || up_to_date_ ? Phase::kDone
               : diffs_.empty()                         ? Phase::kNodes
                                                        : Phase::kDiffs;
      continue;
    }
    if (phase_ == Phase::kDiffs) {
      // RFC 1995 §4: each difference as its old SOA and what went, then
      // its new SOA and what came (ZoneDiff keeps them in that order).
      if (diff_ == diffs_.size()) {
        phase_ = Phase::kLastSoa;
        continue;
      }
      const ZoneDiff& diff = *diffs_[diff_];
      if (diff_record_ == diff.removed.size() + diff.added.size()) {
        ++diff_;
        diff_record_ = 0;
        continue;
      }
      const TransferRecord& r = diff_record_ < diff.removed.size()
                                    ? diff.removed[diff_record_]
                                    : diff.added[diff_record_ - diff.removed.size()];
      if (w.AppendRecord(MessageWriter::kNoOwner, r.owner, r.type, r.ttl, AsBytes(r.rdata),
                         r.rdata.size()) == 0) {
        break;
      }
      ++count;
      ++diff_record_;
      continue;
    }
    if (node_ >= zone_.arena_end()) {
      phase_ = Phase::kLastSoa;
      continue;
    }
    const NodeView node = zone_.NodeAt(node_);
    if (rrset_ == 0 && record_ == 0 && !rrset_at_.valid()) {
      rrset_at_ = RrsetView(static_cast<const uint8_t*>(node.id()) + 3 + node.name().size());
    }
    if (rrset_ >= node.rrset_count()) {
      node_ = zone_.NextNode(node_);
      rrset_ = 0;
      record_ = 0;
      rrset_at_ = RrsetView();
      continue;
    }
    if (record_ >= rrset_at_.count() ||
        (rrset_at_.type() == type::kSoa && (node.flags() & node_flag::kApex))) {
      // The apex SOA goes first and last only.
      rrset_at_ = RrsetView(rrset_at_.end());
      ++rrset_;
      record_ = 0;
      record_at_ = nullptr;
      continue;
    }
    if (record_at_ == nullptr) record_at_ = rrset_at_.records();
    if (!put(node.name(), rrset_at_, record_at_)) break;
    ++count;
    record_at_ += 2 + ReadU16(record_at_);
    ++record_;
  }
  if (count == 0) {
    // A record larger than a message: the zone's checks keep that out.
    phase_ = Phase::kDone;
    return 0;
  }
  first_message_ = false;
  WriteU16(out + 6, count);
  size_t size = w.size();
  if (signer_.has_value() && !signer_->Sign(out, &size, kMaxMessageSize)) {
    phase_ = Phase::kDone;
    return 0;
  }
  return size;
}

}  // namespace agility::dns
