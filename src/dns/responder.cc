#include "dns/responder.h"

#include <algorithm>
#include <cstring>

#include "dns/denial.h"
#include "dns/message_writer.h"
#include "dns/name.h"
#include "dns/online_signer.h"
#include "dns/query.h"
#include "dns/tsig.h"
#include "dns/wire.h"

namespace agility::dns {
namespace {

constexpr size_t kOptSize = 11;    // root owner, type, class, TTL, RDLENGTH
constexpr int kMaxCnameChain = 8;  // in-zone CNAMEs followed per query

enum Section { kAnswer = 0, kAuthority = 1, kAdditional = 2 };

// Writes the records of one response's sections, counting them.
class Sections {
 public:
  // `keys`: the zone's keys for online signing, if it has any; `signer`:
  // set when DNSSEC records are wanted.
  Sections(MessageWriter& writer, const Zone& zone, AddressSource& addresses, const ZoneKeys* keys,
           OnlineSigner* signer)
      : w_(writer),
        zone_(zone),
        addresses_(addresses),
        keys_(keys),
        signer_(keys != nullptr ? signer : nullptr),
        publishes_keys_(keys != nullptr && !zone.is_signed()),
        online_(publishes_keys_ && signer_ != nullptr) {}

  // The zone has no signatures of its own: every RRset is signed online.
  bool online() const { return online_; }

  uint16_t count(Section s) const { return counts_[s]; }

  bool Rrset(Section s, size_t owner_pos, absl::string_view owner, RrsetView rrset, uint32_t ttl,
             size_t* first_rdata = nullptr) {
    const size_t start = w_.size();
    const uint8_t* rr = rrset.records();
    for (uint16_t i = 0; i < rrset.count(); ++i) {
      const uint16_t rdlength = ReadU16(rr);
      const size_t at = w_.AppendRecord(owner_pos, owner, rrset.type(), ttl, rr + 2, rdlength);
      if (at == 0) {
        w_.Truncate(start);
        return false;
      }
      if (i == 0 && first_rdata != nullptr) *first_rdata = at;
      rr += 2 + rdlength;
    }
    counts_[s] += rrset.count();
    return true;
  }

  bool Rrset(Section s, size_t owner_pos, absl::string_view owner, RrsetView rrset) {
    return Rrset(s, owner_pos, owner, rrset, rrset.ttl());
  }

  bool Record(Section s, size_t owner_pos, absl::string_view owner, uint16_t type, uint32_t ttl,
              const uint8_t* rdata, size_t size, size_t* rdata_pos = nullptr) {
    const size_t at = w_.AppendRecord(owner_pos, owner, type, ttl, rdata, size);
    if (at == 0) return false;
    if (rdata_pos != nullptr) *rdata_pos = at;
    ++counts_[s];
    return true;
  }

  bool Pool(Section s, size_t owner_pos, absl::string_view owner, uint16_t type,
            const PoolAddress& address) {
    return Record(s, owner_pos, owner, type, address.ttl, address.bytes, address.size);
  }

  bool Soa(bool dnssec) {
    const RrsetView soa = zone_.apex_node().Find(type::kSoa);
    return Rrset(kAuthority, MessageWriter::kNoOwner, zone_.apex(), soa, zone_.negative_ttl()) &&
           (!dnssec || SignaturesOf(kAuthority, MessageWriter::kNoOwner, zone_.apex(), zone_.apex(),
                                    zone_.apex_node(), soa, zone_.negative_ttl()));
  }

  // The RRset `type` of `node`: for a zone signed online, the apex's DNSKEY,
  // CDS and CDNSKEY come from its keys.
  RrsetView Find(NodeView node, uint16_t type) const {
    if (publishes_keys_ && (node.flags() & node_flag::kApex)) {
      if (const RrsetView keys = keys_->Find(type); keys.valid()) return keys;
    }
    return node.Find(type);
  }

  // The signatures of `rrset`, just written as `owner` (or at `owner_pos`)
  // for the lowercase `name`: the zone's own, or made online.
  bool SignaturesOf(Section s, size_t owner_pos, absl::string_view owner, absl::string_view name,
                    NodeView node, RrsetView rrset, uint32_t ttl) {
    if (!online_) return Signatures(s, owner_pos, owner, node, rrset.type(), ttl);
    return SignOnline(s, owner_pos, owner,
                      {name, rrset.type(), ttl, rrset.records(), rrset.count()});
  }

  // RRSIGs made now over `rrset` by each of the keys that sign its type,
  // written as `owner` (or at `owner_pos`). A key OpenSSL fails with is left
  // out, and counted.
  bool SignOnline(Section s, size_t owner_pos, absl::string_view owner, const RrsetToSign& rrset) {
    const size_t start = w_.size();
    uint16_t added = 0;
    for (const SigningKey* key : keys_->SignersOf(rrset.type)) {
      uint8_t rdata[kMaxRrsigRdata];
      const size_t size = signer_->Sign(*keys_, *key, rrset, rdata);
      if (size == 0) continue;
      if (w_.AppendRecord(owner_pos, owner, type::kRrsig, rrset.ttl, rdata, size) == 0) {
        w_.Truncate(start);
        return false;
      }
      ++added;
    }
    counts_[s] += added;
    return true;
  }

  // A pool address, and its signature when the zone has keys and DNSSEC
  // records are wanted (then, and only then, there is a signer).
  bool SignedPool(Section s, size_t owner_pos, absl::string_view name, uint16_t type,
                  const PoolAddress& address) {
    if (!Pool(s, owner_pos, {}, type, address)) return false;
    if (signer_ == nullptr) return true;
    uint8_t record[2 + 16];
    WriteU16(record, address.size);
    std::memcpy(record + 2, address.bytes, address.size);
    return SignOnline(s, owner_pos, {}, {name, type, address.ttl, record, 1});
  }

  // RFC 9824: the one NSEC of a compact denial, owned by `name`, with the
  // types in `types`, signed. `at_cut`: `name` delegates, and the next name
  // must stay in this zone (§3.4).
  bool CompactNsec(absl::string_view name, const uint16_t* types, int type_count, bool at_cut) {
    uint8_t rdata[kMaxNameLength + kMaxBitmapSize];
    const size_t next = NextName(name, zone_.apex(), at_cut, rdata);
    const size_t size = next + WriteTypeBitmap(types, type_count, rdata + next);
    uint8_t record[2 + sizeof(rdata)];
    WriteU16(record, static_cast<uint16_t>(size));
    std::memcpy(record + 2, rdata, size);
    const uint32_t ttl = zone_.negative_ttl();  // RFC 9077
    return Record(kAuthority, MessageWriter::kNoOwner, name, type::kNsec, ttl, rdata, size) &&
           SignOnline(kAuthority, MessageWriter::kNoOwner, name,
                      {name, type::kNsec, ttl, record, 1});
  }

