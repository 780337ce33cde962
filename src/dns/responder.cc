#include "dns/responder.h"

#include <algorithm>
#include <cstring>

#include "dns/message_writer.h"
#include "dns/name.h"
#include "dns/wire.h"

namespace agility::dns {
namespace {

constexpr size_t kOptSize = 11;    // root owner, type, class, TTL, RDLENGTH
constexpr int kMaxCnameChain = 8;  // in-zone CNAMEs followed per query

enum class Parsed { kOk, kDrop, kFormErr, kNotImp };

struct Query {
  uint16_t flags = 0;
  size_t question_end = 0;  // offset just past QCLASS
  uint8_t qname[kMaxNameLength];
  size_t qname_size = 0;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  bool edns = false;
  uint16_t udp_size = 0;
  uint8_t edns_version = 0;
  bool dnssec_ok = false;  // the DO bit, echoed in our OPT (RFC 3225 §3)
  // A TSIG record, last of the message. No key is configured here, so every
  // signed message gets the unsigned BADKEY error (RFC 8945 §5.2.1).
  size_t tsig_owner = 0;  // offset of its owner; 0: unsigned
  size_t tsig_rdata = 0;
  size_t tsig_mac_size_at = 0;  // within its RDATA (see TsigMacSizeOffset)
};

// TSIG RDATA (RFC 8945 §4.2): an uncompressed algorithm name, time signed (48
// bits), fudge, MAC size, MAC, original ID, error, other length, other data.
// Returns the offset of the MAC size field within `rdata`, or 0 when the
// fields do not tile the RDATA exactly.
size_t TsigMacSizeOffset(const uint8_t* rdata, size_t size) {
  size_t pos = 0;
  while (true) {
    if (pos >= size || rdata[pos] > kMaxLabelLength) return 0;
    const uint8_t len = rdata[pos];
    pos += 1 + len;
    if (len == 0) break;
  }
  if (pos > kMaxNameLength || size - pos < 10) return 0;
  const size_t mac_size_at = pos + 8;
  const size_t mac_size = ReadU16(rdata + mac_size_at);
  if (size - mac_size_at - 2 < mac_size + 6) return 0;
  const size_t other_at = mac_size_at + 2 + mac_size + 4;
  return size - other_at - 2 == ReadU16(rdata + other_at) ? mac_size_at : 0;
}

// The options of an OPT record must tile its RDATA exactly (RFC 6891 §6.1.2).
bool WellFormedOptions(const uint8_t* rdata, size_t size) {
  size_t pos = 0;
  while (pos < size) {
    if (size - pos < 4) return false;
    const size_t length = ReadU16(rdata + pos + 2);
    if (size - pos - 4 < length) return false;
    pos += 4 + length;
  }
  return true;
}

// Reads the OPT, if any, from the records after the question; the answer and
// authority records a non-QUERY opcode may carry are skipped.
bool ParseRecords(const uint8_t* packet, size_t size, size_t pos, size_t before_additional,
                  size_t records, Query& q) {
  for (size_t i = 0; i < records; ++i) {
    const size_t owner = pos;
    pos = SkipPacketName(packet, size, pos);
    if (pos == 0 || pos + 10 > size) return false;
    const uint16_t type = ReadU16(packet + pos);
    const uint16_t rdlength = ReadU16(packet + pos + 8);
    if (pos + 10 + rdlength > size) return false;
    if (type == type::kTsig && i >= before_additional) {
      // Last, or the message is malformed (RFC 8945 §5.1).
      if (i + 1 != records) return false;
      q.tsig_mac_size_at = TsigMacSizeOffset(packet + pos + 10, rdlength);
      if (q.tsig_mac_size_at == 0) return false;
      q.tsig_owner = owner;
      q.tsig_rdata = pos + 10;
    }
    if (type == type::kOpt && i >= before_additional) {
      // One OPT, owned by the root (RFC 6891 §6.1.1).
      if (q.edns || packet[owner] != 0) return false;
      if (!WellFormedOptions(packet + pos + 10, rdlength)) return false;
      q.edns = true;
      q.udp_size = ReadU16(packet + pos + 2);
      q.edns_version = packet[pos + 5];
      q.dnssec_ok = (ReadU16(packet + pos + 6) & 0x8000) != 0;
    }
    pos += 10 + rdlength;
  }
  return true;
}

// On success, or on an error found after the question, q.question_end is set
// and the reply echoes the question (and the OPT only when it was valid).
Parsed ParseQuery(const uint8_t* packet, size_t size, Query& q) {
  if (size < kHeaderSize) return Parsed::kDrop;
  q.flags = ReadU16(packet + 2);
  if (q.flags & flag::kQr) return Parsed::kDrop;
  const bool query_opcode = (q.flags & flag::kOpcodeMask) == 0;
  const Parsed error = query_opcode ? Parsed::kFormErr : Parsed::kNotImp;
  const uint16_t qdcount = ReadU16(packet + 4);
  const uint16_t ancount = ReadU16(packet + 6);
  const uint16_t nscount = ReadU16(packet + 8);
  const uint16_t arcount = ReadU16(packet + 10);
  if (qdcount != 1) return error;
  if (query_opcode && (ancount != 0 || nscount != 0)) return Parsed::kFormErr;
  const size_t pos = ReadQuestionName(packet, size, kHeaderSize, q.qname, &q.qname_size);
  if (pos == 0 || pos + 4 > size) return error;
  q.qtype = ReadU16(packet + pos);
  q.qclass = ReadU16(packet + pos + 2);
  q.question_end = pos + 4;
  const size_t before_additional = size_t{ancount} + nscount;
  if (!ParseRecords(packet, size, q.question_end, before_additional, before_additional + arcount,
                    q)) {
    q.edns = false;
    return error;
  }
  return query_opcode ? Parsed::kOk : Parsed::kNotImp;
}

enum Section { kAnswer = 0, kAuthority = 1, kAdditional = 2 };

// Builds the sections of one response.
class Answer {
 public:
  Answer(MessageWriter& writer, const Zone& zone, AddressSource& addresses)
      : w_(writer), zone_(zone), addresses_(addresses) {}

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

