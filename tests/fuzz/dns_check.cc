#include "dns_check.h"

#include <ldns/ldns.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "dns/name.h"
#include "dns/wire.h"
#include "policy/random.h"

namespace agility::fuzz {
namespace {

using dns::Transport;

uint16_t U16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t U32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
uint8_t Lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? static_cast<uint8_t>(c + 32) : c; }

std::string Hex(const uint8_t* p, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 15];
  }
  return s;
}

// An uncompressed name at `pos`, as a question holds it. Returns the offset
// past it, or 0.
size_t ReadPlainName(const uint8_t* msg, size_t size, size_t pos, std::string* lower) {
  size_t total = 0;
  while (true) {
    if (pos >= size) return 0;
    const uint8_t len = msg[pos];
    if (len > 63) return 0;  // pointers and reserved label types
    total += 1 + len;
    if (total > 255 || pos + 1 + len > size) return 0;
    lower->push_back(static_cast<char>(len));
    for (size_t i = 1; i <= len; ++i) lower->push_back(static_cast<char>(Lower(msg[pos + i])));
    pos += 1 + len;
    if (len == 0) return pos;
  }
}

// Skips a name in a query's additional section the way RFC 1035 allows: labels,
// then the root or a pointer (whose target is not ours to judge here).
size_t SkipQueryName(const uint8_t* msg, size_t size, size_t pos) {
  while (true) {
    if (pos >= size) return 0;
    const uint8_t len = msg[pos];
    if ((len & 0xc0) == 0xc0) return pos + 2 <= size ? pos + 2 : 0;
    if (len > 63) return 0;
    pos += 1 + len;
    if (len == 0) return pos <= size ? pos : 0;
  }
}

// A possibly compressed name in a response, which must end by `end` in the
// byte stream. Every pointer must point strictly backwards (which is what a
// compressor produces, and guarantees termination) at a label inside the
// message. Returns the offset past the name in the stream, or 0.
size_t ReadName(const uint8_t* msg, size_t size, size_t pos, size_t end, std::string* lower) {
  size_t total = 0;
  size_t after = 0;  // stream offset past the name, once a pointer was taken
  size_t limit = end;
  for (int hops = 0; hops < 256; ++hops) {
    if (pos >= limit) return 0;
    const uint8_t len = msg[pos];
    if ((len & 0xc0) == 0xc0) {
      if (pos + 2 > limit) return 0;
      const size_t target = U16(msg + pos) & 0x3fff;
      if (target >= pos || target < dns::kHeaderSize) return 0;
      if (after == 0) after = pos + 2;
      limit = size;
      pos = target;
      continue;
    }
    if (len > 63) return 0;
    total += 1 + len;
    if (total > 255 || pos + 1 + len > limit) return 0;
    lower->push_back(static_cast<char>(len));
    for (size_t i = 1; i <= len; ++i) lower->push_back(static_cast<char>(Lower(msg[pos + i])));
    pos += 1 + len;
    if (len == 0) return after != 0 ? after : pos;
  }
  return 0;
}

struct Record {
  std::string owner;
  uint16_t type = 0;
  uint16_t rclass = 0;
  uint32_t ttl = 0;
  size_t rdata = 0;
  uint16_t rdlength = 0;
};

// RDATA of the types whose layout we know: names must parse and the fields
// fill the RDATA exactly.
bool CheckRdata(const uint8_t* msg, size_t size, const Record& r) {
  const size_t start = r.rdata;
  const size_t end = r.rdata + r.rdlength;
  std::string name;
  switch (r.type) {
    case dns::type::kA:
      return r.rdlength == 4;
    case dns::type::kAaaa:
      return r.rdlength == 16;
    case dns::type::kNs:
    case dns::type::kCname:
    case dns::type::kPtr:
    case dns::type::kDname:
      return ReadName(msg, size, start, end, &name) == end;
    case dns::type::kMx:
      return r.rdlength > 2 && ReadName(msg, size, start + 2, end, &name) == end;
    case dns::type::kSrv:
      return r.rdlength > 6 && ReadName(msg, size, start + 6, end, &name) == end;
    case dns::type::kSoa: {
      const size_t mname = ReadName(msg, size, start, end, &name);
      if (mname == 0) return false;
      const size_t rname = ReadName(msg, size, mname, end, &name);
      return rname != 0 && rname + 20 == end;
    }
    case dns::type::kTxt: {
      // One or more <length, bytes> strings, exactly filling the RDATA.
      if (r.rdlength == 0) return false;
      size_t pos = start;
      while (pos < end) pos += 1 + msg[pos];
      return pos == end;
    }
    default:
      return true;
  }
}

}  // namespace