  // The types a compact denial lists for `node` at `name` (RFC 9824 §3.2):
  // what it holds, what the policy answers there, what the keys add at the
  // apex; at a zone cut only what the parent owns. Returns the count.
  int TypesAt(NodeView node, absl::string_view name, const LabelOffsets& labels, uint16_t* types) {
    int count = 0;
    types[count++] = type::kRrsig;
    types[count++] = type::kNsec;
    if (!node.valid()) return count;
    const bool cut = node.flags() & node_flag::kDelegation;
    node.ForEachRrset([&](RrsetView rrset) {
      const uint16_t type = rrset.type();
      if (count < kMaxBitmapTypes && type != type::kRrsig && type != type::kNsec &&
          (!cut || type == type::kNs || type == type::kDs)) {
        types[count++] = type;
      }
    });
    if (cut) return count;
    if (node.flags() & node_flag::kApex) {
      for (const uint16_t type : {type::kDnskey, type::kCds, type::kCdnskey}) {
        if (keys_->Find(type).valid() && !node.Find(type).valid()) types[count++] = type;
      }
    }
    if (node.rrset_count() > 0 && !node.Find(type::kCname).valid()) {
      for (const uint16_t type : {type::kA, type::kAaaa}) {
        if (!node.Find(type).valid() && addresses_.Governs(name, labels, type)) {
          types[count++] = type;
        }
      }
    }
    return count;
  }
  static constexpr int kMaxBitmapTypes = 64;

  // The RRSIGs at `node` that cover `covered`, written as `owner` (or at
  // `owner_pos`) with the TTL their RRset was given.
  bool Signatures(Section s, size_t owner_pos, absl::string_view owner, NodeView node,
                  uint16_t covered, uint32_t ttl) {
    const RrsetView signatures = node.Find(type::kRrsig);
    if (!signatures.valid()) return true;
    const size_t start = w_.size();
    uint16_t added = 0;
    const uint8_t* rr = signatures.records();
    for (uint16_t i = 0; i < signatures.count(); ++i) {
      const uint16_t rdlength = ReadU16(rr);
      if (rdlength >= 2 && ReadU16(rr + 2) == covered) {
        if (w_.AppendRecord(owner_pos, owner, type::kRrsig, ttl, rr + 2, rdlength) == 0) {
          w_.Truncate(start);
          return false;
        }
        ++added;
      }
      rr += 2 + rdlength;
    }
    counts_[s] += added;
    return true;
  }

  // An RRset of `node` under its own name, and its signatures.
  bool Signed(Section s, NodeView node, RrsetView rrset) {
    return Rrset(s, MessageWriter::kNoOwner, node.name(), rrset) &&
           SignaturesOf(s, MessageWriter::kNoOwner, node.name(), node.name(), node, rrset,
                        rrset.ttl());
  }

  // The NSEC that matches or covers `name`, signed; once per response.
  bool NsecFor(absl::string_view name) { return Proof(zone_.NsecFor(name), type::kNsec); }

  // The NSEC3 that matches (true in `matches`) or covers `name`'s hash.
  bool Nsec3For(absl::string_view name, bool* matches) {
    return Proof(zone_.Nsec3For(name, matches), type::kNsec3);
  }

  // RFC 5155 §7.2.6: a wildcard (owner `wildcard`) answered `name`: the
  // NSEC3 covering the next closer name shows `name` does not exist. For a
  // wildcard NODATA (§7.2.5), also those matching the closest encloser and
  // the wildcard, whose bitmap lacks the type.
  bool Nsec3WildcardProof(absl::string_view name, absl::string_view wildcard, bool nodata) {
    const absl::string_view encloser = wildcard.substr(2);  // "*" and its length octet
    LabelOffsets labels;
    ComputeLabelOffsets(name, labels);
    int encloser_labels = 0;
    for (size_t at = 0; encloser[at] != 0; at += 1 + static_cast<uint8_t>(encloser[at])) {
      ++encloser_labels;
    }
    bool matches = false;
    if (nodata && !Nsec3For(encloser, &matches)) return false;
    const int next_closer = std::max(labels.count - encloser_labels - 1, 0);
    if (!Nsec3For(Suffix(name, labels, next_closer), &matches)) return false;
    return !nodata || Nsec3For(wildcard, &matches);
  }

  // RFC 5155 §7.2.1: the NSEC3 matching the closest provable encloser of
  // `name` and the one covering the next closer name; with `wildcard`, the
  // one matching or covering the wildcard at that encloser too.
  bool Nsec3EncloserProof(absl::string_view name, bool wildcard) {
    LabelOffsets labels;
    ComputeLabelOffsets(name, labels);
    const int below_apex = labels.count - zone_.apex_labels();
    for (int skip = 1; skip <= below_apex; ++skip) {
      const absl::string_view encloser = Suffix(name, labels, skip);
      bool matches = false;
      const NodeView node = zone_.Nsec3For(encloser, &matches);
      if (!matches) continue;
      bool ignored;
      if (!Proof(node, type::kNsec3) || !Nsec3For(Suffix(name, labels, skip - 1), &ignored)) {
        return false;
      }
      uint8_t buffer[kMaxNameLength];
      const absl::string_view star = WildcardOf(encloser, buffer);
      return !wildcard || star.empty() || Nsec3For(star, &ignored);
    }
    return true;
  }

  // A and AAAA for `name` in the additional section: glue or in-zone targets.
  // Returns false when something did not fit.
  bool Addresses(absl::string_view name, bool glue) {
    const NodeView node = zone_.Find(name);
    if (!node.valid()) return true;
    // Two MX or SRV records often share a target: its addresses go in once.
    const void** added_end = added_targets_ + added_target_count_;
    if (std::find(added_targets_, added_end, node.id()) != added_end) return true;
    if (added_target_count_ < kMaxAddedTargets) added_targets_[added_target_count_++] = node.id();
    LabelOffsets labels;
    ComputeLabelOffsets(name, labels);
    for (const uint16_t type : {type::kA, type::kAaaa}) {
      PoolAddress address;
      if (!glue && node.rrset_count() > 0 && addresses_.Draw(name, labels, type, address)) {
        if (!Pool(kAdditional, MessageWriter::kNoOwner, node.name(), type, address)) return false;
        continue;
      }
      const RrsetView rrset = node.Find(type);
      if (rrset.valid() && !Rrset(kAdditional, MessageWriter::kNoOwner, node.name(), rrset)) {
        return false;
      }
    }
    return true;
  }

