#include "dns/journal.h"

#include <algorithm>

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

std::vector<const ZoneDiff*> Journal::From(uint32_t serial) const {
  std::vector<const ZoneDiff*> path;
  for (const auto& diff : diffs_) {
    if (path.empty() && diff->from_serial != serial) continue;
    path.push_back(diff.get());
  }
  return path;
}

}  // namespace agility::dns
