#include "dns/signed_zone_check.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "dns/name.h"
#include "dns/wire.h"

extern "C" {
#include <libknot/descriptor.h>
}

namespace agility::dns {
namespace {

constexpr int64_t kExpiryWarning = 7 * 86400;
constexpr size_t kMaxFindings = 20;

std::string TypeName(uint16_t type) {
  char name[32];
  if (knot_rrtype_to_string(type, name, sizeof(name)) < 0) return absl::StrCat("TYPE", type);
  return name;
}

// The types of an NSEC bitmap (RFC 4034 §4.1.2), or false when malformed.
bool BitmapTypes(const uint8_t* p, size_t size, std::set<uint16_t>& types) {
  size_t at = 0;
  while (at < size) {
    if (at + 2 > size) return false;
    const uint8_t window = p[at];
    const uint8_t length = p[at + 1];
    if (length == 0 || length > 32 || at + 2 + length > size) return false;
    for (uint8_t i = 0; i < length; ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        if (p[at + 2 + i] & (0x80 >> bit))
          types.insert(static_cast<uint16_t>(window * 256 + i * 8 + bit));
      }
    }
    at += 2 + length;
  }
  return true;
}

std::string TypeList(const std::set<uint16_t>& types) {
  std::vector<std::string> names;
  for (const uint16_t type : types) names.push_back(TypeName(type));
  return absl::StrJoin(names, " ");
}

}  // namespace

void SignedZoneCheck::Signature(absl::string_view owner, absl::string_view rdata, Where where) {
  if (rdata.size() < 18 || expiring_.size() >= kMaxFindings) return;
  const uint8_t* p = AsBytes(rdata);
  const uint32_t expiration = ReadU32(p + 8);
  // RFC 4034 §3.1.5: serial number arithmetic on 32-bit times.
  const int32_t left = static_cast<int32_t>(expiration - static_cast<uint32_t>(now_));
  if (left < kExpiryWarning) {
    expiring_.push_back({NameToText(owner), ReadU16(p), expiration, where});
  }
}

void SignedZoneCheck::Finish(const Zone& zone, const std::vector<std::string>& files,
                             std::vector<std::string>& errors,
                             std::vector<std::string>& warnings) const {
  const auto at = [&](Where where) {
    return absl::StrCat(files[where.file], ":", where.line, ": ");
  };
  const auto error = [&](std::string message) {
    if (errors.size() < kMaxFindings) errors.push_back(std::move(message));
  };
  for (const Expiring& e : expiring_) {
    const int32_t left = static_cast<int32_t>(e.expiration - static_cast<uint32_t>(now_));
    const int64_t when = now_ + left;
    warnings.push_back(
        absl::StrCat(at(e.where), "the RRSIG of ", TypeName(e.covered), " at ", e.owner,
                     left < 0 ? " expired on " : " expires on ",
                     absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(when),
                                      absl::UTCTimeZone())));
  }
  for (const Entry& e : unsigned_) {
    const NodeView node = zone.NodeAt(e.node);
    if (node.flags() & node_flag::kBelowCut) continue;  // glue is not signed
    if ((node.flags() & node_flag::kDelegation) && e.type != type::kDs && e.type != type::kNsec) {
      continue;  // the child signs its NS
    }
    error(absl::StrCat(at(e.where), "the ", TypeName(e.type), " RRset at ", NameToText(node.name()),
                       " has no RRSIG, and the zone is signed"));
  }
  if (nsecs_.empty()) {
    CheckNsec3(zone, files, errors);
    return;
  }
  for (const Entry& e : no_nsec_) {
    const NodeView node = zone.NodeAt(e.node);
    if (node.flags() & node_flag::kBelowCut) continue;
    error(absl::StrCat(at(e.where), NameToText(node.name()),
                       " has no NSEC, and the zone's other names do"));
  }
  std::vector<Entry> chain = nsecs_;
  std::sort(chain.begin(), chain.end(), [&](const Entry& a, const Entry& b) {
    return CanonicalCompare(zone.NodeAt(a.node).name(), zone.NodeAt(b.node).name()) < 0;
  });
  for (size_t i = 0; i < chain.size(); ++i) {
    const NodeView node = zone.NodeAt(chain[i].node);
    const NodeView next = zone.NodeAt(chain[(i + 1) % chain.size()].node);
    const RrsetView nsec = node.Find(type::kNsec);
    const uint8_t* rdata = nsec.records() + 2;
    const size_t size = ReadU16(nsec.records());
    const size_t name_size = WireNameLength(rdata);
    std::string named(reinterpret_cast<const char*>(rdata), name_size);
    for (char& c : named) c = static_cast<char>(AsciiLower(static_cast<uint8_t>(c)));
    if (named != next.name()) {
      error(absl::StrCat(at(chain[i].where), "the NSEC of ", NameToText(node.name()), " names ",
                         NameToText(named), " next, but the next name of the zone is ",
                         NameToText(next.name()), ": the NSEC chain is broken"));
    }
    std::set<uint16_t> listed, present;
    if (!BitmapTypes(rdata + name_size, size - name_size, listed)) {
      error(absl::StrCat(at(chain[i].where), "the NSEC of ", NameToText(node.name()),
                         " has a malformed type bitmap"));
      continue;
    }
    node.ForEachRrset([&](RrsetView rrset) { present.insert(rrset.type()); });
    if (listed != present) {
      error(absl::StrCat(at(chain[i].where), "the NSEC of ", NameToText(node.name()),
                         " lists the types ", TypeList(listed), " but the name has ",
                         TypeList(present)));
    }
  }
}