  // Additional-section processing for NS, MX and SRV (RFC 1034 §4.3.2 step 6).
  bool AdditionalFor(RrsetView rrset, bool glue) {
    size_t skip = 0;
    if (rrset.type() == type::kMx)
      skip = 2;
    else if (rrset.type() == type::kSrv)
      skip = 6;
    else if (rrset.type() != type::kNs)
      return true;
    const uint8_t* rr = rrset.records();
    for (uint16_t i = 0; i < rrset.count(); ++i) {
      const uint16_t rdlength = ReadU16(rr);
      if (rdlength > skip) {
        uint8_t target[kMaxNameLength];
        const uint8_t* name = rr + 2 + skip;
        const size_t size = WireNameLength(name);
        for (size_t k = 0; k < size; ++k) target[k] = AsciiLower(name[k]);
        const absl::string_view target_name = AsChars(target, size);
        if (IsAtOrBelow(target_name, zone_.apex()) && !Addresses(target_name, glue)) return false;
      }
      rr += 2 + rdlength;
    }
    return true;
  }

 private:
  MessageWriter& w_;
  const Zone& zone_;
  AddressSource& addresses_;
  const ZoneKeys* keys_;
  OnlineSigner* signer_;  // null: no signing
  bool publishes_keys_;   // the zone has no keys of its own, and these to publish
  bool online_;
  uint16_t counts_[3] = {0, 0, 0};
  // Targets whose addresses are in the additional section; past the bound a
  // repeat is merely sent twice, as before, to keep the scan short.
  static constexpr int kMaxAddedTargets = 16;
  const void* added_targets_[kMaxAddedTargets];
  int added_target_count_ = 0;
  // A denial record (NSEC or NSEC3) of `node`, signed, unless already sent.
  bool Proof(NodeView node, uint16_t type) {
    if (!node.valid()) return true;
    const void** proofs_end = proofs_ + proof_count_;
    if (std::find(proofs_, proofs_end, node.id()) != proofs_end) return true;
    if (proof_count_ < kMaxProofs) proofs_[proof_count_++] = node.id();
    return Signed(kAuthority, node, node.Find(type));
  }

  // Nodes whose NSEC or NSEC3 is in the response; no proof needs more.
  static constexpr int kMaxProofs = 8;
  const void* proofs_[kMaxProofs];
  int proof_count_ = 0;
};

struct Lookup {
  // kDname: `node` owns a DNAME strictly above the name (RFC 6672 §3.2);
  // kNxDomain: `node` is the closest encloser.
  enum Kind { kFound, kDelegation, kNxDomain, kDname } kind;
  NodeView node;
};

// The DNAME owner strictly above `name` nearest the apex, if any. Names
// below it are redirected, whatever the zone holds there. A zone cut above
// it wins: that is for the child to answer.
NodeView FindDname(const Zone& zone, absl::string_view name, const LabelOffsets& labels) {
  const int below_apex = labels.count - zone.apex_labels();
  for (int skip = below_apex; skip >= 1; --skip) {
    const NodeView node = zone.Find(Suffix(name, labels, skip));
    if (!node.valid()) continue;
    if (node.flags() & (node_flag::kDelegation | node_flag::kBelowCut)) return NodeView();
    if (node.Find(type::kDname).valid()) return node;
  }
  return NodeView();
}

// The highest zone cut above (or at) `name`, which lies below one.
NodeView FindCut(const Zone& zone, absl::string_view name, const LabelOffsets& labels) {
  const int below_apex = labels.count - zone.apex_labels();
  for (int skip = below_apex - 1; skip >= 0; --skip) {
    const NodeView node = zone.Find(Suffix(name, labels, skip));
    if (node.valid() && (node.flags() & node_flag::kDelegation)) return node;
  }
  return NodeView();
}

// RFC 1034 §4.3.2 step 3 with RFC 4592 wildcards, inside one zone.
Lookup LookupName(const Zone& zone, absl::string_view name, const LabelOffsets& labels,
                  uint16_t qtype) {
  if (zone.has_dnames()) {
    if (const NodeView dname = FindDname(zone, name, labels); dname.valid()) {
      return {Lookup::kDname, dname};
    }
  }
  const NodeView node = zone.Find(name);
  if (node.valid()) {
    if (node.flags() & node_flag::kBelowCut) {
      return {Lookup::kDelegation, FindCut(zone, name, labels)};
    }
    // DS lives on the parent side of a cut.
    if ((node.flags() & node_flag::kDelegation) && qtype != type::kDs) {
      return {Lookup::kDelegation, node};
    }
    return {Lookup::kFound, node};
  }
  const int below_apex = labels.count - zone.apex_labels();
  for (int skip = 1; skip <= below_apex; ++skip) {
    const absl::string_view encloser_name = Suffix(name, labels, skip);
    const NodeView encloser = zone.Find(encloser_name);
    if (!encloser.valid()) continue;
    if (encloser.flags() & node_flag::kBelowCut) {
      return {Lookup::kDelegation, FindCut(zone, name, labels)};
    }
    if (encloser.flags() & node_flag::kDelegation) return {Lookup::kDelegation, encloser};
    uint8_t buffer[kMaxNameLength];
    if (const absl::string_view wildcard = WildcardOf(encloser_name, buffer); !wildcard.empty()) {
      const NodeView synthesized = zone.Find(wildcard);
      if (synthesized.valid()) return {Lookup::kFound, synthesized};
    }
    return {Lookup::kNxDomain, encloser};  // the closest encloser (RFC 4592 §3.3.1)
  }
  return {Lookup::kNxDomain, NodeView()};
}

// Appends the unsigned TSIG of RFC 8945 §5.2 for `error` (BADKEY, BADSIG)
// at `at`: the query's key and algorithm names, time signed and fudge, no
// MAC, its original ID. Left out (returns `at`) when the reply would outgrow
// `limit` or the query, so that a compressed key name cannot make it an
// amplifier.
size_t AppendTsigError(const uint8_t* query, size_t query_size, const Query& q, uint16_t error,
                       uint8_t* out, size_t at, size_t limit) {
  uint8_t key[kMaxNameLength];
  size_t key_size = 0;
  if (ReadPacketName(query, query_size, q.tsig_owner, key, &key_size) == 0) return at;
  const uint8_t* rdata = query + q.tsig_rdata;
  const size_t mac_size_at = q.tsig_mac_size_at;
  const size_t original_id_at = mac_size_at + 2 + ReadU16(rdata + mac_size_at);
  const size_t rdlength = mac_size_at + 2 + 6;
  const size_t end = at + key_size + 10 + rdlength;
  if (end > limit || end > query_size) return at;
  uint8_t* p = out + at;
  std::memcpy(p, key, key_size);
  p += key_size;
  WriteU16(p, type::kTsig);
  WriteU16(p + 2, rr_class::kAny);
  WriteU32(p + 4, 0);
  WriteU16(p + 8, static_cast<uint16_t>(rdlength));
  p += 10;
  std::memcpy(p, rdata, mac_size_at);  // algorithm, time signed, fudge
  p += mac_size_at;
  WriteU16(p, 0);  // MAC size
  std::memcpy(p + 2, rdata + original_id_at, 2);
  WriteU16(p + 4, error);
  WriteU16(p + 6, 0);  // other length
  return end;
}

// The NSID option our OPT carries: the identity, when the query asked.
size_t NsidSize(const Query& q, const ResponderOptions& options) {
  return q.nsid && !options.identity.empty() ? 4 + options.identity.size() : 0;
}

constexpr size_t kCookieOptionSize = 4 + kClientCookieSize + kServerCookieSize;

// The EDNS options our OPT may carry: NSID, EXPIRE (RFC 7314) when asked,
// and our COOKIE when the query had one and cookies are on.
size_t OptionsSize(const Query& q, const ResponderOptions& options, bool cookie) {
  return NsidSize(q, options) + (q.expire ? 8 : 0) + (cookie ? kCookieOptionSize : 0);
}

// Appends our OPT at `at` in `out`, with its options; room was kept for
// them. `expire` < 0: none. Returns the new size.
size_t WriteOpt(uint8_t* out, size_t at, uint16_t udp_size, uint32_t ttl, absl::string_view nsid,
                int64_t expire, const ResponseInfo& info) {
  out[at] = 0;  // root owner
  WriteU16(out + at + 1, type::kOpt);
  WriteU16(out + at + 3, udp_size);
  WriteU32(out + at + 5, ttl);
  const size_t rdlength_at = at + 9;
  at += kOptSize;
  if (!nsid.empty()) {  // RFC 5001 §2.3
    WriteU16(out + at, edns_option::kNsid);
    WriteU16(out + at + 2, static_cast<uint16_t>(nsid.size()));
    std::memcpy(out + at + 4, nsid.data(), nsid.size());
    at += 4 + nsid.size();
  }
  if (expire >= 0) {
    WriteU16(out + at, edns_option::kExpire);
    WriteU16(out + at + 2, 4);
    WriteU32(out + at + 4, static_cast<uint32_t>(std::min<int64_t>(expire, UINT32_MAX)));
    at += 8;
  }
  if (info.cookie != CookieCheck::kNone) {
    WriteU16(out + at, edns_option::kCookie);
    WriteU16(out + at + 2, sizeof(info.cookie_reply));
    std::memcpy(out + at + 4, info.cookie_reply, sizeof(info.cookie_reply));
    at += kCookieOptionSize;
  }
  WriteU16(out + rdlength_at, static_cast<uint16_t>(at - rdlength_at - 2));
  return at;
}

// The OPT TTL of an extended rcode (RFC 6891 §6.1.3): its upper eight bits.
constexpr uint32_t ExtendedRcodeTtl(uint16_t rc) { return static_cast<uint32_t>(rc >> 4) << 24; }

size_t HeaderOnly(const uint8_t* query, uint16_t flags, uint8_t rcode, uint8_t* out) {
  std::memcpy(out, query, 2);
  WriteU16(out + 2, flags | rcode);
  std::memset(out + 4, 0, 8);
  return kHeaderSize;
}

// One response on its way through the stages, in the spirit of Knot's
// internet.c: check the query, select the zone, solve the answer (the CNAME
// and DNAME chain), then authority, then additional, then finish (OPT, TSIG,
// header). Each stage reads what the ones before it decided. The stages are
// inlined into Respond: as separate calls they cost pool answers some 10-20
// ns (perf/bench_draw), for nothing but the call boundaries.
struct Response {
  Response(const Query& query, MessageWriter& writer, ResponseInfo* response_info,
           uint16_t base_flags)
      : q(query), w(writer), info(response_info), flags(base_flags) {}

