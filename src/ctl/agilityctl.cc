// agilityctl: the client of agilityd's control socket. It reads the same
// configuration as agilityd to find the socket (server.control).
#include <getopt.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "config/config.h"

namespace {

constexpr char kUsage[] =
    "usage: agilityctl [-c FILE] [-s SOCKET] [--json] COMMAND\n"
    "  -c, --config FILE   agilityd's configuration (default config/agility.yaml)\n"
    "  -s, --socket PATH   control socket (default: server.control from the configuration)\n"
    "  -j, --json          status and bindings as JSON\n"
    "  -V, --version       print the version and exit\n"
    "commands:\n"
    "  status                 generation, uptime, zones, pools and live weights, counters,\n"
    "                         draining bindings, sk_lookup labels\n"
    "  reload                 re-read configuration and zones; waits and prints the outcome\n"
    "  bindings               the sk_lookup bindings in force (draining ones with the seconds\n"
    "                         left)\n"
    "  shift POOL PREFIX WEIGHT [--over SECONDS]\n"
    "                         set one prefix's weight live, at once or ramping linearly;\n"
    "                         kept across reloads and restarts until the YAML weight changes\n"
    "  shift POOL PREFIX --reset\n"
    "                         back to the weight in the YAML\n"
    "  register LABEL         hand the sockets of systemd socket activation (LISTEN_FDS)\n"
    "                         to agilityd, steered as LABEL\n"
    "  register-pid PID LABEL tcp|udp ADDR:PORT\n"
    "                         steer LABEL to that socket of a running process\n";

// The sockets systemd passed us (sd_listen_fds(3)): fds 3.. when LISTEN_PID
// names this process.
std::vector<int> ActivationFds() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* count = std::getenv("LISTEN_FDS");
  if (pid == nullptr || count == nullptr || std::atol(pid) != getpid()) return {};
  std::vector<int> fds;
  for (int i = 0; i < std::atoi(count) && i < 16; ++i) fds.push_back(3 + i);
  return fds;
}

// `shift POOL PREFIX WEIGHT [--over SECONDS]` or `shift POOL PREFIX --reset`
// as the control socket's `shift POOL PREFIX WEIGHT [SECONDS]` or
// `shift POOL PREFIX reset`; nullopt when malformed.
std::optional<std::vector<std::string>> ShiftRequest(const std::vector<std::string>& words) {
  if (words.size() == 4 && words[3] == "--reset") {
    return std::vector<std::string>{"shift", words[1], words[2], "reset"};
  }
  if (words.size() == 4 && words[3][0] != '-') return words;
  if (words.size() == 6 && words[3][0] != '-' && words[4] == "--over")
    return std::vector<std::string>{"shift", words[1], words[2], words[3], words[5]};
  if (words.size() == 5 && words[3][0] != '-' && words[4].rfind("--over=", 0) == 0) {
    return std::vector<std::string>{"shift", words[1], words[2], words[3], words[4].substr(7)};
  }
  return std::nullopt;
}

int Exchange(const std::string& path, const std::string& request, const std::vector<int>& fds) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    std::fprintf(stderr, "agilityctl: socket path too long: %s\n", path.c_str());
    return 2;
  }
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    std::fprintf(stderr, "agilityctl: cannot connect to %s: %s (is agilityd running?)\n",
                 path.c_str(), strerror(errno));
    return 2;
  }
  std::string line = request + "\n";
  iovec iov = {line.data(), line.size()};
  msghdr message = {};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 16)] = {};
  if (!fds.empty()) {
    message.msg_control = control;
    message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&message);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  if (sendmsg(fd, &message, MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    std::fprintf(stderr, "agilityctl: write: %s\n", strerror(errno));
    return 2;
  }
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = read(fd, buffer, sizeof(buffer))) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "agilityctl: read: %s\n", strerror(errno));
      return 2;
    }
    response.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  // The last line is the verdict: "ok" or "error".
  if (!response.empty() && response.back() == '\n') response.pop_back();
  const size_t last = response.rfind('\n');
  const std::string verdict = last == std::string::npos ? response : response.substr(last + 1);
  const std::string body = last == std::string::npos ? "" : response.substr(0, last + 1);
  if (verdict == "ok") {
    std::fputs(body.c_str(), stdout);
    return 0;
  }
  std::fputs(body.c_str(), stderr);
  if (verdict != "error") std::fprintf(stderr, "agilityctl: malformed reply\n");
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config = "config/agility.yaml";
  std::string socket_path;
  bool json = false;
  static const option kOptions[] = {{"config", required_argument, nullptr, 'c'},
                                    {"socket", required_argument, nullptr, 's'},
                                    {"json", no_argument, nullptr, 'j'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {"version", no_argument, nullptr, 'V'},
                                    {nullptr, 0, nullptr, 0}};
  for (int opt; (opt = getopt_long(argc, argv, "+c:s:jhV", kOptions, nullptr)) != -1;) {
    switch (opt) {
      case 'c':
        config = optarg;
        break;
      case 's':
        socket_path = optarg;
        break;
      case 'j':
        json = true;
        break;
      case 'h':
        std::fputs(kUsage, stdout);
        return 0;
      case 'V':
        std::puts("agilityctl " AGILITY_VERSION);
        return 0;
      default:
        std::fputs(kUsage, stderr);
        return 2;
    }
  }
  if (optind >= argc) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (socket_path.empty()) {
    auto control = agility::config::ReadControlPath(config);
    if (!control.ok()) {
      std::fprintf(stderr, "%s\n", std::string(control.status().message()).c_str());
      return 2;
    }
    socket_path = *control;
  }
  std::vector<std::string> words(argv + optind, argv + argc);
  if (json) {
    if (words[0] != "status" && words[0] != "bindings") {
      std::fputs("agilityctl: --json applies to status and bindings\n", stderr);
      return 2;
    }
    words.push_back("--json");
  }
  if (words[0] == "shift") {
    auto request = ShiftRequest(words);
    if (!request.has_value()) {
      std::fputs(kUsage, stderr);
      return 2;
    }
    words = *request;
  }
  std::vector<int> fds;
  if (words[0] == "register") {
    fds = ActivationFds();
    if (fds.empty()) {
      std::fprintf(stderr,
                   "agilityctl: register needs sockets from systemd socket activation "
                   "(LISTEN_PID/LISTEN_FDS); see also register-pid\n");
      return 2;
    }
  }
  return Exchange(socket_path, absl::StrJoin(words, " "), fds);
}
