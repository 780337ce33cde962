// The YAML configuration: what agilityd serves and how. Parsing checks
// everything that can be checked without reading zones, and reports every
// problem as "file:line: message".
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dns/cookies.h"
#include "dns/rate_limiter.h"
#include "policy/prefix.h"
#include "sockets/batch_wait.h"
#include "sockets/endpoint.h"

namespace agility::config {

struct ServerConfig {
  std::vector<sockets::Endpoint> listen;
  int workers = 0;  // 0 until parsed; defaults to the number of cores
  std::string control = "/run/agility/control.sock";
  uint32_t tcp_idle_timeout_ms = 10000;
  // Defences against hostile TCP clients (see sockets/tcp_listener.h).
  uint32_t tcp_query_timeout_ms = 2000;          // first byte to last of one message
  uint32_t tcp_max_connections = 1000;           // all workers together
  uint32_t tcp_max_connections_per_client = 50;  // per client IP address
  uint32_t tcp_max_unsent_bytes = 65536;         // per connection; reading pauses above
  uint16_t max_udp_size = 1232;
  sockets::BatchWait udp_batch_wait;  // see sockets::WaitAfter
  sockets::UdpIo udp_io = sockets::UdpIo::kAuto;
  uint32_t udp_queries_per_address = 0;      // eBPF filter (sockets::QueryFilter); 0: off
  std::optional<sockets::Endpoint> metrics;  // Prometheus /metrics over HTTP
  std::string user;                          // run as this user after setup; empty: stay as started
  // What must outlive the process (drains, weight overrides); created 0700.
  std::string state_dir = "/var/lib/agility";
  // Online signatures cached, all workers together (each has its share).
  uint32_t dnssec_cache_mb = 256;
  // Who answers: NSID (RFC 5001) and CH TXT id.server / hostname.bind;
  // version.bind / version.server. Empty (the default): not told.
  std::string identity;
  std::string version;
  bool operator==(const ServerConfig&) const = default;
};

struct ZoneSource {
  std::string path;  // absolute, or relative to the working directory
  int line = 0;
};

// A server we transfer zones from (`remotes: NAME: {address, key}`).
struct Remote {
  std::string name;
  sockets::Endpoint address;  // port 53 unless written
  std::string key;            // a `keys:` name signing what we exchange; empty: unsigned
  int line = 0;
};

// A zone served as a secondary: `zones: - {name: NAME, primaries: [REMOTE]}`;
// or a catalog zone (RFC 9432): `catalogs: - {name, primaries, max_zones}`,
// whose member zones are served as secondaries from the same primaries.
struct SecondaryZone {
  std::string apex;                    // lowercase wire
  std::vector<std::string> primaries;  // `remotes:` names, in the order tried
  bool catalog = false;
  size_t max_zones = 100000;  // a catalog's members at most
  bool policy = false;        // `policy_from:`: the zone pools and policies come from
  int line = 0;
  bool operator==(const SecondaryZone&) const = default;
};

// One prefix of a pool and its share of the pool's answers.
struct PoolPrefix {
  policy::Prefix prefix;
  uint32_t weight = 1;  // 0: steered, never answered
  int line = 0;
};

inline constexpr uint32_t kMaxWeight = 1000000;
inline constexpr size_t kMaxPoolPrefixes = 4096;

struct PoolConfig {
  std::string name;
  // One family, no two overlapping, at least one weight above 0.
  std::vector<PoolPrefix> prefixes;
  int line = 0;
  bool ipv4() const { return prefixes.front().prefix.ipv4; }
};

// The ports a policy's pools are steered on unless it names its own.
inline constexpr uint16_t kWebPorts[] = {80,   443,  2052, 2053, 2082, 2083, 2086,
                                         2087, 2095, 2096, 8080, 8443, 8880};

// agilityd's own DNS sockets are registered under this label.
inline constexpr char kDnsService[] = "dns";

enum class Protocol : uint8_t { kTcp = 6, kUdp = 17 };

inline const char* ProtocolName(Protocol protocol) {
  return protocol == Protocol::kTcp ? "tcp" : "udp";
}

struct PolicyConfig {
  std::string name;
  std::vector<std::string> match;
  int ipv4_pool = -1;  // index into Config::pools, -1 when absent
  int ipv6_pool = -1;
  uint32_t ttl = 300;
  std::string service;  // sk_lookup label; empty: not steered
  int service_line = 0;
  std::vector<uint16_t> ports;  // 0 = every port
  std::vector<Protocol> protocols;
  int line = 0;
};

struct SkLookupConfig {
  bool enabled = true;
  bool required = false;  // refuse to start without BPF
  std::string pin = "/sys/fs/bpf/agility";
  // A prefix no longer answered stays steered for the largest TTL it was
  // answered with plus this long (resolvers and clients that are late).
  uint32_t drain_grace_s = 60;
  // The settings that take effect at start only (drain_grace_s reloads).
  bool SameAttachment(const SkLookupConfig& other) const {
    return enabled == other.enabled && required == other.required && pin == other.pin;
  }
};

struct ServiceConfig {
  std::string name;
  int line = 0;
};

// A steering rule beside the pools: {label, protocol, prefix, port}.
struct BindingConfig {
  std::string label;
  Protocol protocol = Protocol::kTcp;
  policy::Prefix prefix;
  uint16_t port = 0;
  int line = 0;
};

// Response Rate Limiting for UDP (off by default); see dns::RateLimiter.
struct RateLimitSettings {
  bool enabled = false;
  dns::RateLimitConfig limits;
  bool operator==(const RateLimitSettings&) const = default;
};

// DNS cookies (RFC 7873, 9018), off without `cookies:`. `secrets` (32 hex
// digits each): the first makes server cookies, all are accepted; a fleet
// shares them. None given: one random secret for the life of the process.
struct CookieSettings {
  bool enabled = false;
  std::vector<dns::CookieSecret> secrets;
  bool operator==(const CookieSettings&) const = default;
};

// dnstap query logging (off without `dnstap:`): AUTH_QUERY and AUTH_RESPONSE
// messages to a collector's Unix socket or to a file. Set up at start.
struct DnstapSettings {
  bool enabled = false;
  std::string socket;  // absolute, resolved like other paths
  std::string file;
  bool queries = true;
  bool responses = true;
  uint32_t sample = 1;  // one query (and its response) in this many
  bool operator==(const DnstapSettings&) const = default;
};

// A TSIG key (RFC 8945): `keys: {NAME: {algorithm: hmac-sha256, secret: B64}}`.
struct TsigKey {
  std::string name;  // presentation form, as written
  std::string algorithm;
  std::string secret;
  int line = 0;
};

// A zone signed online with the keys in a directory (dns::ZoneKeys).
struct DnssecZone {
  std::string apex;  // lowercase wire
  std::string keys;  // directory, resolved like other paths
  int line = 0;
};

// Who may transfer our zones, and whom we tell of new serials:
// `transfer: {allow: [{prefix, key}], notify: [REMOTE]}`.
struct TransferAllow {
  policy::Prefix prefix;
  std::string key;  // a `keys:` name the request must be signed with; empty: any or none
  int line = 0;
};
struct TransferConfig {
  std::vector<TransferAllow> allow;  // empty: nobody (the default)
  std::vector<std::string> notify;   // `remotes:` names
  // The differences kept per zone to answer IXFR, in MiB (oldest go first).
  uint32_t journal_mb = 64;
  int line = 0;
};

// A zone agilityd writes itself and serves as a primary:
// - `policy_zone: {name}`: this server's pools and policies, weights in
//   force included (config/policy_zone.h), for the secondaries of a fleet to
//   take them from;
// - `catalog_zone: {name}`: a catalog (RFC 9432) of the zones it serves
//   from files (dns/catalog.h), for secondaries to follow.
struct WrittenZone {
  std::string apex;  // lowercase wire
  int line = 0;
};

struct Config {
  std::string path;
  ServerConfig server;
  std::vector<ZoneSource> zones;
  std::vector<SecondaryZone> secondaries;
  std::vector<Remote> remotes;
  TransferConfig transfer;
  std::vector<PoolConfig> pools;
  std::vector<PolicyConfig> policies;
  SkLookupConfig sk_lookup;
  std::vector<ServiceConfig> services;
  std::vector<BindingConfig> bindings;
  RateLimitSettings rate_limit;
  CookieSettings cookies;
  DnstapSettings dnstap;
  std::vector<DnssecZone> dnssec;
  std::vector<TsigKey> keys;
  std::optional<WrittenZone> policy_zone;
  std::optional<WrittenZone> catalog_zone;
  // `policy_from: {zone, primaries}`: the apex (lowercase wire) of the zone
  // pools and policies are taken from instead of this file; it is followed
  // as a secondary zone (SecondaryZone::policy). Empty: from this file.
  std::string policy_from;
};

// The apexes of the zones `config` has agilityd write (WrittenZone).
std::vector<std::string> WrittenZones(const Config& config);

// The remote named `name`, or nullptr.
const Remote* FindRemote(const Config& config, absl::string_view name);

absl::StatusOr<Config> LoadConfig(const std::string& path);

// Only server.control, from a file that may be otherwise invalid: agilityctl
// must reach agilityd to report what is wrong with the new configuration.
absl::StatusOr<std::string> ReadControlPath(const std::string& path);

// Parses YAML text; `path` names it in errors and anchors relative paths.
absl::StatusOr<Config> ParseConfig(const std::string& yaml, const std::string& path);

// Reads YAML text holding only `pools:` and `policies:` (what a policy zone
// says, config/policy_zone.h) into `config`, checked exactly as those
// sections of a configuration file are, against `config`'s services and
// listen addresses. `place(line)` names where a line of `yaml` came from in
// errors. On failure `config` is unchanged.
absl::Status ParsePolicySections(const std::string& yaml,
                                 const std::function<std::string(int line)>& place, Config& config);

}  // namespace agility::config
