#include "daemon/daemon.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "daemon/log.h"
#include "daemon/privileges.h"

namespace agility::daemon {
namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
  return 1;
}

}  // namespace

struct Daemon::ReloadJob {
  uv_work_t work;
  Daemon* daemon;
  std::string path;
  uint64_t generation;
  int workers;  // running, not what the new config says
  std::shared_ptr<const Snapshot> previous;
  absl::StatusOr<std::shared_ptr<const Snapshot>> result = absl::UnknownError("not run");
  std::vector<ControlServer::Reply> replies;
  absl::Time started;
};

int Daemon::Run() {
  // A reload asked for while the first load runs has nothing to do; its
  // default action would end the process.
  std::signal(SIGHUP, SIG_IGN);
  // A TCP or HTTP client that closes before its answer is written must cost
  // an EPIPE on that connection, not the process.
  std::signal(SIGPIPE, SIG_IGN);
  auto config = policy::LoadConfig(config_path_);
  if (!config.ok()) return Fail(config.status());
  running_server_ = config->server;
  running_rate_limit_ = config->rate_limit;
  running_sk_lookup_ = config->sk_lookup;
  const policy::ServerConfig& server_config = running_server_;
  const policy::RateLimitSettings& rate_limit = running_rate_limit_;
  auto loaded = LoadSnapshot(*std::move(config), ++generation_, running_server_.workers);
  if (!loaded.ok()) return Fail(loaded.status());
  Log(Summary(**loaded));
  // The holder owns it from here: a local copy would keep this first
  // snapshot, zones and all, alive beside every later one.
  snapshots_.Publish(*std::move(loaded));
  started_ = absl::Now();

  uv_loop_init(&loop_);
  // Before the workers answer anything: from then on, SIGTERM must stop the
  // server cleanly rather than kill it.
  for (auto [handle, signum] :
       {std::pair{&sigint_, SIGINT}, std::pair{&sigterm_, SIGTERM}, std::pair{&sighup_, SIGHUP}}) {
    uv_signal_init(&loop_, handle);
    handle->data = this;
    uv_signal_start(handle, &Daemon::OnSignal, signum);
  }
  // Beside a running agilityd, refuse before anything it shares (steering
  // above all) is touched. The control socket itself comes last: its
  // appearance tells scripts that DNS is being served.
  absl::Status status = ControlServer::RefuseIfLive(server_config.control);
  if (status.ok()) status = server_.Start(server_config, rate_limit);
  if (status.ok()) status = steering_.Start(*snapshots_.Get(), server_.dns_sockets());
  if (status.ok()) {
    control_ = std::make_unique<ControlServer>(
        &loop_, [this](ControlServer::Request request, ControlServer::Reply reply) {
          Control(std::move(request), std::move(reply));
        });
    status = control_->Listen(server_config.control);
  }
  if (status.ok() && server_config.metrics.has_value()) {
    metrics_ = std::make_unique<MetricsServer>(&loop_, [this] { return MetricsText(); });
    status = metrics_->Listen(*server_config.metrics);
    if (status.ok())
      Log(absl::StrCat("metrics on http://", server_config.metrics->ToString(), "/metrics"));
  }
  if (status.ok() && !server_config.user.empty()) {
    status = DropPrivileges(server_config.user, {server_config.control});
    if (status.ok()) {
      Log(absl::StrCat("running as ", server_config.user, " with CAP_BPF and CAP_NET_ADMIN"));
    }
  }
  if (!status.ok()) {
    server_.Stop();
    if (control_ != nullptr) control_->Close();
    if (metrics_ != nullptr) metrics_->Close();
    CloseSignals();
    uv_run(&loop_, UV_RUN_DEFAULT);  // lets the close callbacks run
    uv_loop_close(&loop_);
    return Fail(status);
  }
  Log(absl::StrCat("control socket ", server_config.control));
  uv_run(&loop_, UV_RUN_DEFAULT);
  uv_loop_close(&loop_);
  Log("stopped");
  return 0;
}

void Daemon::OnSignal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<Daemon*>(handle->data);
  if (signum == SIGHUP) {
    Log("SIGHUP: reloading");
    self->Reload(nullptr);
    return;
  }
  Log(absl::StrCat("signal ", signum, ": stopping"));
  self->Shutdown();
}

void Daemon::Shutdown() {
  server_.Stop();
  control_->Close();
  if (metrics_ != nullptr) metrics_->Close();
  CloseSignals();
}

void Daemon::CloseSignals() {
  for (uv_signal_t* handle : {&sigint_, &sigterm_, &sighup_}) {
    uv_close(reinterpret_cast<uv_handle_t*>(handle), nullptr);
  }
  // libuv restores the default actions: a SIGHUP (logrotate) while stopping
  // must not end the process.
  std::signal(SIGHUP, SIG_IGN);
}

void Daemon::Control(ControlServer::Request request, ControlServer::Reply reply) {
  const std::vector<std::string> words = absl::StrSplit(request.line, ' ', absl::SkipEmpty());
  const std::string command = words.empty() ? "" : words[0];
  if (command == "status") {
    reply(absl::OkStatus(), StatusText());
  } else if (command == "reload") {
    Reload(std::move(reply));
  } else if (command == "bindings") {
    reply(absl::OkStatus(), steering_.BindingsText());
  } else if (command == "stats" || command == "metrics") {
    reply(absl::OkStatus(), MetricsText());
  } else if (command == "register" && words.size() == 2) {
    reply(steering_.RegisterFds(words[1], request.fds), "");
  } else if (command == "register-pid" && words.size() == 5) {
    reply(steering_.RegisterFromProcess(words), "");
  } else {
    reply(absl::InvalidArgumentError(
              absl::StrCat("unknown command '", request.line,
                           "' (try: status, reload, bindings, stats, register LABEL + fds, "
                           "register-pid PID LABEL tcp|udp ADDR:PORT)")),
          "");
  }
  // The registry took its own references; received descriptors are ours.
  for (int fd : request.fds) close(fd);
}

