#include "dns/cookies.h"

#include <netinet/in.h>

#include <openssl/crypto.h>

#include <cstring>
#include <string>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "dns/wire.h"

namespace agility::dns {
namespace {

constexpr uint8_t kServerCookieVersion = 1;

uint64_t Rotl(uint64_t x, int b) { return (x << b) | (x >> (64 - b)); }

uint64_t LoadLe64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct SipState {
  uint64_t v0, v1, v2, v3;
  void Round() {
    v0 += v1;
    v1 = Rotl(v1, 13);
    v1 ^= v0;
    v0 = Rotl(v0, 32);
    v2 += v3;
    v3 = Rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = Rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = Rotl(v1, 17);
    v1 ^= v2;
    v2 = Rotl(v2, 32);
  }
  void Absorb(uint64_t m) {
    v3 ^= m;
    Round();
    Round();
    v0 ^= m;
  }
};

// The hash input of RFC 9018 §4.4: client cookie, the server cookie's first
// eight octets (version, reserved, timestamp) and the client address.
uint64_t CookieHash(const CookieSecret& secret, const uint8_t* client_cookie,
                    const uint8_t* cookie_head, const sockaddr* client) {
  uint8_t input[kClientCookieSize + 8 + 16];
  std::memcpy(input, client_cookie, kClientCookieSize);
  std::memcpy(input + kClientCookieSize, cookie_head, 8);
  size_t size = kClientCookieSize + 8;
  if (client->sa_family == AF_INET6) {
    std::memcpy(input + size, &reinterpret_cast<const sockaddr_in6*>(client)->sin6_addr, 16);
    size += 16;
  } else {
    std::memcpy(input + size, &reinterpret_cast<const sockaddr_in*>(client)->sin_addr, 4);
    size += 4;
  }
  return SipHash24(secret, input, size);
}

void WriteHash(uint64_t hash, uint8_t* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(hash >> (8 * i));
}

}  // namespace

uint64_t SipHash24(const CookieSecret& key, const uint8_t* data, size_t size) {
  const uint64_t k0 = LoadLe64(key.data());
  const uint64_t k1 = LoadLe64(key.data() + 8);
  SipState s{k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL, k0 ^ 0x6c7967656e657261ULL,
             k1 ^ 0x7465646279746573ULL};
  const size_t whole = size & ~size_t{7};
  for (size_t i = 0; i < whole; i += 8) s.Absorb(LoadLe64(data + i));
  uint64_t last = static_cast<uint64_t>(size & 0xff) << 56;
  for (size_t i = whole; i < size; ++i) last |= static_cast<uint64_t>(data[i]) << (8 * (i - whole));
  s.Absorb(last);
  s.v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) s.Round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

void MakeServerCookie(const CookieSecret& secret, const uint8_t* client_cookie,
                      const sockaddr* client, uint32_t now, uint8_t* out) {
  out[0] = kServerCookieVersion;
  out[1] = out[2] = out[3] = 0;
  WriteU32(out + 4, now);
  WriteHash(CookieHash(secret, client_cookie, out, client), out + 8);
}

CookieCheck CheckCookie(const CookieSecrets& secrets, const uint8_t* option, size_t size,
                        const sockaddr* client, uint32_t now, uint8_t* reply) {
  std::memcpy(reply, option, kClientCookieSize);
  uint8_t* const server_cookie = reply + kClientCookieSize;
  const uint8_t* const received = option + kClientCookieSize;
  if (size == kClientCookieSize + kServerCookieSize && received[0] == kServerCookieVersion) {
    // Serial number arithmetic (RFC 1982), as the timestamp wraps in 2106.
    const int32_t age = static_cast<int32_t>(now - ReadU32(received + 4));
    if (age <= static_cast<int32_t>(kCookieLifetime) &&
        age >= -static_cast<int32_t>(kCookieClockSkew)) {
      for (size_t i = 0; i < secrets.secrets.size(); ++i) {
        uint8_t hash[8];
        WriteHash(CookieHash(secrets.secrets[i], option, received, client), hash);
        // In constant time, so that timing tells a forger nothing.
        if (CRYPTO_memcmp(hash, received + 8, 8) != 0) continue;
        if (i == 0 && age <= static_cast<int32_t>(kCookieRenewAfter)) {
          std::memcpy(server_cookie, received, kServerCookieSize);
        } else {
          MakeServerCookie(secrets.secrets[0], option, client, now, server_cookie);
        }
        return CookieCheck::kValid;
      }
    }
  }
  MakeServerCookie(secrets.secrets[0], option, client, now, server_cookie);
  return CookieCheck::kClientOnly;
}

bool ParseCookieSecret(absl::string_view hex, CookieSecret* secret) {
  if (hex.size() != 2 * kCookieSecretSize || !absl::c_all_of(hex, absl::ascii_isxdigit)) {
    return false;
  }
  const std::string bytes = absl::HexStringToBytes(hex);
  std::memcpy(secret->data(), bytes.data(), kCookieSecretSize);
  return true;
}

}  // namespace agility::dns
