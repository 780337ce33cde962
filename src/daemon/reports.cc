// What agilityd reports about itself: `status` as text and JSON, and the
// Prometheus text of /metrics (and `agilityctl stats`).
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "daemon/daemon.h"
#include "util/json.h"

namespace agility::daemon {
namespace {

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// The zone pools and policies are published as or taken from, if any.
std::string PolicyZoneOf(const Snapshot& snapshot) {
  if (snapshot.config.policy_zone) return snapshot.config.policy_zone->apex;
  return snapshot.config.policy_from;
}

// The serial of the policy zone in force: published, or read.
uint32_t PolicySerial(const Snapshot& snapshot) {
  if (!snapshot.config.policy_from.empty()) return snapshot.policy_source.serial;
  const auto zone = ZoneAt(snapshot.zones, PolicyZoneOf(snapshot));
  return zone != nullptr ? zone->serial() : 0;
}

}  // namespace

std::string Daemon::StatusText() const {
  const auto snapshot = snapshots_.Get();
  const ServerTotals t = server_.Totals();
  std::string out = absl::StrCat(
      "uptime ", absl::FormatDuration(absl::Trunc(absl::Now() - started_, absl::Seconds(1))), "\n",
      Summary(*snapshot));
  absl::StrAppend(&out, "queries udp ", t.Queries(0), " tcp ", t.Queries(1), ", pool answers ",
                  t.pool_answers, ", truncated ", t.truncated, ", dropped ",
                  t.dropped[0] + t.dropped[1], ", send drops ", t.send_drops, "\nrcodes");
  for (int r = 0; r < kRcodeSlots; ++r) {
    absl::StrAppend(&out, " ", RcodeSlotName(r), " ", t.Rcode(r));
  }
  absl::StrAppend(&out, "\nreloads ok ", reloads_.succeeded, " failed ", reloads_.failed, "\n");
  if (const std::string zone = PolicyZoneOf(*snapshot); !zone.empty()) {
    const PolicySource& source = snapshot->policy_source;
    if (snapshot->config.policy_zone) {
      absl::StrAppend(&out, "policy published as zone ", dns::NameToText(zone), " serial ",
                      PolicySerial(*snapshot), "\n");
    } else if (source.serial == 0) {
      absl::StrAppend(&out, "policy from zone ", dns::NameToText(zone),
                      ": none yet (no copy read), no pools or policies\n");
    } else {
      absl::StrAppend(
          &out, "policy from zone ", dns::NameToText(zone), " serial ", source.serial,
          ", in force since ",
          absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", source.applied_at, absl::UTCTimeZone()), "\n");
    }
    if (source.rejected_serial != 0) {
      absl::StrAppend(&out, "policy zone serial ", source.rejected_serial, " refused (",
                      source.rejected, " refused in all): ", source.rejected_why, "\n");
    }
  }
  if (!snapshot->config.dnssec.empty()) {
    absl::StrAppend(&out, "online signatures made ", t.signatures_made, ", cache hits ",
                    t.signature_cache_hits, " misses ", t.signature_cache_misses, " evictions ",
                    t.signature_cache_evictions, ", failures ", t.signing_failures, "\n");
  }
  const int64_t now = NowMs();
  for (const policy::WeightOverrides::Override& o : overrides_.overrides()) {
    absl::StrAppend(&out, "weight ", o.pool, " ", o.prefix.ToString(), ": live ", o.At(now),
                    ", yaml ", o.yaml_weight);
    if (o.Ramping(now)) {
      absl::StrAppend(&out, ", ramping from ", o.from, " to ", o.to, ", ",
                      (o.end_ms - now + 999) / 1000, "s left");
    }
    absl::StrAppend(&out, "\n");
  }
  if (!snapshot->config.secondaries.empty()) {
    const Secondaries::Counters c = secondaries_->counters();
    absl::StrAppend(&out, "transfers in: axfr ", c.axfr, " ixfr ", c.ixfr, " up to date ",
                    c.up_to_date, " failed ", c.failed, "; notifies accepted ", c.notifies_accepted,
                    " refused ", c.notifies_refused, "\n", secondaries_->StatusText());
  }
  absl::StrAppend(&out, steering_.StatusText(*snapshot));
  if (!state_->status().ok()) absl::StrAppend(&out, "warning: ", state_->status().message(), "\n");
  return out;
}

std::string Daemon::StatusJson() const {
  const auto snapshot = snapshots_.Get();
  const ServerTotals t = server_.Totals();
  const int64_t now = NowMs();
  JsonWriter json;
  json.BeginObject()
      .Key("generation")
      .Value(snapshot->generation)
      .Key("uptime_seconds")
      .Value(absl::ToInt64Seconds(absl::Now() - started_))
      .Key("state_dir")
      .String(state_->path())
      .Key("state_dir_ok")
      .Bool(state_->status().ok());
  if (const std::string zone = PolicyZoneOf(*snapshot); !zone.empty()) {
    const PolicySource& source = snapshot->policy_source;
    json.Key("policy")
        .BeginObject()
        .Key("zone")
        .String(dns::NameToText(zone))
        .Key("role")
        .String(snapshot->config.policy_zone ? "published" : "followed")
        .Key("serial")
        .Value(PolicySerial(*snapshot))
        .Key("refused")
        .Value(source.rejected)
        .Key("refused_serial")
        .Value(source.rejected_serial)
        .Key("refused_why")
        .String(source.rejected_why)
        .EndObject();
  }
  json.Key("zones").BeginArray();
  for (const auto& zone : snapshot->zones.zones()) {
    json.BeginObject()
        .Key("name")
        .String(dns::NameToText(zone->apex()))
        .Key("serial")
        .Value(zone->serial())
        .Key("names")
        .Value(zone->name_count())
        .EndObject();
  }
  json.EndArray().Key("pools").BeginArray();
  const policy::Table& table = *snapshot->table;
  for (size_t p = 0; p < table.pools().size(); ++p) {
    const policy::Pool& pool = table.pools()[p];
    const config::PoolConfig& yaml = snapshot->config.pools[p];
    json.BeginObject().Key("name").String(pool.name()).Key("prefixes").BeginArray();
    for (size_t i = 0; i < pool.parts().size(); ++i) {
      const policy::SubPrefix& part = pool.parts()[i];
      json.BeginObject()
          .Key("prefix")
          .String(part.prefix.ToString())
          .Key("weight")
          .Value(part.weight)
          .Key("yaml_weight")
          .Value(yaml.prefixes[i].weight)
          .Key("answers")
          .Value(table.counters().PartTotal(static_cast<int>(p), static_cast<uint32_t>(i)));
      for (const policy::WeightOverrides::Override& o : overrides_.overrides()) {
        if (o.pool != pool.name() || !(o.prefix == part.prefix)) continue;
        json.Key("override").BeginObject().Key("target").Value(o.to);
        if (o.Ramping(now)) {
          json.Key("ramp_from")
              .Value(o.from)
              .Key("ramp_seconds_left")
              .Value((o.end_ms - now + 999) / 1000);
        }
        json.EndObject();
      }
      json.EndObject();
    }
    json.EndArray().EndObject();
  }
  json.EndArray()
      .Key("queries")
      .BeginObject()
      .Key("udp")
      .Value(t.Queries(0))
      .Key("tcp")
      .Value(t.Queries(1))
      .Key("pool_answers")
      .Value(t.pool_answers)
      .EndObject()
      .Key("reloads")
      .BeginObject()
      .Key("ok")
      .Value(reloads_.succeeded)
      .Key("failed")
      .Value(reloads_.failed)
      .EndObject()
      .Key("sk_lookup");
  steering_.StatusJson(*snapshot, json);
  json.EndObject();
  return json.text() + "\n";
}

std::string Daemon::MetricsText() const {
  const auto snapshot = snapshots_.Get();
  const ServerTotals t = server_.Totals();
  PrometheusText m;
  static constexpr const char* kTransports[] = {"udp", "tcp"};

  m.Family("agility_queries_total", "counter", "DNS queries answered, by transport, rcode, qtype.");
  for (int x = 0; x < 2; ++x) {
    for (int r = 0; r < kRcodeSlots; ++r) {
      for (int q = 0; q < kQtypeSlots; ++q) {
        if (t.queries[x][r][q] == 0) continue;
        m.Sample("agility_queries_total",
                 {{"transport", kTransports[x]},
                  {"rcode", RcodeSlotName(r)},
                  {"qtype", QtypeSlotName(q)}},
                 static_cast<double>(t.queries[x][r][q]));
      }
    }
  }
  m.Family("agility_queries_dropped_total", "counter",
           "Queries dropped without a response (QR set, runts, malformed on TCP).");
  for (int x = 0; x < 2; ++x) {
    m.Sample("agility_queries_dropped_total", {{"transport", kTransports[x]}},
             static_cast<double>(t.dropped[x]));
  }
  if (const std::string zone = PolicyZoneOf(*snapshot); !zone.empty()) {
    m.Family("agility_policy_serial", "gauge",
             "Serial of the policy zone whose pools and policies are in force (published or "
             "followed); 0: none yet.");
    m.Sample("agility_policy_serial", {{"zone", dns::NameToText(zone)}},
             static_cast<double>(PolicySerial(*snapshot)));
    m.Family("agility_policy_zone_refused_total", "counter",
             "Copies of the policy zone refused (their pools and policies would be refused as "
             "YAML); the policy in force stays.");
    m.Sample("agility_policy_zone_refused_total", {{"zone", dns::NameToText(zone)}},
             static_cast<double>(snapshot->policy_source.rejected));
  }
  m.Family("agility_truncated_total", "counter", "UDP answers sent with TC=1.");
  m.Sample("agility_truncated_total", static_cast<double>(t.truncated));
  m.Family("agility_dnssec_signatures_total", "counter", "RRSIGs computed online.");
  m.Sample("agility_dnssec_signatures_total", static_cast<double>(t.signatures_made));
  m.Family("agility_dnssec_signing_failures_total", "counter",
           "RRsets left unsigned because OpenSSL failed to sign them.");
  m.Sample("agility_dnssec_signing_failures_total", static_cast<double>(t.signing_failures));
  m.Family("agility_dnssec_cache_total", "counter",
           "Online signature cache lookups by result, and cached signatures evicted.");
  m.Sample("agility_dnssec_cache_total", {{"result", "hit"}},
           static_cast<double>(t.signature_cache_hits));
  m.Sample("agility_dnssec_cache_total", {{"result", "miss"}},
           static_cast<double>(t.signature_cache_misses));
  m.Sample("agility_dnssec_cache_total", {{"result", "eviction"}},
           static_cast<double>(t.signature_cache_evictions));
  m.Family("agility_dnssec_cache_bytes", "gauge",
           "Memory reserved for cached signatures (server.dnssec_cache_mb), all workers.");
  m.Sample("agility_dnssec_cache_bytes", static_cast<double>(t.signature_cache_bytes));
  m.Family("agility_dnssec_cache_capacity", "gauge", "Signatures the caches can hold.");
  m.Sample("agility_dnssec_cache_capacity", static_cast<double>(t.signature_cache_capacity));
  m.Family("agility_rate_limited_total", "counter",
           "UDP responses held back by Response Rate Limiting, by action.");
  m.Sample("agility_rate_limited_total", {{"action", "dropped"}},
           static_cast<double>(t.rate_limited_dropped));
  m.Sample("agility_rate_limited_total", {{"action", "slipped"}},
           static_cast<double>(t.rate_limited_slipped));
  m.Sample("agility_rate_limited_total", {{"action", "badcookie"}},
           static_cast<double>(t.rate_limited_bad_cookie));
  m.Family("agility_cookies_total", "counter",
           "Queries with a DNS COOKIE option (cookies: on), by whether they carried a valid "
           "server cookie, which exempts them from rate limiting.");
  m.Sample("agility_cookies_total", {{"server_cookie", "valid"}},
           static_cast<double>(t.cookies[1]));
  m.Sample("agility_cookies_total", {{"server_cookie", "absent_or_invalid"}},
           static_cast<double>(t.cookies[0]));
  if (t.dnstap) {
    m.Family("agility_dnstap_messages_total", "counter",
             "dnstap messages, by outcome: queued for the writer thread (which discards them while "
             "no collector is connected), or dropped because the collector is slow and the "
             "queue full; answers never wait for it.");
    m.Sample("agility_dnstap_messages_total", {{"outcome", "queued"}},
             static_cast<double>(t.dnstap_sent));
    m.Sample("agility_dnstap_messages_total", {{"outcome", "dropped"}},
             static_cast<double>(t.dnstap_dropped));
  }
  if (t.query_filter) {
    m.Family("agility_udp_query_filter_total", "counter",
             "UDP queries seen by the per-destination-address eBPF filter, by verdict.");
    m.Sample("agility_udp_query_filter_total", {{"verdict", "passed"}},
             static_cast<double>(t.query_filter_passed));
    m.Sample("agility_udp_query_filter_total", {{"verdict", "dropped"}},
             static_cast<double>(t.query_filter_dropped));
  }
  m.Family("agility_udp_send_drops_total", "counter", "UDP responses the kernel did not take.");
  m.Sample("agility_udp_send_drops_total", static_cast<double>(t.send_drops));
  m.Family("agility_tcp_connections", "gauge", "TCP connections open, all workers.");
  m.Sample("agility_tcp_connections", static_cast<double>(t.tcp_connections));
  m.Family("agility_tcp_connections_rejected_total", "counter",
           "TCP connections accepted and reset at once: over server.tcp_max_connections with "
           "no connection of the worker to evict (limit=\"total\") or over "
           "server.tcp_max_connections_per_client (limit=\"per_client\").");
  m.Sample("agility_tcp_connections_rejected_total", {{"limit", "total"}},
           static_cast<double>(t.tcp_rejected_total));
  m.Sample("agility_tcp_connections_rejected_total", {{"limit", "per_client"}},
           static_cast<double>(t.tcp_rejected_per_client));
  m.Family("agility_tcp_connections_evicted_total", "counter",
           "TCP connections reset to make room for a new one at server.tcp_max_connections: "
           "the worker's one longest without progress (a query answered or answers taken, "
           "its accept at first).");
  m.Sample("agility_tcp_connections_evicted_total", static_cast<double>(t.tcp_evicted));
  m.Family("agility_tcp_timeouts_total", "counter",
           "TCP connections closed by a timer: idle between queries, query not complete within "
           "server.tcp_query_timeout_ms, or write (answers not taken by the client).");
  for (const auto& [kind, timeout] : {std::pair{"idle", sockets::TcpTimeout::kIdle},
                                      std::pair{"query", sockets::TcpTimeout::kQuery},
                                      std::pair{"write", sockets::TcpTimeout::kWrite}}) {
    m.Sample("agility_tcp_timeouts_total", {{"kind", kind}},
             static_cast<double>(t.tcp_timeouts[static_cast<int>(timeout)]));
  }
  m.Family("agility_tcp_read_pauses_total", "counter",
           "Times a TCP connection stopped being read because its unsent answers reached "
           "server.tcp_max_unsent_bytes.");
  m.Sample("agility_tcp_read_pauses_total", static_cast<double>(t.tcp_read_pauses));

  const policy::Table& table = *snapshot->table;
  const policy::PoolCounters& counters = table.counters();
  m.Family("agility_pool_answers_total", "counter",
           "Addresses drawn from pools, by policy and pool.");
  for (size_t i = 0; i < table.policies().size(); ++i) {
    const policy::Policy& policy = table.policies()[i];
    for (const bool v6 : {false, true}) {
      const int pool = v6 ? policy.ipv6_pool : policy.ipv4_pool;
      if (pool < 0 || !counters.PolicyCounted(static_cast<uint32_t>(i), v6)) continue;
      m.Sample("agility_pool_answers_total",
               {{"policy", policy.name}, {"pool", table.pools()[pool].name()}},
               static_cast<double>(counters.Policy(static_cast<uint32_t>(i), v6)));
    }
  }
  m.Family("agility_pool_answers_by_prefix_total", "counter",
           "Addresses drawn per sub-prefix of each pool's prefixes: per address up to a /24, "
           "per /24 above, at most 256 sub-prefixes each.");
  for (size_t p = 0; p < table.pools().size(); ++p) {
    const policy::Pool& pool = table.pools()[p];
    if (!counters.BucketsCounted(static_cast<int>(p))) continue;
    for (uint32_t i = 0; i < pool.parts().size(); ++i) {
      const policy::SubPrefix& part = pool.parts()[i];
      for (int b = 0; b < part.bucket_count(); ++b) {
        m.Sample("agility_pool_answers_by_prefix_total",
                 {{"pool", pool.name()}, {"prefix", part.BucketPrefix(b).ToString()}},
                 static_cast<double>(counters.Bucket(static_cast<int>(p), i, b)));
      }
    }
  }
  m.Family("agility_pool_answers_by_weighted_prefix_total", "counter",
           "Addresses drawn from each prefix of a pool as configured: the shares its weights "
           "give.");
  for (size_t p = 0; p < table.pools().size(); ++p) {
    const policy::Pool& pool = table.pools()[p];
    if (!counters.BucketsCounted(static_cast<int>(p))) continue;
    for (uint32_t i = 0; i < pool.parts().size(); ++i) {
      m.Sample("agility_pool_answers_by_weighted_prefix_total",
               {{"pool", pool.name()}, {"prefix", pool.parts()[i].prefix.ToString()}},
               static_cast<double>(counters.PartTotal(static_cast<int>(p), i)));
    }
  }
  m.Family("agility_pool_weight", "gauge",
           "Weight in force of each prefix of a pool (a live shift's, or the YAML's).");
  for (const policy::Pool& pool : table.pools()) {
    for (const policy::SubPrefix& part : pool.parts()) {
      m.Sample("agility_pool_weight", {{"pool", pool.name()}, {"prefix", part.prefix.ToString()}},
               part.weight);
    }
  }
  m.Family("agility_pool_size_addresses", "gauge",
           "Addresses in each prefix of a pool (saturated at 2^64).");
  for (const policy::Pool& pool : table.pools()) {
    for (const policy::SubPrefix& part : pool.parts()) {
      m.Sample("agility_pool_size_addresses",
               {{"pool", pool.name()}, {"prefix", part.prefix.ToString()}},
               static_cast<double>(part.prefix.size()));
    }
  }

  const std::vector<sockets::LabelStatus> labels = steering_.Labels();
  m.Family("agility_sk_lookup_active", "gauge", "1 when the sk_lookup program is attached.");
  m.Sample("agility_sk_lookup_active", steering_.active() ? 1 : 0);
  for (const auto& [name, help] :
       {std::pair{"agility_sk_lookup_lookups_total",
                  "Packets that matched a binding of the label."},
        std::pair{"agility_sk_lookup_misses_total", "... and found no socket: dropped."},
        std::pair{"agility_sk_lookup_errors_total", "... and could not be assigned: dropped."}}) {
    m.Family(name, "counter", help);
    for (const sockets::LabelStatus& label : labels) {
      const uint64_t value = std::string(name) == "agility_sk_lookup_lookups_total"  ? label.lookups
                             : std::string(name) == "agility_sk_lookup_misses_total" ? label.misses
                                                                                     : label.errors;
      m.Sample(name, {{"label", label.label}}, static_cast<double>(value));
    }
  }
  m.Family("agility_sk_lookup_drain_lookups_total", "counter",
           "Packets that matched a draining binding of the label (an address no longer "
           "answered, still steered until the answers that carried it expire).");
  for (const sockets::LabelStatus& label : labels) {
    m.Sample("agility_sk_lookup_drain_lookups_total", {{"label", label.label}},
             static_cast<double>(label.drain_lookups));
  }
  m.Family("agility_sk_lookup_draining_bindings", "gauge",
           "Bindings draining: kept until the answers that carried their addresses expire.");
  m.Sample("agility_sk_lookup_draining_bindings",
           static_cast<double>(steering_.Draining(*snapshot).size()));
  m.Family("agility_sk_lookup_sockets", "gauge", "Sockets registered per label.");
  for (const sockets::LabelStatus& label : labels) {
    int sockets = 0;
    for (uint64_t cookie : label.cookies) sockets += cookie != 0;
    m.Sample("agility_sk_lookup_sockets", {{"label", label.label}}, sockets);
  }

  m.Family("agility_generation", "gauge", "Generation of the snapshot being served.");
  m.Sample("agility_generation", static_cast<double>(snapshot->generation));
  m.Family("agility_snapshots_alive", "gauge",
           "Snapshots in memory: the one served, and any older one a worker still holds.");
  m.Sample("agility_snapshots_alive", static_cast<double>(LiveSnapshots::count()));
  m.Family("agility_reloads_total", "counter", "Reloads by result.");
  m.Sample("agility_reloads_total", {{"result", "success"}},
           static_cast<double>(reloads_.succeeded));
  m.Sample("agility_reloads_total", {{"result", "failure"}}, static_cast<double>(reloads_.failed));
  m.Family("agility_last_reload_success", "gauge", "1 when the last reload succeeded.");
  m.Sample("agility_last_reload_success", reloads_.last_ok ? 1 : 0);
  m.Family("agility_last_reload_duration_seconds", "gauge", "Duration of the last reload.");
  m.Sample("agility_last_reload_duration_seconds", reloads_.last_seconds);
  m.Family("agility_snapshot_load_duration_seconds", "gauge",
           "Time to build the snapshot being served.");
  m.Sample("agility_snapshot_load_duration_seconds",
           absl::ToDoubleSeconds(snapshot->load_duration));
  m.Family("agility_zone_names", "gauge", "Owner names per zone.");
  for (const auto& zone : snapshot->zones.zones()) {
    m.Sample("agility_zone_names", {{"zone", dns::NameToText(zone->apex())}},
             static_cast<double>(zone->name_count()));
  }
  m.Family("agility_transfers_out_total", "counter",
           "AXFR and IXFR requests over TCP: answered with the zone (sent), or refused "
           "(transfer.allow, TSIG, no such zone).");
  m.Sample("agility_transfers_out_total", {{"result", "sent"}},
           static_cast<double>(t.transfers_out));
  m.Sample("agility_transfers_out_total", {{"result", "refused"}},
           static_cast<double>(t.transfers_refused));
  m.Family("agility_transfers_out_ixfr_total", "counter",
           "Of the transfers sent, those answered with the journal's differences (IXFR).");
  m.Sample("agility_transfers_out_ixfr_total", {},
           static_cast<double>(t.transfers_out_incremental));
  const Secondaries::Counters c = secondaries_->counters();
  m.Family("agility_transfers_in_total", "counter",
           "Refreshes of secondary zones by outcome: a full zone (axfr), changes (ixfr), "
           "nothing new (up_to_date), or none applied (failed).");
  for (const auto& [kind, count] :
       {std::pair{"axfr", c.axfr}, std::pair{"ixfr", c.ixfr}, std::pair{"up_to_date", c.up_to_date},
        std::pair{"failed", c.failed}}) {
    m.Sample("agility_transfers_in_total", {{"kind", kind}}, static_cast<double>(count));
  }
  m.Family("agility_notifies_in_total", "counter", "NOTIFYs received, by what we did.");
  m.Sample("agility_notifies_in_total", {{"result", "accepted"}},
           static_cast<double>(c.notifies_accepted));
  m.Sample("agility_notifies_in_total", {{"result", "refused"}},
           static_cast<double>(c.notifies_refused));
  m.Family("agility_secondary_zones_expired", "gauge",
           "Secondary zones past their SOA expire, answering SERVFAIL.");
  m.Sample("agility_secondary_zones_expired", static_cast<double>(c.expired));
  m.Family("agility_zone_serial", "gauge", "SOA serial per zone.");
  for (const auto& zone : snapshot->zones.zones()) {
    m.Sample("agility_zone_serial", {{"zone", dns::NameToText(zone->apex())}}, zone->serial());
  }
  m.Family("agility_zone_load_duration_seconds", "gauge", "Time the zone took to load.");
  for (const auto& zone : snapshot->zones.zones()) {
    m.Sample("agility_zone_load_duration_seconds", {{"zone", dns::NameToText(zone->apex())}},
             zone->load_seconds());
  }
  m.Family("agility_zone_memory_bytes", "gauge", "Memory held by each compiled zone.");
  for (const auto& zone : snapshot->zones.zones()) {
    m.Sample("agility_zone_memory_bytes", {{"zone", dns::NameToText(zone->apex())}},
             static_cast<double>(zone->memory_bytes()));
  }
  m.Family("agility_start_time_seconds", "gauge", "Start time of agilityd, Unix seconds.");
  m.Sample("agility_start_time_seconds", static_cast<double>(absl::ToUnixSeconds(started_)));
  return m.text();
}

}  // namespace agility::daemon
