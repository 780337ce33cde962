#include "dns/zone_keys.h"

extern "C" {
#include <libzscanner/scanner.h>
}
// EC_KEY: see online_signer.cc for why ECDSA signs through it.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "dns/name.h"
#include "dns/wire.h"

namespace agility::dns {

void EvpPkeyFree::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
void EcKeyFree::operator()(EC_KEY* key) const { EC_KEY_free(key); }

uint16_t KeyTag(absl::string_view rdata) {
  uint32_t sum = 0;
  for (size_t i = 0; i < rdata.size(); ++i) {
    sum += (i & 1) ? static_cast<uint8_t>(rdata[i]) : static_cast<uint8_t>(rdata[i]) << 8;
  }
  sum += (sum >> 16) & 0xffff;
  return static_cast<uint16_t>(sum & 0xffff);
}

namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;

absl::Status KeyError(const std::string& file, uint64_t line, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(file, ":", line, ": ", message));
}

absl::StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return KeyError(path, 0, absl::StrCat("cannot open: ", strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct PublicKey {
  std::string rdata;
  uint32_t ttl = 0;
  bool has_ttl = false;
};

// A .key file: one DNSKEY record in zone-file form, with comments.
absl::StatusOr<PublicKey> ReadPublicKey(const std::string& path, absl::string_view apex) {
  // Given to a record that names no TTL; no TTL in a file can be this large.
  constexpr uint32_t kNoTtl = UINT32_MAX;
  auto text = ReadText(path);
  if (!text.ok()) return text.status();
  auto scanner = std::make_unique<zs_scanner_t>();
  const std::string origin = NameToText(apex);
  if (zs_init(scanner.get(), origin.c_str(), 1, kNoTtl) != 0 ||
      zs_set_input_string(scanner.get(), text->data(), text->size()) != 0) {
    zs_deinit(scanner.get());
    return KeyError(path, 1, "cannot start the zone scanner");
  }
  PublicKey key;
  int records = 0;
  absl::Status status;
  while (status.ok() && zs_parse_record(scanner.get()) == 0 && scanner->state != ZS_STATE_EOF) {
    const uint64_t line = scanner->line_counter;
    if (scanner->state == ZS_STATE_ERROR) {
      status = KeyError(path, line, zs_strerror(scanner->error.code));
    } else if (scanner->state == ZS_STATE_DATA) {
      const absl::string_view owner(reinterpret_cast<const char*>(scanner->r_owner),
                                    scanner->r_owner_length);
      if (scanner->r_type != type::kDnskey) {
        status = KeyError(path, line, "a .key file holds one DNSKEY record");
      } else if (++records > 1) {
        status = KeyError(path, line, "more than one DNSKEY record");
      } else if (absl::AsciiStrToLower(owner) != apex) {
        status = KeyError(path, line,
                          absl::StrCat("the key is for '", NameToText(absl::AsciiStrToLower(owner)),
                                       "', not for the zone '", origin, "'"));
      } else {
        key.rdata.assign(reinterpret_cast<const char*>(scanner->r_data), scanner->r_data_length);
        key.ttl = scanner->r_ttl;
        key.has_ttl = scanner->r_ttl != kNoTtl;
      }
    }
  }
  if (status.ok() && scanner->state == ZS_STATE_ERROR) {
    status = KeyError(path, scanner->line_counter, zs_strerror(scanner->error.code));
  }
  zs_deinit(scanner.get());
  if (!status.ok()) return status;
  if (records == 0) return KeyError(path, 1, "no DNSKEY record");
  if (key.rdata.size() < 4 || key.rdata[2] != 3) {
    return KeyError(path, 1, "the DNSKEY protocol field must be 3 (RFC 4034 §2.1.2)");
  }
  if (!(ReadU16(AsBytes(key.rdata)) & 0x0100)) {
    return KeyError(path, 1, "the DNSKEY lacks the Zone Key flag (256): it cannot sign a zone");
  }
  return key;
}

// Wipes a string that held private key material when it goes out of scope,
// so that no copy lingers in freed memory.
struct Wiped {
  std::string& text;
  ~Wiped() { OPENSSL_cleanse(text.data(), text.size()); }
};

// The fields of a .private file ("Private-key-format: v1.3", "Algorithm:
// 13 (ECDSAP256SHA256)", "PrivateKey: <base64>", timing metadata...).
struct PrivateFields {
  std::string format, algorithm, private_key;
  int algorithm_line = 0, private_key_line = 0;
};

absl::StatusOr<PrivateFields> ReadPrivateFields(const std::string& path) {
  auto text = ReadText(path);
  if (!text.ok()) return text.status();
  const Wiped wipe_text{*text};
  PrivateFields fields;
  int line = 0;
  for (absl::string_view each : absl::StrSplit(*text, '\n')) {
    ++line;
    each = absl::StripAsciiWhitespace(each);
    if (each.empty() || each[0] == ';') continue;
    const size_t colon = each.find(':');
    if (colon == absl::string_view::npos) {
      return KeyError(path, line, "expected 'Field: value'");
    }
    const absl::string_view field = each.substr(0, colon);
    const std::string value(absl::StripAsciiWhitespace(each.substr(colon + 1)));
    if (field == "Private-key-format") {
      fields.format = value;
    } else if (field == "Algorithm") {
      fields.algorithm = value;
      fields.algorithm_line = line;
    } else if (field == "PrivateKey") {
      fields.private_key = value;
      fields.private_key_line = line;
    }
  }
  if (!absl::StartsWith(fields.format, "v1.")) {
    return KeyError(path, 1, "not a private key file (no 'Private-key-format: v1.x')");
  }
  if (fields.private_key.empty()) {
    return KeyError(path, line, "no 'PrivateKey:' field (only ECDSA P-256 and Ed25519 sign)");
  }
  return fields;
}

absl::StatusOr<PkeyPtr> EcdsaP256Key(const std::string& raw_private, absl::string_view public_key) {
  std::string point = absl::StrCat("\x04", public_key);  // uncompressed
  OSSL_PARAM_BLD* build = OSSL_PARAM_BLD_new();
  BIGNUM* scalar = BN_bin2bn(AsBytes(raw_private), static_cast<int>(raw_private.size()), nullptr);
  OSSL_PARAM* params = nullptr;
  EVP_PKEY_CTX* context = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  EVP_PKEY* key = nullptr;
  if (build != nullptr && scalar != nullptr && context != nullptr &&
      OSSL_PARAM_BLD_push_utf8_string(build, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
      OSSL_PARAM_BLD_push_BN(build, OSSL_PKEY_PARAM_PRIV_KEY, scalar) &&
      OSSL_PARAM_BLD_push_octet_string(build, OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) &&
      (params = OSSL_PARAM_BLD_to_param(build)) != nullptr && EVP_PKEY_fromdata_init(context) > 0) {
    EVP_PKEY_fromdata(context, &key, EVP_PKEY_KEYPAIR, params);
  }
  EVP_PKEY_CTX_free(context);
  OSSL_PARAM_free(params);
  BN_clear_free(scalar);
  OSSL_PARAM_BLD_free(build);
  if (key == nullptr) return absl::InvalidArgumentError("not a valid ECDSA P-256 key");
  return PkeyPtr(key);
}

// Proves the private key belongs to the DNSKEY: sign, then verify with the
// public key alone. A mismatched pair would make every answer bogus.
bool SignsForPublicKey(EVP_PKEY* private_key, uint8_t algorithm, absl::string_view public_key) {
  PkeyPtr verifier;
  if (algorithm == algorithm::kEd25519) {
    verifier.reset(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, AsBytes(public_key),
                                               public_key.size()));
  } else {
    std::string point = absl::StrCat("\x04", public_key);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                         const_cast<char*>("prime256v1"), 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
        OSSL_PARAM_construct_end()};
    EVP_PKEY_CTX* context = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
    EVP_PKEY* key = nullptr;
    if (context != nullptr && EVP_PKEY_fromdata_init(context) > 0) {
      EVP_PKEY_fromdata(context, &key, EVP_PKEY_PUBLIC_KEY, params);
    }
    EVP_PKEY_CTX_free(context);
    verifier.reset(key);
  }
  if (verifier == nullptr) return false;
  const EVP_MD* digest = algorithm == algorithm::kEd25519 ? nullptr : EVP_sha256();
  static constexpr uint8_t kMessage[] = "agility key check";
  uint8_t signature[128];
  size_t signature_size = sizeof(signature);
  EVP_MD_CTX* sign = EVP_MD_CTX_new();
  EVP_MD_CTX* verify = EVP_MD_CTX_new();
  const bool ok =
      sign != nullptr && verify != nullptr &&
      EVP_DigestSignInit(sign, nullptr, digest, nullptr, private_key) > 0 &&
      EVP_DigestSign(sign, signature, &signature_size, kMessage, sizeof(kMessage)) > 0 &&
      EVP_DigestVerifyInit(verify, nullptr, digest, nullptr, verifier.get()) > 0 &&
      EVP_DigestVerify(verify, signature, signature_size, kMessage, sizeof(kMessage)) == 1;
  EVP_MD_CTX_free(sign);
  EVP_MD_CTX_free(verify);
  return ok;
}

absl::StatusOr<PkeyPtr> ReadPrivateKey(const std::string& path, const SigningKey& key) {
  auto fields = ReadPrivateFields(path);
  if (!fields.ok()) return fields.status();
  const Wiped wipe_field{fields->private_key};
  int algorithm = 0;
  const absl::string_view number =
      absl::string_view(fields->algorithm)
          .substr(0, fields->algorithm.find_first_not_of("0123456789"));
  if (!absl::SimpleAtoi(number, &algorithm) || algorithm != key.algorithm) {
    return KeyError(path, fields->algorithm_line,
                    absl::StrCat("algorithm '", fields->algorithm, "' is not the DNSKEY's ",
                                 static_cast<int>(key.algorithm)));
  }
  std::string raw;
  raw.reserve(64);  // no reallocation leaves a copy behind
  const Wiped wipe_raw{raw};
  // BIND 9.18 and ldns write the P-256 scalar without its leading zero
  // octets; an Ed25519 seed is always 32 octets.
  const bool ed25519 = key.algorithm == algorithm::kEd25519;
  if (!absl::Base64Unescape(fields->private_key, &raw) || raw.empty() || raw.size() > 32 ||
      (ed25519 && raw.size() != 32)) {
    return KeyError(path, fields->private_key_line,
                    "PrivateKey must be 32 octets of base64 (a P-256 scalar or an Ed25519 seed)");
  }
  raw.insert(0, 32 - raw.size(), '\0');
  const absl::string_view public_key = absl::string_view(key.dnskey_rdata).substr(4);
  absl::StatusOr<PkeyPtr> pkey;
  if (key.algorithm == algorithm::kEd25519) {
    EVP_PKEY* made =
        EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, AsBytes(raw), raw.size());
    if (made == nullptr) {
      pkey = absl::InvalidArgumentError("not a valid Ed25519 key");
    } else {
      pkey = PkeyPtr(made);
    }
  } else {
    pkey = EcdsaP256Key(raw, public_key);
  }
  if (!pkey.ok()) return KeyError(path, fields->private_key_line, pkey.status().message());
  if (!SignsForPublicKey(pkey->get(), key.algorithm, public_key)) {
    return KeyError(path, fields->private_key_line,
                    absl::StrCat("the private key does not match the public key in ", key.file));
  }
  return pkey;
}

