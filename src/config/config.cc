#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "dns/name.h"
#include "dns/tsig.h"
#include "policy/matcher.h"

namespace agility::config {
namespace {

using policy::Matcher;
using policy::Prefix;

constexpr size_t kMaxErrors = 20;

// Pool names and service labels are written to state files and BPF maps, one
// word each: no spaces, no comment marks.
bool IsPlainName(absl::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

class Parser {
 public:
  explicit Parser(const std::string& path, std::function<std::string(int line)> place = nullptr)
      : path_(path), dir_(std::filesystem::path(path).parent_path()), place_(std::move(place)) {}

  absl::StatusOr<Config> Parse(const std::string& yaml);
  absl::Status ParsePolicySections(const std::string& yaml, Config& config);

 private:
  void Error(const YAML::Node& node, absl::string_view message) {
    Error(node.IsDefined() ? node.Mark().line + 1 : 0, message);
  }
  void Error(int line, absl::string_view message) {
    if (errors_.size() >= kMaxErrors) return;
    errors_.push_back(place_ ? absl::StrCat(place_(line), ": ", message)
                             : absl::StrCat(path_, ":", line, ": ", message));
  }
  // Where `line` is, for a message about another place.
  std::string At(int line) const { return place_ ? place_(line) : absl::StrCat("line ", line); }
  int Line(const YAML::Node& node) const { return node.Mark().line + 1; }

  // Checks that `node` is a map whose keys are all in `allowed`.
  bool CheckMap(const YAML::Node& node, absl::string_view what,
                std::initializer_list<absl::string_view> allowed);
  bool String(const YAML::Node& node, absl::string_view what, std::string* out);
  template <typename T>
  // `alternative` names the non-numeric value the key also takes, for the error.
  bool Integer(const YAML::Node& node, absl::string_view what, int64_t min, int64_t max, T* out,
               absl::string_view alternative = "");
  std::string ResolvePath(const std::string& path) const;

  void ParseServer(const YAML::Node& node, ServerConfig& server);
  void ParseZones(const YAML::Node& node, Config& config);
  enum class Followed { kZone, kCatalog, kPolicy };
  void ParseSecondary(const YAML::Node& node, Config& config, Followed kind = Followed::kZone);
  void ParseWrittenZone(const YAML::Node& node, const char* key, std::optional<WrittenZone>& out);
  void ParseRemotes(const YAML::Node& node, Config& config);
  void ParseTransfer(const YAML::Node& node, Config& config);
  // Every remote a secondary names exists, with a key that does.
  void CheckRemotes(const Config& config, const YAML::Node& root);
  void ParsePools(const YAML::Node& node, std::vector<PoolConfig>& pools);
  bool ParsePoolPrefixes(const YAML::Node& node, const std::string& label,
                         std::vector<PoolPrefix>& out);
  void ParsePolicies(const YAML::Node& node, const std::vector<PoolConfig>& pools,
                     std::vector<PolicyConfig>& policies);
  void ParseSkLookup(const YAML::Node& node, SkLookupConfig& sk_lookup);
  void ParseRateLimit(const YAML::Node& node, RateLimitSettings& rate_limit);
  void ParseCookies(const YAML::Node& node, CookieSettings& cookies);
  void ParseDnstap(const YAML::Node& node, DnstapSettings& dnstap);
  void ParseDnssec(const YAML::Node& node, std::vector<DnssecZone>& zones);
  void ParseKeys(const YAML::Node& node, std::vector<TsigKey>& keys);
  void ParseServices(const YAML::Node& node, std::vector<ServiceConfig>& services);
  void ParseBindings(const YAML::Node& node, std::vector<BindingConfig>& bindings);
  bool Boolean(const YAML::Node& node, absl::string_view what, bool* out);
  bool ParseProtocol(const YAML::Node& node, Protocol* out);
  // Checks that every policy service and binding label is declared.
  void CheckLabels(const Config& config);
  bool CheckDnsPort(const Config& config, int line, bool ipv4, uint16_t port);

  std::string path_;
  std::filesystem::path dir_;
  std::function<std::string(int line)> place_;  // null: "path:line"
  std::vector<std::string> errors_;
};

bool Parser::CheckMap(const YAML::Node& node, absl::string_view what,
                      std::initializer_list<absl::string_view> allowed) {
  if (!node.IsMap()) {
    Error(node, absl::StrCat(what, " must be a mapping"));
    return false;
  }
  absl::flat_hash_set<std::string> seen;
  for (const auto& entry : node) {
    const std::string key = entry.first.Scalar();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      Error(entry.first, absl::StrCat("unknown key '", key, "' in ", what,
                                      " (allowed: ", absl::StrJoin(allowed, ", "), ")"));
    } else if (!seen.insert(key).second) {
      Error(entry.first, absl::StrCat("duplicate key '", key, "' in ", what));
    }
  }
  return true;
}

bool Parser::String(const YAML::Node& node, absl::string_view what, std::string* out) {
  if (!node.IsScalar() || node.Scalar().empty()) {
    Error(node, absl::StrCat(what, " must be a non-empty string"));
    return false;
  }
  *out = node.Scalar();
  return true;
}

template <typename T>
bool Parser::Integer(const YAML::Node& node, absl::string_view what, int64_t min, int64_t max,
                     T* out, absl::string_view alternative) {
  int64_t value = 0;
  if (!node.IsScalar() || !YAML::convert<int64_t>::decode(node, value) || value < min ||
      value > max) {
    Error(node, absl::StrCat(what, " must be an integer in ", min, "..", max,
                             alternative.empty() ? "" : " ", alternative));
    return false;
  }
  *out = static_cast<T>(value);
  return true;
}

bool Parser::Boolean(const YAML::Node& node, absl::string_view what, bool* out) {
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, *out)) {
    Error(node, absl::StrCat(what, " must be true or false"));
    return false;
  }
  return true;
}

bool Parser::ParseProtocol(const YAML::Node& node, Protocol* out) {
  const std::string name = node.IsScalar() ? node.Scalar() : "";
  if (name == "tcp") {
    *out = Protocol::kTcp;
  } else if (name == "udp") {
    *out = Protocol::kUdp;
  } else {
    Error(node, "protocol must be tcp or udp");
    return false;
  }
  return true;
}

