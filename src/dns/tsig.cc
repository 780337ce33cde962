#include "dns/tsig.h"

extern "C" {
#include <libknot/consts.h>
#include <libknot/descriptor.h>
#include <libknot/errcode.h>
#include <libknot/error.h>
#include <libknot/rrset.h>
#include <libknot/rrtype/tsig.h>
#include <libknot/tsig-op.h>
#include <libknot/tsig.h>
}

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "dns/name.h"
#include "dns/wire.h"

namespace agility::dns {

struct TsigKeyring::Key {
  knot_tsig_key_t key{};
  std::string name;  // lowercase wire
  ~Key() { knot_tsig_key_deinit(&key); }
};

namespace {

absl::Status InitKey(const TsigKeySpec& spec, knot_tsig_key_t* key) {
  const std::string algorithm = absl::AsciiStrToLower(spec.algorithm);
  const int rc = knot_tsig_key_init(key, algorithm.c_str(), spec.name.c_str(), spec.secret.c_str());
  if (rc == KNOT_EOK) return absl::OkStatus();
  if (rc == KNOT_EMALF || rc == KNOT_EINVAL) {
    if (dnssec_tsig_algorithm_from_name(algorithm.c_str()) == DNSSEC_TSIG_UNKNOWN) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown TSIG algorithm '", spec.algorithm,
                       "' (hmac-sha1, hmac-sha224, hmac-sha256, hmac-sha384, hmac-sha512)"));
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("TSIG key '", spec.name, "': ", knot_strerror(rc),
                   " (the secret must be base64, the name a domain name)"));
}

}  // namespace

absl::Status CheckTsigKey(const TsigKeySpec& spec) {
  knot_tsig_key_t key{};
  const absl::Status status = InitKey(spec, &key);
  knot_tsig_key_deinit(&key);
  return status;
}

TsigKeyring::~TsigKeyring() = default;

absl::StatusOr<std::shared_ptr<const TsigKeyring>> TsigKeyring::Build(
    const std::vector<TsigKeySpec>& specs) {
  auto keyring = std::make_shared<TsigKeyring>();
  for (const TsigKeySpec& spec : specs) {
    auto key = std::make_unique<Key>();
    if (auto status = InitKey(spec, &key->key); !status.ok()) return status;
    auto name = NameFromText(spec.name);
    if (!name.ok()) return name.status();
    key->name = *name;
    keyring->keys_.push_back(std::move(key));
  }
  return std::shared_ptr<const TsigKeyring>(std::move(keyring));
}

const TsigKeyring::Key* TsigKeyring::Find(absl::string_view name) const {
  for (const auto& key : keys_) {
    if (key->name == name) return key.get();
  }
  return nullptr;
}

