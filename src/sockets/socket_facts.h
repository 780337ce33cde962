// What a socket is, read from the kernel: family, protocol, state, address,
// namespace. Used to validate a socket before it is steered to, and to find
// one in another process.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "config/config.h"
#include "sockets/endpoint.h"

namespace agility::sockets {

struct SocketFacts {
  int family = 0;
  config::Protocol protocol = config::Protocol::kTcp;
  bool listening = false;
  bool connected = false;
  bool v6only = false;
  bool same_netns = false;
  uint64_t cookie = 0;
  sockaddr_storage local = {};

  std::string Describe() const;
};

absl::StatusOr<SocketFacts> InspectSocket(int fd);

// Fine for sk_lookup: a listening TCP or unconnected UDP socket, IPv4 or
// IPv6-only, in our network namespace.
absl::Status CheckSteerable(const SocketFacts& facts);

// Duplicates, with pidfd_getfd, the socket of process `pid` that has
// `protocol` and local address `local` (listening, for TCP). The caller owns
// the returned fd.
absl::StatusOr<int> TakeSocketFromProcess(pid_t pid, config::Protocol protocol,
                                          const Endpoint& local);

}  // namespace agility::sockets
