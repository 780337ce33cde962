#include "dns/online_signer.h"

extern "C" {
#include <libknot/descriptor.h>
}
// ECDSA signs through OpenSSL's EC_KEY interface, deprecated in OpenSSL 3
// but kept: it signs a digest in 19 us here where EVP_PKEY_sign, with its
// provider dispatch and DER encoding, takes 22 (a sixth of a miss's CPU).
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#include "absl/hash/hash.h"
#include "dns/name.h"
#include "dns/wire.h"

namespace agility::dns {

SignatureWindow SignatureWindow::At(int64_t now) {
  constexpr int64_t kWeek = 7 * 86400;
  const int64_t start = now - now % kWeek;
  // RFC 4034 §3.1.5: 32-bit serial-number time, so the wrap in 2106 is fine.
  return {static_cast<uint32_t>(start - 86400), static_cast<uint32_t>(start + 2 * kWeek)};
}

struct OnlineSigner::Contexts {
  EC_KEY* ecdsa = nullptr;      // this worker's copy: signs a SHA-256 digest
  EVP_MD_CTX* eddsa = nullptr;  // Ed25519 signs the message itself
  EVP_PKEY* key = nullptr;      // a reference of our own (Ed25519 re-inits with it)
  ~Contexts() {
    EC_KEY_free(ecdsa);
    EVP_MD_CTX_free(eddsa);
    EVP_PKEY_free(key);
  }
};

OnlineSigner::OnlineSigner(size_t cache_bytes) : cache_(cache_bytes) {}

OnlineSigner::~OnlineSigner() = default;

namespace {

// Lowercases the names in RDATA of the RFC 4034 §6.2 types (as RFC 6840 §5.1
// amends it): names in our zones keep the case of the file. Appends to `out`.
void AppendCanonicalRdata(uint16_t type, const uint8_t* rdata, size_t size,
                          std::vector<uint8_t>& out) {
  const size_t start = out.size();
  out.insert(out.end(), rdata, rdata + size);
  if (!knot_rrtype_should_be_lowercased(type)) return;
  const knot_rdata_descriptor_t* descriptor = knot_get_rdata_descriptor(type);
  if (descriptor->type_name == nullptr) descriptor = knot_get_obsolete_rdata_descriptor(type);
  uint8_t* p = out.data() + start;
  size_t at = 0;
  for (int i = 0; i < KNOT_MAX_RDATA_BLOCKS && at < size; ++i) {
    const int block = descriptor->block_types[i];
    if (block > 0) {
      at += static_cast<size_t>(block);
    } else if (block == KNOT_RDATA_WF_FIXED_DNAME || block == KNOT_RDATA_WF_COMPRESSIBLE_DNAME ||
               block == KNOT_RDATA_WF_DECOMPRESSIBLE_DNAME) {
      while (at < size && p[at] != 0) {
        const size_t label = p[at];
        for (size_t k = at + 1; k <= at + label && k < size; ++k) p[k] = AsciiLower(p[k]);
        at += 1 + label;
      }
      ++at;
    } else if (block == KNOT_RDATA_WF_NAPTR_HEADER) {
      at += 4;  // order, preference; then flags, services and regexp
      for (int string = 0; string < 3 && at < size; ++string) at += 1 + p[at];
    } else {
      return;  // the remainder holds no name
    }
  }
}

}  // namespace

OnlineSigner::Contexts& OnlineSigner::ContextsFor(const SigningKey& key) {
  auto& slot = contexts_[key.identity];
  if (slot != nullptr) return *slot;
  // Keys replaced by reloads leave their contexts behind: start afresh now
  // and then rather than keep them all.
  if (contexts_.size() > 64) {
    contexts_.clear();
    return ContextsFor(key);
  }
  slot = std::make_unique<Contexts>();
  EVP_PKEY* pkey = key.private_key.get();
  EVP_PKEY_up_ref(pkey);
  slot->key = pkey;
  if (key.algorithm == algorithm::kEcdsaP256Sha256) {
    slot->ecdsa = EC_KEY_dup(key.ecdsa_key.get());
  } else {
    slot->eddsa = EVP_MD_CTX_new();
  }
  return *slot;
}

bool OnlineSigner::Compute(const SigningKey& key, const uint8_t* data, size_t size,
                           uint8_t* signature) {
  Contexts& contexts = ContextsFor(key);
  if (key.algorithm == algorithm::kEcdsaP256Sha256) {
    if (contexts.ecdsa == nullptr) return false;
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(data, size, digest);
    ECDSA_SIG* made = ECDSA_do_sign(digest, sizeof(digest), contexts.ecdsa);
    if (made == nullptr) return false;
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(made, &r, &s);
    // RFC 6605 §4: r and s, 32 octets each.
    const bool ok =
        BN_bn2binpad(r, signature, 32) == 32 && BN_bn2binpad(s, signature + 32, 32) == 32;
    ECDSA_SIG_free(made);
    return ok;
  }
  size_t signature_size = kSignatureSize;
  return contexts.eddsa != nullptr &&
         EVP_DigestSignInit(contexts.eddsa, nullptr, nullptr, nullptr, contexts.key) > 0 &&
         EVP_DigestSign(contexts.eddsa, signature, &signature_size, data, size) > 0 &&
         signature_size == kSignatureSize;
}

size_t OnlineSigner::Sign(const ZoneKeys& keys, const SigningKey& key, const RrsetToSign& rrset,
                          uint8_t* out) {
  int64_t now = fixed_now_;
  if (now == 0) {
    timespec clock;
    clock_gettime(CLOCK_REALTIME_COARSE, &clock);
    now = clock.tv_sec;
  }
  const SignatureWindow window = SignatureWindow::At(now);
  // RFC 4034 §3.1: the fixed fields, then the signer's name.
  const absl::string_view signer = keys.apex();
  LabelOffsets owner_labels;
  ComputeLabelOffsets(rrset.owner, owner_labels);
  int labels = owner_labels.count;
  if (rrset.owner.size() > 2 && rrset.owner[0] == 1 && rrset.owner[1] == '*') --labels;
  WriteU16(out, rrset.type);
  out[2] = key.algorithm;
  out[3] = static_cast<uint8_t>(labels);
  WriteU32(out + 4, rrset.ttl);
  WriteU32(out + 8, window.expiration);
  WriteU32(out + 12, window.inception);
  WriteU16(out + 16, key.tag);
  std::memcpy(out + 18, signer.data(), signer.size());
  const size_t header = 18 + signer.size();
  uint8_t* signature = out + header;

  // The RDATA as stored, in zone order: the same RRset always hashes the same.
  const uint8_t* rr = rrset.records;
  size_t records_size = 0;
  for (uint16_t i = 0; i < rrset.count; ++i) records_size += 2 + ReadU16(rr + records_size);
  const absl::string_view records = AsChars(rr, records_size);
  // The whole RRSIG but its signature, and the records: one key may sign for
  // two zones, whose signer names differ.
  const absl::string_view fixed = AsChars(out, header);
  const SignatureKey cache_key{absl::HashOf(key.identity, fixed, rrset.owner, records),
                               absl::HashOf(records, rrset.owner, fixed, key.identity, 0x5157u)};
  if (const uint8_t* cached = cache_.Find(cache_key)) {
    stats_.hits.Add();
    std::memcpy(signature, cached, kSignatureSize);
    return header + kSignatureSize;
  }
  stats_.misses.Add();

  // RFC 4034 §3.1.8.1: the RRSIG RDATA without its signature, then each
  // record in canonical form and order (§6.2, §6.3).
  canonical_.clear();
  order_.clear();
  for (uint16_t i = 0; i < rrset.count; ++i) {
    const uint16_t rdlength = ReadU16(rr);
    const uint32_t at = static_cast<uint32_t>(canonical_.size());
    AppendCanonicalRdata(rrset.type, rr + 2, rdlength, canonical_);
    order_.push_back({at, static_cast<uint32_t>(canonical_.size() - at)});
    rr += 2 + rdlength;
  }
  const uint8_t* canonical = canonical_.data();
  std::sort(order_.begin(), order_.end(), [canonical](const Record& a, const Record& b) {
    const int c = std::memcmp(canonical + a.at, canonical + b.at, std::min(a.size, b.size));
    return c != 0 ? c < 0 : a.size < b.size;
  });
  signed_data_.assign(out, out + header);
  uint8_t fields[10];
  WriteU16(fields, rrset.type);
  WriteU16(fields + 2, rr_class::kIn);
  WriteU32(fields + 4, rrset.ttl);
  for (size_t i = 0; i < order_.size(); ++i) {
    const Record& record = order_[i];
    if (i > 0 && record.size == order_[i - 1].size &&
        std::memcmp(canonical + record.at, canonical + order_[i - 1].at, record.size) == 0) {
      continue;  // §6.3: duplicates are one record
    }
    WriteU16(fields + 8, static_cast<uint16_t>(record.size));
    signed_data_.insert(signed_data_.end(), AsBytes(rrset.owner),
                        AsBytes(rrset.owner) + rrset.owner.size());
    signed_data_.insert(signed_data_.end(), fields, fields + sizeof(fields));
    signed_data_.insert(signed_data_.end(), canonical + record.at,
                        canonical + record.at + record.size);
  }
  if (!Compute(key, signed_data_.data(), signed_data_.size(), signature)) {
    stats_.failures.Add();
    return 0;
  }
  stats_.made.Add();
  if (cache_.Insert(cache_key, signature)) stats_.evictions.Add();
  return header + kSignatureSize;
}

}  // namespace agility::dns
