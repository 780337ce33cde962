#include "dns/zone_builder.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dns/signed_zone_check.h"

namespace agility::dns {
namespace {

constexpr size_t kMaxErrors = 20;

// The parent of a wire name (one label removed); the root has none.
absl::string_view Parent(absl::string_view name) {
  return name.substr(1 + static_cast<uint8_t>(name[0]));
}

}  // namespace

void ZoneBuilder::Reserve(size_t records) {
  records_.reserve(records);
  owner_offsets_.reserve(records);
  owner_ids_.Reserve(records, [this](uint32_t id) { return Owner(id); });
  owners_.reserve(records * 16);
  rdata_.reserve(records * 8);
}

uint16_t ZoneBuilder::FileIndex(absl::string_view file) {
  // Records of one file come with one view of its name: known by address,
  // without reading the name (a cache line another core may be writing).
  if (file.data() == current_view_.data() && file.size() == current_view_.size()) {
    return current_file_;
  }
  current_view_ = file;
  if (files_.empty() || files_[current_file_] != file) {
    const auto it = std::find(files_.begin(), files_.end(), file);
    current_file_ = static_cast<uint16_t>(it - files_.begin());
    if (it == files_.end()) files_.emplace_back(file);
  }
  return current_file_;
}

void ZoneBuilder::Add(absl::Span<const Input> records) {
  // Owners are hashed first; each lookup then finds its home slot already
  // fetched, having asked for it kAhead records earlier.
  constexpr size_t kAhead = 16;
  batch_hashes_.resize(records.size());
  for (size_t i = 0; i < records.size(); ++i) {
    const bool repeated = i > 0 && records[i].owner == records[i - 1].owner;
    batch_hashes_[i] = repeated ? batch_hashes_[i - 1] : NameTable::Hash(records[i].owner);
  }
  const auto owner_name = [this](uint32_t id) { return Owner(id); };
  for (size_t i = 0; i < records.size(); ++i) {
    if (i + kAhead < records.size()) owner_ids_.Prefetch(batch_hashes_[i + kAhead]);
    const Input& in = records[i];
    // Records of one owner usually come in a row.
    const bool same_owner = last_owner_ != UINT32_MAX && (i > 0 ? in.owner == records[i - 1].owner
                                                                : in.owner == Owner(last_owner_));
    if (!same_owner) {
      bool inserted = false;
      const auto next_id = static_cast<uint32_t>(owner_offsets_.size());
      last_owner_ = owner_ids_.Insert(in.owner, batch_hashes_[i], next_id, owner_name, inserted);
      if (inserted) {
        owner_offsets_.push_back(static_cast<uint32_t>(owners_.size()));
        owners_ += static_cast<char>(in.owner.size());
        owners_.append(in.owner.data(), in.owner.size());
      }
    }
    Record r;
    r.owner = last_owner_;
    r.rdata = static_cast<uint32_t>(rdata_.size());
    rdata_ += static_cast<char>(in.rdata.size() >> 8);
    rdata_ += static_cast<char>(in.rdata.size() & 0xff);
    rdata_.append(in.rdata.data(), in.rdata.size());
    r.ttl = in.ttl;
    r.type = in.type;
    r.file = FileIndex(in.file);
    r.line = in.line;
    records_.push_back(r);
  }
}

std::string ZoneBuilder::Where(const Record& r) const {
  return absl::StrCat(files_[r.file], ":", r.line);
}

absl::StatusOr<std::unique_ptr<Zone>> ZoneBuilder::Build() {
  std::vector<std::string> errors;
  auto fail = [&](const Record& r, absl::string_view message) {
    if (errors.size() < kMaxErrors) errors.push_back(absl::StrCat(Where(r), ": ", message));
  };

  // The apex is the SOA owner; there must be exactly one SOA.
  const Record* soa = nullptr;
  for (const Record& r : records_) {
    if (r.type != type::kSoa) continue;
    if (soa == nullptr) {
      soa = &r;
    } else if (OwnerOf(r) != OwnerOf(*soa) || RdataOf(r) != RdataOf(*soa)) {
      fail(r, "second SOA record; a zone has exactly one, at its apex");
    }
  }
  if (soa == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ":1: no SOA record; the zone apex needs one"));
  }
  const std::string soa_where = Where(*soa);
  auto zone = std::unique_ptr<Zone>(new Zone());
  zone->apex_ = std::string(OwnerOf(*soa));
  zone->source_ = source_;
  const absl::string_view apex = zone->apex_;

  // A zone signed ahead (DNSKEY and RRSIG at the apex) gets kzonecheck's
  // DNSSEC checks; the facts are gathered as the owners are written.
  std::optional<SignedZoneCheck> signed_check;
  {
    bool dnskey = false, rrsig = false;
    for (const Record& r : records_) {
      if (r.type != type::kDnskey && r.type != type::kRrsig) continue;
      if (OwnerOf(r) != apex) continue;
      (r.type == type::kDnskey ? dnskey : rrsig) = true;
    }
    if (dnskey && rrsig) signed_check.emplace(absl::ToUnixSeconds(absl::Now()));
  }

  // Group records by owner (a counting sort on owner ids, in the order names
  // first appear), then by type and RDATA within each owner; identical
  // records collapse (RFC 2181 §5).
  const size_t owner_count = owner_offsets_.size();
  std::vector<uint32_t> group_start(owner_count + 1, 0);
  for (const Record& r : records_) ++group_start[r.owner + 1];
  for (size_t i = 0; i < owner_count; ++i) group_start[i + 1] += group_start[i];
  std::vector<uint32_t> order(records_.size());
  {
    std::vector<uint32_t> next(group_start.begin(), group_start.end() - 1);
    for (uint32_t i = 0; i < records_.size(); ++i) order[next[records_[i].owner]++] = i;
  }
  for (size_t g = 0; g < owner_count; ++g) {
    if (group_start[g + 1] - group_start[g] < 2) continue;
    std::sort(order.begin() + group_start[g], order.begin() + group_start[g + 1],
              [&](uint32_t a, uint32_t b) {
                const Record& x = records_[a];
                const Record& y = records_[b];
                if (x.type != y.type) return x.type < y.type;
                if (const int c = RdataOf(x).compare(RdataOf(y)); c != 0) return c < 0;
                return a < b;
              });
  }

  // The arena's exact size (duplicates aside), plus room for a few empty
  // non-terminals: it must not reallocate, which would double the peak.
  size_t arena_size = 0;
  for (size_t g = 0; g < owner_count; ++g) {
    arena_size += 3 + Owner(static_cast<uint32_t>(g)).size();
    uint16_t previous_type = 0;
    for (uint32_t k = group_start[g]; k < group_start[g + 1]; ++k) {
      const Record& r = records_[order[k]];
      if (k == group_start[g] || r.type != previous_type) arena_size += RrsetView::kHeader;
      previous_type = r.type;
      arena_size += 2 + RdataOf(r).size();
    }
  }
  std::vector<uint8_t>& arena = zone->arena_;
  arena.resize(arena_size + arena_size / 64 + 1024);
  uint8_t* const base = arena.data();
  size_t used = 0;  // written so far; the vector is cut to it afterwards
  auto put = [&](const void* bytes, size_t n) {
    std::memcpy(base + used, bytes, n);
    used += n;
  };
  auto put8 = [&](uint8_t v) { base[used++] = v; };
  auto put16 = [&](uint16_t v) {
    WriteU16(base + used, v);
    used += 2;
  };
  auto put32 = [&](uint32_t v) {
    WriteU32(base + used, v);
    used += 4;
  };
  // Owner ids ascend through the arena: node_offsets[id] is where id went.
  std::vector<uint32_t> node_offsets;
  node_offsets.reserve(owner_count);
  size_t i = 0;
  while (i < order.size()) {
    const Record& first = records_[order[i]];
    const absl::string_view owner = OwnerOf(first);
    const size_t end = group_start[first.owner + 1];

    if (!IsAtOrBelow(owner, apex)) {
      fail(first,
           absl::StrCat("'", NameToText(owner), "' is outside the zone '", NameToText(apex), "'"));
      i = end;
      continue;
    }
    const bool is_apex = owner == apex;
    const Record* cname_record = nullptr;
    bool has_other = false;
    bool has_ns = false;
    for (size_t k = i; k < end; ++k) {
      const Record& r = records_[order[k]];
      if (r.type == type::kCname) {
        cname_record = &r;
      } else if (r.type != type::kRrsig && r.type != type::kNsec) {
        has_other = true;
      }
      if (r.type == type::kNs) has_ns = true;
      if (r.type == type::kSoa && !is_apex) fail(r, "SOA record below the zone apex");
    }
    if (cname_record != nullptr && has_other) {
      fail(*cname_record,
           absl::StrCat("'", NameToText(owner), "' has a CNAME and other data (RFC 1034 §3.6.2)"));
    }

    const uint32_t node = static_cast<uint32_t>(used);
    if (signed_check) {
      // Records are sorted by type: each RRset is a run, RRSIGs (46) among them.
      covered_.clear();
      for (size_t k = i; k < end; ++k) {
        const Record& r = records_[order[k]];
        if (r.type != type::kRrsig || RdataOf(r).size() < 2) continue;
        covered_.push_back(ReadU16(AsBytes(RdataOf(r))));
        signed_check->Signature(owner, RdataOf(r), {r.file, r.line});
      }
      bool has_nsec = false;
      for (size_t k = i; k < end; ++k) {
        const Record& r = records_[order[k]];
        if (k > i && records_[order[k - 1]].type == r.type) continue;
        if (r.type == type::kNsec) {
          has_nsec = true;
          signed_check->Nsec(node, {r.file, r.line});
        }
        if (r.type == type::kNsec3) signed_check->Nsec3(node, {r.file, r.line});
        if (r.type != type::kRrsig &&
            std::find(covered_.begin(), covered_.end(), r.type) == covered_.end()) {
          signed_check->Unsigned(node, r.type, {r.file, r.line});
        }
      }
      if (!has_nsec) signed_check->NoNsec(node, {first.file, first.line});
    }
    node_offsets.push_back(node);
    uint8_t flags = 0;
    if (is_apex) flags |= node_flag::kApex;
    if (has_ns && !is_apex) flags |= node_flag::kDelegation;
    if (owner.size() >= 2 && owner[0] == 1 && owner[1] == '*') flags |= node_flag::kWildcard;
    put8(flags);
    put8(static_cast<uint8_t>(owner.size()));
    put(owner.data(), owner.size());
    const size_t rrset_count_at = used;
    put8(0);
    int rrsets = 0;
    size_t k = i;
    while (k < end) {
      const uint16_t type = records_[order[k]].type;
      size_t type_end = k;
      uint32_t ttl = UINT32_MAX;
      while (type_end < end && records_[order[type_end]].type == type) {
        ttl = std::min(ttl, records_[order[type_end]].ttl);
        ++type_end;
      }
      if ((type == type::kCname || type == type::kDname) && type_end - k > 1) {
        fail(records_[order[k + 1]],
             type == type::kCname ? "more than one CNAME at one name"
                                  : "more than one DNAME at one name (RFC 6672 section 2.4)");
      }
      if (type == type::kDname) zone->has_dnames_ = true;
      put16(type);
      put32(ttl);
      const size_t count_at = used;
      put16(0);
      const size_t size_at = used;
      put32(0);
      uint16_t count = 0;
      absl::string_view previous;
      for (size_t r = k; r < type_end; ++r) {
        const absl::string_view rdata = RdataOf(records_[order[r]]);
        if (r > k && rdata == previous) continue;  // duplicate record
        previous = rdata;
        if (count == UINT16_MAX) {
          fail(records_[order[r]], "too many records in one RRset");
          break;
        }
        ++count;
        put16(static_cast<uint16_t>(rdata.size()));
        put(rdata.data(), rdata.size());
        ++zone->record_count_;
      }
      // Owner pointer, type, class, TTL and length around each RDATA: an
      // RRset that cannot fit a 64 KiB message could never be answered.
      if (used - size_at - 4 + size_t{count} * 10 > kMaxMessageSize - 512) {
        fail(records_[order[k]], absl::StrCat("the ", count,
                                              " records of this RRset are too "
                                              "large for any DNS message"));
      }
      WriteU16(base + count_at, count);
      WriteU32(base + size_at, static_cast<uint32_t>(used - size_at - 4));
      ++rrsets;
      k = type_end;
    }
    if (rrsets > 255) fail(first, "more than 255 record types at one name");
    base[rrset_count_at] = static_cast<uint8_t>(rrsets);
    if (flags & node_flag::kDelegation) zone->has_delegations_ = true;
    ++zone->name_count_;
    i = end;
  }
  arena.resize(used);  // keeps the capacity: empty non-terminals go there
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  // The table that interned the owners becomes the zone's index, each owner
  // id replaced by its node's offset: no name is hashed again.
  owner_ids_.RewriteRefs([&](uint32_t id) { return node_offsets[id]; });
  NameTable& nodes = zone->nodes_;
  nodes = std::move(owner_ids_);
  const auto node_name = [&arena](uint32_t offset) { return Zone::NameAt(arena, offset); };
  const auto contains = [&](absl::string_view name) {
    return nodes.Find(name, NameTable::Hash(name), node_name) != nullptr;
  };
  // The records are no longer needed; free them before the table grows.
  std::string().swap(owners_);
  std::vector<uint32_t>().swap(owner_offsets_);
  std::string().swap(rdata_);
  std::vector<Record>().swap(records_);

  std::vector<uint32_t> empty_non_terminals;
  // Empty non-terminals become nodes without RRsets, so that lookups find
  // their closest encloser and answer NODATA rather than NXDOMAIN (RFC 8020).
  for (uint32_t offset : node_offsets) {
    // Children of the apex, and names whose parent exists, are most names.
    const absl::string_view direct = Zone::NameAt(arena, offset);
    if (direct.size() <= apex.size() || Parent(direct).size() <= apex.size() ||
        contains(Parent(direct))) {
      continue;
    }
    // Copied: appending empty non-terminals may move the arena.
    const std::string name(direct);
    absl::string_view ancestor(name);
    while (ancestor.size() > apex.size()) {
      ancestor = Parent(ancestor);
      const uint64_t hash = NameTable::Hash(ancestor);
      if (nodes.Find(ancestor, hash, node_name) != nullptr) break;
      const uint32_t node = static_cast<uint32_t>(arena.size());
      empty_non_terminals.push_back(node);
      arena.push_back(0);
      arena.push_back(static_cast<uint8_t>(ancestor.size()));
      arena.insert(arena.end(), ancestor.begin(), ancestor.end());
      arena.push_back(0);
      bool inserted = false;
      nodes.Insert(ancestor, hash, node, node_name, inserted);
    }
  }

  // Everything strictly below a zone cut is glue or occluded data.
  // Walked in arena order, which is memory order, rather than table order.
  auto mark_below_cut = [&](uint32_t offset) {
    absl::string_view ancestor = Zone::NameAt(arena, offset);
    while (ancestor.size() > apex.size()) {
      ancestor = Parent(ancestor);
      if (ancestor.size() <= apex.size()) return;
      const uint32_t* node = nodes.Find(ancestor, NameTable::Hash(ancestor), node_name);
      if (node != nullptr && (arena[*node] & node_flag::kDelegation)) {
        arena[offset] |= node_flag::kBelowCut;
        return;
      }
    }
  };
  if (zone->has_delegations_) {
    for (uint32_t offset : node_offsets) mark_below_cut(offset);
    for (uint32_t offset : empty_non_terminals) mark_below_cut(offset);
  }

  // NSEC owners in canonical order, for denial of existence (RFC 4035 §3.1.3).
  for (uint32_t offset : node_offsets) {
    if (NodeView(arena.data() + offset).Find(type::kNsec).valid()) {
      zone->nsec_nodes_.push_back(offset);
    }
  }
  std::sort(zone->nsec_nodes_.begin(), zone->nsec_nodes_.end(), [&](uint32_t a, uint32_t b) {
    return CanonicalCompare(Zone::NameAt(arena, a), Zone::NameAt(arena, b)) < 0;
  });

  zone->apex_labels_ = 0;
  for (size_t p = 0; apex[p] != 0; p += 1 + static_cast<uint8_t>(apex[p])) ++zone->apex_labels_;
  zone->apex_node_ = zone->Find(apex);
  zone->signed_ =
      zone->apex_node_.Find(type::kDnskey).valid() && zone->apex_node_.Find(type::kRrsig).valid();
  // NSEC3 owners hashed as the NSEC3PARAM says, by hash (RFC 5155 §7.2).
  if (const RrsetView param = zone->apex_node_.Find(type::kNsec3Param);
      param.valid() &&
      ReadNsec3Params(param.records() + 2, ReadU16(param.records()), zone->nsec3_params_)) {
    const Nsec3Params& wanted = zone->nsec3_params_;
    for (uint32_t offset : node_offsets) {
      const NodeView node(arena.data() + offset);
      const RrsetView nsec3 = node.Find(type::kNsec3);
      Nsec3Params params;
      Zone::Nsec3Node entry;
      if (!nsec3.valid() ||
          !ReadNsec3Params(nsec3.records() + 2, ReadU16(nsec3.records()), params) ||
          params.iterations != wanted.iterations || params.salt_size != wanted.salt_size ||
          std::memcmp(params.salt, wanted.salt, params.salt_size) != 0 ||
          node.name().size() != 1 + 32 + apex.size() ||
          !DecodeNsec3Label(node.name().substr(1, 32), entry.hash)) {
        continue;
      }
      entry.offset = offset;
      zone->nsec3_nodes_.push_back(entry);
    }
    std::sort(zone->nsec3_nodes_.begin(), zone->nsec3_nodes_.end(),
              [](const Zone::Nsec3Node& a, const Zone::Nsec3Node& b) {
                return std::memcmp(a.hash, b.hash, kNsec3HashSize) < 0;
              });
  }
  if (signed_check) {
    signed_check->Finish(*zone, files_, zone->dnssec_errors_, zone->dnssec_warnings_);
  }
  const RrsetView soa_rrset = zone->apex_node_.Find(type::kSoa);
  const uint8_t* soa_rdata = soa_rrset.records() + 2;
  const size_t mname = WireNameLength(soa_rdata);
  const size_t rname = WireNameLength(soa_rdata + mname);
  const uint8_t* numbers = soa_rdata + mname + rname;
  zone->serial_ = ReadU32(numbers);
  zone->negative_ttl_ = std::min(soa_rrset.ttl(), ReadU32(numbers + 16));
  if (!zone->apex_node_.Find(type::kNs).valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat(soa_where, ": no NS records at the zone apex '", NameToText(apex), "'"));
  }
  return zone;
}

}  // namespace agility::dns
