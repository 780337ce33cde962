#include "test_keys.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "dns/zone_keys.h"

namespace agility::testing {

uint16_t WriteKey(const std::string& directory, const std::string& apex, uint16_t flags,
                  bool ed25519) {
  EVP_PKEY* key = ed25519 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                          : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  std::string public_key, private_key(32, '\0');
  if (ed25519) {
    public_key.resize(32);
    size_t size = 32;
    EVP_PKEY_get_raw_public_key(key, reinterpret_cast<uint8_t*>(public_key.data()), &size);
    size = 32;
    EVP_PKEY_get_raw_private_key(key, reinterpret_cast<uint8_t*>(private_key.data()), &size);
  } else {
    uint8_t point[65];
    size_t size = sizeof(point);
    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point), &size);
    public_key.assign(reinterpret_cast<char*>(point) + 1, 64);
    BIGNUM* scalar = nullptr;
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &scalar);
    BN_bn2binpad(scalar, reinterpret_cast<uint8_t*>(private_key.data()), 32);
    BN_free(scalar);
  }
  EVP_PKEY_free(key);
  const int algorithm = ed25519 ? 15 : 13;
  std::string rdata = {static_cast<char>(flags >> 8), static_cast<char>(flags), 3,
                       static_cast<char>(algorithm)};
  rdata += public_key;
  const uint16_t tag = dns::KeyTag(rdata);
  char base[300];
  snprintf(base, sizeof(base), "K%s.+%03d+%05d", apex.c_str(), algorithm, tag);
  std::ofstream(absl::StrCat(directory, "/", base, ".key"))
      << apex << ". IN DNSKEY " << flags << " 3 " << algorithm << " "
      << absl::Base64Escape(public_key) << " ;{id = " << tag << "}\n";
  std::ofstream(absl::StrCat(directory, "/", base, ".private"))
      << "Private-key-format: v1.2\nAlgorithm: " << algorithm
      << (ed25519 ? " (ED25519)\n" : " (ECDSAP256SHA256)\n")
      << "PrivateKey: " << absl::Base64Escape(private_key) << "\n";
  return tag;
}

TempDir::TempDir() {
  char name[] = "/tmp/agility-keys-XXXXXX";
  path_ = mkdtemp(name);
}

TempDir::~TempDir() { std::filesystem::remove_all(path_); }

}  // namespace agility::testing
