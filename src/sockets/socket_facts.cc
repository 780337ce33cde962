#include "sockets/socket_facts.h"

#include <dirent.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace agility::sockets {
namespace {

int IntOption(int fd, int level, int name) {
  int value = 0;
  socklen_t size = sizeof(value);
  if (getsockopt(fd, level, name, &value, &size) != 0) return -1;
  return value;
}

// Debian 12's <sys/pidfd.h> lacks C linkage for C++; the syscalls are simple.
int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }
int PidfdGetfd(int pidfd, int target) {
  return static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, target, 0));
}

bool SameAddress(const sockaddr_storage& a, const Endpoint& b) {
  if (a.ss_family != b.family()) return false;
  if (a.ss_family == AF_INET) {
    const auto& x = reinterpret_cast<const sockaddr_in&>(a);
    const auto& y = reinterpret_cast<const sockaddr_in&>(b.address);
    return x.sin_port == y.sin_port && x.sin_addr.s_addr == y.sin_addr.s_addr;
  }
  const auto& x = reinterpret_cast<const sockaddr_in6&>(a);
  const auto& y = reinterpret_cast<const sockaddr_in6&>(b.address);
  return x.sin6_port == y.sin6_port && std::memcmp(&x.sin6_addr, &y.sin6_addr, 16) == 0;
}

}  // namespace

std::string SocketFacts::Describe() const {
  return absl::StrCat(config::ProtocolName(protocol), family == AF_INET6 ? "6 " : "4 ",
                      FormatAddress(reinterpret_cast<const sockaddr*>(&local)), " cookie ", cookie);
}

absl::StatusOr<SocketFacts> InspectSocket(int fd) {
  SocketFacts f;
  f.family = IntOption(fd, SOL_SOCKET, SO_DOMAIN);
  if (f.family < 0) {
    return absl::InvalidArgumentError(absl::StrCat("not a socket: ", strerror(errno)));
  }
  const int protocol = IntOption(fd, SOL_SOCKET, SO_PROTOCOL);
  if (protocol == IPPROTO_TCP) {
    f.protocol = config::Protocol::kTcp;
  } else if (protocol == IPPROTO_UDP) {
    f.protocol = config::Protocol::kUdp;
  } else {
    return absl::InvalidArgumentError("only TCP and UDP sockets can be steered");
  }
  f.listening = IntOption(fd, SOL_SOCKET, SO_ACCEPTCONN) == 1;
  sockaddr_storage peer;
  socklen_t peer_size = sizeof(peer);
  f.connected = getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_size) == 0;
  if (f.family == AF_INET6) f.v6only = IntOption(fd, IPPROTO_IPV6, IPV6_V6ONLY) == 1;
  socklen_t cookie_size = sizeof(f.cookie);
  getsockopt(fd, SOL_SOCKET, SO_COOKIE, &f.cookie, &cookie_size);
  socklen_t local_size = sizeof(f.local);
  getsockname(fd, reinterpret_cast<sockaddr*>(&f.local), &local_size);
  const int netns = ioctl(fd, SIOCGSKNS);
  struct stat theirs, ours;
  f.same_netns = netns >= 0 && fstat(netns, &theirs) == 0 &&
                 stat("/proc/self/ns/net", &ours) == 0 && theirs.st_ino == ours.st_ino &&
                 theirs.st_dev == ours.st_dev;
  if (netns >= 0) close(netns);
  return f;
}

absl::Status CheckSteerable(const SocketFacts& f) {
  const std::string what = f.Describe();
  if (f.family != AF_INET && f.family != AF_INET6) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": only IPv4 and IPv6 sockets"));
  }
  if (f.family == AF_INET6 && !f.v6only) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": an IPv6 socket must set IPV6_V6ONLY (register IPv4 separately)"));
  }
  if (f.protocol == config::Protocol::kTcp && !f.listening) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": a TCP socket must be listening"));
  }
  if (f.protocol == config::Protocol::kUdp && f.connected) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": a UDP socket must be unconnected"));
  }
  if (!f.same_netns) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": the socket belongs to another network namespace"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> TakeSocketFromProcess(pid_t pid, config::Protocol protocol,
                                          const Endpoint& local) {
  const int pidfd = PidfdOpen(pid);
  if (pidfd < 0) {
    return absl::NotFoundError(absl::StrCat("pidfd_open(", pid, "): ", strerror(errno)));
  }
  const std::string dir = absl::StrCat("/proc/", pid, "/fd");
  DIR* fds = opendir(dir.c_str());
  if (fds == nullptr) {
    close(pidfd);
    return absl::NotFoundError(absl::StrCat("cannot list ", dir, ": ", strerror(errno)));
  }
  int found = -1;
  std::string last_error = "no such socket";
  while (dirent* entry = readdir(fds)) {
    char* end = nullptr;
    const long target = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0') continue;
    const int fd = PidfdGetfd(pidfd, static_cast<int>(target));
    if (fd < 0) {
      last_error = absl::StrCat("pidfd_getfd: ", strerror(errno));
      continue;
    }
    auto facts = InspectSocket(fd);
    if (facts.ok() && facts->protocol == protocol && SameAddress(facts->local, local) &&
        (protocol == config::Protocol::kUdp ? !facts->connected : facts->listening)) {
      found = fd;
      break;
    }
    close(fd);
  }
  closedir(fds);
  close(pidfd);
  if (found < 0) {
    return absl::NotFoundError(absl::StrCat(
        "process ", pid, " has no ", protocol == config::Protocol::kTcp ? "listening tcp" : "udp",
        " socket on ", local.ToString(), " (", last_error, ")"));
  }
  return found;
}

}  // namespace agility::sockets
