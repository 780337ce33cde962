// The DNSSEC keys of one zone signed online, read from a directory of the
// K<zone>+<alg>+<tag>.key/.private pairs that dnssec-keygen and ldns-keygen
// write. A key with its .private signs; a .key alone is published only (a
// key on its way in, for pre-publication rollovers). Read at setup, before
// privileges are dropped; the private keys are never logged.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "dns/zone.h"

typedef struct evp_pkey_st EVP_PKEY;
typedef struct ec_key_st EC_KEY;

namespace agility::dns {

namespace algorithm {
inline constexpr uint8_t kEcdsaP256Sha256 = 13;
inline constexpr uint8_t kEd25519 = 15;
}  // namespace algorithm

// Both algorithms we sign with make 64-byte signatures (RFC 6605, 8080).
inline constexpr size_t kSignatureSize = 64;

struct EvpPkeyFree {
  void operator()(EVP_PKEY* key) const;
};
struct EcKeyFree {
  void operator()(EC_KEY* key) const;
};

struct SigningKey {
  std::string file;          // the .key file, for messages
  std::string dnskey_rdata;  // wire form: flags, protocol, algorithm, public key
  uint16_t flags = 0;
  uint8_t algorithm = 0;
  uint16_t tag = 0;  // RFC 4034 Appendix B
  // Stable across reloads while the key is the same: signatures cached with
  // it stay good.
  uint64_t identity = 0;
  std::unique_ptr<EVP_PKEY, EvpPkeyFree> private_key;  // null: published only
  // For ECDSA, the same key as OpenSSL's EC_KEY, made here, at load, on one
  // thread: each worker signs with a copy (dns::OnlineSigner).
  std::unique_ptr<EC_KEY, EcKeyFree> ecdsa_key;
  bool sep() const { return flags & 1; }
};

class ZoneKeys {
 public:
  // Reads every K<apex>.+*.key in `directory` (and its .private). `ttl` is
  // the TTL of the DNSKEY, CDS and CDNSKEY RRsets when the .key files name
  // none. Errors are "file:line: message".
  static absl::StatusOr<std::shared_ptr<const ZoneKeys>> Load(absl::string_view apex,
                                                              const std::string& directory,
                                                              uint32_t ttl);

  absl::string_view apex() const { return apex_; }
  int apex_labels() const { return apex_labels_; }
  const std::vector<SigningKey>& keys() const { return keys_; }
  // The keys that sign `type` at the apex: those with the SEP flag sign the
  // DNSKEY, CDS and CDNSKEY RRsets, the others everything else; a key set
  // with only one kind (a combined signing key) signs everything with it.
  const std::vector<const SigningKey*>& SignersOf(uint16_t type) const {
    return type == type::kDnskey || type == type::kCds || type == type::kCdnskey ? key_signers_
                                                                                 : zone_signers_;
  }
  // The DNSKEY RRset, and the CDS (SHA-256) and CDNSKEY RRsets of the SEP
  // keys (RFC 8078), in a zone arena's RRset layout; invalid for other types.
  RrsetView Find(uint16_t type) const;

 private:
  std::string apex_;
  int apex_labels_ = 0;
  std::vector<SigningKey> keys_;
  std::vector<const SigningKey*> key_signers_;
  std::vector<const SigningKey*> zone_signers_;
  std::string dnskey_, cds_, cdnskey_;  // RRsets, RrsetView layout
};

// RFC 4034 Appendix B.
uint16_t KeyTag(absl::string_view dnskey_rdata);

}  // namespace agility::dns
