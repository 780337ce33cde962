#include "daemon/daemon.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "daemon/log.h"
#include "daemon/privileges.h"

namespace agility::daemon {
namespace {

constexpr char kWeightsFile[] = "weights";
constexpr uint64_t kTickMs = 500;

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
  return 1;
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// The weights a table is serving, by WeightKey.
policy::LiveWeights TableWeights(const policy::Table& table) {
  policy::LiveWeights weights;
  for (const policy::Pool& pool : table.pools()) {
    for (const policy::SubPrefix& part : pool.parts()) {
      weights[policy::WeightKey(pool.name(), part.prefix)] = part.weight;
    }
  }
  return weights;
}

}  // namespace

struct Daemon::ReloadJob {
  uv_work_t work;
  Daemon* daemon;
  std::string path;
  uint64_t generation;
  int workers;  // running, not what the new config says
  std::shared_ptr<const Snapshot> previous;
  absl::StatusOr<std::shared_ptr<Snapshot>> result = absl::UnknownError("not run");
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
  state_ = std::make_unique<StateDir>(server_config.state_dir);
  if (!state_->status().ok()) {
    Log(absl::StrCat(state_->status().message(),
                     "; drains and weight overrides will not outlive this process"));
  } else if (auto text = state_->Read(kWeightsFile); !text.ok() || text->has_value()) {
    auto parsed = text.ok() ? policy::WeightOverrides::Parse(**text, state_->FilePath(kWeightsFile))
                            : absl::StatusOr<policy::WeightOverrides>(text.status());
    if (parsed.ok()) {
      overrides_ = *std::move(parsed);
    } else {
      Log(absl::StrCat("ignoring weight overrides: ", parsed.status().message()));
    }
  }
  for (const std::string& line : overrides_.Reconcile(*config)) Log(line);
  const policy::LiveWeights live = overrides_.At(*config, NowMs());
  auto loaded = LoadSnapshot(*std::move(config), 0, running_server_.workers, nullptr, &live);
  if (!loaded.ok()) return Fail(loaded.status());
  // The holder owns it from here: a local copy would keep this first
  // snapshot, zones and all, alive beside every later one.
  Publish(*std::move(loaded));
  Log(Summary(*snapshots_.Get()));
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
  if (status.ok()) {
    status = steering_.Start(*snapshots_.Get(), server_.dns_sockets(), state_.get());
  }
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
    std::vector<std::string> owned = {server_config.control};
    if (state_->status().ok()) {
      owned.push_back(state_->path());
      for (const char* name : {kWeightsFile, "steering"}) {
        if (access(state_->FilePath(name).c_str(), F_OK) == 0) {
          owned.push_back(state_->FilePath(name));
        }
      }
    }
    status = DropPrivileges(server_config.user, owned);
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
  uv_timer_init(&loop_, &tick_);
  tick_.data = this;
  uv_timer_start(&tick_, &Daemon::OnTick, kTickMs, kTickMs);
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
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
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
  const bool json = words.size() == 2 && words[1] == "--json";
  if (command == "status" && (words.size() == 1 || json)) {
    reply(absl::OkStatus(), json ? StatusJson() : StatusText());
  } else if (command == "reload") {
    Reload(std::move(reply));
  } else if (command == "bindings" && (words.size() == 1 || json)) {
    const auto snapshot = snapshots_.Get();
    if (json) {
      JsonWriter out;
      steering_.BindingsJson(*snapshot, out);
      reply(absl::OkStatus(), out.text());
    } else {
      reply(absl::OkStatus(), steering_.BindingsText(*snapshot));
    }
  } else if (command == "shift") {
    std::string body;
    const absl::Status status = Shift(words, &body);
    reply(status, body);
  } else if (command == "stats" || command == "metrics") {
    reply(absl::OkStatus(), MetricsText());
  } else if (command == "register" && words.size() == 2) {
    reply(steering_.RegisterFds(words[1], request.fds), "");
  } else if (command == "register-pid" && words.size() == 5) {
    reply(steering_.RegisterFromProcess(words), "");
  } else {
    reply(absl::InvalidArgumentError(
              absl::StrCat("unknown command '", request.line,
                           "' (try: status [--json], reload, bindings [--json], stats, "
                           "shift POOL PREFIX WEIGHT [SECONDS] | reset, register LABEL + fds, "
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
  job->generation = 0;  // given at publication
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
  std::vector<std::string> cleared;
  if (status.ok()) {
    // The newest intent wins: an override whose YAML weight changed goes.
    policy::WeightOverrides kept_overrides = overrides_;
    cleared = kept_overrides.Reconcile((*job->result)->config);
    auto weighted = WithLiveWeights(*std::move(job->result), kept_overrides);
    status = weighted.status();
    // Steering first: a reload that cannot be steered keeps the old snapshot.
    if (status.ok()) status = steering_.Sync(**weighted, sockets::SkLookup::Gaps::kNever);
    if (status.ok()) {
      overrides_ = std::move(kept_overrides);
      if (!cleared.empty()) PersistOverrides();
      const std::shared_ptr<Snapshot> snapshot = *std::move(weighted);
      Publish(snapshot);
      body = Summary(*snapshot);
      for (const std::string& line : cleared) absl::StrAppend(&body, line, "\n");
      // Sockets, workers and their limits are set up once, at start.
      std::vector<absl::string_view> kept;
      if (!(snapshot->config.server == running_server_)) kept.push_back("server");
      if (!(snapshot->config.rate_limit == running_rate_limit_)) kept.push_back("rate_limit");
      if (!snapshot->config.sk_lookup.SameAttachment(running_sk_lookup_)) {
        kept.push_back("sk_lookup");
      }
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

void Daemon::Publish(std::shared_ptr<Snapshot> snapshot) {
  snapshot->generation = ++generation_;
  snapshots_.Publish(std::move(snapshot));
  server_.SnapshotPublished();
}

absl::StatusOr<std::shared_ptr<Snapshot>> Daemon::WithLiveWeights(
    std::shared_ptr<Snapshot> snapshot, const policy::WeightOverrides& overrides) const {
  const policy::LiveWeights live = overrides.At(snapshot->config, NowMs());
  if (live == TableWeights(*snapshot->table)) return snapshot;
  return WithWeights(*snapshot, running_server_.workers, live);
}

void Daemon::OnTick(uv_timer_t* timer) {
  auto* self = static_cast<Daemon*>(timer->data);
  const auto current = self->snapshots_.Get();
  // A reload under way publishes with the weights of its end.
  if (!self->reloading_ && !self->overrides_.overrides().empty()) {
    auto next = WithWeights(*current, self->running_server_.workers,
                            self->overrides_.At(current->config, NowMs()));
    if (next.ok() && TableWeights(*(*next)->table) != TableWeights(*current->table)) {
      self->Publish(*std::move(next));
    } else if (!next.ok()) {
      Log(absl::StrCat("weights not applied: ", next.status().message()));
    }
  }
  self->steering_.ExpireDrains(*self->snapshots_.Get());
}

void Daemon::PersistOverrides() {
  if (auto status = state_->Write(kWeightsFile, overrides_.Serialize()); !status.ok()) {
    Log(absl::StrCat("weight overrides not persisted: ", status.message()));
  }
}

absl::Status Daemon::Shift(const std::vector<std::string>& words, std::string* body) {
  if (words.size() != 4 && words.size() != 5) {
    return absl::InvalidArgumentError(
        "usage: shift POOL PREFIX WEIGHT [SECONDS] | shift POOL PREFIX reset");
  }
  const auto current = snapshots_.Get();
  policy::WeightOverrides next = overrides_;
  const std::string& pool = words[1];
  const std::string& prefix = words[2];
  const int64_t now = NowMs();
  if (words[3] == "reset") {
    if (words.size() != 4) return absl::InvalidArgumentError("shift ... reset takes no seconds");
    if (auto status = next.Reset(current->config, pool, prefix); !status.ok()) return status;
  } else {
    uint32_t weight = 0;
    uint32_t seconds = 0;
    if (!absl::SimpleAtoi(words[3], &weight) || weight > policy::kMaxWeight) {
      return absl::InvalidArgumentError(
          absl::StrCat("weight '", words[3], "': an integer 0..", policy::kMaxWeight));
    }
    if (words.size() == 5 && (!absl::SimpleAtoi(words[4], &seconds) || seconds > 30 * 86400)) {
      return absl::InvalidArgumentError(
          absl::StrCat("seconds '", words[4], "': an integer 0..", 30 * 86400));
    }
    uint32_t in_force = 0;
    if (auto parsed = policy::Prefix::Parse(prefix); parsed.ok()) {
      const auto weights = TableWeights(*current->table);
      if (const auto it = weights.find(policy::WeightKey(pool, *parsed)); it != weights.end()) {
        in_force = it->second;
      }
    }
    if (auto status = next.Shift(current->config, pool, prefix, weight, in_force,
                                 int64_t{seconds} * 1000, now);
        !status.ok()) {
      return status;
    }
  }
  auto weighted = WithWeights(*current, running_server_.workers, next.At(current->config, now));
  if (!weighted.ok()) return weighted.status();
  overrides_ = std::move(next);
  PersistOverrides();
  Publish(*std::move(weighted));
  Log(absl::StrCat("shift ", absl::StrJoin(words.begin() + 1, words.end(), " ")));
  *body = absl::StrCat(words[3] == "reset" ? "reset " : "shifting ", pool, " ", prefix,
                       words[3] == "reset" ? " to its YAML weight"
                       : words.size() == 5 ? absl::StrCat(" to ", words[3], " over ", words[4], "s")
                                           : absl::StrCat(" to ", words[3]),
                       "\n");
  return absl::OkStatus();
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
  absl::StrAppend(&out, "\nreloads ok ", reloads_.succeeded, " failed ", reloads_.failed, "\n");
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
    const policy::PoolConfig& yaml = snapshot->config.pools[p];
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
          json.Key("ramp_from").Value(o.from).Key("ramp_seconds_left").Value(
              (o.end_ms - now + 999) / 1000);
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