void SignedZoneCheck::CheckNsec3(const Zone& zone, const std::vector<std::string>& files,
                                 std::vector<std::string>& errors) const {
  const auto& chain = zone.nsec3_nodes_;
  if (chain.empty()) return;
  const auto error = [&](Where where, std::string message) {
    if (errors.size() < kMaxFindings) {
      errors.push_back(absl::StrCat(files[where.file], ":", where.line, ": ", message));
    }
  };
  // Each NSEC3 names the next hash of the ring (RFC 5155 §3.1.7).
  for (size_t i = 0; i < chain.size(); ++i) {
    const NodeView node = zone.NodeAt(chain[i].offset);
    const RrsetView nsec3 = node.Find(type::kNsec3);
    const uint8_t* rdata = nsec3.records() + 2;
    const size_t size = ReadU16(nsec3.records());
    const size_t hash_at = 5 + rdata[4];
    const uint8_t* next = chain[(i + 1) % chain.size()].hash;
    if (hash_at + 1 + kNsec3HashSize > size || rdata[hash_at] != kNsec3HashSize ||
        std::memcmp(rdata + hash_at + 1, next, kNsec3HashSize) != 0) {
      const auto where = std::find_if(nsec3s_.begin(), nsec3s_.end(),
                                      [&](const Entry& e) { return e.node == chain[i].offset; });
      error(where == nsec3s_.end() ? Where{0, 0} : where->where,
            absl::StrCat("the NSEC3 at ", NameToText(node.name()),
                         " does not name the next hash of the zone: the NSEC3 chain is broken"));
    }
  }
  // Every name with data has the NSEC3 of its hash, listing its types; under
  // opt-out, an insecure delegation may have none (RFC 5155 §6).
  for (const Entry& e : no_nsec_) {
    const NodeView node = zone.NodeAt(e.node);
    if ((node.flags() & node_flag::kBelowCut) || node.Find(type::kNsec3).valid()) continue;
    bool matches = false;
    const NodeView owner = zone.Nsec3For(node.name(), &matches);
    const RrsetView nsec3 = owner.Find(type::kNsec3);
    const uint8_t* rdata = nsec3.records() + 2;
    const size_t size = ReadU16(nsec3.records());
    if (!matches) {
      const bool opt_out = (rdata[1] & 1) != 0;
      const bool insecure_cut =
          (node.flags() & node_flag::kDelegation) && !node.Find(type::kDs).valid();
      if (!(opt_out && insecure_cut)) {
        error(e.where, absl::StrCat(NameToText(node.name()), " has no NSEC3 of its hash"));
      }
      continue;
    }
    const size_t bitmap_at = 5 + rdata[4] + 1 + rdata[5 + rdata[4]];
    std::set<uint16_t> listed, present;
    if (bitmap_at > size || !BitmapTypes(rdata + bitmap_at, size - bitmap_at, listed)) {
      error(e.where,
            absl::StrCat("the NSEC3 of ", NameToText(node.name()), " has a malformed type bitmap"));
      continue;
    }
    node.ForEachRrset([&](RrsetView rrset) { present.insert(rrset.type()); });
    if (listed != present) {
      error(e.where, absl::StrCat("the NSEC3 of ", NameToText(node.name()), " lists the types ",
                                  TypeList(listed), " but the name has ", TypeList(present)));
    }
  }
}

}  // namespace agility::dns
