// The YAML configuration: what agilityd serves and how. Parsing checks
// everything that can be checked without reading zones, and reports every
// problem as "file:line: message".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "policy/prefix.h"
#include "sockets/endpoint.h"

namespace agility::policy {

struct ServerConfig {
  std::vector<sockets::Endpoint> listen;
  int workers = 0;  // 0 until parsed; defaults to the number of cores
  std::string control = "/run/agility/control.sock";
  uint32_t tcp_idle_timeout_ms = 10000;
  uint16_t max_udp_size = 1232;
};

struct ZoneSource {
  std::string path;  // absolute, or relative to the working directory
  int line = 0;
};

struct PoolConfig {
  std::string name;
  Prefix prefix;
  int line = 0;
};

struct PolicyConfig {
  std::string name;
  std::vector<std::string> match;
  int ipv4_pool = -1;  // index into Config::pools, -1 when absent
  int ipv6_pool = -1;
  uint32_t ttl = 300;
  std::string service;
  int line = 0;
};

struct Config {
  std::string path;
  ServerConfig server;
  std::vector<ZoneSource> zones;
  std::vector<PoolConfig> pools;
  std::vector<PolicyConfig> policies;
};

absl::StatusOr<Config> LoadConfig(const std::string& path);

// Parses YAML text; `path` names it in errors and anchors relative paths.
absl::StatusOr<Config> ParseConfig(const std::string& yaml, const std::string& path);

}  // namespace agility::policy