std::string Parser::ResolvePath(const std::string& path) const {
  const std::filesystem::path p(path);
  return (p.is_absolute() ? p : dir_ / p).lexically_normal().string();
}

void Parser::ParseServer(const YAML::Node& node, ServerConfig& server) {
  if (!CheckMap(
          node, "server",
          {"listen", "workers", "control", "tcp_idle_timeout_ms", "tcp_query_timeout_ms",
           "tcp_max_connections", "tcp_max_connections_per_client", "tcp_max_unsent_bytes",
           "max_udp_size", "metrics", "udp_batch_wait_us", "udp_io", "udp_queries_per_address",
           "user", "state_dir", "dnssec_cache_mb", "identity", "version"})) {
    return;
  }
  if (const YAML::Node listen = node["listen"]) {
    if (!listen.IsSequence() || listen.size() == 0) {
      Error(listen, "server.listen must be a non-empty list of addresses");
    } else {
      for (const auto& item : listen) {
        std::string text;
        if (!String(item, "a listen address", &text)) continue;
        auto endpoint = sockets::Endpoint::Parse(text);
        if (!endpoint.ok()) {
          Error(item, endpoint.status().message());
        } else {
          server.listen.push_back(*endpoint);
        }
      }
    }
  }
  if (const YAML::Node workers = node["workers"]) {
    Integer(workers, "server.workers", 1, 256, &server.workers);
  }
  if (const YAML::Node control = node["control"]) {
    if (String(control, "server.control", &server.control)) {
      server.control = ResolvePath(server.control);
    }
  }
  if (const YAML::Node idle = node["tcp_idle_timeout_ms"]) {
    Integer(idle, "server.tcp_idle_timeout_ms", 100, 3600000, &server.tcp_idle_timeout_ms);
  }
  if (const YAML::Node query = node["tcp_query_timeout_ms"]) {
    Integer(query, "server.tcp_query_timeout_ms", 100, 600000, &server.tcp_query_timeout_ms);
  }
  if (const YAML::Node max = node["tcp_max_connections"]) {
    Integer(max, "server.tcp_max_connections", 1, 1000000, &server.tcp_max_connections);
  }
  if (const YAML::Node max = node["tcp_max_connections_per_client"]) {
    Integer(max, "server.tcp_max_connections_per_client", 1, 1000000,
            &server.tcp_max_connections_per_client);
  }
  if (const YAML::Node unsent = node["tcp_max_unsent_bytes"]) {
    Integer(unsent, "server.tcp_max_unsent_bytes", 1024, 16777216, &server.tcp_max_unsent_bytes);
  }
  if (const YAML::Node metrics = node["metrics"]) {
    std::string text;
    if (String(metrics, "server.metrics", &text)) {
      auto endpoint = sockets::Endpoint::Parse(text);
      if (endpoint.ok()) {
        server.metrics = *endpoint;
      } else {
        Error(metrics, endpoint.status().message());
      }
    }
  }
  if (const YAML::Node user = node["user"]) String(user, "server.user", &server.user);
  if (const YAML::Node state = node["state_dir"]) {
    if (String(state, "server.state_dir", &server.state_dir)) {
      server.state_dir = ResolvePath(server.state_dir);
    }
  }
  if (const YAML::Node wait = node["udp_batch_wait_us"]) {
    if (wait.IsScalar() && wait.Scalar() == "auto") {
      server.udp_batch_wait = {};
    } else if (uint32_t fixed = 0;
               Integer(wait, "server.udp_batch_wait_us", 0, 1000, &fixed, "or \"auto\"")) {
      server.udp_batch_wait = {.adaptive = false, .fixed_us = fixed};
    }
  }
  if (const YAML::Node io = node["udp_io"]) {
    std::string name;
    if (String(io, "server.udp_io", &name)) {
      if (name == "auto") {
        server.udp_io = sockets::UdpIo::kAuto;
      } else if (name == "io_uring") {
        server.udp_io = sockets::UdpIo::kIoUring;
      } else if (name == "recvmmsg") {
        server.udp_io = sockets::UdpIo::kRecvmmsg;
      } else {
        Error(io,
              absl::StrCat("server.udp_io must be auto, io_uring or recvmmsg, not \"", name, "\""));
      }
    }
  }
  if (const YAML::Node size = node["max_udp_size"]) {
    Integer(size, "server.max_udp_size", 512, 4096, &server.max_udp_size);
  }
  if (const YAML::Node rate = node["udp_queries_per_address"]) {
    Integer(rate, "server.udp_queries_per_address", 0, 100000000, &server.udp_queries_per_address);
  }
  // One TXT string each (CH TXT, RFC 4892); empty turns them off.
  for (const auto& [key, out] :
       {std::pair{"identity", &server.identity}, std::pair{"version", &server.version}}) {
    const YAML::Node value = node[key];
    if (!value) continue;
    if (!value.IsScalar() || value.Scalar().size() > 255) {
      Error(value, absl::StrCat("server.", key, " must be a string of at most 255 octets"));
      continue;
    }
    *out = value.Scalar();
  }
  if (const YAML::Node cache = node["dnssec_cache_mb"]) {
    Integer(cache, "server.dnssec_cache_mb", 0, 1 << 20, &server.dnssec_cache_mb);
  }
}

