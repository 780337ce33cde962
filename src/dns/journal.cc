#include "dns/journal.h"

#include <algorithm>

#include "absl/strings/strip.h"
#include "dns/wire.h"

namespace agility::dns {
namespace {

// Every record of `zone` not in `other`, as transfer records.
void RecordsNotIn(const Zone& zone, const Zone& other, std::vector<TransferRecord>& out) {
  zone.ForEachNode([&](const NodeView& node) {
    const NodeView there = other.Find(node.name());
    node.ForEachRrset([&](const RrsetView& rrset) {
      const RrsetView theirs = there.valid() ? there.Find(rrset.type()) : RrsetView();
      const uint8_t* record = rrset.records();
      for (uint16_t i = 0; i < rrset.count(); ++i) {
        const absl::string_view rdata = AsChars(record + 2, ReadU16(record));
        record += 2 + rdata.size();
        bool found = false;
        if (theirs.valid() && theirs.ttl() == rrset.ttl()) {
          const uint8_t* p = theirs.records();
          for (uint16_t j = 0; j < theirs.count() && !found; ++j) {
            found = AsChars(p + 2, ReadU16(p)) == rdata;
            p += 2 + ReadU16(p);
          }
        }
        if (!found) {
          out.push_back({std::string(node.name()), std::string(rdata), rrset.ttl(), rrset.type()});
        }
      }
    });
  });
}

size_t SizeOf(const ZoneDiff& diff) {
  size_t bytes = sizeof(diff);
  for (const auto* records : {&diff.removed, &diff.added}) {
    for (const TransferRecord& r : *records) {
      bytes += sizeof(r) + r.owner.size() + r.rdata.size();
    }
  }
  return bytes;
}

}  // namespace

ZoneDiff DiffZones(const Zone& before, const Zone& after) {
  ZoneDiff diff;
  diff.from_serial = before.serial();
  diff.to_serial = after.serial();
  // The SOAs differ by their serials at least; each list starts with its
  // SOA, as an IXFR sequence does.
  RecordsNotIn(before, after, diff.removed);
  RecordsNotIn(after, before, diff.added);
  for (auto* records : {&diff.removed, &diff.added}) {
    const auto soa = std::find_if(records->begin(), records->end(), [&](const TransferRecord& r) {
      return r.type == type::kSoa && r.owner == before.apex();
    });
    if (soa != records->end()) std::rotate(records->begin(), soa, soa + 1);
  }
  return diff;
}

std::shared_ptr<const Journal> Journal::Append(const Journal* base,
                                               std::shared_ptr<const ZoneDiff> diff,
                                               size_t max_bytes) {
  auto journal = std::make_shared<Journal>();
  if (base != nullptr && !base->diffs_.empty() &&
      base->diffs_.back()->to_serial == diff->from_serial) {
    journal->diffs_ = base->diffs_;
    journal->bytes_ = base->bytes_;
  }
  journal->bytes_ += SizeOf(*diff);
  journal->diffs_.push_back(std::move(diff));
  size_t drop = 0;
  while (journal->bytes_ > max_bytes && drop + 1 < journal->diffs_.size()) {
    journal->bytes_ -= SizeOf(*journal->diffs_[drop]);
    ++drop;
  }
  journal->diffs_.erase(journal->diffs_.begin(), journal->diffs_.begin() + drop);
  return journal;
}

namespace {

constexpr absl::string_view kMagic = "agility ixfr journal 1\n";

void PutU16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}
void PutU32(std::string& out, uint32_t v) {
  PutU16(out, static_cast<uint16_t>(v >> 16));
  PutU16(out, static_cast<uint16_t>(v & 0xffff));
}

// Reads what PutU16/PutU32 and the records wrote; false past the end.
class Reader {
 public:
  explicit Reader(absl::string_view bytes) : bytes_(bytes) {}
  bool U16(uint16_t* v) {
    if (bytes_.size() < 2) return false;
    *v = ReadU16(AsBytes(bytes_));
    bytes_.remove_prefix(2);
    return true;
  }
  bool U32(uint32_t* v) {
    if (bytes_.size() < 4) return false;
    *v = ReadU32(AsBytes(bytes_));
    bytes_.remove_prefix(4);
    return true;
  }
  bool Bytes(size_t n, std::string* out) {
    if (bytes_.size() < n) return false;
    out->assign(bytes_.data(), n);
    bytes_.remove_prefix(n);
    return true;
  }
  bool Record(TransferRecord* r) {
    uint16_t owner = 0, rdata = 0;
    return U16(&owner) && owner <= kMaxNameLength && Bytes(owner, &r->owner) && U16(&r->type) &&
           U32(&r->ttl) && U16(&rdata) && Bytes(rdata, &r->rdata);
  }
  bool done() const { return bytes_.empty(); }

 private:
  absl::string_view bytes_;
};

}  // namespace

std::string Journal::Serialize() const {
  std::string out(kMagic);
  for (const auto& diff : diffs_) {
    PutU32(out, diff->from_serial);
    PutU32(out, diff->to_serial);
    PutU32(out, static_cast<uint32_t>(diff->removed.size()));
    PutU32(out, static_cast<uint32_t>(diff->added.size()));
    for (const auto* records : {&diff->removed, &diff->added}) {
      for (const TransferRecord& r : *records) {
        PutU16(out, static_cast<uint16_t>(r.owner.size()));
        out += r.owner;
        PutU16(out, r.type);
        PutU32(out, r.ttl);
        PutU16(out, static_cast<uint16_t>(r.rdata.size()));
        out += r.rdata;
      }
    }
  }
  return out;
}

absl::StatusOr<std::shared_ptr<const Journal>> Journal::Parse(absl::string_view bytes,
                                                              size_t max_bytes) {
  if (!absl::ConsumePrefix(&bytes, kMagic)) {
    return absl::DataLossError("not an agility IXFR journal");
  }
  Reader in(bytes);
  std::shared_ptr<const Journal> journal;
  while (!in.done()) {
    auto diff = std::make_shared<ZoneDiff>();
    uint32_t removed = 0, added = 0;
    if (!in.U32(&diff->from_serial) || !in.U32(&diff->to_serial) || !in.U32(&removed) ||
        !in.U32(&added) || removed > bytes.size() || added > bytes.size()) {
      return absl::DataLossError("a journal cut short");
    }
    for (auto [count, records] :
         {std::pair{removed, &diff->removed}, std::pair{added, &diff->added}}) {
      records->resize(count);
      for (TransferRecord& r : *records) {
        if (!in.Record(&r)) return absl::DataLossError("a journal cut short");
      }
    }
    if (journal != nullptr && journal->last_serial() != diff->from_serial) {
      return absl::DataLossError("a journal whose steps do not follow each other");
    }
    journal = Append(journal.get(), std::move(diff), max_bytes);
  }
  if (journal == nullptr) return absl::DataLossError("an empty journal");
  return journal;
}

std::vector<const ZoneDiff*> Journal::From(uint32_t serial) const {
  std::vector<const ZoneDiff*> path;
  for (const auto& diff : diffs_) {
    if (path.empty() && diff->from_serial != serial) continue;
    path.push_back(diff.get());
  }
  return path;
}

}  // namespace agility::dns
