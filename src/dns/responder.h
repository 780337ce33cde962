// The answer algorithm: one query in, one response out, written into a
// caller-owned buffer. Pure computation over an immutable ZoneSet; no I/O,
// no allocation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dns/address_source.h"
#include "dns/zone_set.h"

namespace agility::dns {

enum class Transport : uint8_t { kUdp, kTcp };

struct ResponderOptions {
  // Largest UDP response we send, and the size our OPT record advertises.
  uint16_t max_udp_size = 1232;
};

// What happened, for counters.
struct ResponseInfo {
  uint16_t qtype = 0;
  uint8_t rcode = 0;  // header rcode; BADVERS is reported as 16
  bool truncated = false;
  bool pool_answer = false;
};

// Writes the response to `query` into `out`, which holds at least
// kMaxMessageSize bytes for TCP, or options.max_udp_size for UDP. Returns the
// response size, or 0 when the query must be dropped (QR set, too short).
size_t Respond(const uint8_t* query, size_t query_size, Transport transport,
               const ZoneSet& zones, AddressSource& addresses, const ResponderOptions& options,
               uint8_t* out, ResponseInfo* info);

}  // namespace agility::dns