void Parser::ParseKeys(const YAML::Node& node, std::vector<TsigKey>& keys) {
  if (!node.IsMap()) {
    Error(node, "keys must be a mapping of key name to {algorithm, secret}");
    return;
  }
  absl::flat_hash_set<std::string> names;
  for (const auto& entry : node) {
    TsigKey key;
    key.name = entry.first.Scalar();
    key.line = Line(entry.first);
    const std::string what = absl::StrCat("keys.", key.name);
    const auto wire = dns::NameFromText(key.name);
    if (!wire.ok()) {
      Error(entry.first, absl::StrCat("TSIG key name '", key.name, "': ", wire.status().message()));
      continue;
    }
    if (!names.insert(*wire).second) {
      Error(entry.first, absl::StrCat("TSIG key '", key.name, "' is defined twice"));
      continue;
    }
    if (!CheckMap(entry.second, what, {"algorithm", "secret"})) continue;
    const YAML::Node algorithm = entry.second["algorithm"];
    const YAML::Node secret = entry.second["secret"];
    if (!algorithm || !secret) {
      Error(entry.second, absl::StrCat(what, " needs algorithm and secret"));
      continue;
    }
    if (!String(algorithm, what + ".algorithm", &key.algorithm) ||
        !String(secret, what + ".secret", &key.secret)) {
      continue;
    }
    // The secret itself is never repeated in a message.
    if (auto status = dns::CheckTsigKey({key.name, key.algorithm, key.secret}); !status.ok()) {
      Error(entry.second, absl::StrCat(what, ": ", status.message()));
      continue;
    }
    keys.push_back(std::move(key));
  }
}

void Parser::ParseDnssec(const YAML::Node& node, std::vector<DnssecZone>& zones) {
  if (!node.IsMap()) {
    Error(node, "dnssec must be a mapping of zone name to {keys: DIRECTORY}");
    return;
  }
  absl::flat_hash_set<std::string> seen;
  for (const auto& entry : node) {
    DnssecZone zone;
    zone.line = Line(entry.first);
    const auto apex = dns::NameFromText(entry.first.Scalar());
    if (!apex.ok()) {
      Error(entry.first, absl::StrCat("dnssec: '", entry.first.Scalar(),
                                      "' is not a zone name: ", apex.status().message()));
      continue;
    }
    zone.apex = *apex;
    if (!seen.insert(zone.apex).second) {
      Error(entry.first, absl::StrCat("dnssec: zone '", entry.first.Scalar(), "' appears twice"));
      continue;
    }
    const std::string what = absl::StrCat("dnssec.", entry.first.Scalar());
    if (!CheckMap(entry.second, what, {"keys"})) continue;
    const YAML::Node keys = entry.second["keys"];
    if (!keys) {
      Error(entry.second, absl::StrCat(what, " needs keys: a directory of key files"));
      continue;
    }
    if (!String(keys, what + ".keys", &zone.keys)) continue;
    zone.keys = ResolvePath(zone.keys);
    zones.push_back(std::move(zone));
  }
}

void Parser::ParseZones(const YAML::Node& node, Config& config) {
  if (!node.IsSequence()) {
    Error(node, "zones must be a list of zone files, directories or {name, primaries}");
    return;
  }
  for (const auto& item : node) {
    if (item.IsMap()) {
      ParseSecondary(item, config);
      continue;
    }
    std::string path;
    if (String(item, "a zone path", &path)) {
      config.zones.push_back({ResolvePath(path), Line(item)});
    }
  }
}

void Parser::ParseSecondary(const YAML::Node& node, Config& config, Followed kind) {
  const bool catalog = kind == Followed::kCatalog;
  const char* what = catalog                     ? "a catalog"
                     : kind == Followed::kPolicy ? "policy_from"
                                                 : "a secondary zone";
  const char* name_key = kind == Followed::kPolicy ? "zone" : "name";
  if (catalog                     ? !CheckMap(node, what, {"name", "primaries", "max_zones"})
      : kind == Followed::kPolicy ? !CheckMap(node, what, {"zone", "primaries"})
                                  : !CheckMap(node, what, {"name", "primaries"})) {
    return;
  }
  SecondaryZone zone;
  zone.line = Line(node);
  zone.catalog = catalog;
  zone.policy = kind == Followed::kPolicy;
  std::string name;
  if (!node[name_key] || !node["primaries"]) {
    Error(node, absl::StrCat(what, " needs ", name_key, " and primaries (a list of remotes)"));
    return;
  }
  if (!String(node[name_key],
              catalog                     ? "catalogs[].name"
              : kind == Followed::kPolicy ? "policy_from.zone"
                                          : "zones[].name",
              &name)) {
    return;
  }
  if (const YAML::Node max = node["max_zones"]) {
    if (!Integer(max, "max_zones", 1, 10000000, &zone.max_zones)) return;
  }
  const auto apex = dns::NameFromText(name);
  if (!apex.ok()) {
    Error(node[name_key], absl::StrCat("zone '", name, "': ", apex.status().message()));
    return;
  }
  zone.apex = *apex;
  if (zone.policy) config.policy_from = zone.apex;
  for (const auto& existing : config.secondaries) {
    if (existing.apex == zone.apex) {
      Error(node, absl::StrCat("zone '", name, "' is listed twice (line ", existing.line, ")"));
      return;
    }
  }
  const YAML::Node primaries = node["primaries"];
  if (!primaries.IsSequence() || primaries.size() == 0) {
    Error(primaries, absl::StrCat("zone '", name, "': primaries must be a list of remote names"));
    return;
  }
  for (const auto& primary : primaries) {
    std::string remote;
    if (String(primary, "a primary", &remote)) zone.primaries.push_back(remote);
  }
  config.secondaries.push_back(std::move(zone));
}

void Parser::ParseWrittenZone(const YAML::Node& node, const char* key,
                              std::optional<WrittenZone>& out) {
  if (!CheckMap(node, key, {"name"})) return;
  std::string name;
  if (!node["name"]) {
    Error(node, absl::StrCat(key, " needs a name (the zone agilityd writes and serves)"));
    return;
  }
  if (!String(node["name"], absl::StrCat(key, ".name"), &name)) return;
  const auto apex = dns::NameFromText(name);
  if (!apex.ok()) {
    Error(node["name"], absl::StrCat(key, " '", name, "': ", apex.status().message()));
    return;
  }
  out = WrittenZone{*apex, Line(node)};
}

