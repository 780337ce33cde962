#include "dnstap/encoder.h"

#include <netinet/in.h>

#include <cstring>

namespace agility::dnstap {
namespace {

// Wire types (protobuf encoding): a field's key is (number << 3) | type.
constexpr uint8_t kVarint = 0;
constexpr uint8_t kLength = 2;
constexpr uint8_t kFixed32 = 5;

constexpr uint8_t Key(int field, uint8_t wire_type) {
  return static_cast<uint8_t>(field << 3 | wire_type);  // every field here is below 16
}

// Field numbers of dnstap.proto.
enum DnstapField { kIdentity = 1, kVersion = 2, kMessage = 14, kDnstapType = 15 };
enum MessageField {
  kType = 1,
  kSocketFamily = 2,
  kSocketProtocol = 3,
  kQueryAddress = 4,
  kQueryPort = 6,
  kQueryTimeSec = 8,
  kQueryTimeNsec = 9,
  kQueryMessage = 10,
  kResponseTimeSec = 12,
  kResponseTimeNsec = 13,
  kResponseMessage = 14,
};
constexpr uint64_t kTypeMessage = 1;       // Dnstap.Type MESSAGE
constexpr uint64_t kInet = 1, kInet6 = 2;  // SocketFamily
constexpr uint64_t kUdp = 1, kTcp = 2;     // SocketProtocol

size_t VarintSize(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

class Writer {
 public:
  explicit Writer(uint8_t* out) : out_(out) {}
  void Varint(uint64_t value) {
    while (value >= 0x80) {
      out_[size_++] = static_cast<uint8_t>(value | 0x80);
      value >>= 7;
    }
    out_[size_++] = static_cast<uint8_t>(value);
  }
  void VarintField(int field, uint64_t value) {
    out_[size_++] = Key(field, kVarint);
    Varint(value);
  }
  void BytesField(int field, const void* data, size_t length) {
    out_[size_++] = Key(field, kLength);
    Varint(length);
    if (length > 0) std::memcpy(out_ + size_, data, length);  // an empty span may have no data
    size_ += length;
  }
  void Fixed32Field(int field, uint32_t value) {
    out_[size_++] = Key(field, kFixed32);
    for (int i = 0; i < 4; ++i) out_[size_++] = static_cast<uint8_t>(value >> (8 * i));
  }
  size_t size() const { return size_; }

 private:
  uint8_t* out_;
  size_t size_ = 0;
};

// The client's address and port, when it has one of the two families.
struct Address {
  uint64_t family = 0;  // 0: none
  const void* bytes = nullptr;
  size_t size = 0;
  uint16_t port = 0;
};

Address AddressOf(const sockaddr* client) {
  Address a;
  if (client->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(client);
    a = {kInet6, &in6->sin6_addr, 16, ntohs(in6->sin6_port)};
  } else if (client->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(client);
    a = {kInet, &in->sin_addr, 4, ntohs(in->sin_port)};
  }
  return a;
}

size_t LengthFieldSize(size_t length) { return 1 + VarintSize(length) + length; }

// The size of the Message fields Encode writes.
size_t MessageSize(const Exchange& e, const Address& a) {
  const auto seconds = static_cast<uint64_t>(e.time.tv_sec);
  size_t size = 2 + 2;  // type, socket_protocol
  if (a.family != 0) size += 2 + LengthFieldSize(a.size) + 1 + VarintSize(a.port);
  size += 1 + VarintSize(seconds) + 5;  // query time
  if (e.type == MessageType::kAuthResponse) size += 1 + VarintSize(seconds) + 5;
  return size + LengthFieldSize(e.wire.size());
}

}  // namespace

size_t EncodedSizeBound(absl::string_view identity, absl::string_view version,
                        const Exchange& exchange) {
  // The Dnstap fields around a Message of at most this size: keys, lengths
  // (10 octets each at most), the strings, the type.
  const size_t message = MessageSize(exchange, AddressOf(exchange.client));
  return 3 * 11 + identity.size() + version.size() + message + 2;
}

size_t Encode(absl::string_view identity, absl::string_view version, const Exchange& e,
              uint8_t* out) {
  const Address a = AddressOf(e.client);
  Writer w(out);
  if (!identity.empty()) w.BytesField(kIdentity, identity.data(), identity.size());
  if (!version.empty()) w.BytesField(kVersion, version.data(), version.size());
  out[w.size()] = Key(kMessage, kLength);
  Writer head(out + w.size() + 1);
  head.Varint(MessageSize(e, a));
  Writer m(out + w.size() + 1 + head.size());
  m.VarintField(kType, static_cast<uint64_t>(e.type));
  if (a.family != 0) m.VarintField(kSocketFamily, a.family);
  m.VarintField(kSocketProtocol, e.tcp ? kTcp : kUdp);
  if (a.family != 0) {
    m.BytesField(kQueryAddress, a.bytes, a.size);
    m.VarintField(kQueryPort, a.port);
  }
  const auto seconds = static_cast<uint64_t>(e.time.tv_sec);
  const auto nanoseconds = static_cast<uint32_t>(e.time.tv_nsec);
  m.VarintField(kQueryTimeSec, seconds);
  m.Fixed32Field(kQueryTimeNsec, nanoseconds);
  if (e.type == MessageType::kAuthQuery) {
    m.BytesField(kQueryMessage, e.wire.data(), e.wire.size());
  } else {
    m.VarintField(kResponseTimeSec, seconds);
    m.Fixed32Field(kResponseTimeNsec, nanoseconds);
    m.BytesField(kResponseMessage, e.wire.data(), e.wire.size());
  }
  Writer tail(out + w.size() + 1 + head.size() + m.size());
  tail.VarintField(kDnstapType, kTypeMessage);
  return w.size() + 1 + head.size() + m.size() + tail.size();
}

}  // namespace agility::dnstap