bool Verbose() {
  static const bool verbose = std::getenv("FUZZ_VERBOSE") != nullptr;
  return verbose;
}

bool Skipped(const char* check) {
  static const std::string skip = [] {
    const char* env = std::getenv("FUZZ_SKIP");
    return "," + std::string(env != nullptr ? env : "") + ",";
  }();
  return skip.find("," + std::string(check) + ",") != std::string::npos;
}

void Fail(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what.c_str());
  std::fflush(stderr);
  __builtin_trap();
}

QueryFacts AnalyzeQuery(const uint8_t* query, size_t size) {
  QueryFacts q;
  if (size < dns::kHeaderSize || (query[2] & 0x80) != 0) {
    q.drop = true;
    return q;
  }
  q.notimp = (query[2] & 0x78) != 0;
  const uint16_t ancount = U16(query + 6);
  const uint16_t nscount = U16(query + 8);
  if (U16(query + 4) != 1 || (!q.notimp && ancount != 0)) return q;
  size_t pos = ReadPlainName(query, size, dns::kHeaderSize, &q.qname_lower);
  if (pos == 0 || pos + 4 > size) return q;
  // A QUERY carries an authority record only for IXFR, which carries one
  // (RFC 1995 §3): the client's SOA.
  const bool ixfr = U16(query + pos) == dns::type::kIxfr;
  if (!q.notimp && !ixfr && nscount != 0) return q;
  q.qtype = U16(query + pos);
  q.qclass = U16(query + pos + 2);
  pos += 4;
  q.question_end = pos;
  if (!q.notimp && ixfr && nscount != 1) return q;
  // Other opcodes (UPDATE) may carry answer and authority records before the
  // additional section, where only the OPT counts.
  const size_t before_additional = size_t{ancount} + nscount;
  const size_t records = before_additional + U16(query + 10);
  bool edns = false;
  for (size_t i = 0; i < records; ++i) {
    const size_t owner = pos;
    pos = SkipQueryName(query, size, pos);
    if (pos == 0 || pos + 10 > size) return q;
    const uint16_t type = U16(query + pos);
    const uint16_t rdlength = U16(query + pos + 8);
    if (pos + 10 + rdlength > size) return q;
    if (type == dns::type::kSoa && i < before_additional && ixfr && !q.notimp) {
      // The client's SOA: two names, then exactly five 32-bit numbers.
      size_t field = SkipQueryName(query, pos + 10 + rdlength, pos + 10);
      if (field != 0) field = SkipQueryName(query, pos + 10 + rdlength, field);
      if (field == 0 || field + 20 != pos + 10 + rdlength) return q;
    }
    if (type == dns::type::kTsig && i >= before_additional) {
      // Last of the message (RFC 8945 §5.1), its fields tiling the RDATA:
      // algorithm name, time, fudge, MAC size + MAC, original ID, error,
      // other length + other data.
      if (i + 1 != records) return q;
      const size_t rdata_end = pos + 10 + rdlength;
      std::string algorithm;
      size_t field = ReadPlainName(query, rdata_end, pos + 10, &algorithm);
      if (field == 0 || rdata_end - field < 10) return q;
      field += 8;
      const size_t mac = U16(query + field);
      if (rdata_end - field < 2 + mac + 6) return q;
      field += 2 + mac + 4;
      if (rdata_end - field - 2 != U16(query + field)) return q;
      q.tsig = true;
    }
    if (type == dns::type::kOpt && i >= before_additional) {
      if (edns || query[owner] != 0) return q;  // RFC 6891 §6.1.1
      // Options must tile the RDATA exactly, or the query is malformed.
      size_t option = pos + 10;
      const size_t rdata_end = pos + 10 + rdlength;
      while (option < rdata_end) {
        if (rdata_end - option < 4 || rdata_end - option - 4 < U16(query + option + 2)) return q;
        if (U16(query + option) == dns::edns_option::kCookie && q.cookies++ == 0) {
          q.cookie_at = option + 4;
          q.cookie_size = U16(query + option + 2);
        }
        option += 4 + U16(query + option + 2);
      }
      edns = true;
      q.udp_size = U16(query + pos + 2);
      q.edns_version = query[pos + 5];
      q.dnssec_ok = (query[pos + 6] & 0x80) != 0;
      q.compact_ok = (query[pos + 6] & 0x40) != 0;
    }
    pos += 10 + rdlength;
  }
  q.edns = edns;
  q.valid = !q.notimp;
  return q;
}

