#include "policy/prefix.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace agility::policy {

absl::StatusOr<Prefix> Prefix::Parse(absl::string_view text) {
  Prefix p;
  const size_t slash = text.find('/');
  const std::string address(text.substr(0, slash));
  if (inet_pton(AF_INET, address.c_str(), p.bytes) == 1) {
    p.ipv4 = true;
  } else if (inet_pton(AF_INET6, address.c_str(), p.bytes) == 1) {
    p.ipv4 = false;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not an IP prefix"));
  }
  int length = p.max_length();
  if (slash != absl::string_view::npos && (!absl::SimpleAtoi(text.substr(slash + 1), &length) ||
                                           length < 0 || length > p.max_length())) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "': prefix length must be 0..", p.max_length()));
  }
  p.length = static_cast<uint8_t>(length);
  Prefix network = p;
  for (int bit = length; bit < p.max_length(); ++bit) {
    network.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
  }
  if (std::memcmp(network.bytes, p.bytes, 16) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' has host bits set; did you mean ", network.ToString(), "?"));
  }
  return p;
}

bool Prefix::Contains(const uint8_t* address) const {
  const int full = length / 8;
  if (std::memcmp(address, bytes, full) != 0) return false;
  if (length % 8 == 0) return true;
  const uint8_t mask = static_cast<uint8_t>(0xff << (8 - length % 8));
  return (address[full] & mask) == bytes[full];
}

std::string Prefix::ToString() const {
  char text[INET6_ADDRSTRLEN];
  inet_ntop(ipv4 ? AF_INET : AF_INET6, bytes, text, sizeof(text));
  return absl::StrCat(text, "/", length);
}

uint64_t Prefix::size() const {
  return host_bits() >= 64 ? UINT64_MAX : uint64_t{1} << host_bits();
}

bool operator==(const Prefix& a, const Prefix& b) {
  return a.ipv4 == b.ipv4 && a.length == b.length && std::memcmp(a.bytes, b.bytes, 16) == 0;
}

}  // namespace agility::policy