void Parser::ParseRemotes(const YAML::Node& node, Config& config) {
  if (!node.IsMap()) {
    Error(node, "remotes must be a mapping of name to {address, key}");
    return;
  }
  for (const auto& entry : node) {
    Remote remote;
    remote.name = entry.first.Scalar();
    remote.line = Line(entry.first);
    const std::string what = absl::StrCat("remotes.", remote.name);
    if (FindRemote(config, remote.name) != nullptr) {
      Error(entry.first, absl::StrCat("remote '", remote.name, "' is defined twice"));
      continue;
    }
    if (!CheckMap(entry.second, what, {"address", "key"})) continue;
    std::string address;
    if (!entry.second["address"]) {
      Error(entry.second, absl::StrCat(what, " needs an address (IP or IP:port)"));
      continue;
    }
    if (!String(entry.second["address"], what + ".address", &address)) continue;
    // A bare address means the DNS port.
    auto endpoint = sockets::Endpoint::Parse(address);
    if (!endpoint.ok()) {
      endpoint = sockets::Endpoint::Parse(absl::StrContains(address, ':')
                                              ? absl::StrCat("[", address, "]:53")
                                              : absl::StrCat(address, ":53"));
    }
    if (!endpoint.ok()) {
      Error(entry.second["address"],
            absl::StrCat(what, ".address '", address, "': ", endpoint.status().message()));
      continue;
    }
    remote.address = *endpoint;
    if (const YAML::Node key = entry.second["key"]) {
      if (!String(key, what + ".key", &remote.key)) continue;
    }
    config.remotes.push_back(std::move(remote));
  }
}

void Parser::ParseTransfer(const YAML::Node& node, Config& config) {
  if (!CheckMap(node, "transfer", {"allow", "notify", "journal_mb"})) return;
  if (const YAML::Node journal = node["journal_mb"]) {
    Integer(journal, "transfer.journal_mb", 0, 1 << 20, &config.transfer.journal_mb);
  }
  config.transfer.line = Line(node);
  if (const YAML::Node allow = node["allow"]) {
    if (!allow.IsSequence()) {
      Error(allow, "transfer.allow must be a list of {prefix, key}");
    } else {
      for (const auto& entry : allow) {
        if (!CheckMap(entry, "transfer.allow[]", {"prefix", "key"})) continue;
        TransferAllow rule;
        rule.line = Line(entry);
        std::string prefix;
        if (!entry["prefix"]) {
          Error(entry, "transfer.allow[] needs a prefix (0.0.0.0/0 for any IPv4 address)");
          continue;
        }
        if (!String(entry["prefix"], "transfer.allow[].prefix", &prefix)) continue;
        auto parsed = policy::Prefix::Parse(prefix);
        if (!parsed.ok()) {
          Error(entry["prefix"], absl::StrCat("transfer.allow[].prefix '", prefix,
                                              "': ", parsed.status().message()));
          continue;
        }
        rule.prefix = *parsed;
        if (entry["key"] && !String(entry["key"], "transfer.allow[].key", &rule.key)) continue;
        config.transfer.allow.push_back(std::move(rule));
      }
    }
  }
  if (const YAML::Node notify = node["notify"]) {
    if (!notify.IsSequence()) {
      Error(notify, "transfer.notify must be a list of remote names");
    } else {
      for (const auto& remote : notify) {
        std::string name;
        if (String(remote, "transfer.notify[]", &name)) config.transfer.notify.push_back(name);
      }
    }
  }
}

void Parser::CheckRemotes(const Config& config, const YAML::Node& root) {
  for (const Remote& remote : config.remotes) {
    if (remote.key.empty()) continue;
    const bool defined = std::any_of(config.keys.begin(), config.keys.end(),
                                     [&](const TsigKey& key) { return key.name == remote.key; });
    if (!defined) {
      Error(remote.line, absl::StrCat("remote '", remote.name, "': key '", remote.key,
                                      "' is not defined under keys:"));
    }
  }
  for (const SecondaryZone& zone : config.secondaries) {
    for (const std::string& name : zone.primaries) {
      if (FindRemote(config, name) == nullptr) {
        Error(zone.line, absl::StrCat("zone '", dns::NameToText(zone.apex), "': primary '", name,
                                      "' is not defined under remotes:"));
      }
    }
  }
  for (const TransferAllow& rule : config.transfer.allow) {
    const bool defined =
        rule.key.empty() || std::any_of(config.keys.begin(), config.keys.end(),
                                        [&](const TsigKey& key) { return key.name == rule.key; });
    if (!defined) {
      Error(rule.line,
            absl::StrCat("transfer.allow: key '", rule.key, "' is not defined under keys:"));
    }
  }
  for (const std::string& name : config.transfer.notify) {
    if (FindRemote(config, name) == nullptr) {
      Error(config.transfer.line,
            absl::StrCat("transfer.notify: '", name, "' is not defined under remotes:"));
    }
  }
  if (!config.secondaries.empty() && config.server.state_dir.empty()) {
    Error(root, "secondary zones need server.state_dir, where their copies are kept");
  }
}

void Parser::ParsePools(const YAML::Node& node, std::vector<PoolConfig>& pools) {
  if (!node.IsMap()) {
    Error(node, "pools must be a mapping of pool name to a prefix or a list of weighted prefixes");
    return;
  }
  absl::flat_hash_set<std::string> names;
  for (const auto& entry : node) {
    PoolConfig pool;
    pool.name = entry.first.Scalar();
    pool.line = Line(entry.first);
    if (!IsPlainName(pool.name) || pool.name.size() > 63) {
      Error(pool.line,
            absl::StrCat("pool name '", pool.name, "': 1 to 63 letters, digits, '.', '_' or '-'"));
      continue;
    }
    if (!names.insert(pool.name).second) {
      Error(entry.first, absl::StrCat("pool '", pool.name, "' is defined twice"));
      continue;
    }
    const std::string label = absl::StrCat("pool '", pool.name, "'");
    if (entry.second.IsNull()) {
      Error(pool.line, absl::StrCat(label,
                                    " must be a prefix or a non-empty list of "
                                    "{prefix: P, weight: W}"));
      continue;
    }
    if (ParsePoolPrefixes(entry.second, label, pool.prefixes)) pools.push_back(std::move(pool));
  }
}