size_t UdpLimit(const QueryFacts& q, uint16_t max_udp_size) {
  if (!q.edns) return dns::kClassicUdpSize;
  return std::clamp<size_t>(q.udp_size, dns::kClassicUdpSize, max_udp_size);
}

void CheckResponse(const uint8_t* query, size_t query_size, const QueryFacts& q,
                   Transport transport, uint16_t max_udp_size, const uint8_t* r, size_t size,
                   const dns::ResponseInfo& info, const CheckOptions& options) {
  // The failure message, built only when a check fails.
  const auto where = [&] {
    return std::string(transport == Transport::kUdp ? "udp" : "tcp") + " response " +
           Hex(r, std::min<size_t>(size, 1024)) + " to query " +
           Hex(query, std::min<size_t>(query_size, 1024)) + ": ";
  };
  // Dropped exactly when the README says so.
  FUZZ_CHECK(size == 0 || size >= dns::kHeaderSize, where() + "size between 1 and 11");
  FUZZ_CHECK((size == 0) == q.drop, where() + (q.drop ? "answered a query that must be dropped"
                                                      : "dropped a query that must be answered"));
  if (size == 0) return;
  FUZZ_CHECK(size <= dns::kMaxMessageSize, where() + "longer than 65535");
  if (transport == Transport::kUdp) {
    FUZZ_CHECK(size <= UdpLimit(q, max_udp_size),
               where() + "UDP response longer than " + std::to_string(UdpLimit(q, max_udp_size)));
  }

  // Header: ID echoed, QR set, opcode copied, RD and CD copied for QUERY and
  // clear for any other opcode, RA, Z and AD clear.
  FUZZ_CHECK(r[0] == query[0] && r[1] == query[1], where() + "ID not echoed");
  const uint16_t flags = U16(r + 2);
  const uint16_t qflags = U16(query + 2);
  FUZZ_CHECK(flags & dns::flag::kQr, where() + "QR clear");
  FUZZ_CHECK((flags & dns::flag::kOpcodeMask) == (qflags & dns::flag::kOpcodeMask),
             where() + "opcode not copied");
  const uint16_t copied =
      (qflags & dns::flag::kOpcodeMask) == 0 ? qflags & (dns::flag::kRd | dns::flag::kCd) : 0;
  FUZZ_CHECK((flags & dns::flag::kRd) == (copied & dns::flag::kRd), where() + "RD wrong");
  FUZZ_CHECK((flags & dns::flag::kCd) == (copied & dns::flag::kCd), where() + "CD wrong");
  FUZZ_CHECK((flags & (dns::flag::kRa | 0x0040 | dns::flag::kAd)) == 0,
             where() + "RA, Z or AD set");
  const uint8_t rc = flags & dns::flag::kRcodeMask;
  const uint16_t counts[4] = {U16(r + 4), U16(r + 6), U16(r + 8), U16(r + 10)};

  if (q.question_end == 0) {
    // Header only when no question can be echoed.
    FUZZ_CHECK(size == dns::kHeaderSize,
               where() + "query without a sound question answered with more than a header");
    FUZZ_CHECK(rc == (q.notimp ? dns::rcode::kNotImp : dns::rcode::kFormErr),
               where() + "wrong rcode for malformed query");
    FUZZ_CHECK(counts[0] == 0 && counts[1] == 0 && counts[2] == 0 && counts[3] == 0,
               where() + "non-zero counts in a header-only response");
    FUZZ_CHECK(info.rcode == rc, where() + "ResponseInfo.rcode differs");
    return;
  }

  // A sound question: echoed byte for byte, whatever the rcode.
  FUZZ_CHECK(counts[0] == 1, where() + "QDCOUNT != 1 for a sound question");
  FUZZ_CHECK(size >= q.question_end, where() + "shorter than the question");
  FUZZ_CHECK(std::memcmp(r + dns::kHeaderSize, query + dns::kHeaderSize,
                         q.question_end - dns::kHeaderSize) == 0,
             where() + "question not echoed byte for byte");
  if (q.tsig) {
    // Signed, and no MAC can be right: NOTAUTH, the OPT, then (when it fits)
    // the TSIG error (RFC 8945 §5.2), whatever the opcode.
    FUZZ_CHECK(rc == dns::rcode::kNotAuth, where() + "signed query not answered NOTAUTH");
    FUZZ_CHECK(counts[1] == 0 && counts[2] == 0 &&
                   (counts[3] == (q.edns ? 1 : 0) || counts[3] == (q.edns ? 2 : 1)),
               where() + "records in a NOTAUTH response");
  } else if (!q.valid) {
    // Another opcode, or malformed records after the question: the question
    // and the OPT (when the query's was valid), nothing else.
    FUZZ_CHECK(rc == (q.notimp ? dns::rcode::kNotImp : dns::rcode::kFormErr),
               where() + "wrong rcode for another opcode or malformed records");
    FUZZ_CHECK(counts[1] == 0 && counts[2] == 0 && counts[3] == (q.edns ? 1 : 0),
               where() + "records in a NOTIMP/FORMERR response");
  }
  FUZZ_CHECK(rc == dns::rcode::kNoError || rc == dns::rcode::kFormErr ||
                 rc == dns::rcode::kNxDomain || rc == dns::rcode::kNotImp ||
                 rc == dns::rcode::kRefused || rc == dns::rcode::kYxDomain ||
                 rc == dns::rcode::kNotAuth,
             where() + "unexpected rcode " + std::to_string(rc));
  FUZZ_CHECK(rc != dns::rcode::kNotAuth || q.tsig, where() + "NOTAUTH for an unsigned query");
  if (rc == dns::rcode::kFormErr && q.valid) {
    FUZZ_CHECK(q.qtype == dns::type::kOpt || q.qtype == dns::type::kTsig ||
                   q.qtype == dns::type::kTkey || q.qtype == dns::type::kNxname,
               where() + "FORMERR for a valid question of an ordinary type");
  }

  // Every record parses; the message ends with the last one.
  size_t pos = dns::kHeaderSize;
  {
    std::string qname;
    pos = ReadName(r, size, pos, size, &qname);
    FUZZ_CHECK(pos != 0 && pos + 4 <= size, where() + "question does not parse");
    FUZZ_CHECK(qname == q.qname_lower, where() + "question name differs");
    pos += 4;
  }
  std::vector<Record> sections[3];
  int opt_count = 0;
  for (int s = 0; s < 3; ++s) {
    for (uint16_t i = 0; i < counts[s + 1]; ++i) {
      Record rec;
      pos = ReadName(r, size, pos, size, &rec.owner);
      FUZZ_CHECK(pos != 0, where() + "record owner does not parse");
      FUZZ_CHECK(pos + 10 <= size, where() + "record header runs off the end");
      rec.type = U16(r + pos);
      rec.rclass = U16(r + pos + 2);
      rec.ttl = U32(r + pos + 4);
      rec.rdlength = U16(r + pos + 8);
      rec.rdata = pos + 10;
      FUZZ_CHECK(rec.rdata + rec.rdlength <= size, where() + "RDATA runs off the end");
      pos = rec.rdata + rec.rdlength;
      if (rec.type == dns::type::kOpt) {
        ++opt_count;
        FUZZ_CHECK(s == 2, where() + "OPT outside the additional section");
        FUZZ_CHECK(rec.owner.size() == 1, where() + "OPT not owned by the root");
      } else if (rec.type == dns::type::kTsig) {
        FUZZ_CHECK(q.tsig && s == 2 && i + 1 == counts[3],
                   where() + "TSIG other than last in the reply to a signed query");
        FUZZ_CHECK(rec.rclass == dns::rr_class::kAny && rec.ttl == 0,
                   where() + "TSIG not class ANY, TTL 0");
        // An error: BADSIG, BADKEY or BADTRUNC unsigned (MAC size 0, no
        // other data); BADTIME signed, the server's time as other data (RFC
        // 8945 §5.2). No signed query can verify here (its MAC would have to
        // be right), so there is no success.
        FUZZ_CHECK(rec.rdlength >= 17, where() + "TSIG RDATA too short");
        size_t at = rec.rdata;
        while (at < rec.rdata + rec.rdlength && r[at] != 0) at += 1 + r[at];  // algorithm
        at += 1 + 6 + 2;
        FUZZ_CHECK(at + 2 <= rec.rdata + rec.rdlength, where() + "TSIG RDATA too short");
        const size_t mac_size = U16(r + at);
        at += 2 + mac_size;
        FUZZ_CHECK(at + 6 <= rec.rdata + rec.rdlength, where() + "TSIG MAC runs off");
        const uint16_t error = U16(r + at + 2);
        const uint16_t other = U16(r + at + 4);
        FUZZ_CHECK(at + 6 + other == rec.rdata + rec.rdlength, where() + "TSIG other data");
        if (error == dns::tsig_error::kBadTime) {
          FUZZ_CHECK(mac_size > 0 && other == 6, where() + "BADTIME not signed with the time");
        } else {
          FUZZ_CHECK((error == dns::tsig_error::kBadKey || error == dns::tsig_error::kBadSig ||
                      error == 22) &&
                         mac_size == 0 && other == 0,
                     where() + "TSIG is not an unsigned BADKEY, BADSIG or BADTRUNC");
        }
      } else {
        // Class CH only for the identity TXT of a CH question (RFC 4892).
        const bool chaos_txt =
            q.qclass == dns::rr_class::kCh && s == 0 && rec.type == dns::type::kTxt && rec.ttl == 0;
        FUZZ_CHECK(
            rec.rclass == dns::rr_class::kIn || (rec.rclass == dns::rr_class::kCh && chaos_txt),
            where() + "record class is not IN");
        if (options.strict_rdata) {
          FUZZ_CHECK(rec.ttl <= 0x7fffffff || Skipped("ttl"),
                     where() + "TTL above 2^31-1 (RFC 2181 §8)");
          FUZZ_CHECK(CheckRdata(r, size, rec),
                     where() + "RDATA of type " + std::to_string(rec.type) + " malformed");
        }
      }
      sections[s].push_back(rec);
    }
  }
  FUZZ_CHECK(pos == size, where() + "trailing bytes after the last record");

  // EDNS: an OPT in the response exactly when the query had one, last,
  // advertising our size; BADVERS for versions above 0.
  FUZZ_CHECK(opt_count == (q.edns ? 1 : 0), where() + "OPT count differs from the query's");
  if (q.edns) {
    // Last, but for a TSIG after it.
    const bool tsig_last = !sections[2].empty() && sections[2].back().type == dns::type::kTsig;
    FUZZ_CHECK(sections[2].size() > (tsig_last ? 1u : 0u), where() + "no OPT");
    const Record& opt = sections[2][sections[2].size() - (tsig_last ? 2 : 1)];
    FUZZ_CHECK(opt.type == dns::type::kOpt, where() + "OPT is not the last record");
    FUZZ_CHECK(opt.rclass == max_udp_size, where() + "OPT does not advertise max_udp_size");
    const uint8_t ext_rcode = static_cast<uint8_t>(opt.ttl >> 24);
    FUZZ_CHECK(((opt.ttl & 0x8000) != 0) == q.dnssec_ok, where() + "DO bit not echoed");
    if (q.edns_version > 0 && q.valid && !q.tsig) {
      FUZZ_CHECK(ext_rcode == 1 && rc == 0, where() + "no BADVERS for EDNS version > 0");
      FUZZ_CHECK(counts[1] == 0 && counts[2] == 0 && counts[3] == 1,
                 where() + "BADVERS response carries records");
      FUZZ_CHECK(info.rcode == dns::rcode::kBadVers, where() + "ResponseInfo.rcode not BADVERS");
    } else {
      const uint32_t echoed = q.dnssec_ok ? (q.compact_ok ? 0xC000 : 0x8000) : 0;
      FUZZ_CHECK(opt.ttl == echoed, where() + "OPT TTL other than the DO and CO bits");
    }
  }
  if (!(q.valid && !q.tsig && q.edns && q.edns_version > 0)) {
    FUZZ_CHECK(info.rcode == rc, where() + "ResponseInfo.rcode differs");
  }

  // TC: only the question (and OPT) remain.
  if (flags & dns::flag::kTc) {
    if (options.tc_only_udp) FUZZ_CHECK(transport == Transport::kUdp, where() + "TC over TCP");
    FUZZ_CHECK(counts[1] == 0 && counts[2] == 0 && counts[3] == (q.edns ? 1 : 0),
               where() + "TC response carries records");
    FUZZ_CHECK(info.truncated, where() + "ResponseInfo.truncated not set");
  } else {
    FUZZ_CHECK(!info.truncated, where() + "ResponseInfo.truncated set without TC");
  }
  // Errors carry no answers (but a chain that ends in NXDOMAIN, or a DNAME
  // whose substitution is too long: YXDOMAIN, RFC 6672 §2.2).
  if (rc != dns::rcode::kNoError) {
    FUZZ_CHECK(counts[1] == 0 || rc == dns::rcode::kNxDomain || rc == dns::rcode::kYxDomain,
               where() + "answers in an error response");
  }
  // The answer section starts at the question name, or at a DNAME above it
  // (CNAME and DNAME chains go on from there).
  if (!sections[0].empty()) {
    const Record& first = sections[0][0];
    const bool dname_above = first.type == dns::type::kDname && first.owner != q.qname_lower &&
                             dns::IsAtOrBelow(q.qname_lower, first.owner);
    FUZZ_CHECK(first.owner == q.qname_lower || dname_above,
               where() + "first answer is not owned by the question name or a DNAME above it");
    for (const Record& rec : sections[0]) {
      FUZZ_CHECK(rec.type == q.qtype || rec.type == dns::type::kCname ||
                     rec.type == dns::type::kDname || q.qtype == dns::type::kAny ||
                     (rec.type == dns::type::kRrsig && q.dnssec_ok),
                 where() + "answer of type " + std::to_string(rec.type) + " for qtype " +
                     std::to_string(q.qtype));
    }
  }
  // DNSSEC records come with DO set (RFC 3225 §3), or because the question
  // asks for their type.
  if (!q.dnssec_ok) {
    for (int s = 0; s < 2; ++s) {
      for (const Record& rec : sections[s]) {
        const bool dnssec = rec.type == dns::type::kRrsig || rec.type == dns::type::kNsec ||
                            rec.type == dns::type::kNsec3;
        FUZZ_CHECK(!dnssec || (s == 0 && (rec.type == q.qtype || q.qtype == dns::type::kAny)),
                   where() + "DNSSEC record of type " + std::to_string(rec.type) + " without DO");
      }
    }
  }

  if (options.ldns) {
    ldns_pkt* packet = nullptr;
    const ldns_status status = ldns_wire2pkt(&packet, r, size);
    FUZZ_CHECK(status == LDNS_STATUS_OK,
               where() + "ldns_wire2pkt: " + ldns_get_errorstr_by_id(status));
    ldns_pkt_free(packet);
  }
}

