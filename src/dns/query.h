// Reading a query: the header, the question, and the records after it (the
// OPT of EDNS, a TSIG), checked as RFC 1035, 6891 and 8945 ask, without
// allocating. The responder answers from what this leaves in a Query.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dns/wire.h"

namespace agility::dns {

enum class QueryStatus {
  kOk,
  kDrop,     // QR set, or shorter than a header: no reply at all
  kFormErr,  // malformed
  kNotImp,   // an opcode other than QUERY
  // A QUERY with no question and sound records: how a client asks for a
  // server cookie alone (RFC 7873 §5.4) when it carries one; else FORMERR.
  kNoQuestion,
};

struct Query {
  uint16_t flags = 0;
  size_t question_end = 0;  // offset just past QCLASS; 0: no sound question
  uint8_t qname[kMaxNameLength];
  size_t qname_size = 0;
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  bool edns = false;
  uint16_t udp_size = 0;
  uint8_t edns_version = 0;
  bool dnssec_ok = false;  // the DO bit, echoed in our OPT (RFC 3225 §3)
  // RFC 9824 §5.1: the client takes NXDOMAIN with a compact denial.
  bool compact_ok = false;
  bool nsid = false;    // asks for the server's identity (RFC 5001)
  bool expire = false;  // asks how long the zone stays valid (RFC 7314)
  // The COOKIE option's data (RFC 7873 §4): offset in the packet, 0 for
  // none, and size. A size other than 8 or 16 to 40, or a second option,
  // is malformed: FORMERR from a server that does cookies (§5.2.2).
  size_t cookie_at = 0;
  uint8_t cookie_size = 0;
  bool cookie_malformed = false;
  // IXFR (RFC 1995 §3): the serial of the SOA in the authority section.
  bool has_ixfr_serial = false;
  uint32_t ixfr_serial = 0;
  // A TSIG record, last of the message. No key is configured here, so every
  // signed message gets the unsigned BADKEY error (RFC 8945 §5.2.1).
  size_t tsig_owner = 0;  // offset of its owner; 0: unsigned
  size_t tsig_rdata = 0;
  size_t tsig_mac_size_at = 0;  // within its RDATA
};

// On success, or on an error found after the question, q.question_end is set
// and the reply echoes the question (and the OPT only when it was valid).
QueryStatus ParseQuery(const uint8_t* packet, size_t size, Query& q);

}  // namespace agility::dns