TsigRequest CheckTsig(const uint8_t* message, size_t size, size_t owner, size_t rdata,
                      const TsigKeyring& keyring) {
  TsigRequest request;
  uint8_t name[kMaxNameLength];
  size_t name_size = 0;
  if (ReadPacketName(message, size, owner, name, &name_size) == 0) {
    request.error = KNOT_RCODE_BADKEY;
    return request;
  }
  for (size_t i = 0; i < name_size; ++i) name[i] = AsciiLower(name[i]);
  request.key = keyring.Find(AsChars(name, name_size));
  if (request.key == nullptr) {
    request.error = KNOT_RCODE_BADKEY;
    return request;
  }
  knot_rrset_t tsig;
  knot_rrset_init(&tsig, name, KNOT_RRTYPE_TSIG, KNOT_CLASS_ANY, 0);
  const uint16_t rdlength = ReadU16(message + rdata - 2);
  if (knot_rrset_add_rdata(&tsig, message + rdata, rdlength, nullptr) != KNOT_EOK) {
    request.error = KNOT_RCODE_BADSIG;
    return request;
  }
  request.time_signed = knot_tsig_rdata_time_signed(&tsig);
  request.mac_size = std::min(knot_tsig_rdata_mac_length(&tsig), sizeof(request.mac));
  if (const uint8_t* mac = knot_tsig_rdata_mac(&tsig)) {
    std::memcpy(request.mac, mac, request.mac_size);
  }
  // The algorithm must be the key's (RFC 8945 §5.2.1: else BADKEY).
  if (knot_tsig_rdata_alg(&tsig) != request.key->key.algorithm) {
    request.error = KNOT_RCODE_BADKEY;
  } else {
    // libknot signs and checks a message with its TSIG stripped, as its
    // packet parser leaves it: without the record, ARCOUNT one less.
    std::string stripped(reinterpret_cast<const char*>(message), owner);
    uint8_t* header = reinterpret_cast<uint8_t*>(stripped.data());
    WriteU16(header + 10, static_cast<uint16_t>(ReadU16(header + 10) - 1));
    switch (knot_tsig_server_check(&tsig, header, stripped.size(), &request.key->key)) {
      case KNOT_EOK:
        break;
      case KNOT_TSIG_EBADTIME:
        request.error = KNOT_RCODE_BADTIME;
        break;
      case KNOT_TSIG_EBADTRUNC:
        request.error = KNOT_RCODE_BADTRUNC;
        break;
      case KNOT_TSIG_EBADKEY:
        request.error = KNOT_RCODE_BADKEY;
        break;
      default:
        request.error = KNOT_RCODE_BADSIG;
        break;
    }
  }
  knot_rdataset_clear(&tsig.rrs, nullptr);
  // RFC 8945 §5.3.2: a response to a request whose MAC failed is unsigned,
  // so it must not use that MAC.
  if (request.error == KNOT_RCODE_BADSIG || request.error == KNOT_RCODE_BADKEY) {
    request.mac_size = 0;
  }
  return request;
}

absl::string_view TsigKeyName(const TsigKeyring::Key& key) { return key.name; }

size_t TsigSpace(const TsigKeyring::Key& key) { return knot_tsig_wire_maxsize(&key.key); }

bool SignResponse(uint8_t* message, size_t* size, size_t limit, const TsigRequest& request) {
  uint8_t digest[64];
  size_t digest_size = sizeof(digest);
  return request.key != nullptr &&
         knot_tsig_sign(message, size, limit, request.mac, request.mac_size, digest, &digest_size,
                        &request.key->key, request.error, request.time_signed) == KNOT_EOK;
}

bool TsigStreamSigner::Sign(uint8_t* message, size_t* size, size_t limit) {
  if (request_.key == nullptr) return false;
  if (digest_size_ == 0) {
    digest_size_ = sizeof(digest_);
    return knot_tsig_sign(message, size, limit, request_.mac, request_.mac_size, digest_,
                          &digest_size_, &request_.key->key, 0, request_.time_signed) == KNOT_EOK;
  }
  uint8_t previous[sizeof(digest_)];
  std::memcpy(previous, digest_, digest_size_);
  size_t digest_size = sizeof(digest_);
  const int rc = knot_tsig_sign_next(message, size, limit, previous, digest_size_, digest_,
                                     &digest_size, &request_.key->key, message, *size);
  digest_size_ = digest_size;
  return rc == KNOT_EOK;
}

bool TsigClient::SignRequest(uint8_t* message, size_t* size, size_t limit) {
  digest_size_ = sizeof(digest_);
  return knot_tsig_sign(message, size, limit, nullptr, 0, digest_, &digest_size_, &key_->key, 0,
                        0) == KNOT_EOK;
}

