#include "dns/zone_text.h"

#include "dns/generic_rdata.h"

extern "C" {
#include <libknot/consts.h>
#include <libknot/descriptor.h>
#include <libknot/errcode.h>
#include <libknot/rrset-dump.h>
#include <libknot/rrset.h>
}

#include <cstdlib>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "dns/name.h"
#include "dns/wire.h"

namespace agility::dns {
namespace {

knot_dump_style_t TextStyle() {
  knot_dump_style_t style = KNOT_DUMP_STYLE_DEFAULT;
  style.wrap = false;
  style.show_class = true;
  style.show_ttl = true;
  style.original_ttl = false;
  style.human_ttl = false;
  style.human_timestamp = true;
  style.generic = false;
  style.hide_crypto = false;
  return style;
}

std::string RecordKey(absl::string_view owner, uint16_t type, absl::string_view rdata) {
  std::string key(owner);
  key.push_back(static_cast<char>(type >> 8));
  key.push_back(static_cast<char>(type & 0xff));
  key.append(rdata.data(), rdata.size());
  return key;
}

bool ZoneHas(const Zone& zone, absl::string_view owner, uint16_t type, absl::string_view rdata) {
  const NodeView node = zone.Find(owner);
  if (!node.valid()) return false;
  const RrsetView rrset = node.Find(type);
  if (!rrset.valid()) return false;
  const uint8_t* record = rrset.records();
  for (uint16_t i = 0; i < rrset.count(); ++i) {
    const uint16_t size = ReadU16(record);
    if (AsChars(record + 2, size) == rdata) return true;
    record += 2 + size;
  }
  return false;
}

}  // namespace

// libknot grows the buffer by doubling it, so it must not start empty.
ZoneTextWriter::ZoneTextWriter()
    : line_(static_cast<char*>(std::malloc(1024))), line_size_(line_ != nullptr ? 1024 : 0) {}
ZoneTextWriter::~ZoneTextWriter() { std::free(line_); }

absl::Status ZoneTextWriter::Add(absl::string_view owner, uint16_t type, uint32_t ttl,
                                 absl::string_view rdata) {
  static const knot_dump_style_t style = TextStyle();
  if (rdata.size() > UINT16_MAX) return absl::DataLossError("RDATA over 65535 octets");
  if (auto status = CheckDumpable(type, rdata); !status.ok()) {
    return absl::DataLossError(
        absl::StrCat("a record of '", NameToText(owner), "': ", status.message()));
  }
  knot_rrset_t rrset;
  knot_rrset_init(&rrset, reinterpret_cast<knot_dname_t*>(const_cast<char*>(owner.data())), type,
                  KNOT_CLASS_IN, ttl);
  if (knot_rrset_add_rdata(&rrset, AsBytes(rdata), static_cast<uint16_t>(rdata.size()), nullptr) !=
      KNOT_EOK) {
    return absl::ResourceExhaustedError("out of memory");
  }
  const int written = knot_rrset_txt_dump(&rrset, &line_, &line_size_, &style);
  knot_rdataset_clear(&rrset.rrs, nullptr);
  if (written < 0) {
    char type_name[32];
    knot_rrtype_to_string(type, type_name, sizeof(type_name));
    return absl::DataLossError(absl::StrCat("a ", type_name, " record of '", NameToText(owner),
                                            "' whose data is not valid for its type"));
  }
  text_.append(line_, static_cast<size_t>(written));
  return absl::OkStatus();
}

absl::Status ZoneTextWriter::AddZone(const Zone& zone) {
  absl::Status status = absl::OkStatus();
  zone.ForEachNode([&](const NodeView& node) {
    node.ForEachRrset([&](const RrsetView& rrset) {
      const uint8_t* record = rrset.records();
      for (uint16_t i = 0; i < rrset.count() && status.ok(); ++i) {
        const uint16_t size = ReadU16(record);
        status = Add(node.name(), rrset.type(), rrset.ttl(), AsChars(record + 2, size));
        record += 2 + size;
      }
    });
  });
  return status;
}

absl::Status ApplyDiffs(const Zone& base, const std::vector<ZoneDiff>& diffs, ZoneTextWriter& out) {
  struct Change {
    bool in_base = false;
    int present = 0;  // after the diffs so far: 0 or 1
    bool new_ttl = false;
    uint32_t ttl = 0;
    const TransferRecord* record = nullptr;  // an addition, for writing it out
  };
  absl::flat_hash_map<std::string, Change> changes;
  absl::flat_hash_set<std::string> owners;
  uint32_t serial = base.serial();
  for (const ZoneDiff& diff : diffs) {
    if (diff.from_serial != serial) {
      return absl::DataLossError(
          absl::StrCat("an IXFR step from serial ", diff.from_serial, " onto serial ", serial));
    }
    for (const TransferRecord& r : diff.removed) {
      auto [it, inserted] = changes.try_emplace(RecordKey(r.owner, r.type, r.rdata));
      if (inserted) {
        it->second.in_base = ZoneHas(base, r.owner, r.type, r.rdata);
        it->second.present = it->second.in_base ? 1 : 0;
      }
      if (it->second.present == 0) {
        return absl::DataLossError(absl::StrCat("an IXFR step to serial ", diff.to_serial,
                                                " removes a record the zone does not have (",
                                                NameToText(r.owner), " type ", r.type, ")"));
      }
      it->second.present = 0;
      owners.insert(r.owner);
    }
    for (const TransferRecord& r : diff.added) {
      auto [it, inserted] = changes.try_emplace(RecordKey(r.owner, r.type, r.rdata));
      if (inserted) {
        it->second.in_base = ZoneHas(base, r.owner, r.type, r.rdata);
        it->second.present = it->second.in_base ? 1 : 0;
      }
      it->second.present = 1;
      it->second.new_ttl = true;
      it->second.ttl = r.ttl;
      it->second.record = &r;
      owners.insert(r.owner);
    }
    serial = diff.to_serial;
  }
  absl::Status status = absl::OkStatus();
  base.ForEachNode([&](const NodeView& node) {
    const bool touched = owners.contains(node.name());
    node.ForEachRrset([&](const RrsetView& rrset) {
      const uint8_t* record = rrset.records();
      for (uint16_t i = 0; i < rrset.count() && status.ok(); ++i) {
        const uint16_t size = ReadU16(record);
        const absl::string_view rdata = AsChars(record + 2, size);
        record += 2 + size;
        uint32_t ttl = rrset.ttl();
        if (touched) {
          const auto it = changes.find(RecordKey(node.name(), rrset.type(), rdata));
          if (it != changes.end()) {
            if (it->second.present == 0) continue;
            if (it->second.new_ttl) ttl = it->second.ttl;
          }
        }
        status = out.Add(node.name(), rrset.type(), ttl, rdata);
      }
    });
  });
  for (const auto& [key, change] : changes) {
    if (!status.ok()) break;
    if (change.in_base || change.present == 0) continue;
    status = out.Add(change.record->owner, change.record->type, change.ttl, change.record->rdata);
  }
  return status;
}

}  // namespace agility::dns