// A pool is one prefix (`edge4: 127.77.0.0/20`) or a list of
// `{prefix, weight}`; every prefix is steered, and answers are shared in
// proportion to the weights.
bool Parser::ParsePoolPrefixes(const YAML::Node& node, const std::string& label,
                               std::vector<PoolPrefix>& out) {
  const size_t errors = errors_.size();
  auto parse_prefix = [&](const YAML::Node& text_node, PoolPrefix& part) {
    std::string text;
    if (!String(text_node, absl::StrCat(label, ": prefix"), &text)) return false;
    auto prefix = Prefix::Parse(text);
    if (!prefix.ok()) {
      Error(text_node, absl::StrCat(label, ": ", prefix.status().message()));
      return false;
    }
    part.prefix = *prefix;
    part.line = Line(text_node);
    return true;
  };
  if (node.IsScalar()) {
    PoolPrefix part;
    if (!parse_prefix(node, part)) return false;
    out.push_back(part);
    return true;
  }
  if (!node.IsSequence() || node.size() == 0) {
    Error(node, absl::StrCat(label,
                             " must be a prefix or a non-empty list of "
                             "{prefix: P, weight: W}"));
    return false;
  }
  if (node.size() > kMaxPoolPrefixes) {
    Error(node, absl::StrCat(label, ": at most ", kMaxPoolPrefixes, " prefixes"));
    return false;
  }
  for (const auto& item : node) {
    if (!CheckMap(item, absl::StrCat(label, ": a prefix"), {"prefix", "weight"})) continue;
    PoolPrefix part;
    if (!item["prefix"]) {
      Error(item, absl::StrCat(label, ": each entry needs a prefix"));
      continue;
    }
    if (!parse_prefix(item["prefix"], part)) continue;
    part.line = Line(item);
    if (const YAML::Node weight = item["weight"]) {
      if (!Integer(weight, absl::StrCat(label, ": weight"), 0, kMaxWeight, &part.weight)) continue;
    }
    out.push_back(part);
  }
  if (errors_.size() != errors || out.empty()) return false;
  bool any_weight = false;
  for (const PoolPrefix& part : out) {
    any_weight |= part.weight > 0;
    if (part.prefix.ipv4 != out.front().prefix.ipv4) {
      Error(part.line,
            absl::StrCat(label, ": ", part.prefix.ToString(), " and ",
                         out.front().prefix.ToString(), " mix IPv4 and IPv6 in one pool"));
    }
  }
  if (!any_weight) Error(node, absl::StrCat(label, ": at least one weight must be above 0"));
  if (errors_.size() != errors) return false;
  // In address order, an overlap shows between neighbours: a prefix that
  // contains a later one contains every prefix between them.
  std::vector<const PoolPrefix*> sorted;
  for (const PoolPrefix& part : out) sorted.push_back(&part);
  std::sort(sorted.begin(), sorted.end(), [](const PoolPrefix* a, const PoolPrefix* b) {
    const int order = std::memcmp(a->prefix.bytes, b->prefix.bytes, 16);
    return order != 0 ? order < 0 : a->prefix.length < b->prefix.length;
  });
  for (size_t i = 1; i < sorted.size(); ++i) {
    const PoolPrefix& a = *sorted[i - 1];
    const PoolPrefix& b = *sorted[i];
    if (a.prefix.Contains(b.prefix.bytes)) {
      const PoolPrefix& later = a.line > b.line ? a : b;
      const PoolPrefix& earlier = a.line > b.line ? b : a;
      Error(later.line, absl::StrCat(label, ": ", later.prefix.ToString(), " overlaps ",
                                     earlier.prefix.ToString(), " (", At(earlier.line), ")"));
    }
  }
  return errors_.size() == errors;
}

