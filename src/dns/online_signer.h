// Signs RRsets as they are answered (RFC 4034 §3), for zones with keys and
// no signatures of their own and for pool answers drawn per query. One per
// worker: it owns the worker's signature cache and OpenSSL contexts, so
// nothing is shared and nothing is locked.
//
// Signatures are made for fixed weekly windows (as PowerDNS aligns its to
// weeks): every signature made in one week has the same inception and
// expiration, so an RRset answered again that week is signed once. Each
// signature is valid from a day before its week began (clocks lag) to two
// weeks after: at least 7 days ahead whenever it is served.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "dns/signature_cache.h"
#include "dns/zone_keys.h"
#include "util/counter.h"

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace agility::dns {

// One RRset as the responder holds it.
struct RrsetToSign {
  absl::string_view owner;  // lowercase wire
  uint16_t type = 0;
  uint32_t ttl = 0;
  const uint8_t* records = nullptr;  // count x [rdlength u16][rdata], as in a zone
  uint16_t count = 0;
};

struct SignerStats {
  Counter made;       // signatures computed
  Counter hits;       // signatures the cache had
  Counter misses;     // signatures the cache did not have
  Counter evictions;  // cached signatures given up for new ones
  Counter failures;   // OpenSSL failed; the RRset went unsigned
};

// The largest RRSIG RDATA we write: fixed fields, signer, signature.
inline constexpr size_t kMaxRrsigRdata = 18 + kMaxNameLength + kSignatureSize;

// The signing window around a time: seconds since the epoch.
struct SignatureWindow {
  uint32_t inception = 0;
  uint32_t expiration = 0;
  static SignatureWindow At(int64_t now);
};

class OnlineSigner {
 public:
  // `cache_bytes`: this signer's share of dnssec_cache_mb.
  explicit OnlineSigner(size_t cache_bytes);
  ~OnlineSigner();
  OnlineSigner(const OnlineSigner&) = delete;
  OnlineSigner& operator=(const OnlineSigner&) = delete;

  // Writes into `out` (kMaxRrsigRdata bytes) the RDATA of the RRSIG that
  // `key`, a key of `keys`, makes over `rrset`. Returns its size; 0 when
  // signing failed (counted), and the RRset then goes out unsigned.
  size_t Sign(const ZoneKeys& keys, const SigningKey& key, const RrsetToSign& rrset, uint8_t* out);

  const SignerStats& stats() const { return stats_; }
  const SignatureCache& cache() const { return cache_; }
  // For tests: sign as if the clock said `now` (0: the real clock).
  void set_now_for_testing(int64_t now) { fixed_now_ = now; }

 private:
  struct Contexts;
  // The signature itself over the bytes signed; false when OpenSSL failed.
  bool Compute(const SigningKey& key, const uint8_t* data, size_t size, uint8_t* signature);
  Contexts& ContextsFor(const SigningKey& key);

  SignatureCache cache_;
  SignerStats stats_;
  int64_t fixed_now_ = 0;
  // What is signed, built here on a miss: kept between calls so that
  // signing does not allocate once it has seen its largest RRset.
  std::vector<uint8_t> signed_data_;
  std::vector<uint8_t> canonical_;
  struct Record {
    uint32_t at, size;  // in canonical_
  };
  std::vector<Record> order_;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Contexts>> contexts_;  // by key identity
};

}  // namespace agility::dns
