#include "dns/zone_patch.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "dns/name.h"
#include "dns/zone_builder.h"
#include "dns/zone_file.h"
#include "dns/zone_text.h"

namespace agility::dns {
namespace {

struct Record {
  uint16_t type;
  uint32_t ttl;
  std::string rdata;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Zone>> PatchZone(std::shared_ptr<const Zone> current,
                                                const std::vector<const ZoneDiff*>& diffs) {
  // Every record each changed name ends with, from what it has now and
  // the steps in order, with ApplyDiffs' rules: a removed record must be
  // there, a record added again takes the new TTL.
  std::vector<std::pair<std::string, std::vector<Record>>> names;
  absl::flat_hash_map<std::string, size_t> index;
  const auto records_of = [&](const std::string& owner) -> std::vector<Record>& {
    const auto [it, inserted] = index.try_emplace(owner, names.size());
    if (inserted) {
      names.emplace_back(owner, std::vector<Record>());
      const NodeView node = current->Find(owner);
      if (!node.valid()) return names.back().second;
      node.ForEachRrset([&](const RrsetView& rrset) {
        const uint8_t* record = rrset.records();
        for (uint16_t i = 0; i < rrset.count(); ++i) {
          const uint16_t size = ReadU16(record);
          names.back().second.push_back(
              {rrset.type(), rrset.ttl(), std::string(AsChars(record + 2, size))});
          record += 2 + size;
        }
      });
    }
    return names[it->second].second;
  };
  uint32_t serial = current->serial();
  for (const ZoneDiff* diff : diffs) {
    if (diff->from_serial != serial) {
      return absl::DataLossError(
          absl::StrCat("an IXFR step from serial ", diff->from_serial, " onto serial ", serial));
    }
    for (const TransferRecord& r : diff->removed) {
      std::vector<Record>& records = records_of(r.owner);
      const auto it = std::find_if(records.begin(), records.end(), [&r](const Record& have) {
        return have.type == r.type && have.rdata == r.rdata;
      });
      if (it == records.end()) {
        return absl::DataLossError(absl::StrCat("an IXFR step to serial ", diff->to_serial,
                                                " removes a record the zone does not have (",
                                                NameToText(r.owner), " type ", r.type, ")"));
      }
      records.erase(it);
    }
    for (const TransferRecord& r : diff->added) {
      std::vector<Record>& records = records_of(r.owner);
      const auto it = std::find_if(records.begin(), records.end(), [&r](const Record& have) {
        return have.type == r.type && have.rdata == r.rdata;
      });
      if (it != records.end()) {
        it->ttl = r.ttl;
      } else {
        records.push_back({r.type, r.ttl, r.rdata});
      }
    }
    serial = diff->to_serial;
  }
  // Through text and the zone-file reader, as a whole-zone transfer goes:
  // the changed names are read exactly as a rebuild would read them.
  ZoneTextWriter text;
  std::vector<std::string> deleted;
  for (const auto& [owner, records] : names) {
    if (records.empty()) deleted.push_back(owner);
    for (const Record& r : records) {
      if (auto status = text.Add(owner, r.type, r.ttl, r.rdata); !status.ok()) return status;
    }
  }
  ZoneBuilder builder(current->source());
  if (auto status =
          ReadZoneText(text.text(), current->source(), NameToText(current->apex()), builder);
      !status.ok()) {
    return status;
  }
  return builder.BuildOverlay(std::move(current), deleted);
}

}  // namespace agility::dns
