// TSIG (RFC 8945) with configured keys: the check of a signed request and
// the signature of its response. libknot does the HMACs and the wire work;
// only signed messages come here, never the unsigned hot path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace agility::dns {

// One key as configured: a name, an algorithm (hmac-sha1, hmac-sha224,
// hmac-sha256, hmac-sha384, hmac-sha512) and its secret in base64.
struct TsigKeySpec {
  std::string name;  // presentation form
  std::string algorithm;
  std::string secret;
};

// Fails with a message naming what is wrong (algorithm, secret, name).
absl::Status CheckTsigKey(const TsigKeySpec& spec);

class TsigKeyring {
 public:
  static absl::StatusOr<std::shared_ptr<const TsigKeyring>> Build(
      const std::vector<TsigKeySpec>& specs);
  ~TsigKeyring();
  TsigKeyring(const TsigKeyring&) = delete;
  TsigKeyring& operator=(const TsigKeyring&) = delete;
  TsigKeyring() = default;

  struct Key;
  // The key named `name` (lowercase wire), or nullptr.
  const Key* Find(absl::string_view name) const;
  size_t size() const { return keys_.size(); }

 private:
  std::vector<std::unique_ptr<Key>> keys_;
};

// The key's name, lowercase wire.
absl::string_view TsigKeyName(const TsigKeyring::Key& key);

// What checking a signed request found, for signing the response.
struct TsigRequest {
  const TsigKeyring::Key* key = nullptr;  // null: no such key (BADKEY)
  uint16_t error = 0;                     // 0, or BADSIG, BADKEY, BADTIME, BADTRUNC
  uint64_t time_signed = 0;
  uint8_t mac[64];
  size_t mac_size = 0;
};

// Checks the TSIG of `message` (its owner at `owner`, its RDATA at `rdata`,
// as ParseQuery found them) against `keyring`.
TsigRequest CheckTsig(const uint8_t* message, size_t size, size_t owner, size_t rdata,
                      const TsigKeyring& keyring);

// The most octets a TSIG record of `key` adds to a response.
size_t TsigSpace(const TsigKeyring::Key& key);

// Appends the TSIG that signs `message` (`*size` octets, at most `limit`)
// as the response to `request` (RFC 8945 §5.3; for BADTIME the server's time
// in Other Data, §5.2.3). False when it does not fit or signing failed.
bool SignResponse(uint8_t* message, size_t* size, size_t limit, const TsigRequest& request);

// The server's side of a response of many messages (RFC 8945 §5.3.1):
// the first signed like any response, each next one chained to the MAC
// before it. Every message is signed.
class TsigStreamSigner {
 public:
  explicit TsigStreamSigner(const TsigRequest& request) : request_(request) {}
  // Appends the TSIG of the next message. False when it does not fit.
  bool Sign(uint8_t* message, size_t* size, size_t limit);

 private:
  TsigRequest request_;
  uint8_t digest_[64];
  size_t digest_size_ = 0;  // 0 before the first message
};

// The client's side of a signed exchange that may span many messages, as a
// zone transfer does (RFC 8945 §5.3.1): sign the request, then check each
// message of the response in order. Up to 99 unsigned messages may come
// between signed ones; the last must be signed.
class TsigClient {
 public:
  explicit TsigClient(const TsigKeyring::Key& key) : key_(&key) {}
  // Appends the request's TSIG. False when it does not fit.
  bool SignRequest(uint8_t* message, size_t* size, size_t limit);
  // `message` is one response as received, TSIG included, up to
  // kMaxMessageSize octets.
  absl::Status CheckResponse(const uint8_t* message, size_t size);
  // After the last message: fails when it was not signed.
  absl::Status Finish() const;

 private:
  const TsigKeyring::Key* key_;
  uint8_t digest_[64];
  size_t digest_size_ = 0;
  uint64_t time_signed_ = 0;  // of the last signed response; 0 before the first
  std::string unsigned_;      // messages since the last signed one, TSIG stripped
  int unsigned_count_ = 0;
};

}  // namespace agility::dns