absl::Status TsigClient::CheckResponse(const uint8_t* message, size_t size) {
  // The TSIG is the last record: find it by walking the message.
  if (size < kHeaderSize) return absl::DataLossError("a response shorter than its header");
  const size_t records =
      size_t{ReadU16(message + 6)} + ReadU16(message + 8) + ReadU16(message + 10);
  size_t pos = kHeaderSize;
  for (uint16_t i = 0; i < ReadU16(message + 4); ++i) {
    pos = SkipPacketName(message, size, pos);
    if (pos == 0 || pos + 4 > size) return absl::DataLossError("a malformed question");
    pos += 4;
  }
  size_t tsig_owner = 0;
  for (size_t i = 0; i < records; ++i) {
    const size_t owner = pos;
    pos = SkipPacketName(message, size, pos);
    if (pos == 0 || pos + 10 > size) return absl::DataLossError("a malformed record");
    const uint16_t rdlength = ReadU16(message + pos + 8);
    if (ReadU16(message + pos) == type::kTsig) {
      if (i + 1 != records) return absl::DataLossError("a TSIG that is not the last record");
      tsig_owner = owner;
    }
    pos += 10 + rdlength;
    if (pos > size) return absl::DataLossError("a record past the message's end");
  }
  const size_t signed_size = tsig_owner != 0 ? tsig_owner : size;
  const size_t start = unsigned_.size();
  unsigned_.append(reinterpret_cast<const char*>(message), signed_size);
  if (tsig_owner == 0) {
    // RFC 8945 §5.3.1: at most 99 unsigned messages in a row.
    if (++unsigned_count_ >= 100) {
      return absl::PermissionDeniedError("100 unsigned messages in a row");
    }
    return absl::OkStatus();
  }
  uint8_t* header = reinterpret_cast<uint8_t*>(unsigned_.data()) + start;
  WriteU16(header + 10, static_cast<uint16_t>(ReadU16(header + 10) - 1));

  uint8_t name[kMaxNameLength];
  size_t name_size = 0;
  if (ReadPacketName(message, size, tsig_owner, name, &name_size) == 0) {
    return absl::DataLossError("a malformed TSIG owner");
  }
  const size_t rdata = SkipPacketName(message, size, tsig_owner) + 10;
  knot_rrset_t tsig;
  knot_rrset_init(&tsig, name, KNOT_RRTYPE_TSIG, KNOT_CLASS_ANY, 0);
  if (knot_rrset_add_rdata(&tsig, message + rdata, ReadU16(message + rdata - 2), nullptr) !=
      KNOT_EOK) {
    return absl::DataLossError("a malformed TSIG");
  }
  int rc = KNOT_EMALF;
  if (knot_tsig_rdata_is_ok(&tsig)) {
    const uint8_t* wire = reinterpret_cast<const uint8_t*>(unsigned_.data());
    rc = time_signed_ == 0 ? knot_tsig_client_check(&tsig, wire, unsigned_.size(), digest_,
                                                    digest_size_, &key_->key, 0)
                           : knot_tsig_client_check_next(&tsig, wire, unsigned_.size(), digest_,
                                                         digest_size_, &key_->key, time_signed_);
  }
  absl::Status status = absl::OkStatus();
  if (rc != KNOT_EOK) {
    status = absl::PermissionDeniedError(absl::StrCat("TSIG check failed: ", knot_strerror(rc)));
  } else if (knot_tsig_rdata_mac_length(&tsig) > sizeof(digest_)) {
    status = absl::PermissionDeniedError("a TSIG MAC longer than any HMAC");
  } else {
    digest_size_ = knot_tsig_rdata_mac_length(&tsig);
    std::memcpy(digest_, knot_tsig_rdata_mac(&tsig), digest_size_);
    time_signed_ = knot_tsig_rdata_time_signed(&tsig);
    unsigned_.clear();
    unsigned_count_ = 0;
  }
  knot_rdataset_clear(&tsig.rrs, nullptr);
  return status;
}

absl::Status TsigClient::Finish() const {
  if (time_signed_ == 0 || unsigned_count_ > 0) {
    return absl::PermissionDeniedError("the response's last message is not signed");
  }
  return absl::OkStatus();
}

}  // namespace agility::dns