  const Query& q;
  MessageWriter& w;
  ResponseInfo* info;
  uint16_t flags;
  // A signed query, checked against the configured keys; null when unsigned
  // or when no key is configured.
  const TsigRequest* tsig = nullptr;
  uint8_t rc = rcode::kNoError;
  uint32_t opt_ttl = 0;
  // Zone selection.
  const Zone* zone = nullptr;
  const ZoneKeys* keys = nullptr;  // the zone's keys for online signing
  LabelOffsets labels;             // of the name being looked up
  // What the answer stage found, for authority and additional.
  enum class Outcome {
    kNone,      // nothing to add (a CNAME chain that leaves the zone, YXDOMAIN)
    kAnswer,    // `rrset` answered (or a pool address): its targets get addresses
    kReferral,  // `cut` delegates the name
    kNxDomain,
    kNoData,
  } outcome = Outcome::kNone;
  NodeView cut;
  RrsetView rrset;
  // DNSSEC (DO set, zone signed): the name the answer stage ended at, and the
  // node that proves what is not there: the closest encloser of an NXDOMAIN,
  // the node of a NODATA, the wildcard that answered.
  bool dnssec = false;
  NodeView proof;
  uint8_t name[kMaxNameLength];
  size_t name_size = 0;
  // A name a wildcard answered for, in the chain (the first, if several),
  // and the wildcard's owner.
  uint8_t expanded[kMaxNameLength];
  size_t expanded_size = 0;
  absl::string_view wildcard;
  bool fits = true;  // false: required records did not fit (TC)
  // EDNS EXPIRE, when asked of a zone served here: seconds; -1: none.
  int64_t expire = -1;
  uint16_t counts[3] = {0, 0, 0};
};

// Stage 1: what the query itself decides, before any zone is read. Returns
// false when the reply is already decided.
[[gnu::always_inline]] inline bool CheckQuery(Response& r, QueryStatus parsed,
                                              bool malformed_cookie) {
  const Query& q = r.q;
  if (parsed == QueryStatus::kFormErr || malformed_cookie) {
    r.rc = rcode::kFormErr;
  } else if (q.tsig_owner != 0 && (r.tsig == nullptr || r.tsig->error != 0)) {
    r.rc = rcode::kNotAuth;  // RFC 8945 §5.2: the TSIG error goes at the end
  } else if (parsed == QueryStatus::kNotImp) {
    r.rc = rcode::kNotImp;
  } else if (q.edns && q.edns_version > 0) {
    r.opt_ttl |= ExtendedRcodeTtl(rcode::kBadVers);
    r.info->rcode = static_cast<uint8_t>(rcode::kBadVers);
  } else if (q.qclass != rr_class::kIn && q.qclass != rr_class::kAny && q.qclass != rr_class::kCh) {
    r.rc = rcode::kRefused;  // class IN is served, "*" matches it; CH tells who we are
  } else if (q.qtype == type::kOpt || q.qtype == type::kTsig || q.qtype == type::kTkey ||
             q.qtype == type::kNxname) {
    r.rc = rcode::kFormErr;  // meta types (RFC 6891, 8945, 2930, 9824 §3.5)
  } else if (q.qtype == type::kAxfr || q.qtype == type::kIxfr) {
    r.rc = rcode::kRefused;  // zone transfers are not offered
  } else if (q.qtype == type::kMaila || q.qtype == type::kMailb) {
    r.rc = rcode::kNotImp;
  } else {
    return true;
  }
  return false;
}

// Stage 2, for class CH: who answers (RFC 4892): id.server and hostname.bind
// give the identity, version.bind and version.server the version, as one TXT
// string; REFUSED for other names and for what is not configured.
[[gnu::noinline]] void AnswerChaos(Response& r, const ResponderOptions& options) {
  const absl::string_view name = AsChars(r.q.qname, r.q.qname_size);
  absl::string_view text;
  if (name == absl::string_view("\2id\6server\0", 11) ||
      name == absl::string_view("\10hostname\4bind\0", 15)) {
    text = options.identity;
  } else if (name == absl::string_view("\7version\4bind\0", 14) ||
             name == absl::string_view("\7version\6server\0", 16)) {
    text = options.version;
  }
  if (text.empty()) {
    r.rc = rcode::kRefused;
    return;
  }
  r.flags |= flag::kAa;
  if (r.q.qtype != type::kTxt && r.q.qtype != type::kAny) return;  // NODATA
  uint8_t record[12 + 1 + 255];
  WriteU16(record, 0xc000 | kHeaderSize);  // the question's name
  WriteU16(record + 2, type::kTxt);
  WriteU16(record + 4, rr_class::kCh);
  WriteU32(record + 6, 0);
  WriteU16(record + 10, static_cast<uint16_t>(1 + text.size()));
  record[12] = static_cast<uint8_t>(text.size());
  std::memcpy(record + 13, text.data(), text.size());
  if (r.w.Append(record, 13 + text.size())) {
    r.counts[kAnswer] = 1;
  } else {
    r.flags |= flag::kTc;
    r.info->truncated = true;
  }
}

// Stage 2: the zone with the longest apex above the name; REFUSED without.
[[gnu::always_inline]] inline bool SelectZone(Response& r, const ZoneSet& zones,
                                              const OnlineSigner* signer) {
  const Query& q = r.q;
  const absl::string_view qname = AsChars(q.qname, q.qname_size);
  ComputeLabelOffsets(qname, r.labels);
  const ServedZone* served = zones.FindBest(qname, r.labels);
  // DS belongs to the parent side of a zone cut (RFC 4035 §3.1.4.1): at a
  // child zone's apex, the parent answers when it is served here too.
  if (served != nullptr && q.qtype == type::kDs && served->zone->apex_labels() == r.labels.count &&
      r.labels.count > 0) {
    if (const ServedZone* parent = zones.FindBest(qname, r.labels, r.labels.count - 1)) {
      served = parent;
    }
  }
  if (served == nullptr) {
    r.rc = rcode::kRefused;
    return false;
  }
  if (served->unavailable()) [[unlikely]] {
    r.rc = rcode::kServFail;  // a secondary without a copy in force, as NSD and Knot answer
    return false;
  }
  const Zone* zone = served->zone;
  r.zone = zone;
  if (q.expire) [[unlikely]] {
    // RFC 7314 §3: a secondary tells what is left of its copy's life, a
    // primary its SOA expire.
    if (served->secondary != nullptr) {
      r.expire = std::max<int64_t>(
          0, (served->secondary->expires_at_ms.load(std::memory_order_relaxed) - SteadyClockMs()) /
                 1000);
    } else {
      const RrsetView soa = zone->apex_node().Find(type::kSoa);
      const uint8_t* rdata = soa.records() + 2;
      const size_t names = WireNameLength(rdata);
      r.expire = ReadU32(rdata + names + WireNameLength(rdata + names) + 12);
    }
  }
  r.keys = served->keys;
  r.dnssec = q.dnssec_ok && (zone->is_signed() || (r.keys != nullptr && signer != nullptr));
  const absl::string_view apex = zone->apex();
  std::memcpy(r.info->rate_limit_name, apex.data(), apex.size());
  r.info->rate_limit_name_size = static_cast<uint8_t>(apex.size());
  r.flags |= flag::kAa;
  return true;
}

// Stage 3: the answer section. Follows in-zone CNAMEs and DNAMEs (RFC 1034
// §4.3.2, RFC 6672) and draws pool addresses; records in r.outcome what the
// authority and additional stages complete.
[[gnu::always_inline]] inline void SolveAnswer(Response& r, Sections& s, AddressSource& addresses) {
  const Query& q = r.q;
  const Zone& zone = *r.zone;
  size_t owner_pos = kHeaderSize;
  absl::string_view name = AsChars(q.qname, q.qname_size);
  uint8_t target[kMaxNameLength];
  const void* visited[kMaxCnameChain];
  // A CNAME or DNAME step: the lookup goes on at `wire`, named in the answer
  // at `rdata_pos`. Only chains that stay inside this zone are followed.
  const auto go_on_to = [&](const uint8_t* wire, size_t size, size_t rdata_pos) {
    for (size_t k = 0; k < size; ++k) target[k] = AsciiLower(wire[k]);
    name = AsChars(target, size);
    if (!IsAtOrBelow(name, zone.apex())) return false;
    ComputeLabelOffsets(name, r.labels);
    owner_pos = rdata_pos;
    return true;
  };
  // What the authority stage proves with NSEC records, at the chain's end.
  const auto remember = [&](NodeView proof) {
    if (!r.dnssec) return;
    r.proof = proof;
    std::memcpy(r.name, name.data(), name.size());
    r.name_size = name.size();
    if (proof.valid() && (proof.flags() & node_flag::kWildcard) && proof.name() != name &&
        r.expanded_size == 0) {
      std::memcpy(r.expanded, name.data(), name.size());
      r.expanded_size = name.size();
      r.wildcard = proof.name();
    }
  };
  // A zone signed online has no RRSIG or NSEC records to answer with: its
  // signatures and denials exist only inside answers. Refused, as Knot's
  // mod-onlinesign refuses them; a made-up NODATA would contradict its own
  // bitmap.
  if (s.online() && (q.qtype == type::kRrsig || q.qtype == type::kNsec)) {
    r.rc = rcode::kRefused;
    return;
  }
  for (int step = 0;; ++step) {
    const Lookup found = LookupName(zone, name, r.labels, q.qtype);
    if (found.kind == Lookup::kDelegation) {
      // Not authoritative, unless CNAMEs we own led here.
      if (step == 0) r.flags &= ~flag::kAa;
      r.outcome = Response::Outcome::kReferral;
      r.cut = found.node;
      return;
    }
    if (found.kind == Lookup::kNxDomain) {
      r.rc = rcode::kNxDomain;
      r.outcome = Response::Outcome::kNxDomain;
      remember(found.node);
      return;
    }
    if (found.kind == Lookup::kDname) {
      // RFC 6672 §3.2: the DNAME, a CNAME from the name to the name with
      // the DNAME's owner replaced by its target, then on.
      const RrsetView dname = found.node.Find(type::kDname);
      r.fits = r.dnssec ? s.Signed(kAnswer, found.node, dname)
                        : s.Rrset(kAnswer, MessageWriter::kNoOwner, found.node.name(), dname);
      if (!r.fits) return;
      const uint8_t* dname_target = dname.records() + 2;
      const size_t target_size = WireNameLength(dname_target);
      const size_t prefix = name.size() - found.node.name().size();
      if (prefix + target_size > kMaxNameLength) {
        r.rc = rcode::kYxDomain;
        return;
      }
      uint8_t synthesized[kMaxNameLength];
      std::memcpy(synthesized, name.data(), prefix);
      std::memcpy(synthesized + prefix, dname_target, target_size);
      size_t rdata_pos = 0;
      r.fits = s.Record(kAnswer, owner_pos, {}, type::kCname, dname.ttl(), synthesized,
                        prefix + target_size, &rdata_pos);
      // As NSD and Knot do, ANY goes on to the target; CNAME stops here.
      if (!r.fits || q.qtype == type::kCname || step + 1 >= kMaxCnameChain) return;
      if (!go_on_to(synthesized, prefix + target_size, rdata_pos)) return;
      continue;
    }
    const NodeView node = found.node;
    // A CNAME loop ends where it would repeat itself.
    if (std::find(visited, visited + step, node.id()) != visited + step) return;
    visited[step] = node.id();
    const RrsetView cname = node.Find(type::kCname);
    if (cname.valid() && q.qtype != type::kCname && q.qtype != type::kAny) {
      size_t rdata_pos = 0;
      r.fits =
          s.Rrset(kAnswer, owner_pos, {}, cname, cname.ttl(), &rdata_pos) &&
          (!r.dnssec || s.SignaturesOf(kAnswer, owner_pos, {}, name, node, cname, cname.ttl()));
      if (!r.fits) return;
      // A wildcard CNAME needs its proof too; the chain's end keeps the last.
      remember(node);
      if (step + 1 >= kMaxCnameChain) return;
      const uint8_t* rdata = cname.records() + 2;
      if (!go_on_to(rdata, WireNameLength(rdata), rdata_pos)) return;
      continue;
    }
    // The policy governs names that own data, and never a CNAME's owner.
    const bool owner_exists = node.rrset_count() > 0 && !cname.valid();
    PoolAddress address;
    const uint16_t pool_type = q.qtype == type::kAny ? type::kA : q.qtype;
    if (owner_exists && (pool_type == type::kA || pool_type == type::kAaaa) &&
        addresses.Draw(name, r.labels, pool_type, address)) {
      r.fits = s.SignedPool(kAnswer, owner_pos, name, pool_type, address);
      r.info->pool_answer = true;
      r.outcome = Response::Outcome::kAnswer;
      return;
    }
    RrsetView rrset;
    if (q.qtype == type::kAny) {
      // RFC 8482: one RRset stands for all of them.
      node.ForEachRrset([&](RrsetView each) {
        if (!rrset.valid() && each.type() != type::kRrsig) rrset = each;
      });
    } else {
      rrset = s.Find(node, q.qtype);
    }
    remember(node);
    if (!rrset.valid()) {
      r.outcome = Response::Outcome::kNoData;  // RFC 2308 §2.2
      return;
    }
    r.fits = s.Rrset(kAnswer, owner_pos, {}, rrset) &&
             (!r.dnssec || s.SignaturesOf(kAnswer, owner_pos, {}, name, node, rrset, rrset.ttl()));
    r.outcome = Response::Outcome::kAnswer;
    r.rrset = rrset;
    return;
  }
}

// Stage 4: the authority section: the cut's NS for a referral (RFC 1034
// §4.3.2 step 3b), the SOA for NXDOMAIN and NODATA (RFC 2308).
[[gnu::always_inline]] inline void SolveAuthority(Response& r, Sections& s) {
  if (!r.fits) return;
  switch (r.outcome) {
    case Response::Outcome::kReferral:
      r.fits = s.Rrset(kAuthority, MessageWriter::kNoOwner, r.cut.name(), r.cut.Find(type::kNs));
      break;
    case Response::Outcome::kNxDomain:
    case Response::Outcome::kNoData:
      r.fits = s.Soa(r.dnssec);
      break;
    default:
      break;
  }
}

// Stage 4b: DNSSEC's authority records, for a signed zone and DO set (RFC
// 4035 §3.1.3): the DS of a secure delegation or the NSEC proving there is
// none; the NSECs proving a name or a type absent; the NSEC proving that a
// wildcard answered because the name itself does not exist (RFC 4035
// §3.1.3.3).
[[gnu::always_inline]] inline void ProveAuthority(Response& r, Sections& s) {
  if (!r.fits || !r.dnssec || s.online()) return;
  const absl::string_view name = AsChars(r.name, r.name_size);
  const bool nsec3 = r.zone->has_nsec3();
  bool matches = false;
  switch (r.outcome) {
    case Response::Outcome::kReferral: {
      const RrsetView ds = r.cut.Find(type::kDs);
      if (ds.valid()) {
        r.fits = s.Signed(kAuthority, r.cut, ds);
      } else if (!nsec3) {
        if (r.cut.Find(type::kNsec).valid()) {
          r.fits = s.Signed(kAuthority, r.cut, r.cut.Find(type::kNsec));
        }
      } else {
        // The cut's own NSEC3 shows no DS; under opt-out it may have none,
        // and the span that covers it says so (RFC 5155 §7.2.7).
        const absl::string_view cut = r.cut.name();
        r.zone->Nsec3For(cut, &matches);
        r.fits = matches ? s.Nsec3For(cut, &matches) : s.Nsec3EncloserProof(cut, false);
      }
      return;
    }
    case Response::Outcome::kNxDomain:
      if (nsec3) {
        r.fits = s.Nsec3EncloserProof(name, /*wildcard=*/true);  // RFC 5155 §7.2.2
        break;
      }
      // The name is covered; so is the wildcard at its closest encloser.
      r.fits = s.NsecFor(name);
      if (r.fits && r.proof.valid()) {
        uint8_t buffer[kMaxNameLength];
        const absl::string_view wildcard = WildcardOf(r.proof.name(), buffer);
        if (!wildcard.empty()) r.fits = s.NsecFor(wildcard);
      }
      break;
    case Response::Outcome::kNoData:
      if (nsec3) {
        if (r.expanded_size > 0 && r.proof.name() == r.wildcard) {
          r.fits = s.Nsec3WildcardProof(name, r.wildcard, /*nodata=*/true);  // §7.2.5
        } else if (r.zone->Nsec3For(name, &matches).valid() && matches) {
          r.fits = s.Nsec3For(name, &matches);  // §7.2.3
        } else {
          r.fits = s.Nsec3EncloserProof(name, false);  // §7.2.4, opt-out
        }
        break;
      }
      // The node's own NSEC lists its types; an empty non-terminal has none,
      // and the NSEC before it shows it exists.
      if (r.proof.valid() && r.proof.Find(type::kNsec).valid()) {
        r.fits = s.Signed(kAuthority, r.proof, r.proof.Find(type::kNsec));
      } else {
        r.fits = s.NsecFor(name);
      }
      break;
    default:
      break;
  }
  // A wildcard answered: the name it answered for does not exist (RFC 4035
  // §3.1.3.3, RFC 5155 §7.2.6).
  if (r.fits && r.expanded_size > 0) {
    const absl::string_view expanded = AsChars(r.expanded, r.expanded_size);
    r.fits =
        nsec3 ? s.Nsec3WildcardProof(expanded, r.wildcard, /*nodata=*/false) : s.NsecFor(expanded);
  }
}

// Stage 4b, for a zone signed online: compact denial of existence (RFC 9824).
// One NSEC owned by the name answers every negative case: its bitmap says
// which types the name has, and NXNAME that it has none at all. Positive
// wildcard answers were signed as the name itself (§3.3) and need no proof.
[[gnu::noinline]] void DenyCompactly(Response& r, Sections& s) {
  const absl::string_view name = AsChars(r.name, r.name_size);
  uint16_t types[Sections::kMaxBitmapTypes + 8];
  switch (r.outcome) {
    case Response::Outcome::kReferral: {
      const RrsetView ds = r.cut.Find(type::kDs);
      if (ds.valid()) {
        r.fits = s.Signed(kAuthority, r.cut, ds);
      } else {
        // RFC 4035 §2.3: NS and no DS: an insecure delegation.
        const int count = s.TypesAt(r.cut, r.cut.name(), r.labels, types);
        r.fits = s.CompactNsec(r.cut.name(), types, count, /*at_cut=*/true);
      }
      break;
    }
    case Response::Outcome::kNxDomain: {
      static constexpr uint16_t kNxnameTypes[] = {type::kRrsig, type::kNsec, type::kNxname};
      r.fits = s.CompactNsec(name, kNxnameTypes, 3, /*at_cut=*/false);
      // §3.1, §5.1: NODATA in form; NXDOMAIN for those who said they
      // understand.
      if (!r.q.compact_ok) r.rc = rcode::kNoError;
      break;
    }
    case Response::Outcome::kNoData: {
      LabelOffsets labels;
      ComputeLabelOffsets(name, labels);
      const int count = s.TypesAt(r.proof, name, labels, types);
      const bool at_cut = r.proof.valid() && (r.proof.flags() & node_flag::kDelegation);
      r.fits = s.CompactNsec(name, types, count, at_cut);
      break;
    }
    default:
      break;
  }
}

// Stage 5: the additional section: glue for a referral, which is required,
// and addresses of the answer's NS, MX and SRV targets, which are optional:
// what does not fit is left out.
[[gnu::always_inline]] inline void SolveAdditional(Response& r, Sections& s) {
  if (!r.fits) return;
  if (r.outcome == Response::Outcome::kReferral) {
    r.fits = s.AdditionalFor(r.cut.Find(type::kNs), /*glue=*/true);
  } else if (r.outcome == Response::Outcome::kAnswer && r.rrset.valid()) {
    s.AdditionalFor(r.rrset, /*glue=*/false);
  }
}

// Stage 6: OPT, TSIG, the header's flags and counts, and what counters and
// rate limiting learn. Returns the response size.
[[gnu::always_inline]] inline size_t Finish(Response& r, const uint8_t* query, size_t query_size,
                                            const ResponderOptions& options, uint8_t* out,
                                            size_t limit) {
  const Query& q = r.q;
  size_t size = r.w.size();
  if (q.edns) {
    const absl::string_view nsid = NsidSize(q, options) > 0 ? options.identity : "";
    size = WriteOpt(out, size, options.max_udp_size, r.opt_ttl, nsid, r.expire, *r.info);
    ++r.counts[kAdditional];
  }
  // RFC 8945 §5.3: a response to a verified request is signed, and so is
  // BADTIME's (§5.2.3), last of all (libknot counts it in ARCOUNT); BADKEY and
  // BADSIG go unsigned.
  const bool sign =
      r.tsig != nullptr && (r.tsig->error == 0 || r.tsig->error == tsig_error::kBadTime);
  if (r.rc == rcode::kNotAuth && !sign) {
    const uint16_t error = r.tsig != nullptr ? r.tsig->error : tsig_error::kBadKey;
    const size_t with_tsig = AppendTsigError(query, query_size, q, error, out, size, limit);
    if (with_tsig != size) ++r.counts[kAdditional];
    size = with_tsig;
  }
  WriteU16(out + 2, r.flags | r.rc);
  WriteU16(out + 4, 1);
  ResponseInfo* info = r.info;
  if (r.rc == rcode::kNoError && info->rcode != rcode::kBadVers) {
    if (q.qtype == type::kAny) {
      info->kind = ResponseKind::kAny;
    } else if (r.counts[kAnswer] > 0) {
      info->kind = ResponseKind::kAnswer;
      std::memcpy(info->rate_limit_name, q.qname, q.qname_size);
      info->rate_limit_name_size = static_cast<uint8_t>(q.qname_size);
    } else if (!(r.flags & flag::kAa) && r.counts[kAuthority] > 0) {
      info->kind = ResponseKind::kReferral;
    } else {
      info->kind = ResponseKind::kNoData;
    }
  } else if (r.rc == rcode::kNxDomain) {
    info->kind = ResponseKind::kNxDomain;
  }
  WriteU16(out + 6, r.counts[kAnswer]);
  WriteU16(out + 8, r.counts[kAuthority]);
  WriteU16(out + 10, r.counts[kAdditional]);
  if (info->rcode != rcode::kBadVers) info->rcode = r.rc;
  if (sign && !SignResponse(out, &size, limit, *r.tsig)) return 0;  // room was kept
  return size;
}

}  // namespace

size_t Respond(const uint8_t* query, size_t query_size, Transport transport, const ZoneSet& zones,
               AddressSource& addresses, const ResponderOptions& options, uint8_t* out,
               ResponseInfo* info, OnlineSigner* signer, const TsigKeyring* keyring,
               const CookieContext* cookies) {
  Query q;
  const QueryStatus parsed = ParseQuery(query, query_size, q);
  if (parsed == QueryStatus::kDrop) return 0;
  // QR set; opcode, RD and CD copied (RFC 1035 §4.1.1, RFC 4035 §3.1.6).
  // RD and CD belong to a QUERY: the NOTIMP of another opcode echoes only
  // the opcode, as BIND does (ISC's EDNS compliance probe "opcodeflg").
  const uint16_t opcode = q.flags & flag::kOpcodeMask;
  const uint16_t base_flags =
      flag::kQr | opcode | (opcode == 0 ? q.flags & (flag::kRd | flag::kCd) : 0);
  info->qtype = q.qtype;
  // RFC 7873: with cookies on, a sound COOKIE option is answered with ours.
  const bool cookie = cookies != nullptr && q.edns && q.cookie_at != 0;
  if (cookie && !q.cookie_malformed) {
    info->cookie = CheckCookie(cookies->secrets, query + q.cookie_at, q.cookie_size,
                               cookies->client, cookies->now, info->cookie_reply);
  }
  if (parsed == QueryStatus::kNoQuestion && info->cookie != CookieCheck::kNone) {
    // §5.4: a query for a server cookie alone: NOERROR and our cookie.
    HeaderOnly(query, base_flags, rcode::kNoError, out);
    WriteU16(out + 10, 1);
    info->rcode = rcode::kNoError;
    return WriteOpt(out, kHeaderSize, options.max_udp_size, q.dnssec_ok ? edns_flag::kDo : 0, "",
                    -1, *info);
  }
  if (q.question_end == 0) {
    info->rcode = parsed == QueryStatus::kNotImp ? rcode::kNotImp : rcode::kFormErr;
    return HeaderOnly(query, base_flags, info->rcode, out);
  }

  size_t limit = kMaxMessageSize;
  if (transport == Transport::kUdp) {
    limit = q.edns ? std::clamp<size_t>(q.udp_size, kClassicUdpSize, options.max_udp_size)
                   : kClassicUdpSize;
  }
  // A signed query is checked before anything else is decided; its
  // response keeps room for the TSIG that signs it.
  TsigRequest tsig;
  const bool checked = q.tsig_owner != 0 && keyring != nullptr && parsed != QueryStatus::kFormErr;
  if (checked) tsig = CheckTsig(query, query_size, q.tsig_owner, q.tsig_rdata, *keyring);
  const size_t tsig_space = checked && tsig.key != nullptr ? TsigSpace(*tsig.key) : 0;
  MessageWriter w(
      out,
      limit -
          (q.edns ? kOptSize + OptionsSize(q, options, info->cookie != CookieCheck::kNone) : 0) -
          tsig_space);
  w.Append(query, q.question_end);
  w.RememberName(kHeaderSize);
  info->question_end = q.question_end;

  Response r(q, w, info, base_flags);
  if (checked) r.tsig = &tsig;
  if (q.dnssec_ok) r.opt_ttl = edns_flag::kDo | (q.compact_ok ? edns_flag::kCo : 0);
  const bool answerable = CheckQuery(r, parsed, cookie && q.cookie_malformed);
  if (answerable && q.qclass == rr_class::kCh) {
    AnswerChaos(r, options);
  } else if (answerable && SelectZone(r, zones, signer)) {
    Sections s(w, *r.zone, addresses, r.keys, r.dnssec ? signer : nullptr);
    SolveAnswer(r, s, addresses);
    SolveAuthority(r, s);
    ProveAuthority(r, s);
    if (r.fits && r.dnssec && s.online()) DenyCompactly(r, s);
    SolveAdditional(r, s);
    if (r.fits) {
      r.counts[kAnswer] = s.count(kAnswer);
      r.counts[kAuthority] = s.count(kAuthority);
      r.counts[kAdditional] = s.count(kAdditional);
    } else {
      // RFC 2181 §9: what is required did not fit; send the question with TC
      // so the client retries over TCP.
      r.flags |= flag::kTc;
      info->truncated = true;
      w.Truncate(q.question_end);
    }
  }
  return Finish(r, query, query_size, options, out, limit);
}

size_t RespondToNotify(
    const uint8_t* query, size_t size, const TsigKeyring* keyring,
    absl::FunctionRef<bool(absl::string_view apex, absl::string_view key)> accept, uint8_t* out,
    size_t limit) {
  Query q;
  if (ParseQuery(query, size, q) == QueryStatus::kDrop || !IsNotify(query, size)) return 0;
  const uint16_t flags = flag::kQr | flag::kOpcodeNotify | flag::kAa;
  if (q.question_end == 0 || q.question_end > limit) {
    return HeaderOnly(query, flags, rcode::kFormErr, out);
  }
  TsigRequest tsig;
  if (q.tsig_owner != 0 && keyring != nullptr) {
    tsig = CheckTsig(query, size, q.tsig_owner, q.tsig_rdata, *keyring);
  } else if (q.tsig_owner != 0) {
    tsig.error = tsig_error::kBadKey;
  }
  std::memcpy(out, query, q.question_end);
  std::memset(out + 6, 0, 6);
  size_t written = q.question_end;
  uint8_t rc = rcode::kRefused;
  if (q.tsig_owner != 0 && tsig.error != 0) {
    rc = rcode::kNotAuth;
  } else if (q.qclass == rr_class::kIn && q.qtype == type::kSoa &&
             accept(AsChars(q.qname, q.qname_size),
                    tsig.key != nullptr ? TsigKeyName(*tsig.key) : absl::string_view())) {
    rc = rcode::kNoError;
  }
  WriteU16(out + 2, flags | rc);
  if (q.edns && written + kOptSize <= limit) {
    // RFC 6891 §7: an OPT for an OPT, echoing DO.
    const uint8_t opt[kOptSize] = {0,
                                   0,
                                   41,
                                   static_cast<uint8_t>(kClassicUdpSize >> 8),
                                   static_cast<uint8_t>(kClassicUdpSize & 0xff),
                                   0,
                                   0,
                                   static_cast<uint8_t>(q.dnssec_ok ? 0x80 : 0),
                                   0,
                                   0,
                                   0};
    std::memcpy(out + written, opt, kOptSize);
    written += kOptSize;
    WriteU16(out + 10, 1);
  }
  if (q.tsig_owner == 0) return written;
  if (tsig.key == nullptr || (tsig.error != 0 && tsig.error != tsig_error::kBadTime)) {
    const size_t before = written;
    written =
        AppendTsigError(query, size, q, tsig.key == nullptr ? tsig_error::kBadKey : tsig.error, out,
                        written, limit);
    if (written != before) WriteU16(out + 10, static_cast<uint16_t>(ReadU16(out + 10) + 1));
    return written;
  }
  return SignResponse(out, &written, limit, tsig) ? written : 0;
}

size_t Truncate(uint8_t* response, const ResponseInfo& info) {
  if (info.question_end == 0) return kHeaderSize;
  WriteU16(response + 2, ReadU16(response + 2) | flag::kTc);
  std::memset(response + 6, 0, 6);
  return info.question_end;
}

size_t BadCookie(uint8_t* response, const ResponseInfo& info, uint16_t udp_size) {
  const size_t question_end = std::max(info.question_end, kHeaderSize);
  const uint16_t kept =
      ReadU16(response + 2) & (flag::kQr | flag::kOpcodeMask | flag::kRd | flag::kCd);
  WriteU16(response + 2, kept | (rcode::kBadCookie & flag::kRcodeMask));
  std::memset(response + 6, 0, 6);
  WriteU16(response + 10, 1);
  return WriteOpt(response, question_end, udp_size, ExtendedRcodeTtl(rcode::kBadCookie), "", -1,
                  info);
}

}  // namespace agility::dns
