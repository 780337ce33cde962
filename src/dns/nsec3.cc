#include "dns/nsec3.h"

// SHA1_Init/Update/Final hash on the stack; OpenSSL 3's SHA1() and EVP
// interfaces allocate a context per call.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <cstring>

namespace agility::dns {

bool ReadNsec3Params(const uint8_t* rdata, size_t size, Nsec3Params& params) {
  if (size < 5 || rdata[0] != 1) return false;
  params.iterations = static_cast<uint16_t>(rdata[2] << 8 | rdata[3]);
  params.salt_size = rdata[4];
  if (size < 5u + params.salt_size) return false;
  std::memcpy(params.salt, rdata + 5, params.salt_size);
  return true;
}

void Nsec3Hash(absl::string_view name, const Nsec3Params& params, uint8_t out[kNsec3HashSize]) {
  SHA_CTX context;
  SHA1_Init(&context);
  SHA1_Update(&context, name.data(), name.size());
  SHA1_Update(&context, params.salt, params.salt_size);
  SHA1_Final(out, &context);
  for (uint16_t i = 0; i < params.iterations; ++i) {
    SHA1_Init(&context);
    SHA1_Update(&context, out, kNsec3HashSize);
    SHA1_Update(&context, params.salt, params.salt_size);
    SHA1_Final(out, &context);
  }
}

bool DecodeNsec3Label(absl::string_view label, uint8_t out[kNsec3HashSize]) {
  if (label.size() != 32) return false;
  uint64_t bits = 0;
  int held = 0;
  size_t written = 0;
  for (const char c : label) {
    int value;
    if (c >= '0' && c <= '9') {
      value = c - '0';
    } else if (c >= 'a' && c <= 'v') {
      value = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'V') {
      value = c - 'A' + 10;
    } else {
      return false;
    }
    bits = bits << 5 | static_cast<uint64_t>(value);
    held += 5;
    if (held >= 8) {
      held -= 8;
      out[written++] = static_cast<uint8_t>(bits >> held);
    }
  }
  return written == kNsec3HashSize;
}

}  // namespace agility::dns