std::vector<uint8_t> MakeQuery(const std::string& wire_name, uint16_t qtype, uint16_t id, bool edns,
                               uint16_t udp_size, bool dnssec_ok) {
  const uint8_t header[] = {
      static_cast<uint8_t>(id >> 8),     static_cast<uint8_t>(id), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0,
      static_cast<uint8_t>(edns ? 1 : 0)};
  // Sized first: GCC 12 warns (array-bounds) of a vector grown from a
  // 12-byte initializer list, wrongly.
  std::vector<uint8_t> q;
  q.reserve(sizeof(header) + wire_name.size() + 4 + 11);
  q.insert(q.end(), header, header + sizeof(header));
  q.insert(q.end(), wire_name.begin(), wire_name.end());
  q.push_back(static_cast<uint8_t>(qtype >> 8));
  q.push_back(static_cast<uint8_t>(qtype));
  q.push_back(0);
  q.push_back(1);
  if (edns) {
    const uint8_t opt[] = {0,
                           0,
                           41,
                           static_cast<uint8_t>(udp_size >> 8),
                           static_cast<uint8_t>(udp_size),
                           0,
                           0,
                           static_cast<uint8_t>(dnssec_ok ? 0x80 : 0),
                           0,
                           0,
                           0};
    q.insert(q.end(), opt, opt + sizeof(opt));
  }
  return q;
}

