// Fuzzing helpers shared by the harnesses: an independent, bounds-checked
// reading of queries and responses, and the well-formedness rules every
// response of agility::dns::Respond must obey. A violated rule prints what
// was wrong and traps, so libFuzzer saves the input as a crash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "dns/responder.h"
#include "dns/zone_set.h"
#include "policy/table.h"

namespace agility::fuzz {

// True when FUZZ_VERBOSE is set: harnesses then print what each input did.
bool Verbose();

// True when `check` is listed in FUZZ_SKIP (comma-separated), to fuzz past
// a known finding until it is fixed. Names: "ttl" (record TTLs above 2^31-1),
// "generic" (fuzz_zone leaves out inputs with RFC 3597 "\#" RDATA).
bool Skipped(const char* check);

// Prints "fuzz check failed: <what>" with the file and line, then traps.
[[noreturn]] void Fail(const char* file, int line, const std::string& what);

#define FUZZ_CHECK(cond, what)                                      \
  do {                                                              \
    if (!(cond)) ::agility::fuzz::Fail(__FILE__, __LINE__, (what)); \
  } while (0)

// How a query should be treated, worked out independently of the responder
// from RFC 1035 and the README's "Malformed input" rules.
struct QueryFacts {
  bool drop = false;        // shorter than a header, or QR set
  bool notimp = false;      // opcode other than QUERY
  bool valid = false;       // a well-formed QUERY: QDCOUNT=1, AN=NS=0, sound records
  size_t question_end = 0;  // offset just past QCLASS when the question is sound
  std::string qname_lower;  // wire form, lowercased, when the question is sound
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  bool edns = false;  // exactly one OPT, owned by the root, in sound records
  uint16_t udp_size = 0;
  uint8_t edns_version = 0;
  bool dnssec_ok = false;   // DO bit, to be echoed (RFC 3225 §3)
  bool compact_ok = false;  // CO bit, echoed with DO (RFC 9824 §5.1)
  bool tsig = false;        // a well-formed TSIG, last: NOTAUTH/BADKEY (no keys known)
  // COOKIE options (RFC 7873) in a sound OPT: how many, and the first's
  // data (offset, size).
  int cookies = 0;
  size_t cookie_at = 0;
  size_t cookie_size = 0;
};

QueryFacts AnalyzeQuery(const uint8_t* query, size_t size);

// The largest UDP response allowed for this query.
size_t UdpLimit(const QueryFacts& q, uint16_t max_udp_size);

// Options for CheckResponse.
struct CheckOptions {
  // A and AAAA RDATA must be 4 and 16 bytes; names inside NS, CNAME, PTR,
  // MX, SOA, SRV must parse and fill their RDATA exactly.
  bool strict_rdata = true;
  // Also parse with ldns_wire2pkt and require success.
  bool ldns = true;
  // TC=1 may only appear over UDP (true for small zones, whose answers always
  // fit in 64 KiB).
  bool tc_only_udp = true;
};

// Checks one response of Respond(); `size` is its return value. Traps on any
// violation.
void CheckResponse(const uint8_t* query, size_t query_size, const QueryFacts& q,
                   dns::Transport transport, uint16_t max_udp_size, const uint8_t* response,
                   size_t size, const dns::ResponseInfo& info, const CheckOptions& options);

// A query for `wire_name` (uncompressed wire form, not checked) with RD set
// and, when `edns`, an OPT record advertising `udp_size`.
std::vector<uint8_t> MakeQuery(const std::string& wire_name, uint16_t qtype, uint16_t id, bool edns,
                               uint16_t udp_size, bool dnssec_ok = false);

// Answers `query` over TCP and over UDP with each of `max_udp_sizes` as the
// server's limit, checks every response with CheckResponse, and compares the
// transports: pool draws use one fixed seed per call, so a UDP response must
// equal the TCP one whenever the TCP one fits the UDP limit, and otherwise be
// TC=1 or the same answer and authority with fewer additional records.
// Every UDP response also goes through dns::Truncate (rate limiting's slip),
// which must leave the header with TC=1 and the question only.
// `table` may be null (no policies). Returns the TCP response.
std::vector<uint8_t> RespondAndCheck(const uint8_t* query, size_t size, const dns::ZoneSet& zones,
                                     const policy::Table* table,
                                     const std::vector<uint16_t>& max_udp_sizes,
                                     const CheckOptions& options);

}  // namespace agility::fuzz