void Parser::ParsePolicies(const YAML::Node& node, const std::vector<PoolConfig>& pools,
                           std::vector<PolicyConfig>& policies) {
  if (!node.IsSequence()) {
    Error(node, "policies must be a list");
    return;
  }
  absl::flat_hash_map<std::string, int> pool_index;
  for (size_t i = 0; i < pools.size(); ++i) pool_index[pools[i].name] = static_cast<int>(i);
  absl::flat_hash_set<std::string> names;
  Matcher matcher;
  for (const auto& item : node) {
    if (!CheckMap(item, "a policy",
                  {"name", "match", "ipv4", "ipv6", "ttl", "service", "ports", "protocols"})) {
      continue;
    }
    PolicyConfig policy;
    policy.line = Line(item);
    if (!item["name"]) {
      Error(item, "a policy needs a name");
    } else if (String(item["name"], "policy name", &policy.name) &&
               !names.insert(policy.name).second) {
      Error(item["name"], absl::StrCat("policy '", policy.name, "' is defined twice"));
    }
    const std::string label = absl::StrCat("policy '", policy.name, "'");
    const YAML::Node match = item["match"];
    if (!match || !(match.IsSequence() || match.IsScalar()) || match.size() > 100000) {
      Error(match ? match : item, absl::StrCat(label, ": match must be a name or a list of names"));
    } else {
      std::vector<YAML::Node> patterns;
      if (match.IsScalar()) {
        patterns.push_back(match);
      } else {
        for (const auto& p : match) patterns.push_back(p);
      }
      if (patterns.empty()) Error(match, absl::StrCat(label, ": match is empty"));
      for (const YAML::Node& p : patterns) {
        std::string pattern;
        if (!String(p, "a match pattern", &pattern)) continue;
        const uint32_t index = static_cast<uint32_t>(policies.size());
        if (const auto status = matcher.Add(pattern, index); !status.ok()) {
          const uint32_t owner = matcher.Owner(pattern);
          if (owner != Matcher::kNoMatch && owner < policies.size()) {
            Error(p, absl::StrCat(label, ": pattern '", pattern, "' is already matched by policy '",
                                  policies[owner].name, "'"));
          } else if (owner == index) {
            Error(p, absl::StrCat(label, ": pattern '", pattern, "' is listed twice"));
          } else {
            Error(p, absl::StrCat(label, ": ", status.message()));
          }
          continue;
        }
        policy.match.push_back(pattern);
      }
    }
    for (const auto& [key, family_v4] : {std::pair{"ipv4", true}, std::pair{"ipv6", false}}) {
      const YAML::Node ref = item[key];
      if (!ref) continue;
      std::string pool_name;
      if (!String(ref, absl::StrCat(label, ": ", key), &pool_name)) continue;
      const auto it = pool_index.find(pool_name);
      if (it == pool_index.end()) {
        Error(ref, absl::StrCat(label, ": pool '", pool_name, "' is not defined under pools"));
        continue;
      }
      if (pools[it->second].ipv4() != family_v4) {
        Error(ref, absl::StrCat(label, ": ", key, " needs an ", family_v4 ? "IPv4" : "IPv6",
                                " pool, and '", pool_name, "' is ",
                                pools[it->second].prefixes.front().prefix.ToString()));
        continue;
      }
      (family_v4 ? policy.ipv4_pool : policy.ipv6_pool) = it->second;
    }
    if (!item["ipv4"] && !item["ipv6"]) {
      Error(item, absl::StrCat(label, ": needs an ipv4 or ipv6 pool"));
    }
    if (const YAML::Node ttl = item["ttl"]) {
      Integer(ttl, absl::StrCat(label, ": ttl"), 0, 0x7fffffff, &policy.ttl);
    }
    if (const YAML::Node service = item["service"]) {
      String(service, absl::StrCat(label, ": service"), &policy.service);
      policy.service_line = Line(service);
    }
    if (const YAML::Node ports = item["ports"]) {
      if (!ports.IsSequence() || ports.size() == 0) {
        Error(ports, absl::StrCat(label, ": ports must be a non-empty list (0 = every port)"));
      } else {
        for (const auto& port : ports) {
          uint16_t value = 0;
          if (Integer(port, absl::StrCat(label, ": a port"), 0, 65535, &value)) {
            policy.ports.push_back(value);
          }
        }
      }
    } else {
      policy.ports.assign(std::begin(kWebPorts), std::end(kWebPorts));
    }
    if (const YAML::Node protocols = item["protocols"]) {
      if (!protocols.IsSequence() || protocols.size() == 0) {
        Error(protocols, absl::StrCat(label, ": protocols must be a list of tcp and udp"));
      } else {
        for (const auto& protocol : protocols) {
          Protocol value;
          if (ParseProtocol(protocol, &value)) policy.protocols.push_back(value);
        }
      }
    } else {
      policy.protocols.push_back(Protocol::kTcp);
    }
    if ((item["ports"] || item["protocols"]) && !item["service"]) {
      Error(item, absl::StrCat(label, ": ports and protocols need a service to steer to"));
    }
    policies.push_back(std::move(policy));
  }
}

void Parser::ParseSkLookup(const YAML::Node& node, SkLookupConfig& sk_lookup) {
  if (!CheckMap(node, "sk_lookup", {"enabled", "required", "pin", "drain_grace_s"})) return;
  if (const YAML::Node grace = node["drain_grace_s"]) {
    Integer(grace, "sk_lookup.drain_grace_s", 0, 86400 * 7, &sk_lookup.drain_grace_s);
  }
  if (const YAML::Node enabled = node["enabled"]) {
    Boolean(enabled, "sk_lookup.enabled", &sk_lookup.enabled);
  }
  if (const YAML::Node required = node["required"]) {
    Boolean(required, "sk_lookup.required", &sk_lookup.required);
  }
  if (const YAML::Node pin = node["pin"]) {
    if (String(pin, "sk_lookup.pin", &sk_lookup.pin)) sk_lookup.pin = ResolvePath(sk_lookup.pin);
  }
  if (sk_lookup.required && !sk_lookup.enabled) {
    Error(node, "sk_lookup cannot be both required and disabled");
  }
}

void Parser::ParseRateLimit(const YAML::Node& node, RateLimitSettings& rrl) {
  if (!CheckMap(node, "rate_limit",
                {"enabled", "responses_per_second", "slip", "ipv4_prefix", "ipv6_prefix",
                 "table_size"})) {
    return;
  }
  if (const YAML::Node enabled = node["enabled"])
    Boolean(enabled, "rate_limit.enabled", &rrl.enabled);
  if (const YAML::Node rate = node["responses_per_second"]) {
    Integer(rate, "rate_limit.responses_per_second", 1, 1000000, &rrl.limits.responses_per_second);
  }
  if (const YAML::Node slip = node["slip"])
    Integer(slip, "rate_limit.slip", 0, 100, &rrl.limits.slip);
  if (const YAML::Node v4 = node["ipv4_prefix"]) {
    Integer(v4, "rate_limit.ipv4_prefix", 8, 32, &rrl.limits.ipv4_prefix);
  }
  if (const YAML::Node v6 = node["ipv6_prefix"]) {
    Integer(v6, "rate_limit.ipv6_prefix", 16, 128, &rrl.limits.ipv6_prefix);
  }
  if (const YAML::Node size = node["table_size"]) {
    Integer(size, "rate_limit.table_size", 64, 1 << 24, &rrl.limits.table_size);
  }
}

void Parser::ParseCookies(const YAML::Node& node, CookieSettings& cookies) {
  cookies.enabled = true;
  if (node.IsNull() || !CheckMap(node, "cookies", {"secrets"})) return;
  const YAML::Node secrets = node["secrets"];
  if (!secrets) return;
  if (!secrets.IsSequence()) {
    Error(secrets, "cookies.secrets must be a list of secrets, the one in use first");
    return;
  }
  for (const auto& item : secrets) {
    dns::CookieSecret secret;
    if (!item.IsScalar() || !dns::ParseCookieSecret(item.Scalar(), &secret)) {
      // The value itself is never repeated in a message.
      Error(item, "a cookie secret is 32 hexadecimal digits (16 octets, RFC 9018)");
      continue;
    }
    cookies.secrets.push_back(secret);
  }
}

