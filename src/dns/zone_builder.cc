#include "dns/zone_builder.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "dns/signed_zone_check.h"
#include "util/release_pages.h"

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
  // Generous: untouched capacity costs address space, not memory, while
  // outgrowing it would copy the whole buffer (and double it for a while).
  owners_.reserve(records * 40);
  rdata_.reserve(records * 24);
  AdviseHugePages(records_.data(), records_.data() + records_.capacity());
  AdviseHugePages(owner_offsets_.data(), owner_offsets_.data() + owner_offsets_.capacity());
  AdviseHugePages(owners_.data(), owners_.data() + owners_.capacity());
  AdviseHugePages(rdata_.data(), rdata_.data() + rdata_.capacity());
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
  // Owners come hashed; each lookup finds its home slot already fetched,
  // having asked for it kAhead records earlier.
  constexpr size_t kAhead = 16;
  const auto owner_name = [this](uint32_t id) { return Owner(id); };
  for (size_t i = 0; i < records.size(); ++i) {
    if (i + kAhead < records.size()) owner_ids_.Prefetch(records[i + kAhead].owner_hash);
    const Input& in = records[i];
    // Records of one owner usually come in a row.
    const bool same_owner = last_owner_ != UINT32_MAX && (i > 0 ? in.owner == records[i - 1].owner
                                                                : in.owner == Owner(last_owner_));
    if (!same_owner) {
      bool inserted = false;
      const auto next_id = static_cast<uint32_t>(owner_offsets_.size());
      last_owner_ = owner_ids_.Insert(in.owner, in.owner_hash, next_id, owner_name, inserted);
      grouped_ = grouped_ && inserted;
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

void ZoneBuilder::Fail(const Record& r, absl::string_view message) {
  if (errors_.size() < kMaxErrors) errors_.push_back(absl::StrCat(Where(r), ": ", message));
}

const ZoneBuilder::Record* ZoneBuilder::FindSoa() {
  const Record* soa = nullptr;
  for (const Record& r : records_) {
    if (r.type != type::kSoa) continue;
    if (soa == nullptr) {
      soa = &r;
    } else if (OwnerOf(r) != OwnerOf(*soa) || RdataOf(r) != RdataOf(*soa)) {
      Fail(r, "second SOA record; a zone has exactly one, at its apex");
    }
  }
  return soa;
}

void ZoneBuilder::SortOwnerRecords(uint32_t* begin, uint32_t* end) const {
  // Identical records end up side by side, to be written once (RFC 2181 §5).
  const auto before = [&](uint32_t a, uint32_t b) {
    const Record& x = records_[a];
    const Record& y = records_[b];
    if (x.type != y.type) return x.type < y.type;
    if (const int c = RdataOf(x).compare(RdataOf(y)); c != 0) return c < 0;
    return a < b;
  };
  if (end - begin > 1 && !std::is_sorted(begin, end, before)) std::sort(begin, end, before);
}

ZoneBuilder::Groups ZoneBuilder::GroupByOwner(bool runs_allowed) const {
  Groups groups;
  if (runs_allowed && grouped_) {
    groups.in_runs = true;
    return groups;
  }
  // A counting sort on owner ids, in the order names first appear, then a
  // sort by type and RDATA within each owner.
  const size_t owner_count = owner_offsets_.size();
  groups.start.assign(owner_count + 1, 0);
  for (const Record& r : records_) ++groups.start[r.owner + 1];
  for (size_t i = 0; i < owner_count; ++i) groups.start[i + 1] += groups.start[i];
  groups.order.resize(records_.size());
  {
    std::vector<uint32_t> next(groups.start.begin(), groups.start.end() - 1);
    for (uint32_t i = 0; i < records_.size(); ++i) groups.order[next[records_[i].owner]++] = i;
  }
  for (size_t g = 0; g < owner_count; ++g) {
    SortOwnerRecords(groups.order.data() + groups.start[g],
                     groups.order.data() + groups.start[g + 1]);
  }
  return groups;
}

template <typename Visit>
void ZoneBuilder::ForEachOwner(const Groups& groups, const Visit& visit) {
  if (!groups.in_runs) {
    for (size_t g = 0; g + 1 < groups.start.size(); ++g) {
      visit(static_cast<uint32_t>(g), groups.order.data() + groups.start[g],
            groups.order.data() + groups.start[g + 1]);
    }
    return;
  }
  for (size_t i = 0; i < records_.size();) {
    size_t j = i + 1;
    while (j < records_.size() && records_[j].owner == records_[i].owner) ++j;
    run_.resize(j - i);
    for (size_t k = i; k < j; ++k) run_[k - i] = static_cast<uint32_t>(k);
    SortOwnerRecords(run_.data(), run_.data() + run_.size());
    visit(records_[i].owner, run_.data(), run_.data() + run_.size());
    i = j;
  }
}

size_t ZoneBuilder::NodeBytes(const uint32_t* begin, const uint32_t* end) const {
  size_t bytes = 3 + OwnerOf(records_[*begin]).size();
  uint16_t previous_type = 0;
  for (const uint32_t* k = begin; k < end; ++k) {
    const Record& r = records_[*k];
    if (k == begin || r.type != previous_type) bytes += RrsetView::kHeader;
    previous_type = r.type;
    bytes += 2 + RdataOf(r).size();
  }
  return bytes;
}

size_t ZoneBuilder::NodeBytes(const Groups& groups) {
  size_t bytes = 0;
  ForEachOwner(groups, [&](uint32_t, const uint32_t* begin, const uint32_t* end) {
    bytes += NodeBytes(begin, end);
  });
  return bytes;
}

void ZoneBuilder::ReleaseRecordsBefore(size_t end) {
  // Every few MiB, not every record: each call is a system call or three.
  constexpr size_t kStep = size_t{1} << 18;
  if (end < released_records_ + kStep) return;
  const Record& from = records_[released_records_];
  const Record& to = records_[end];
  ReleasePages(rdata_.data() + from.rdata, rdata_.data() + to.rdata);
  ReleasePages(owners_.data() + owner_offsets_[from.owner],
               owners_.data() + owner_offsets_[to.owner]);
  ReleasePages(owner_offsets_.data() + from.owner, owner_offsets_.data() + to.owner);
  ReleasePages(&from, &to);
  released_records_ = end;
}

bool ZoneBuilder::WriteNode(const uint32_t* begin, const uint32_t* end, Zone& zone,
                            SignedZoneCheck* signed_check, uint8_t* base, size_t& used) {
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
  const absl::string_view apex = zone.apex_;
  const Record& first = records_[*begin];
  const absl::string_view owner = OwnerOf(first);
  if (!IsAtOrBelow(owner, apex)) {
    Fail(first,
         absl::StrCat("'", NameToText(owner), "' is outside the zone '", NameToText(apex), "'"));
    return false;
  }
  const bool is_apex = owner == apex;
  const Record* cname_record = nullptr;
  bool has_other = false;
  bool has_ns = false;
  for (const uint32_t* k = begin; k < end; ++k) {
    const Record& r = records_[*k];
    if (r.type == type::kCname) {
      cname_record = &r;
    } else if (r.type != type::kRrsig && r.type != type::kNsec) {
      has_other = true;
    }
    if (r.type == type::kNs) has_ns = true;
    if (r.type == type::kSoa && !is_apex) Fail(r, "SOA record below the zone apex");
  }
  if (cname_record != nullptr && has_other) {
    Fail(*cname_record,
         absl::StrCat("'", NameToText(owner), "' has a CNAME and other data (RFC 1034 §3.6.2)"));
  }

  const uint32_t node = static_cast<uint32_t>(used);
  if (signed_check != nullptr) {
    // Records are sorted by type: each RRset is a run, RRSIGs (46) among them.
    covered_.clear();
    for (const uint32_t* k = begin; k < end; ++k) {
      const Record& r = records_[*k];
      if (r.type != type::kRrsig || RdataOf(r).size() < 2) continue;
      covered_.push_back(ReadU16(AsBytes(RdataOf(r))));
      signed_check->Signature(owner, RdataOf(r), {r.file, r.line});
    }
    bool has_nsec = false;
    for (const uint32_t* k = begin; k < end; ++k) {
      const Record& r = records_[*k];
      if (k > begin && records_[*(k - 1)].type == r.type) continue;
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
  const uint32_t* k = begin;
  while (k < end) {
    const uint16_t type = records_[*k].type;
    const uint32_t* type_end = k;
    uint32_t ttl = UINT32_MAX;
    while (type_end < end && records_[*type_end].type == type) {
      ttl = std::min(ttl, records_[*type_end].ttl);
      ++type_end;
    }
    if ((type == type::kCname || type == type::kDname) && type_end - k > 1) {
      Fail(records_[*(k + 1)], type == type::kCname
                                   ? "more than one CNAME at one name"
                                   : "more than one DNAME at one name (RFC 6672 section 2.4)");
    }
    if (type == type::kDname) zone.has_dnames_ = true;
    put16(type);
    put32(ttl);
    const size_t count_at = used;
    put16(0);
    const size_t size_at = used;
    put32(0);
    uint16_t count = 0;
    absl::string_view previous;
    for (const uint32_t* r = k; r < type_end; ++r) {
      const absl::string_view rdata = RdataOf(records_[*r]);
      if (r > k && rdata == previous) continue;  // duplicate record
      previous = rdata;
      if (count == UINT16_MAX) {
        Fail(records_[*r], "too many records in one RRset");
        break;
      }
      ++count;
      put16(static_cast<uint16_t>(rdata.size()));
      put(rdata.data(), rdata.size());
      ++zone.record_count_;
    }
    // Owner pointer, type, class, TTL and length around each RDATA: an
    // RRset that cannot fit a 64 KiB message could never be answered.
    if (used - size_at - 4 + size_t{count} * 10 > kMaxMessageSize - 512) {
      Fail(records_[*k], absl::StrCat("the ", count,
                                      " records of this RRset are too "
                                      "large for any DNS message"));
    }
    WriteU16(base + count_at, count);
    WriteU32(base + size_at, static_cast<uint32_t>(used - size_at - 4));
    ++rrsets;
    k = type_end;
  }
  if (rrsets > 255) Fail(first, "more than 255 record types at one name");
  base[rrset_count_at] = static_cast<uint8_t>(rrsets);
  if (flags & node_flag::kDelegation) zone.has_delegations_ = true;
  ++zone.name_count_;
  return true;
}

absl::Status ZoneBuilder::FinishApex(Zone& zone, const std::string& soa_where) {
  zone.apex_node_ = zone.Find(zone.apex_);
  const RrsetView soa_rrset = zone.apex_node_.Find(type::kSoa);
  if (!soa_rrset.valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat(soa_where, ": no SOA record at the zone apex '", NameToText(zone.apex_), "'"));
  }
  const uint8_t* soa_rdata = soa_rrset.records() + 2;
  const size_t mname = WireNameLength(soa_rdata);
  const size_t rname = WireNameLength(soa_rdata + mname);
  const uint8_t* numbers = soa_rdata + mname + rname;
  zone.serial_ = ReadU32(numbers);
  zone.negative_ttl_ = std::min(soa_rrset.ttl(), ReadU32(numbers + 16));
  if (!zone.apex_node_.Find(type::kNs).valid()) {
    return absl::InvalidArgumentError(
        absl::StrCat(soa_where, ": no NS records at the zone apex '", NameToText(zone.apex_), "'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Zone>> ZoneBuilder::Build() {
  errors_.clear();
  // The apex is the SOA owner; there must be exactly one SOA.
  const Record* soa = FindSoa();
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

  const Groups groups = GroupByOwner(/*runs_allowed=*/true);
  // The arena's exact size (duplicates aside), plus room for a few empty
  // non-terminals: it must not reallocate, which would double the peak.
  const size_t arena_size = NodeBytes(groups);
  Arena& arena = zone->arena_;
  arena.resize(arena_size + arena_size / 64 + 1024);
  AdviseHugePages(arena.data(), arena.data() + arena.size());
  size_t used = 0;  // written so far; the vector is cut to it afterwards
  // Owner ids ascend through the arena: node_offsets[id] is where id went.
  std::vector<uint32_t> node_offsets;
  node_offsets.reserve(owner_offsets_.size());
  // Records in runs are read once, in memory order, as the arena fills:
  // what is behind goes back to the kernel, so that the records and the
  // arena are not both whole at once. (The signature checks keep views of
  // owners and RDATA.)
  const bool release_behind = groups.in_runs && !signed_check;
  ForEachOwner(groups, [&](uint32_t, const uint32_t* begin, const uint32_t* end) {
    const uint32_t node = static_cast<uint32_t>(used);
    // Sorted by type, a run need not start with its least record index.
    if (release_behind) ReleaseRecordsBefore(*std::min_element(begin, end));
    if (WriteNode(begin, end, *zone, signed_check ? &*signed_check : nullptr, arena.data(), used)) {
      node_offsets.push_back(node);
    }
  });
  arena.resize(used);  // keeps the capacity: empty non-terminals go there
  if (!errors_.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
  // The table that interned the owners becomes the zone's index, each owner
  // id replaced by its node's offset: no name is hashed again.
  owner_ids_.RewriteRefs([&](uint32_t id) { return node_offsets[id]; });
  NameTable& nodes = zone->nodes_;
  nodes = std::move(owner_ids_);
  const auto node_name = [&arena](uint32_t offset) { return Zone::NameAt(arena, offset); };
  // The records are no longer needed; free them before the table grows.
  std::string().swap(owners_);
  std::vector<uint32_t>().swap(owner_offsets_);
  std::string().swap(rdata_);
  std::vector<Record>().swap(records_);

  std::vector<uint32_t> empty_non_terminals;
  const uint32_t apex_at = *nodes.Find(apex, NameTable::Hash(apex), node_name);
  // Parents are marked as such (an overlay deletes only childless names),
  // and empty non-terminals become nodes without RRsets, so that lookups
  // find their closest encloser and answer NODATA rather than NXDOMAIN
  // (RFC 8020).
  for (uint32_t offset : node_offsets) {
    const absl::string_view direct = Zone::NameAt(arena, offset);
    if (direct.size() <= apex.size()) continue;
    // Children of the apex, and names whose parent exists, are most names.
    if (Parent(direct).size() <= apex.size()) {
      arena[apex_at] |= node_flag::kHasChildren;
      continue;
    }
    if (const uint32_t* parent =
            nodes.Find(Parent(direct), NameTable::Hash(Parent(direct)), node_name)) {
      arena[*parent] |= node_flag::kHasChildren;
      continue;
    }
    // Copied: appending empty non-terminals may move the arena.
    const std::string name(direct);
    absl::string_view ancestor(name);
    while (ancestor.size() > apex.size()) {
      ancestor = Parent(ancestor);
      const uint64_t hash = NameTable::Hash(ancestor);
      if (const uint32_t* found = nodes.Find(ancestor, hash, node_name)) {
        arena[*found] |= node_flag::kHasChildren;
        break;
      }
      const uint32_t node = static_cast<uint32_t>(arena.size());
      empty_non_terminals.push_back(node);
      arena.push_back(node_flag::kHasChildren);
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
  zone->apex_node_ = zone->Find(apex);  // FinishApex checks it
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
  if (auto status = FinishApex(*zone, soa_where); !status.ok()) return status;
  return zone;
}

absl::Status ZoneBuilder::Decline(absl::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat("not applied in place: ", why));
}

absl::Status ZoneBuilder::OverlayPossible(const Zone& current) {
  // Signed zones keep NSEC chains and hash orders an overlay does not mend.
  if (current.is_signed() || !current.nsec_nodes_.empty() || current.has_nsec3()) {
    return Decline("the zone is signed");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Zone>> ZoneBuilder::BuildOverlay(
    std::shared_ptr<const Zone> current, absl::Span<const std::string> deleted) {
  if (auto status = OverlayPossible(*current); !status.ok()) return status;
  const auto decline = &ZoneBuilder::Decline;
  errors_.clear();
  const Record* soa = FindSoa();
  const std::string soa_where = soa != nullptr ? Where(*soa) : absl::StrCat(source_, ":1");
  auto zone = std::unique_ptr<Zone>(new Zone());
  zone->base_ = current->base_ != nullptr ? current->base_ : current;
  zone->base_end_ = zone->base_->node_end();
  zone->apex_ = current->apex_;
  zone->source_ = current->source_;
  zone->apex_labels_ = current->apex_labels_;
  zone->has_delegations_ = current->has_delegations_;
  zone->has_dnames_ = current->has_dnames_;
  zone->name_count_ = current->name_count_;
  zone->record_count_ = current->record_count_;
  zone->files_ = current->files_;
  // The current overlay's nodes keep their offsets: nodes rewritten now
  // are appended, and those they replace stay behind unreferenced until
  // the overlay is compacted by a rebuild.
  if (current->base_ != nullptr) {
    zone->arena_ = current->arena_;
    zone->nodes_ = current->nodes_;
  }
  const absl::string_view apex = zone->apex_;
  Arena& arena = zone->arena_;
  const auto node_name = [&arena](uint32_t offset) { return Zone::NameAt(arena, offset); };
  const auto assign = [&](uint32_t at) {
    const absl::string_view name = Zone::NameAt(arena, at);
    zone->nodes_.Assign(name, NameTable::Hash(name), at, node_name);
  };
  const auto record_count = [](const NodeView& node) {
    size_t n = 0;
    node.ForEachRrset([&n](const RrsetView& rrset) { n += rrset.count(); });
    return n;
  };

  // The changed names, whole: their nodes replace the current ones.
  const Groups groups = GroupByOwner(/*runs_allowed=*/true);
  size_t used = arena.size();
  arena.resize(used + NodeBytes(groups));
  std::vector<uint32_t> written;
  ForEachOwner(groups, [&](uint32_t, const uint32_t* begin, const uint32_t* end) {
    const uint32_t at = static_cast<uint32_t>(used);
    if (WriteNode(begin, end, *zone, nullptr, arena.data(), used)) written.push_back(at);
  });
  arena.resize(used);
  if (!errors_.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
  std::vector<uint32_t> fresh;  // names new to the zone
  for (const uint32_t at : written) {
    const NodeView node(arena.data() + at);
    bool dnssec = false;
    node.ForEachRrset([&dnssec](const RrsetView& rrset) {
      const uint16_t t = rrset.type();
      dnssec = dnssec || t == type::kRrsig || t == type::kNsec || t == type::kNsec3 ||
               t == type::kNsec3Param || t == type::kDnskey;
    });
    if (dnssec) return decline("DNSSEC records change");
    const NodeView before = current->Find(node.name());
    if (!before.valid()) {
      fresh.push_back(at);
    } else {
      if (before.rrset_count() > 0) {
        --zone->name_count_;
        zone->record_count_ -= record_count(before);
      }
      // Names below a cut that comes or goes would change sides.
      if (((before.flags() ^ node.flags()) & node_flag::kDelegation) &&
          (before.flags() & node_flag::kHasChildren)) {
        return decline("a zone cut comes or goes above existing names");
      }
      arena[at] |= before.flags() & (node_flag::kHasChildren | node_flag::kBelowCut);
    }
    assign(at);
  }

  // Deleted names leave a tombstone over the base.
  for (const std::string& name : deleted) {
    const NodeView before = current->Find(name);
    if (!before.valid() || before.rrset_count() == 0) continue;
    if (name == apex) {
      return absl::InvalidArgumentError(
          absl::StrCat(soa_where, ": the zone apex loses all its records"));
    }
    // It would have to become an empty non-terminal, or leave its parent
    // one without children; whether it has children is not known here.
    if (before.flags() & node_flag::kHasChildren) {
      return decline("a deleted name may have names below it");
    }
    const NodeView parent = zone->Find(Parent(name));
    if (parent.valid() && parent.rrset_count() == 0) {
      return decline("a deleted name's parent is an empty non-terminal");
    }
    --zone->name_count_;
    zone->record_count_ -= record_count(before);
    const uint32_t at = static_cast<uint32_t>(arena.size());
    arena.push_back(node_flag::kDeleted);
    arena.push_back(static_cast<uint8_t>(name.size()));
    arena.insert(arena.end(), name.begin(), name.end());
    arena.push_back(0);
    assign(at);
  }

  // New names: the closest ancestor that exists becomes a parent (copied
  // from the base to be marked), empty non-terminals fill the gap, and
  // everything under a cut is marked so.
  for (const uint32_t at : fresh) {
    const std::string name(Zone::NameAt(arena, at));
    std::vector<absl::string_view> missing;
    uint8_t below_cut = 0;
    absl::string_view ancestor(name);
    while (ancestor.size() > apex.size()) {
      ancestor = Parent(ancestor);
      const NodeView found = zone->Find(ancestor);
      if (!found.valid()) {
        missing.push_back(ancestor);
        continue;
      }
      if (found.flags() & (node_flag::kDelegation | node_flag::kBelowCut)) {
        below_cut = node_flag::kBelowCut;
      }
      const uint8_t* own = static_cast<const uint8_t*>(found.id());
      if (own >= arena.data() && own < arena.data() + arena.size()) {
        arena[own - arena.data()] |= node_flag::kHasChildren;
      } else if (!(found.flags() & node_flag::kHasChildren)) {
        const uint32_t copy = static_cast<uint32_t>(arena.size());
        arena.insert(arena.end(), own, own + found.size());
        arena[copy] |= node_flag::kHasChildren;
        assign(copy);
      }
      break;
    }
    arena[at] |= below_cut;
    for (const absl::string_view gap : missing) {
      const uint32_t ent = static_cast<uint32_t>(arena.size());
      arena.push_back(node_flag::kHasChildren | below_cut);
      arena.push_back(static_cast<uint8_t>(gap.size()));
      arena.insert(arena.end(), gap.begin(), gap.end());
      arena.push_back(0);
      assign(ent);
    }
  }
  if (arena.size() > kMaxOverlayBytes)
    return decline("the overlay is full (a rebuild compacts it)");
  if (auto status = FinishApex(*zone, soa_where); !status.ok()) return status;
  return zone;
}

absl::StatusOr<std::unique_ptr<Zone>> ZoneBuilder::BuildChanges(std::shared_ptr<const Zone> current,
                                                                ZoneDiff* diff) {
  if (auto status = OverlayPossible(*current); !status.ok()) return status;
  const auto decline = &ZoneBuilder::Decline;
  errors_.clear();
  const Record* soa = FindSoa();
  if (soa == nullptr || !errors_.empty()) return decline("no single SOA");
  if (OwnerOf(*soa) != current->apex()) return decline("the apex moved");

  // Each name compiled apart and compared with the node it has now; the
  // checks are those of Build, name by name.
  Zone probe;
  probe.apex_ = current->apex_;
  const Groups groups = GroupByOwner(/*runs_allowed=*/false);
  std::vector<uint8_t> scratch;
  std::vector<uint32_t> changed;  // group indexes
  size_t changed_bytes = 0;
  size_t kept_names = 0;  // names the zone has now that the file still has
  // The file's names mostly come in the order they came before, which is
  // the order of the zone's nodes: walked side by side, the zone is read
  // in memory order, and looked up only where the orders part.
  uint32_t cursor = current->FirstNode();
  for (size_t g = 0; g + 1 < groups.start.size(); ++g) {
    const uint32_t* begin = groups.order.data() + groups.start[g];
    const uint32_t* end = groups.order.data() + groups.start[g + 1];
    scratch.resize(NodeBytes(begin, end));
    size_t used = 0;
    if (!WriteNode(begin, end, probe, nullptr, scratch.data(), used)) continue;
    const absl::string_view owner = Owner(static_cast<uint32_t>(g));
    NodeView now;
    if (cursor < current->node_end() && current->NodeAt(cursor).name() == owner) {
      now = current->NodeAt(cursor);
    } else {
      now = current->Find(owner);
      if (now.valid()) cursor = current->PositionOf(now);
    }
    if (now.valid()) {
      cursor = current->NextNode(cursor);
      if (now.rrset_count() > 0) ++kept_names;
    }
    const NodeView next(scratch.data());
    constexpr uint8_t kOwnFlags = node_flag::kApex | node_flag::kDelegation | node_flag::kWildcard;
    const bool same =
        now.valid() && now.rrset_count() > 0 && now.size() == used &&
        (now.flags() & kOwnFlags) == next.flags() &&
        std::memcmp(static_cast<const uint8_t*>(now.id()) + 1, scratch.data() + 1, used - 1) == 0;
    if (same) continue;
    changed.push_back(static_cast<uint32_t>(g));
    changed_bytes += used;
    if (changed_bytes > kMaxOverlayBytes) return decline("too many names changed");
  }
  if (!errors_.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
  // Names gone from the file: sought only when some are.
  std::vector<std::string> deleted;
  const auto owner_name = [this](uint32_t id) { return Owner(id); };
  if (kept_names != current->name_count()) {
    current->ForEachNode([&](const NodeView& node) {
      if (node.rrset_count() == 0) return;
      if (owner_ids_.Find(node.name(), NameTable::Hash(node.name()), owner_name) == nullptr) {
        deleted.emplace_back(node.name());
      }
    });
  }
  if (deleted.size() > kMaxOverlayBytes / 64) return decline("too many names deleted");

  // The changed names' records, for the overlay.
  ZoneBuilder changes(source_);
  std::vector<Input> inputs;
  for (const uint32_t g : changed) {
    for (uint32_t k = groups.start[g]; k < groups.start[g + 1]; ++k) {
      const Record& r = records_[groups.order[k]];
      inputs.push_back({OwnerOf(r), RdataOf(r), files_[r.file], r.ttl, r.line, r.type,
                        NameTable::Hash(OwnerOf(r))});
    }
  }
  changes.Add(inputs);
  auto zone = changes.BuildOverlay(current, deleted);
  if (!zone.ok() || diff == nullptr) return zone;

  // What changed, record by record, the SOAs first (RFC 1995 §4).
  diff->from_serial = current->serial();
  diff->to_serial = (*zone)->serial();
  diff->removed.clear();
  diff->added.clear();
  const auto records_of = [](const NodeView& node, std::vector<TransferRecord>& out) {
    if (!node.valid()) return;
    node.ForEachRrset([&](const RrsetView& rrset) {
      const uint8_t* record = rrset.records();
      for (uint16_t i = 0; i < rrset.count(); ++i) {
        const uint16_t size = ReadU16(record);
        out.push_back({std::string(node.name()), std::string(AsChars(record + 2, size)),
                       rrset.ttl(), rrset.type()});
        record += 2 + size;
      }
    });
  };
  const auto soa_first = [](std::vector<TransferRecord>& records) {
    std::stable_partition(records.begin(), records.end(),
                          [](const TransferRecord& r) { return r.type == type::kSoa; });
  };
  std::vector<TransferRecord> before, after;
  for (const uint32_t g : changed) {
    const std::string owner(Owner(g));
    before.clear();
    after.clear();
    records_of(current->Find(owner), before);
    records_of((*zone)->Find(owner), after);
    for (const TransferRecord& r : before) {
      if (std::find(after.begin(), after.end(), r) == after.end()) diff->removed.push_back(r);
    }
    for (const TransferRecord& r : after) {
      if (std::find(before.begin(), before.end(), r) == before.end()) diff->added.push_back(r);
    }
  }
  for (const std::string& name : deleted) records_of(current->Find(name), diff->removed);
  soa_first(diff->removed);
  soa_first(diff->added);
  return zone;
}

}  // namespace agility::dns
