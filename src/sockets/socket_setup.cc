#include "sockets/socket_setup.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace agility::sockets {
#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78  // linux/in6.h, not in every libc's netinet/in.h
#endif

namespace {

constexpr int kUdpBufferBytes = 4 << 20;

// The errno's own code (EADDRINUSE, EACCES... stay distinct), with `what`.
absl::Status Errno(absl::string_view what, const Endpoint& endpoint) {
  return absl::ErrnoToStatus(errno, absl::StrCat(what, " ", endpoint.ToString()));
}

absl::StatusOr<int> OpenBound(const Endpoint& endpoint, int type) {
  const int fd = socket(endpoint.family(), type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket for", endpoint);
  const int one = 1;
  bool ok = setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0;
  if (type == SOCK_STREAM)
    ok = ok && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0;
  if (endpoint.family() == AF_INET6) {
    ok = ok && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == 0;
  }
  if (type == SOCK_DGRAM) {
    // Deep buffers ride out bursts (dnsperf at full speed, a busy worker)
    // instead of dropping queries; as root, past net.core.rmem_max.
    for (const auto& [force, normal] :
         {std::pair{SO_RCVBUFFORCE, SO_RCVBUF}, std::pair{SO_SNDBUFFORCE, SO_SNDBUF}}) {
      if (setsockopt(fd, SOL_SOCKET, force, &kUdpBufferBytes, sizeof(kUdpBufferBytes)) != 0) {
        setsockopt(fd, SOL_SOCKET, normal, &kUdpBufferBytes, sizeof(kUdpBufferBytes));
      }
    }
    // Replies leave from the address each query was sent to. Steered pool
    // addresses may be local only by route (ip route add local ...), which
    // IPv6 accepts as a source only with FREEBIND (IPv4 accepts it anyway).
    if (endpoint.family() == AF_INET6) {
      ok = ok && setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one)) == 0;
    }
    ok = ok && (endpoint.family() == AF_INET
                    ? setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one))
                    : setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one))) == 0;
    // Responses larger than the path MTU are fragmented rather than lost to
    // PMTU discovery games (the flag-day 2020 recommendation for DNS).
    const int pmtu = endpoint.family() == AF_INET ? IP_PMTUDISC_OMIT : IPV6_PMTUDISC_OMIT;
    if (endpoint.family() == AF_INET) {
      setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
    } else {
      setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof(pmtu));
    }
  }
  if (!ok) {
    const absl::Status status = Errno("setsockopt on", endpoint);
    close(fd);
    return status;
  }
  if (bind(fd, endpoint.sockaddr_ptr(), endpoint.length) != 0) {
    const absl::Status status = Errno(type == SOCK_DGRAM ? "bind udp" : "bind tcp", endpoint);
    close(fd);
    return status;
  }
  return fd;
}

}  // namespace

absl::StatusOr<int> OpenUdpSocket(const Endpoint& endpoint) {
  return OpenBound(endpoint, SOCK_DGRAM);
}

absl::StatusOr<int> OpenTcpListener(const Endpoint& endpoint, int backlog) {
  auto fd = OpenBound(endpoint, SOCK_STREAM);
  if (!fd.ok()) return fd;
  const int one = 1;
  setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (listen(*fd, backlog) != 0) {
    const absl::Status status = Errno("listen on", endpoint);
    close(*fd);
    return status;
  }
  return fd;
}

}  // namespace agility::sockets