namespace {

// Output buffers of exactly the size Respond() may use, so that ASan reports
// any write past it.
uint8_t* Buffer(size_t size) {
  // Never destroyed, so the buffers stay reachable for LeakSanitizer.
  static auto* buffers = new std::vector<std::pair<size_t, uint8_t*>>;
  for (const auto& [n, p] : *buffers) {
    if (n == size) return p;
  }
  uint8_t* p = static_cast<uint8_t*>(std::malloc(size));
  buffers->emplace_back(size, p);
  return p;
}

// TSIG keys for the queries that name them: "fuzz-key." (hmac-sha256) and
// "sha1." (hmac-sha1); the MACs of fuzzed queries fail, through libknot.
const dns::TsigKeyring* FuzzKeyring() {
  static const std::shared_ptr<const dns::TsigKeyring> keyring = [] {
    auto built = dns::TsigKeyring::Build(
        {{"fuzz-key", "hmac-sha256", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="},
         {"sha1", "hmac-sha1", "c2VjcmV0c2VjcmV0c2VjcmV0"}});
    if (!built.ok()) std::abort();
    return *built;
  }();
  return keyring.get();
}

size_t RespondOnce(const uint8_t* query, size_t size, dns::Transport transport,
                   const dns::ZoneSet& zones, const policy::Table* table, uint16_t max_udp_size,
                   uint8_t* out, dns::ResponseInfo* info,
                   const dns::CookieContext* cookies = nullptr) {
  dns::ResponderOptions options;
  options.max_udp_size = max_udp_size;
  options.identity = "fuzz-node";  // NSID and CH TXT answers
  options.version = "fuzz 1";
  // For zones with keys; its cache lives across inputs, as a worker's does.
  static dns::OnlineSigner signer(1 << 20);
  if (table == nullptr) {
    dns::NoAddresses none;
    return dns::Respond(query, size, transport, zones, none, options, out, info, &signer, nullptr,
                        cookies);
  }
  policy::Rng rng = policy::SeededRng(0x5eed);
  policy::PoolDrawer drawer(*table, rng, 0);
  return dns::Respond(query, size, transport, zones, drawer, options, out, info, &signer,
                      FuzzKeyring(), cookies);
}

// The COOKIE option's data in the OPT of `response`; empty when none.
std::vector<uint8_t> ResponseCookie(const uint8_t* response, size_t size) {
  ldns_pkt* packet = nullptr;
  if (ldns_wire2pkt(&packet, response, size) != LDNS_STATUS_OK) return {};
  std::vector<uint8_t> cookie;
  if (const ldns_rdf* data = ldns_pkt_edns_data(packet); data != nullptr) {
    const uint8_t* options = ldns_rdf_data(data);
    const size_t length = ldns_rdf_size(data);
    for (size_t at = 0; at + 4 <= length;) {
      const size_t option = U16(options + at + 2);
      if (U16(options + at) == dns::edns_option::kCookie && at + 4 + option <= length) {
        cookie.assign(options + at + 4, options + at + 4 + option);
      }
      at += 4 + option;
    }
  }
  ldns_pkt_free(packet);
  return cookie;
}

// DNS cookies on (RFC 7873): a query without a COOKIE option, or without a
// sound OPT, is answered as with cookies off; a sound one gets a response
// that passes every check and carries our cookie for its client cookie; a
// malformed one (RFC 7873 §5.2.2), FORMERR; a QUERY with no question but a
// cookie (§5.4), NOERROR with the cookie alone.
void CheckCookies(const uint8_t* query, size_t size, const QueryFacts& facts,
                  const dns::ZoneSet& zones, const policy::Table* table, uint16_t max_udp,
                  const std::vector<uint8_t>& without, const CheckOptions& options) {
  static const dns::CookieSecrets secrets{{dns::CookieSecret{7, 7, 7}}};
  sockaddr_in6 client{};
  client.sin6_family = AF_INET6;
  client.sin6_addr.s6_addr[15] = 1;
  const dns::CookieContext context{secrets, reinterpret_cast<const sockaddr*>(&client), 1700000000};
  uint8_t* out = Buffer(dns::kMaxMessageSize);
  dns::ResponseInfo info;
  const size_t out_size =
      RespondOnce(query, size, dns::Transport::kTcp, zones, table, max_udp, out, &info, &context);
  const auto where = [&] {
    return "cookies on, query " + Hex(query, std::min<size_t>(size, 1024)) + ": ";
  };
  if (facts.drop) {
    FUZZ_CHECK(out_size == 0, where() + "a dropped query answered");
    return;
  }
  if (facts.question_end == 0) {
    const bool asks_cookie = !facts.notimp && U16(query + 4) == 0 && out_size > dns::kHeaderSize;
    if (asks_cookie) {
      FUZZ_CHECK((U16(out + 2) & dns::flag::kRcodeMask) == dns::rcode::kNoError &&
                     U16(out + 4) == 0 && U16(out + 6) == 0 && U16(out + 8) == 0 &&
                     U16(out + 10) == 1,
                 where() + "a question-less response that is not NOERROR with an OPT");
      const std::vector<uint8_t> cookie = ResponseCookie(out, out_size);
      FUZZ_CHECK(cookie.size() == dns::kClientCookieSize + dns::kServerCookieSize,
                 where() + "a question-less response without our cookie");
    } else {
      FUZZ_CHECK(out_size == without.size() && std::equal(out, out + out_size, without.begin()),
                 where() + "a response without a question differs with cookies on");
    }
    return;
  }
  if (!facts.edns || facts.cookies == 0 || facts.tsig) {
    if (!facts.tsig) {
      FUZZ_CHECK(out_size == without.size() && std::equal(out, out + out_size, without.begin()),
                 where() + "a query without a cookie answered differently with cookies on");
    }
    return;
  }
  const bool sound = facts.cookies == 1 && (facts.cookie_size == dns::kClientCookieSize ||
                                            (facts.cookie_size >= 16 && facts.cookie_size <= 40));
  const uint8_t rc = U16(out + 2) & dns::flag::kRcodeMask;
  if (!sound) {
    FUZZ_CHECK(rc == dns::rcode::kFormErr, where() + "a malformed COOKIE option not FORMERR");
    return;
  }
  CheckResponse(query, size, facts, dns::Transport::kTcp, max_udp, out, out_size, info, options);
  const std::vector<uint8_t> cookie = ResponseCookie(out, out_size);
  FUZZ_CHECK(cookie.size() == dns::kClientCookieSize + dns::kServerCookieSize &&
                 std::equal(cookie.begin(), cookie.begin() + dns::kClientCookieSize,
                            query + facts.cookie_at),
             where() + "the response's COOKIE is not the client cookie and ours");
}

}  // namespace

std::vector<uint8_t> RespondAndCheck(const uint8_t* query, size_t size, const dns::ZoneSet& zones,
                                     const policy::Table* table,
                                     const std::vector<uint16_t>& max_udp_sizes,
                                     const CheckOptions& options) {
  const QueryFacts facts = AnalyzeQuery(query, size);
  std::vector<uint8_t> first_tcp;
  for (size_t i = 0; i < max_udp_sizes.size(); ++i) {
    const uint16_t max_udp = max_udp_sizes[i];
    uint8_t* tcp = Buffer(dns::kMaxMessageSize);
    dns::ResponseInfo tcp_info;
    const size_t tcp_size =
        RespondOnce(query, size, dns::Transport::kTcp, zones, table, max_udp, tcp, &tcp_info);
    CheckResponse(query, size, facts, dns::Transport::kTcp, max_udp, tcp, tcp_size, tcp_info,
                  options);
    if (Verbose()) {
      std::fprintf(stderr, "query %s\n  tcp %s\n", Hex(query, size).c_str(),
                   Hex(tcp, tcp_size).c_str());
    }
    std::vector<uint8_t> tcp_copy(tcp, tcp + tcp_size);
    if (i == 0) {
      first_tcp = tcp_copy;
      CheckCookies(query, size, facts, zones, table, max_udp, tcp_copy, options);
    }

    uint8_t* udp = Buffer(max_udp);
    dns::ResponseInfo udp_info;
    const size_t udp_size =
        RespondOnce(query, size, dns::Transport::kUdp, zones, table, max_udp, udp, &udp_info);
    CheckResponse(query, size, facts, dns::Transport::kUdp, max_udp, udp, udp_size, udp_info,
                  options);

    const auto where = [&] {
      return "max_udp_size " + std::to_string(max_udp) + ", query " +
             Hex(query, std::min<size_t>(size, 1024)) + ": ";
    };
    // The truncated form rate limiting sends instead (dns::Truncate): TC=1,
    // the question only, no OPT.
    if (udp_size > 0) {
      std::vector<uint8_t> slip(udp, udp + udp_size);
      const size_t slip_size = dns::Truncate(slip.data(), udp_info);
      FUZZ_CHECK(slip_size >= dns::kHeaderSize && slip_size <= udp_size,
                 where() + "Truncate() size out of range");
      FUZZ_CHECK(slip[0] == query[0] && slip[1] == query[1], where() + "Truncate() lost the ID");
      FUZZ_CHECK(
          U16(slip.data() + 6) == 0 && U16(slip.data() + 8) == 0 && U16(slip.data() + 10) == 0,
          where() + "Truncate() left records");
      if (facts.question_end != 0) {
        FUZZ_CHECK(slip_size == facts.question_end && U16(slip.data() + 4) == 1 &&
                       (U16(slip.data() + 2) & dns::flag::kTc) &&
                       std::equal(slip.begin() + dns::kHeaderSize, slip.begin() + slip_size,
                                  query + dns::kHeaderSize),
                   where() + "Truncate() of an answer is not header with TC + question: " +
                       Hex(slip.data(), slip_size));
      } else {
        FUZZ_CHECK(slip_size == dns::kHeaderSize && U16(slip.data() + 4) == 0,
                   where() + "Truncate() of a header-only response is not a header");
      }
    }
    if (tcp_size <= UdpLimit(facts, max_udp)) {
      FUZZ_CHECK(udp_size == tcp_size && std::equal(udp, udp + udp_size, tcp_copy.begin()),
                 where() + "UDP response differs from the TCP one although it fits:\n  tcp " +
                     Hex(tcp_copy.data(), tcp_size) + "\n  udp " + Hex(udp, udp_size));
    } else if (!(U16(udp + 2) & dns::flag::kTc)) {
      FUZZ_CHECK(U16(udp + 6) == U16(tcp_copy.data() + 6) &&
                     U16(udp + 8) == U16(tcp_copy.data() + 8) &&
                     U16(udp + 10) < U16(tcp_copy.data() + 10),
                 where() + "UDP response without TC lost answer or authority records:\n  tcp " +
                     Hex(tcp_copy.data(), tcp_size) + "\n  udp " + Hex(udp, udp_size));
    }
  }
  return first_tcp;
}

}  // namespace agility::fuzz
