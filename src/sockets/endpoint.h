// An IP address and port as written in configuration: "127.0.0.1:5353" or
// "[::1]:5353".
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/statusor.h"

namespace agility::sockets {

struct Endpoint {
  sockaddr_storage address = {};
  socklen_t length = 0;

  int family() const { return address.ss_family; }
  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&address); }
  uint16_t port() const;

  static absl::StatusOr<Endpoint> Parse(absl::string_view text);
  std::string ToString() const;
  bool operator==(const Endpoint& other) const { return ToString() == other.ToString(); }
};

// Formats any socket address as "a.b.c.d:port" or "[x::y]:port".
std::string FormatAddress(const sockaddr* address);

}  // namespace agility::sockets