void Parser::ParseDnstap(const YAML::Node& node, DnstapSettings& dnstap) {
  if (!CheckMap(node, "dnstap", {"socket", "file", "queries", "responses", "sample"})) return;
  dnstap.enabled = true;
  const YAML::Node socket = node["socket"];
  const YAML::Node file = node["file"];
  if (socket.IsDefined() == file.IsDefined()) {
    Error(node, "dnstap needs one of socket (a collector's Unix socket) and file");
  } else if (socket) {
    if (String(socket, "dnstap.socket", &dnstap.socket)) dnstap.socket = ResolvePath(dnstap.socket);
  } else if (String(file, "dnstap.file", &dnstap.file)) {
    dnstap.file = ResolvePath(dnstap.file);
  }
  if (const YAML::Node queries = node["queries"]) {
    Boolean(queries, "dnstap.queries", &dnstap.queries);
  }
  if (const YAML::Node responses = node["responses"]) {
    Boolean(responses, "dnstap.responses", &dnstap.responses);
  }
  if (const YAML::Node sample = node["sample"]) {
    // "1/100" as the issue of a sampling rate is written, or just 100.
    std::string text = sample.IsScalar() ? sample.Scalar() : "";
    if (absl::StartsWith(text, "1/")) text = text.substr(2);
    uint32_t one_in = 0;
    if (!absl::SimpleAtoi(text, &one_in) || one_in < 1 || one_in > 1000000) {
      Error(sample, "dnstap.sample must be 1/N or N, with N in 1..1000000 (one query in N)");
    } else {
      dnstap.sample = one_in;
    }
  }
}

void Parser::ParseServices(const YAML::Node& node, std::vector<ServiceConfig>& services) {
  if (!node.IsMap()) {
    Error(node, "services must be a mapping of label to settings ({} for none)");
    return;
  }
  absl::flat_hash_set<std::string> names;
  for (const auto& entry : node) {
    const std::string name = entry.first.Scalar();
    if (!IsPlainName(name) || name.size() >= 32) {
      Error(entry.first,
            absl::StrCat("service label '", name, "': 1 to 31 letters, digits, '.', '_' or '-'"));
      continue;
    }
    if (!names.insert(name).second) {
      Error(entry.first, absl::StrCat("service '", name, "' is defined twice"));
      continue;
    }
    if (!entry.second.IsNull()) {
      CheckMap(entry.second, absl::StrCat("service '", name, "'"), {});
    }
    services.push_back({name, Line(entry.first)});
  }
}

void Parser::ParseBindings(const YAML::Node& node, std::vector<BindingConfig>& bindings) {
  if (!node.IsSequence()) {
    Error(node, "bindings must be a list of {label, protocol, prefix, port}");
    return;
  }
  for (const auto& item : node) {
    if (!CheckMap(item, "a binding", {"label", "protocol", "prefix", "port"})) continue;
    BindingConfig binding;
    binding.line = Line(item);
    bool ok = true;
    for (const char* key : {"label", "protocol", "prefix", "port"}) {
      if (!item[key]) {
        Error(item, absl::StrCat("a binding needs '", key, "'"));
        ok = false;
      }
    }
    if (!ok) continue;
    if (!String(item["label"], "binding label", &binding.label)) continue;
    if (!ParseProtocol(item["protocol"], &binding.protocol)) continue;
    if (!Integer(item["port"], "binding port", 0, 65535, &binding.port)) continue;
    std::string text;
    if (!String(item["prefix"], "binding prefix", &text)) continue;
    auto prefix = Prefix::Parse(text);
    if (!prefix.ok()) {
      Error(item["prefix"], prefix.status().message());
      continue;
    }
    binding.prefix = *prefix;
    bindings.push_back(std::move(binding));
  }
}

void Parser::CheckLabels(const Config& config) {
  absl::flat_hash_set<std::string> labels = {kDnsService};
  for (const ServiceConfig& service : config.services) labels.insert(service.name);
  for (const PolicyConfig& policy : config.policies) {
    if (!policy.service.empty() && !labels.contains(policy.service)) {
      Error(policy.service_line, absl::StrCat("policy '", policy.name, "': service '",
                                              policy.service, "' is not declared under services"));
    }
    if (policy.service != kDnsService) continue;
    for (const int pool : {policy.ipv4_pool, policy.ipv6_pool}) {
      if (pool < 0) continue;
      for (const uint16_t port : policy.ports) {
        // One error per pool is enough.
        if (!CheckDnsPort(config, policy.service_line, config.pools[pool].ipv4(), port)) {
          break;
        }
      }
    }
  }
  for (const BindingConfig& binding : config.bindings) {
    if (!labels.contains(binding.label)) {
      Error(binding.line,
            absl::StrCat("binding label '", binding.label, "' is not declared under services"));
    } else if (binding.label == kDnsService) {
      CheckDnsPort(config, binding.line, binding.prefix.ipv4, binding.port);
    }
  }
}

// The "dns" label steers to agilityd's own sockets (one per family, worker
// 0's, the last listen address of the family), and a UDP reply leaves from
// the socket's port: a steered port that differs is answered from the wrong
// port, and the client drops the reply.
bool Parser::CheckDnsPort(const Config& config, int line, bool ipv4, uint16_t port) {
  absl::flat_hash_set<uint16_t> listen_ports;
  for (const sockets::Endpoint& endpoint : config.server.listen) {
    if ((endpoint.family() == AF_INET) == ipv4) listen_ports.insert(endpoint.port());
  }
  const char* family = ipv4 ? "IPv4" : "IPv6";
  if (listen_ports.size() != 1) {
    Error(line, absl::StrCat("label dns needs exactly one ", family,
                             " listen port in server.listen (replies leave from it), not ",
                             listen_ports.size()));
    return false;
  }
  if (port != *listen_ports.begin()) {
    Error(line, absl::StrCat("label dns: port ", port, " is not the ", family, " listen port ",
                             *listen_ports.begin(), " (replies leave from the listen port)"));
    return false;
  }
  return true;
}