  bool Soa() {
    const RrsetView soa = zone_.apex_node().Find(type::kSoa);
    return Rrset(kAuthority, MessageWriter::kNoOwner, zone_.apex(), soa, zone_.negative_ttl());
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
  uint16_t counts_[3] = {0, 0, 0};
  // Targets whose addresses are in the additional section; past the bound a
  // repeat is merely sent twice, as before, to keep the scan short.
  static constexpr int kMaxAddedTargets = 16;
  const void* added_targets_[kMaxAddedTargets];
  int added_target_count_ = 0;
};

struct Lookup {
  // kDname: `node` owns a DNAME strictly above the name (RFC 6672 §3.2).
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
    if (encloser_name.size() + 2 <= kMaxNameLength) {
      uint8_t wildcard[kMaxNameLength];
      wildcard[0] = 1;
      wildcard[1] = '*';
      std::memcpy(wildcard + 2, encloser_name.data(), encloser_name.size());
      const NodeView synthesized = zone.Find(AsChars(wildcard, encloser_name.size() + 2));
      if (synthesized.valid()) return {Lookup::kFound, synthesized};
    }
    return {Lookup::kNxDomain, NodeView()};
  }
  return {Lookup::kNxDomain, NodeView()};
}

// Appends the unsigned BADKEY TSIG of RFC 8945 §5.2.1 at `at`: the query's key
// and algorithm names, time signed and fudge, no MAC, its original ID. Left
// out (returns `at`) when the reply would outgrow `limit` or the query, so
// that a compressed key name cannot make it an amplifier.
size_t AppendBadKeyTsig(const uint8_t* query, size_t query_size, const Query& q, uint8_t* out,
                        size_t at, size_t limit) {
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
  WriteU16(p + 4, tsig_error::kBadKey);
  WriteU16(p + 6, 0);  // other length
  return end;
}

size_t HeaderOnly(const uint8_t* query, uint16_t flags, uint8_t rcode, uint8_t* out) {
  std::memcpy(out, query, 2);
  WriteU16(out + 2, flags | rcode);
  std::memset(out + 4, 0, 8);
  return kHeaderSize;
}

}  // namespace

size_t Respond(const uint8_t* query, size_t query_size, Transport transport, const ZoneSet& zones,
               AddressSource& addresses, const ResponderOptions& options, uint8_t* out,
               ResponseInfo* info) {
  Query q;
  const Parsed parsed = ParseQuery(query, query_size, q);
  if (parsed == Parsed::kDrop) return 0;
  // QR set; opcode, RD and CD copied (RFC 1035 §4.1.1, RFC 4035 §3.1.6).
  const uint16_t base_flags = flag::kQr | (q.flags & (flag::kOpcodeMask | flag::kRd | flag::kCd));
  info->qtype = q.qtype;
  if (q.question_end == 0) {
    info->rcode = parsed == Parsed::kNotImp ? rcode::kNotImp : rcode::kFormErr;
    return HeaderOnly(query, base_flags, info->rcode, out);
  }

  size_t limit = kMaxMessageSize;
  if (transport == Transport::kUdp) {
    limit = q.edns ? std::clamp<size_t>(q.udp_size, kClassicUdpSize, options.max_udp_size)
                   : kClassicUdpSize;
  }
  MessageWriter w(out, limit - (q.edns ? kOptSize : 0));
  w.Append(query, q.question_end);
  w.RememberName(kHeaderSize);
  info->question_end = q.question_end;

  uint16_t flags = base_flags;
  uint8_t rc = rcode::kNoError;
  uint16_t counts[3] = {0, 0, 0};
  uint32_t opt_ttl = q.dnssec_ok ? 0x8000 : 0;

  if (parsed == Parsed::kFormErr) {
    rc = rcode::kFormErr;
  } else if (q.tsig_owner != 0) {
    rc = rcode::kNotAuth;  // signed, and no key is known: BADKEY below
  } else if (parsed == Parsed::kNotImp) {
    rc = rcode::kNotImp;
  } else if (q.edns && q.edns_version > 0) {
    opt_ttl |= static_cast<uint32_t>(rcode::kBadVers >> 4) << 24;  // RFC 6891 §6.1.3
    info->rcode = static_cast<uint8_t>(rcode::kBadVers);
  } else if (q.qclass != rr_class::kIn && q.qclass != rr_class::kAny) {
    rc = rcode::kRefused;  // only class IN is served; "*" matches it
  } else if (q.qtype == type::kOpt || q.qtype == type::kTsig || q.qtype == type::kTkey) {
    rc = rcode::kFormErr;
  } else if (q.qtype == type::kAxfr || q.qtype == type::kIxfr) {
    rc = rcode::kRefused;  // zone transfers are not offered
  } else if (q.qtype == type::kMaila || q.qtype == type::kMailb) {
    rc = rcode::kNotImp;
  } else {
    LabelOffsets labels;
    const absl::string_view qname = AsChars(q.qname, q.qname_size);
    ComputeLabelOffsets(qname, labels);
    const Zone* zone = zones.FindBest(qname, labels);
    // DS belongs to the parent side of a zone cut (RFC 4035 §3.1.4.1): at a
    // child zone's apex, the parent answers when it is served here too.
    if (zone != nullptr && q.qtype == type::kDs && zone->apex_labels() == labels.count &&
        labels.count > 0) {
      if (const Zone* parent = zones.FindBest(qname, labels, labels.count - 1)) zone = parent;
    }
    if (zone == nullptr) {
      rc = rcode::kRefused;
    } else {
      const absl::string_view apex = zone->apex();
      std::memcpy(info->rate_limit_name, apex.data(), apex.size());
      info->rate_limit_name_size = static_cast<uint8_t>(apex.size());
      flags |= flag::kAa;
      Answer a(w, *zone, addresses);
      bool fits = true;
      size_t owner_pos = kHeaderSize;
      absl::string_view name = qname;
      uint8_t target[kMaxNameLength];
      const void* visited[kMaxCnameChain];
      // A CNAME or DNAME step: the lookup goes on at `wire`, named in the
      // answer at `rdata_pos`. Only chains that stay inside this zone are
      // followed (false).
      const auto go_on_to = [&](const uint8_t* wire, size_t size, size_t rdata_pos) {
        for (size_t k = 0; k < size; ++k) target[k] = AsciiLower(wire[k]);
        name = AsChars(target, size);
        if (!IsAtOrBelow(name, zone->apex())) return false;
        ComputeLabelOffsets(name, labels);
        owner_pos = rdata_pos;
        return true;
      };
      for (int step = 0;; ++step) {
        const Lookup found = LookupName(*zone, name, labels, q.qtype);
        if (found.kind == Lookup::kDelegation) {
          // Referral: NS of the cut, then glue (RFC 1034 §4.3.2 step 3b). Not
          // authoritative, unless CNAMEs we own led here.
          if (step == 0) flags &= ~flag::kAa;
          const RrsetView ns = found.node.Find(type::kNs);
          fits = a.Rrset(kAuthority, MessageWriter::kNoOwner, found.node.name(), ns) &&
                 a.AdditionalFor(ns, /*glue=*/true);
          break;
        }
        if (found.kind == Lookup::kNxDomain) {
          rc = rcode::kNxDomain;
          fits = a.Soa();
          break;
        }
        if (found.kind == Lookup::kDname) {
          // RFC 6672 §3.2: the DNAME, a CNAME from the name to the name
          // with the DNAME's owner replaced by its target, then on.
          const RrsetView dname = found.node.Find(type::kDname);
          fits = a.Rrset(kAnswer, MessageWriter::kNoOwner, found.node.name(), dname);
          if (!fits) break;
          const uint8_t* dname_target = dname.records() + 2;
          const size_t target_size = WireNameLength(dname_target);
          const size_t prefix = name.size() - found.node.name().size();
          if (prefix + target_size > kMaxNameLength) {
            rc = rcode::kYxDomain;
            break;
          }
          uint8_t synthesized[kMaxNameLength];
          std::memcpy(synthesized, name.data(), prefix);
          std::memcpy(synthesized + prefix, dname_target, target_size);
          size_t rdata_pos = 0;
          fits = a.Record(kAnswer, owner_pos, {}, type::kCname, dname.ttl(), synthesized,
                          prefix + target_size, &rdata_pos);
          // As NSD and Knot do, ANY goes on to the target; CNAME stops here.
          if (!fits || q.qtype == type::kCname || step + 1 >= kMaxCnameChain) break;
          if (!go_on_to(synthesized, prefix + target_size, rdata_pos)) break;
          continue;
        }
        const NodeView node = found.node;
        // A CNAME loop ends where it would repeat itself.
        if (std::find(visited, visited + step, node.id()) != visited + step) break;
        visited[step] = node.id();
        const RrsetView cname = node.Find(type::kCname);
        if (q.qtype != type::kCname && q.qtype != type::kAny) {
          if (cname.valid()) {
            size_t rdata_pos = 0;
            fits = a.Rrset(kAnswer, owner_pos, {}, cname, cname.ttl(), &rdata_pos);
            if (!fits || step + 1 >= kMaxCnameChain) break;
            const uint8_t* rdata = cname.records() + 2;
            if (!go_on_to(rdata, WireNameLength(rdata), rdata_pos)) break;
            continue;
          }
        }
        // The policy governs names that own data, and never a CNAME's owner.
        const bool owner_exists = node.rrset_count() > 0 && !cname.valid();
        PoolAddress address;
        const uint16_t pool_type = q.qtype == type::kAny ? type::kA : q.qtype;
        if (owner_exists && (pool_type == type::kA || pool_type == type::kAaaa) &&
            addresses.Draw(name, labels, pool_type, address)) {
          fits = a.Pool(kAnswer, owner_pos, {}, pool_type, address);
          info->pool_answer = true;
          break;
        }
        RrsetView rrset;
        if (q.qtype == type::kAny) {
          // RFC 8482: one RRset stands for all of them.
          node.ForEachRrset([&](RrsetView r) {
            if (!rrset.valid() && r.type() != type::kRrsig) rrset = r;
          });
        } else {
          rrset = node.Find(q.qtype);
        }
        if (rrset.valid()) {
          fits = a.Rrset(kAnswer, owner_pos, {}, rrset);
          // Additional data is optional: what does not fit is left out.
          if (fits) a.AdditionalFor(rrset, /*glue=*/false);
        } else {
          fits = a.Soa();  // NODATA (RFC 2308 §2.2)
        }
        break;
      }
      if (fits) {
        counts[kAnswer] = a.count(kAnswer);
        counts[kAuthority] = a.count(kAuthority);
        counts[kAdditional] = a.count(kAdditional);
      } else {
        // RFC 2181 §9: what is required did not fit; send the question with
        // TC so the client retries over TCP.
        flags |= flag::kTc;
        info->truncated = true;
        w.Truncate(q.question_end);
      }
    }
  }

  size_t size = w.size();
  if (q.edns) {
    out[size] = 0;  // root owner
    WriteU16(out + size + 1, type::kOpt);
    WriteU16(out + size + 3, options.max_udp_size);
    WriteU32(out + size + 5, opt_ttl);
    WriteU16(out + size + 9, 0);
    size += kOptSize;
    ++counts[kAdditional];
  }
  if (rc == rcode::kNotAuth) {
    const size_t with_tsig = AppendBadKeyTsig(query, query_size, q, out, size, limit);
    if (with_tsig != size) ++counts[kAdditional];
    size = with_tsig;
  }
  WriteU16(out + 2, flags | rc);
  WriteU16(out + 4, 1);
  if (rc == rcode::kNoError && info->rcode != rcode::kBadVers) {
    if (q.qtype == type::kAny) {
      info->kind = ResponseKind::kAny;
    } else if (counts[kAnswer] > 0) {
      info->kind = ResponseKind::kAnswer;
      std::memcpy(info->rate_limit_name, q.qname, q.qname_size);
      info->rate_limit_name_size = static_cast<uint8_t>(q.qname_size);
    } else if (!(flags & flag::kAa) && counts[kAuthority] > 0) {
      info->kind = ResponseKind::kReferral;
    } else {
      info->kind = ResponseKind::kNoData;
    }
  } else if (rc == rcode::kNxDomain) {
    info->kind = ResponseKind::kNxDomain;
  }
  WriteU16(out + 6, counts[kAnswer]);
  WriteU16(out + 8, counts[kAuthority]);
  WriteU16(out + 10, counts[kAdditional]);
  if (info->rcode != rcode::kBadVers) info->rcode = rc;
  return size;
}

size_t Truncate(uint8_t* response, const ResponseInfo& info) {
  if (info.question_end == 0) return kHeaderSize;
  WriteU16(response + 2, ReadU16(response + 2) | flag::kTc);
  std::memset(response + 6, 0, 6);
  return info.question_end;
}

}  // namespace agility::dns
