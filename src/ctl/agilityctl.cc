// agilityctl: the client of agilityd's control socket. It reads the same
// configuration as agilityd to find the socket (server.control).
#include <getopt.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_join.h"
#include "policy/config.h"

namespace {

constexpr char kUsage[] =
    "usage: agilityctl [-c FILE] [-s SOCKET] COMMAND\n"
    "  -c, --config FILE   agilityd's configuration (default config/agility.yaml)\n"
    "  -s, --socket PATH   control socket (default: server.control from the configuration)\n"
    "commands:\n"
    "  status   generation, uptime, zones, policies, pools, query counters\n"
    "  reload   re-read configuration and zones; waits and prints the outcome\n";

int Exchange(const std::string& path, const std::string& request) {
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
  const std::string line = request + "\n";
  if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
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
  static const option kOptions[] = {{"config", required_argument, nullptr, 'c'},
                                    {"socket", required_argument, nullptr, 's'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  for (int opt; (opt = getopt_long(argc, argv, "+c:s:h", kOptions, nullptr)) != -1;) {
    switch (opt) {
      case 'c':
        config = optarg;
        break;
      case 's':
        socket_path = optarg;
        break;
      case 'h':
        std::fputs(kUsage, stdout);
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
    auto parsed = agility::policy::LoadConfig(config);
    if (!parsed.ok()) {
      std::fprintf(stderr, "%s\n", std::string(parsed.status().message()).c_str());
      return 2;
    }
    socket_path = parsed->server.control;
  }
  std::vector<std::string> words(argv + optind, argv + argc);
  return Exchange(socket_path, absl::StrJoin(words, " "));
}
