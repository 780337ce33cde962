// DNS Cookies (RFC 7873) with the interoperable server cookie of RFC 9018:
// version 1, three reserved octets, a 32-bit timestamp, and SipHash-2-4 of
// the client cookie, those eight octets and the client's address under a
// 16-octet secret. Servers of a fleet (or BIND, Knot) sharing the secret
// accept each other's cookies. No allocation: this runs per query.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"

namespace agility::dns {

inline constexpr size_t kClientCookieSize = 8;
inline constexpr size_t kServerCookieSize = 16;  // what we make; RFC 7873 allows 8 to 32
inline constexpr size_t kCookieSecretSize = 16;

using CookieSecret = std::array<uint8_t, kCookieSecretSize>;

// SipHash-2-4 (Aumasson and Bernstein), 64-bit output, as RFC 9018 §4.4
// uses it: the result is written as the little-endian bytes of the hash.
uint64_t SipHash24(const CookieSecret& key, const uint8_t* data, size_t size);

// The secrets a server makes and checks cookies with: the first makes them,
// every one is accepted, so a fleet rotates by putting a new secret first
// and dropping the old one a while (RFC 7873 §7.1) later.
struct CookieSecrets {
  std::vector<CookieSecret> secrets;  // never empty
};

// RFC 9018 §4.3: a cookie is good for an hour, from a server whose clock
// may run up to five minutes ahead; past half an hour a new one is made.
inline constexpr uint32_t kCookieLifetime = 3600;
inline constexpr uint32_t kCookieClockSkew = 300;
inline constexpr uint32_t kCookieRenewAfter = 1800;

// Writes the 16-octet server cookie for `client_cookie` (8 octets) from
// `client` (AF_INET or AF_INET6) at `now` (seconds since the epoch).
void MakeServerCookie(const CookieSecret& secret, const uint8_t* client_cookie,
                      const sockaddr* client, uint32_t now, uint8_t* out);

// What a query's COOKIE option (RFC 7873 §4) says about its sender.
enum class CookieCheck : uint8_t {
  kNone,        // no COOKIE option
  kClientOnly,  // a client cookie alone, or with a server cookie not ours or stale
  kValid,       // a server cookie this server (or fleet) made, still fresh
};

// Checks the COOKIE option `option` (`size` octets, 8 or 16 to 40: the
// caller has checked the length) and writes the 24 octets our response
// carries into `reply`: the client cookie and a server cookie, the one
// received while it is valid, fresh and made with the first secret, else
// a new one.
CookieCheck CheckCookie(const CookieSecrets& secrets, const uint8_t* option, size_t size,
                        const sockaddr* client, uint32_t now, uint8_t* reply);

// Reads a secret written as 32 hexadecimal digits; false when it is not.
bool ParseCookieSecret(absl::string_view hex, CookieSecret* secret);

}  // namespace agility::dns