void Daemon::Reload(ControlServer::Reply reply) {
  if (reply) waiting_.push_back(std::move(reply));
  if (reloading_) {
    reload_again_ = true;
    return;
  }
  reloading_ = true;
  reload_again_ = false;
  auto* job = new ReloadJob;
  job->daemon = this;
  job->path = config_path_;
  job->generation = generation_ + 1;
  job->workers = running_server_.workers;
  job->previous = snapshots_.Get();
  job->replies = std::move(waiting_);
  job->started = absl::Now();
  waiting_.clear();
  job->work.data = job;
  uv_queue_work(
      &loop_, &job->work,
      [](uv_work_t* work) {
        auto* job = static_cast<ReloadJob*>(work->data);
        auto config = policy::LoadConfig(job->path);
        if (!config.ok()) {
          job->result = config.status();
        } else {
          job->result =
              LoadSnapshot(*std::move(config), job->generation, job->workers, job->previous.get());
        }
        job->previous.reset();
      },
      [](uv_work_t* work, int /*status*/) {
        auto* job = static_cast<ReloadJob*>(work->data);
        job->daemon->FinishReload(std::unique_ptr<ReloadJob>(job));
      });
}

void Daemon::FinishReload(std::unique_ptr<ReloadJob> job) {
  reloading_ = false;
  absl::Status status = job->result.status();
  std::string body;
  if (status.ok()) {
    const std::shared_ptr<const Snapshot> snapshot = *std::move(job->result);
    // Steering first: a reload that cannot be steered keeps the old snapshot.
    status = steering_.Sync(*snapshot, sockets::SkLookup::Gaps::kNever);
    if (status.ok()) {
      generation_ = job->generation;
      snapshots_.Publish(snapshot);
      server_.SnapshotPublished();
      body = Summary(*snapshot);
      // Sockets, workers and their limits are set up once, at start.
      std::vector<absl::string_view> kept;
      if (!(snapshot->config.server == running_server_)) kept.push_back("server");
      if (!(snapshot->config.rate_limit == running_rate_limit_)) kept.push_back("rate_limit");
      if (!(snapshot->config.sk_lookup == running_sk_lookup_)) kept.push_back("sk_lookup");
      if (!kept.empty()) {
        absl::StrAppend(&body, "note: the changed ", absl::StrJoin(kept, " and "),
                        " settings take effect at the next restart; the running ones stay\n");
      }
      Log(absl::StrCat("reloaded: ", body));
    }
  }
  if (!status.ok()) {
    Log(absl::StrCat("reload failed, still serving generation ", generation_, ":\n",
                     status.message()));
  }
  reloads_.last_ok = status.ok();
  ++(status.ok() ? reloads_.succeeded : reloads_.failed);
  reloads_.last_at = absl::Now();
  reloads_.last_seconds = absl::ToDoubleSeconds(reloads_.last_at - job->started);
  for (auto& reply : job->replies) reply(status, body);
  if (reload_again_) Reload(nullptr);
}

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
  absl::StrAppend(&out, "\nreloads ok ", reloads_.succeeded, " failed ", reloads_.failed, "\n",
                  steering_.StatusText());
  return out;
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
  m.Family("agility_truncated_total", "counter", "UDP answers sent with TC=1.");
  m.Sample("agility_truncated_total", static_cast<double>(t.truncated));
  m.Family("agility_rate_limited_total", "counter",
           "UDP responses held back by Response Rate Limiting, by action.");
  m.Sample("agility_rate_limited_total", {{"action", "dropped"}},
           static_cast<double>(t.rate_limited_dropped));
  m.Sample("agility_rate_limited_total", {{"action", "slipped"}},
           static_cast<double>(t.rate_limited_slipped));
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
           "TCP connections accepted and reset at once: over server.tcp_max_connections "
           "(limit=\"total\") or server.tcp_max_connections_per_client (limit=\"per_client\").");
  m.Sample("agility_tcp_connections_rejected_total", {{"limit", "total"}},
           static_cast<double>(t.tcp_rejected_total));
  m.Sample("agility_tcp_connections_rejected_total", {{"limit", "per_client"}},
           static_cast<double>(t.tcp_rejected_per_client));
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
               {{"policy", policy.name}, {"pool", table.pools()[pool].name}},
               static_cast<double>(counters.Policy(static_cast<uint32_t>(i), v6)));
    }
  }
  m.Family("agility_pool_answers_by_prefix_total", "counter",
           "Addresses drawn per sub-prefix of each pool: per address up to a /24, per /24 "
           "above, at most 256 sub-prefixes.");
  for (size_t p = 0; p < table.pools().size(); ++p) {
    const policy::Pool& pool = table.pools()[p];
    if (!counters.BucketsCounted(static_cast<int>(p))) continue;
    for (int b = 0; b < pool.bucket_count(); ++b) {
      m.Sample("agility_pool_answers_by_prefix_total",
               {{"pool", pool.name}, {"prefix", pool.BucketPrefix(b).ToString()}},
               static_cast<double>(counters.Bucket(static_cast<int>(p), b)));
    }
  }
  m.Family("agility_pool_size_addresses", "gauge", "Addresses in each pool (saturated at 2^64).");
  for (const policy::Pool& pool : table.pools()) {
    m.Sample("agility_pool_size_addresses",
             {{"pool", pool.name}, {"prefix", pool.prefix.ToString()}},
             static_cast<double>(pool.prefix.size()));
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
