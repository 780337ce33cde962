// agilityd: loads the configuration and zones, serves DNS, steers pool
// traffic with sk_lookup, and reloads on SIGHUP or `agilityctl reload`.
#include <getopt.h>

#include <cstdio>
#include <string>

#include "daemon/daemon.h"
#include "daemon/log.h"
#include "daemon/secondary.h"
#include "daemon/snapshot.h"

namespace {

constexpr char kUsage[] =
    "usage: agilityd [-c FILE] [--check] [--log-level LEVEL] [--version]\n"
    "  -c, --config FILE      configuration (default config/agility.yaml)\n"
    "      --check            load and validate configuration and zones, print a summary, "
    "exit\n"
    "      --log-level LEVEL  error, warning, info (the default) or debug\n"
    "  -V, --version          print the version and exit\n";

int Check(const std::string& config) {
  auto parsed = agility::config::LoadConfig(config);
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n", std::string(parsed.status().message()).c_str());
    return 1;
  }
  const int workers = parsed->server.workers;
  // Secondary zones are checked as configured, without a primary's copy.
  agility::daemon::Secondaries secondaries(nullptr, [] {});
  secondaries.Configure(*parsed);
  auto snapshot = agility::daemon::LoadSnapshot(*std::move(parsed), 1, workers, nullptr, nullptr,
                                                secondaries.Copies());
  if (!snapshot.ok()) {
    std::fprintf(stderr, "%s\n", std::string(snapshot.status().message()).c_str());
    return 1;
  }
  // DNSSEC findings (src/dns/signed_zone_check.h): the zone would serve,
  // but validators would reject what errors point at.
  bool dnssec_errors = false;
  for (const auto& zone : (*snapshot)->zones.zones()) {
    for (const std::string& warning : zone->dnssec_warnings()) {
      std::fprintf(stderr, "warning: %s\n", warning.c_str());
    }
    for (const std::string& error : zone->dnssec_errors()) {
      std::fprintf(stderr, "%s\n", error.c_str());
      dnssec_errors = true;
    }
  }
  std::fputs(agility::daemon::Summary(**snapshot).c_str(), stdout);
  return dnssec_errors ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config = "config/agility.yaml";
  bool check = false;
  static const option kOptions[] = {{"config", required_argument, nullptr, 'c'},
                                    {"check", no_argument, nullptr, 'k'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {"version", no_argument, nullptr, 'V'},
                                    {"log-level", required_argument, nullptr, 'l'},
                                    {nullptr, 0, nullptr, 0}};
  for (int opt; (opt = getopt_long(argc, argv, "c:hV", kOptions, nullptr)) != -1;) {
    switch (opt) {
      case 'c':
        config = optarg;
        break;
      case 'k':
        check = true;
        break;
      case 'l':
        if (const auto level = agility::daemon::ParseLogLevel(optarg)) {
          agility::daemon::SetLogLevel(*level);
          break;
        }
        std::fprintf(stderr, "--log-level %s: error, warning, info or debug\n", optarg);
        return 2;
      case 'h':
        std::fputs(kUsage, stdout);
        return 0;
      case 'V':
        std::puts("agilityd " AGILITY_VERSION);
        return 0;
      default:
        std::fputs(kUsage, stderr);
        return 2;
    }
  }
  if (optind != argc) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (check) return Check(config);
  return agility::daemon::Daemon(config).Run();
}