// An RRset in the arena layout RrsetView reads (zone.h).
std::string RrsetBytes(uint16_t type, uint32_t ttl, const std::vector<std::string>& rdatas) {
  std::string out(RrsetView::kHeader, '\0');
  uint8_t* header = reinterpret_cast<uint8_t*>(out.data());
  WriteU16(header, type);
  WriteU32(header + 2, ttl);
  WriteU16(header + 6, static_cast<uint16_t>(rdatas.size()));
  for (const std::string& rdata : rdatas) {
    char length[2];
    WriteU16(reinterpret_cast<uint8_t*>(length), static_cast<uint16_t>(rdata.size()));
    out.append(length, 2).append(rdata);
  }
  WriteU32(reinterpret_cast<uint8_t*>(out.data()) + 8,
           static_cast<uint32_t>(out.size() - RrsetView::kHeader));
  return out;
}

// RFC 4509: digest type 2, SHA-256 over the owner and the DNSKEY RDATA.
std::string CdsRdata(absl::string_view apex, const SigningKey& key) {
  std::string input = absl::StrCat(apex, key.dnskey_rdata);
  uint8_t digest[SHA256_DIGEST_LENGTH];
  SHA256(AsBytes(input), input.size(), digest);
  std::string rdata(4, '\0');
  WriteU16(reinterpret_cast<uint8_t*>(rdata.data()), key.tag);
  rdata[2] = static_cast<char>(key.algorithm);
  rdata[3] = 2;
  rdata.append(reinterpret_cast<const char*>(digest), sizeof(digest));
  return rdata;
}

}  // namespace