absl::StatusOr<Config> Parser::Parse(const std::string& yaml) {
  YAML::Node loaded;
  try {
    loaded = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ":", e.mark.line + 1, ": YAML syntax error: ", e.msg));
  }
  const YAML::Node& root = loaded;
  Config config;
  config.path = path_;
  if (!root.IsMap()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ":1: the configuration must be a YAML mapping"));
  }
  CheckMap(root, "the configuration",
           {"server", "zones", "pools", "policies", "sk_lookup", "services", "bindings",
            "rate_limit", "cookies", "dnstap", "dnssec", "keys", "remotes", "transfer", "catalogs",
            "policy_zone", "policy_from", "catalog_zone"});
  if (const YAML::Node server = root["server"]) ParseServer(server, config.server);
  if (config.server.listen.empty()) {
    config.server.listen.push_back(*sockets::Endpoint::Parse("127.0.0.1:5353"));
  }
  if (config.server.workers == 0) {
    config.server.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  if (const YAML::Node zones = root["zones"]) ParseZones(zones, config);
  if (const YAML::Node catalogs = root["catalogs"]) {
    if (!catalogs.IsSequence()) {
      Error(catalogs, "catalogs must be a list of {name, primaries, max_zones}");
    } else {
      for (const auto& item : catalogs) ParseSecondary(item, config, Followed::kCatalog);
    }
  }
  if (const YAML::Node policy_zone = root["policy_zone"]) {
    ParseWrittenZone(policy_zone, "policy_zone", config.policy_zone);
  }
  if (const YAML::Node catalog_zone = root["catalog_zone"]) {
    ParseWrittenZone(catalog_zone, "catalog_zone", config.catalog_zone);
    if (config.catalog_zone && config.policy_zone &&
        config.catalog_zone->apex == config.policy_zone->apex) {
      Error(catalog_zone, "catalog_zone and policy_zone name the same zone");
    }
  }
  if (const YAML::Node policy_from = root["policy_from"]) {
    ParseSecondary(policy_from, config, Followed::kPolicy);
    // One source of truth per node: the fleet's, or this file's.
    for (const char* local : {"pools", "policies"}) {
      if (root[local]) {
        Error(root[local], absl::StrCat(local,
                                        " and policy_from exclude each other: pools and "
                                        "policies come from the policy zone"));
      }
    }
    if (root["policy_zone"]) {
      Error(root["policy_zone"],
            "policy_zone and policy_from exclude each other: a node that takes its policy "
            "from a zone serves that zone, and passes it on, as a secondary");
    }
  }
  if (config.zones.empty() && config.secondaries.empty() && WrittenZones(config).empty()) {
    Error(root["zones"] ? root["zones"] : root, "no zones configured");
  }
  if (const YAML::Node pools = root["pools"]) ParsePools(pools, config.pools);
  if (const YAML::Node policies = root["policies"]) {
    ParsePolicies(policies, config.pools, config.policies);
  }
  if (const YAML::Node sk_lookup = root["sk_lookup"]) ParseSkLookup(sk_lookup, config.sk_lookup);
  if (const YAML::Node rrl = root["rate_limit"]) ParseRateLimit(rrl, config.rate_limit);
  if (const YAML::Node cookies = root["cookies"]) ParseCookies(cookies, config.cookies);
  if (const YAML::Node dnstap = root["dnstap"]) ParseDnstap(dnstap, config.dnstap);
  if (const YAML::Node dnssec = root["dnssec"]) ParseDnssec(dnssec, config.dnssec);
  if (const YAML::Node keys = root["keys"]) ParseKeys(keys, config.keys);
  if (const YAML::Node remotes = root["remotes"]) ParseRemotes(remotes, config);
  if (const YAML::Node transfer = root["transfer"]) ParseTransfer(transfer, config);
  CheckRemotes(config, root);
  if (const YAML::Node services = root["services"]) ParseServices(services, config.services);
  if (const YAML::Node bindings = root["bindings"]) ParseBindings(bindings, config.bindings);
  CheckLabels(config);
  if (!errors_.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
  return config;
}

absl::Status Parser::ParsePolicySections(const std::string& yaml, Config& config) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(At(e.mark.line + 1), ": YAML syntax error: ", e.msg));
  }
  Config next = config;
  next.pools.clear();
  next.policies.clear();
  if (root.IsMap()) {
    CheckMap(root, "a policy", {"pools", "policies"});
    if (const YAML::Node pools = root["pools"]) ParsePools(pools, next.pools);
    if (const YAML::Node policies = root["policies"]) {
      ParsePolicies(policies, next.pools, next.policies);
    }
  } else if (!root.IsNull()) {
    Error(1, "a policy must be a mapping of pools and policies");
  }
  CheckLabels(next);
  if (!errors_.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors_, "\n"));
  config.pools = std::move(next.pools);
  config.policies = std::move(next.policies);
  return absl::OkStatus();
}

}  // namespace

absl::Status ParsePolicySections(const std::string& yaml,
                                 const std::function<std::string(int line)>& place,
                                 Config& config) {
  return Parser(config.path, place).ParsePolicySections(yaml, config);
}

std::vector<std::string> WrittenZones(const Config& config) {
  std::vector<std::string> apexes;
  for (const auto* zone : {&config.policy_zone, &config.catalog_zone}) {
    if (zone->has_value()) apexes.push_back((*zone)->apex);
  }
  return apexes;
}

const Remote* FindRemote(const Config& config, absl::string_view name) {
  for (const Remote& remote : config.remotes) {
    if (remote.name == name) return &remote;
  }
  return nullptr;
}

absl::StatusOr<Config> ParseConfig(const std::string& yaml, const std::string& path) {
  return Parser(path).Parse(yaml);
}

absl::StatusOr<std::string> ReadControlPath(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return absl::NotFoundError(absl::StrCat(path, ":0: cannot open: ", strerror(errno)));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", e.mark.line + 1, ": YAML syntax error: ", e.msg));
  }
  const YAML::Node& config = root;
  std::string control = ServerConfig().control;
  if (config.IsMap() && config["server"].IsMap() && config["server"]["control"].IsScalar()) {
    const std::filesystem::path p(config["server"]["control"].Scalar());
    control = (p.is_absolute() ? p : std::filesystem::path(path).parent_path() / p)
                  .lexically_normal()
                  .string();
  }
  return control;
}

absl::StatusOr<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ":0: cannot open: ", strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseConfig(text.str(), path);
}

}  // namespace agility::config
