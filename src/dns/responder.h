// The answer algorithm: one query in, one response out, written into a
// caller-owned buffer. Pure computation over an immutable ZoneSet; no I/O,
// no allocation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/functional/function_ref.h"
#include "dns/address_source.h"
#include "dns/cookies.h"
#include "dns/name.h"
#include "dns/online_signer.h"
#include "dns/rate_limiter.h"
#include "dns/tsig.h"
#include "dns/wire.h"
#include "dns/zone_set.h"

namespace agility::dns {

enum class Transport : uint8_t { kUdp, kTcp };

struct ResponderOptions {
  // Largest UDP response we send, and the size our OPT record advertises.
  uint16_t max_udp_size = 1232;
  // NSID (RFC 5001) and CH TXT id.server / hostname.bind; empty: neither.
  // At most 255 octets (config checks), as CH TXT carries one string.
  absl::string_view identity;
  // CH TXT version.bind / version.server; empty: REFUSED.
  absl::string_view version;
};

// What happened, for counters.
struct ResponseInfo {
  uint16_t qtype = 0;
  uint8_t rcode = 0;  // header rcode; BADVERS is reported as 16
  bool truncated = false;
  bool pool_answer = false;
  ResponseKind kind = ResponseKind::kError;
  size_t question_end = 0;  // where the question ends in the response; 0: none
  // What rate limiting keys on (lowercase wire): the queried name for
  // answers, the zone apex for everything else, so that random names share
  // one bucket.
  uint8_t rate_limit_name[kMaxNameLength];
  uint8_t rate_limit_name_size = 0;
  absl::string_view RateLimitName() const { return AsChars(rate_limit_name, rate_limit_name_size); }
  // DNS cookies (with a CookieContext): what the query's said, and the
  // client and server cookies the response carries.
  CookieCheck cookie = CookieCheck::kNone;
  uint8_t cookie_reply[kClientCookieSize + kServerCookieSize];
};

// What DNS cookies need beyond the query's bytes: the server's secrets, who
// asked, and when.
struct CookieContext {
  const CookieSecrets& secrets;
  const sockaddr* client;
  uint32_t now;  // seconds since the epoch
};

// Turns a response into its truncated form (TC=1, question only, no OPT),
// what rate limiting sends instead of a dropped answer. Returns the new size.
size_t Truncate(uint8_t* response, const ResponseInfo& info);

// Turns a response to a query with a client cookie into BADCOOKIE (RFC 7873
// §5.2.3): question, and an OPT (advertising `udp_size`) with a fresh server
// cookie; what rate limiting sends such a client instead of a truncated
// answer, so that it retries over UDP with a cookie that exempts it.
size_t BadCookie(uint8_t* response, const ResponseInfo& info, uint16_t udp_size);

// Writes the response to `query` into `out`, which holds at least
// kMaxMessageSize bytes for TCP, or options.max_udp_size for UDP. Returns the
// response size, or 0 when the query must be dropped (QR set, too short).
// `signer` (the worker's; may be null) signs for zones with keys when the
// query has DO set: all of a zone without signatures of its own, the pool
// answers of a zone signed ahead. `keyring` (may be null) holds the TSIG keys
// signed queries are checked with (RFC 8945); their responses are signed.
// With `cookies`, COOKIE options are checked and answered (RFC 7873, 9018);
// without, they are ignored, as by a server that does not know them.
size_t Respond(const uint8_t* query, size_t query_size, Transport transport, const ZoneSet& zones,
               AddressSource& addresses, const ResponderOptions& options, uint8_t* out,
               ResponseInfo* info, OnlineSigner* signer = nullptr,
               const TsigKeyring* keyring = nullptr, const CookieContext* cookies = nullptr);

// True when `query` is a NOTIFY (RFC 1996), which Respond does not take.
inline bool IsNotify(const uint8_t* query, size_t size) {
  return size >= kHeaderSize &&
         (ReadU16(query + 2) & (flag::kQr | flag::kOpcodeMask)) == flag::kOpcodeNotify;
}

// Answers a NOTIFY: NOERROR when `accept` takes it (the zone's apex, in
// lowercase wire form, and the name of the key that signed it, empty when
// unsigned), REFUSED when not; NOTAUTH for a bad signature, which `accept`
// never sees. Signed NOTIFYs get signed answers. Returns the size written
// to `out` (at least kMaxMessageSize... or `limit` octets), 0 to drop.
size_t RespondToNotify(
    const uint8_t* query, size_t size, const TsigKeyring* keyring,
    absl::FunctionRef<bool(absl::string_view apex, absl::string_view key)> accept, uint8_t* out,
    size_t limit);

}  // namespace agility::dns
