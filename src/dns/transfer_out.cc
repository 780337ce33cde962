#include "dns/transfer_out.h"

#include <cstring>

#include "dns/name.h"
#include "dns/transfer.h"
#include "dns/wire.h"

namespace agility::dns {
namespace {

// A stored record's RDATA: [rdlength u16][rdata].
absl::string_view RdataAt(const uint8_t* record) { return AsChars(record + 2, ReadU16(record)); }

}  // namespace

TransferWriter::TransferWriter(const Zone& zone, const uint8_t* query, const Query& q,
                               std::optional<TsigRequest> tsig, std::vector<const ZoneDiff*> diffs)
    : zone_(zone),
      question_size_(q.question_end - kHeaderSize),
      diffs_(std::move(diffs)),
      node_(zone.FirstNode()) {
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
  // Messages of about 16 KiB, as Knot sends; one larger record gets a
  // message of its own, up to 64 KiB.
  ZoneRecordWriter w(out, kTargetMessageSize - tsig_space_, header_, question_, question_size_);
  uint16_t count = 0;
  while (phase_ != Phase::kDone) {
    if (phase_ == Phase::kFirstSoa || phase_ == Phase::kLastSoa) {
      const RrsetView soa = zone_.apex_node().Find(type::kSoa);
      if (!Put(w, count, zone_.apex(), soa.type(), soa.ttl(), RdataAt(soa.records()))) break;
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
      if (!Put(w, count, r.owner, r.type, r.ttl, r.rdata)) break;
      ++diff_record_;
      continue;
    }
    if (node_ >= zone_.node_end()) {
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
    if (!Put(w, count, node.name(), rrset_at_.type(), rrset_at_.ttl(), RdataAt(record_at_))) {
      break;
    }
    record_at_ += 2 + ReadU16(record_at_);
    ++record_;
  }
  if (count == 0) {
    // A record larger than any message: the zone's checks keep that out.
    phase_ = Phase::kDone;
    return 0;
  }
  WriteU16(out + 6, count);
  size_t size = w.size();
  if (signer_.has_value() && !signer_->Sign(out, &size, kMaxMessageSize)) {
    phase_ = Phase::kDone;
    return 0;
  }
  return size;
}

bool TransferWriter::Put(ZoneRecordWriter& w, uint16_t& count, absl::string_view owner,
                         uint16_t type, uint32_t ttl, absl::string_view rdata) {
  if (!w.Append(owner, type, ttl, rdata)) {
    if (count > 0) return false;  // the next message takes it
    w.Grow(kMaxMessageSize - tsig_space_);
    if (!w.Append(owner, type, ttl, rdata)) return false;
  }
  ++count;
  return true;
}

ZoneRecordWriter::ZoneRecordWriter(uint8_t* out, size_t limit, const uint8_t* id,
                                   const uint8_t* question, size_t question_size)
    : out_(out), limit_(limit) {
  // The question in every message (RFC 5936 §2.2.1 allows it): its name,
  // the apex, is what every owner points to.
  std::memset(out, 0, kHeaderSize);
  std::memcpy(out, id, 2);
  WriteU16(out + 2, flag::kQr | flag::kAa);
  WriteU16(out + 4, 1);
  std::memcpy(out + kHeaderSize, question, question_size);
  size_ = kHeaderSize + question_size;
  apex_size_ = question_size - 4;
}

bool ZoneRecordWriter::Append(absl::string_view owner, uint16_t type, uint32_t ttl,
                              absl::string_view rdata) {
  // The owner: a pointer to the last one when the same; else its labels
  // above the apex and a pointer to the question's name.
  size_t labels = owner.size();
  bool to_apex = false;
  const bool same = last_owner_at_ != 0 && owner == last_owner_;
  if (!same && owner.size() >= apex_size_ &&
      IsAtOrBelow(owner, AsChars(out_ + kHeaderSize, apex_size_))) {
    labels = owner.size() - apex_size_;
    to_apex = true;
  }
  const size_t owner_size = same ? 2 : labels + (to_apex ? 2 : 0);
  if (size_ + owner_size + 10 + rdata.size() > limit_) return false;
  const size_t at = size_;
  if (same) {
    WriteU16(out_ + size_, static_cast<uint16_t>(0xc000 | last_owner_at_));
  } else {
    std::memcpy(out_ + size_, owner.data(), labels);
    if (to_apex) WriteU16(out_ + size_ + labels, 0xc000 | kHeaderSize);
    if (at < 0x4000) {
      last_owner_ = owner;
      last_owner_at_ = at;
    }
  }
  size_ += owner_size;
  WriteU16(out_ + size_, type);
  WriteU16(out_ + size_ + 2, rr_class::kIn);
  WriteU32(out_ + size_ + 4, ttl);
  WriteU16(out_ + size_ + 8, static_cast<uint16_t>(rdata.size()));
  std::memcpy(out_ + size_ + 10, rdata.data(), rdata.size());
  size_ += 10 + rdata.size();
  return true;
}

}  // namespace agility::dns
