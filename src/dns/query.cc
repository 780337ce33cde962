#include "dns/query.h"

#include <algorithm>

#include "dns/cookies.h"
#include "dns/name.h"

namespace agility::dns {
namespace {

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

// The options of an OPT record (RDATA at `rdata_at` in `packet`) must tile
// its RDATA exactly (RFC 6891 §6.1.2). Notes in `q` the options we answer.
bool ReadOptions(const uint8_t* packet, size_t rdata_at, size_t size, Query& q) {
  const uint8_t* rdata = packet + rdata_at;
  size_t pos = 0;
  while (pos < size) {
    if (size - pos < 4) return false;
    const uint16_t code = ReadU16(rdata + pos);
    const size_t length = ReadU16(rdata + pos + 2);
    if (size - pos - 4 < length) return false;
    // RFC 5001 §2.3: a request's NSID option is empty.
    if (code == edns_option::kNsid && length == 0) q.nsid = true;
    if (code == edns_option::kExpire && length == 0) q.expire = true;
    if (code == edns_option::kCookie) {
      const bool sound = length == kClientCookieSize ||
                         (length >= kClientCookieSize + 8 && length <= kClientCookieSize + 32);
      q.cookie_malformed = q.cookie_malformed || !sound || q.cookie_at != 0;
      q.cookie_at = rdata_at + pos + 4;
      q.cookie_size = static_cast<uint8_t>(std::min<size_t>(length, UINT8_MAX));
    }
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
    if (type == type::kSoa && i < before_additional && q.qtype == type::kIxfr) {
      // The client's SOA: MNAME and RNAME (maybe compressed), then the serial.
      size_t at = SkipPacketName(packet, pos + 10 + rdlength, pos + 10);
      if (at != 0) at = SkipPacketName(packet, pos + 10 + rdlength, at);
      if (at == 0 || at + 20 != pos + 10 + rdlength) return false;
      q.has_ixfr_serial = true;
      q.ixfr_serial = ReadU32(packet + at);
    }
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
      if (!ReadOptions(packet, pos + 10, rdlength, q)) return false;
      q.edns = true;
      q.udp_size = ReadU16(packet + pos + 2);
      q.edns_version = packet[pos + 5];
      q.dnssec_ok = (ReadU16(packet + pos + 6) & edns_flag::kDo) != 0;
      q.compact_ok = (ReadU16(packet + pos + 6) & edns_flag::kCo) != 0;
    }
    pos += 10 + rdlength;
  }
  return true;
}

}  // namespace

QueryStatus ParseQuery(const uint8_t* packet, size_t size, Query& q) {
  if (size < kHeaderSize) return QueryStatus::kDrop;
  q.flags = ReadU16(packet + 2);
  if (q.flags & flag::kQr) return QueryStatus::kDrop;
  const bool query_opcode = (q.flags & flag::kOpcodeMask) == 0;
  const QueryStatus error = query_opcode ? QueryStatus::kFormErr : QueryStatus::kNotImp;
  const uint16_t qdcount = ReadU16(packet + 4);
  const uint16_t ancount = ReadU16(packet + 6);
  const uint16_t nscount = ReadU16(packet + 8);
  const uint16_t arcount = ReadU16(packet + 10);
  if (qdcount == 0 && query_opcode && ancount == 0 && nscount == 0) {
    if (!ParseRecords(packet, size, kHeaderSize, 0, arcount, q)) {
      q.edns = false;
      return QueryStatus::kFormErr;
    }
    return QueryStatus::kNoQuestion;
  }
  if (qdcount != 1) return error;
  if (query_opcode && ancount != 0) return QueryStatus::kFormErr;
  const size_t pos = ReadQuestionName(packet, size, kHeaderSize, q.qname, &q.qname_size);
  if (pos == 0 || pos + 4 > size) return error;
  q.qtype = ReadU16(packet + pos);
  q.qclass = ReadU16(packet + pos + 2);
  q.question_end = pos + 4;
  // Only an IXFR carries a record there: the client's SOA (RFC 1995 §3),
  // exactly one. In any other query, the question is not sound either.
  if (query_opcode && q.qtype != type::kIxfr && nscount != 0) {
    q.question_end = 0;
    return QueryStatus::kFormErr;
  }
  if (query_opcode && q.qtype == type::kIxfr && nscount != 1) return QueryStatus::kFormErr;
  const size_t before_additional = size_t{ancount} + nscount;
  if (!ParseRecords(packet, size, q.question_end, before_additional, before_additional + arcount,
                    q)) {
    q.edns = false;
    return error;
  }
  return query_opcode ? QueryStatus::kOk : QueryStatus::kNotImp;
}

}  // namespace agility::dns