absl::StatusOr<std::shared_ptr<const ZoneKeys>> ZoneKeys::Load(absl::string_view apex,
                                                               const std::string& directory,
                                                               uint32_t ttl) {
  std::error_code error;
  std::vector<std::string> files;
  // K<zone>.+<alg>+<tag>.key: one directory may hold the keys of many zones.
  const std::string prefix = absl::StrCat("k", NameToText(apex), "+");
  for (const auto& entry : std::filesystem::directory_iterator(directory, error)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(absl::AsciiStrToLower(name), prefix) && absl::EndsWith(name, ".key")) {
      files.push_back(entry.path().string());
    }
  }
  if (error) return KeyError(directory, 0, absl::StrCat("cannot list: ", error.message()));
  if (files.empty()) {
    return KeyError(directory, 0,
                    absl::StrCat("no K", NameToText(apex),
                                 "+*.key files: make keys with "
                                 "ldns-keygen -a ECDSAP256SHA256 -k or dnssec-keygen"));
  }
  std::sort(files.begin(), files.end());
  auto keys = std::make_shared<ZoneKeys>();
  keys->apex_ = std::string(apex);
  LabelOffsets labels;
  ComputeLabelOffsets(apex, labels);
  keys->apex_labels_ = labels.count;
  uint32_t rrset_ttl = ttl;
  for (const std::string& file : files) {
    auto public_key = ReadPublicKey(file, apex);
    if (!public_key.ok()) return public_key.status();
    SigningKey key;
    key.file = file;
    key.dnskey_rdata = std::move(public_key->rdata);
    if (public_key->has_ttl) rrset_ttl = std::min(rrset_ttl, public_key->ttl);
    const uint8_t* rdata = AsBytes(key.dnskey_rdata);
    key.flags = ReadU16(rdata);
    key.algorithm = rdata[3];
    key.tag = KeyTag(key.dnskey_rdata);
    key.identity = absl::HashOf(key.dnskey_rdata);
    const std::string private_file =
        absl::StrCat(absl::string_view(file).substr(0, file.size() - 4), ".private");
    if (!std::filesystem::exists(private_file, error)) {
      keys->keys_.push_back(std::move(key));  // published only
      continue;
    }
    const size_t public_size = key.dnskey_rdata.size() - 4;
    if (key.algorithm != algorithm::kEcdsaP256Sha256 && key.algorithm != algorithm::kEd25519) {
      return KeyError(file, 1,
                      absl::StrCat("algorithm ", static_cast<int>(key.algorithm),
                                   " cannot sign online: use 13 (ECDSAP256SHA256) or 15 "
                                   "(ED25519); a key without its .private is published only"));
    }
    if (public_size != (key.algorithm == algorithm::kEd25519 ? 32u : 64u)) {
      return KeyError(file, 1, "the public key has the wrong size for its algorithm");
    }
    auto private_key = ReadPrivateKey(private_file, key);
    if (!private_key.ok()) return private_key.status();
    key.private_key = std::move(*private_key);
    if (key.algorithm == algorithm::kEcdsaP256Sha256) {
      const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(key.private_key.get());
      key.ecdsa_key.reset(ec != nullptr ? EC_KEY_dup(ec) : nullptr);
      if (key.ecdsa_key == nullptr) return KeyError(private_file, 1, "OpenSSL cannot use the key");
    }
    keys->keys_.push_back(std::move(key));
  }
  std::vector<std::string> dnskeys, cds, cdnskeys;
  for (const SigningKey& key : keys->keys_) {
    dnskeys.push_back(key.dnskey_rdata);
    if (key.sep()) {
      cds.push_back(CdsRdata(apex, key));
      cdnskeys.push_back(key.dnskey_rdata);
    }
    if (key.private_key == nullptr) continue;
    (key.sep() ? keys->key_signers_ : keys->zone_signers_).push_back(&key);
  }
  if (keys->key_signers_.empty() && keys->zone_signers_.empty()) {
    return KeyError(directory, 0,
                    "no key has its .private file: nothing can sign (a .key alone is only "
                    "published)");
  }
  // One kind alone signs everything (a combined signing key, flags 257, or
  // zone signing keys only).
  if (keys->key_signers_.empty()) keys->key_signers_ = keys->zone_signers_;
  if (keys->zone_signers_.empty()) keys->zone_signers_ = keys->key_signers_;
  keys->dnskey_ = RrsetBytes(type::kDnskey, rrset_ttl, dnskeys);
  if (!cds.empty()) {
    keys->cds_ = RrsetBytes(type::kCds, rrset_ttl, cds);
    keys->cdnskey_ = RrsetBytes(type::kCdnskey, rrset_ttl, cdnskeys);
  }
  return keys;
}

RrsetView ZoneKeys::Find(uint16_t type) const {
  const std::string* rrset = type == type::kDnskey    ? &dnskey_
                             : type == type::kCds     ? &cds_
                             : type == type::kCdnskey ? &cdnskey_
                                                      : nullptr;
  if (rrset == nullptr || rrset->empty()) return RrsetView();
  return RrsetView(AsBytes(*rrset));
}

}  // namespace agility::dns
