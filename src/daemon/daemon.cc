#include "daemon/daemon.h"

#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "config/policy_zone.h"
#include "daemon/log.h"
#include "daemon/privileges.h"
#include "daemon/zone_state.h"
#include "dns/zone_file.h"
#include "dns/zone_text.h"

namespace agility::daemon {
namespace {

constexpr char kWeightsFile[] = "weights";
// Beside a followed policy zone's copy, the copy whose policy was last
// accepted: what a restart serves should the copy be refused.
constexpr char kAcceptedPolicySuffix[] = ".accepted.zone";
constexpr uint64_t kTickMs = 500;

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
  return 1;
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// Tells systemd (Type=notify) where the service stands; nothing outside it.
void NotifySystemd(const std::string& state) {
  if (const int rc = sd_notify(0, state.c_str()); rc < 0) {
    Log(LogLevel::kWarning, absl::StrCat("sd_notify: ", std::strerror(-rc)));
  }
}

}  // namespace

struct Daemon::ReloadJob {
  uv_work_t work;
  Daemon* daemon;
  std::string path;
  int workers;  // running, not what the new config says
  Secondaries* secondaries;
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
  auto config = config::LoadConfig(config_path_);
  if (!config.ok()) return Fail(config.status());
  running_server_ = config->server;
  running_rate_limit_ = config->rate_limit;
  running_dnstap_ = config->dnstap;
  running_sk_lookup_ = config->sk_lookup;
  const config::ServerConfig& server_config = running_server_;
  const config::RateLimitSettings& rate_limit = running_rate_limit_;
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
      Log(LogLevel::kWarning,
          absl::StrCat("ignoring weight overrides: ", parsed.status().message()));
    }
  }
  for (const std::string& line : overrides_.Reconcile(*config)) Log(line);
  const policy::LiveWeights live = overrides_.At(*config, NowMs());
  secondaries_ =
      std::make_unique<Secondaries>(state_.get(), [this] { uv_async_send(&secondaries_changed_); });
  secondaries_->Configure(*config);
  notifier_.Configure(*config);
  const std::unique_ptr<Snapshot> before = StateBeforeStart(*config);
  auto loaded = LoadSnapshot(*std::move(config), 0, running_server_.workers, before.get(), &live,
                             secondaries_->Copies());
  if (!loaded.ok()) return Fail(loaded.status());
  // Zone files' journals from before the restart, where they still lead to
  // the file's serial (secondary zones read theirs with their copies).
  if (!(*loaded)->config.transfer.allow.empty() && state_->status().ok()) {
    for (size_t i = 0; i < (*loaded)->zones.zones().size(); ++i) {
      const auto& zone = (*loaded)->zones.zones()[i];
      if ((*loaded)->zones.served(i).secondary != nullptr) continue;
      if (auto journal =
              ReadJournal(*state_, *zone, size_t{(*loaded)->config.transfer.journal_mb} << 20)) {
        (*loaded)->journals[std::string(zone->apex())] = std::move(journal);
      }
    }
  }
  // The holder owns it from here: a local copy would keep this first
  // snapshot, zones and all, alive beside every later one.
  Publish(*std::move(loaded));
  Log(Summary(*snapshots_.Get()));
  started_ = absl::Now();

  if (const int rc = uv_loop_init(&loop_); rc != 0) {
    return Fail(absl::UnavailableError(absl::StrCat("event loop: ", uv_strerror(rc))));
  }
  // Before the workers answer anything: from then on, SIGTERM must stop the
  // server cleanly rather than kill it.
  for (auto [handle, signum] :
       {std::pair{&sigint_, SIGINT}, std::pair{&sigterm_, SIGTERM}, std::pair{&sighup_, SIGHUP}}) {
    // Cannot fail on Linux but for a lack of descriptors: then nothing
    // would stop the daemon cleanly, so it does not start.
    if (const int rc = uv_signal_init(&loop_, handle); rc != 0) {
      return Fail(absl::UnavailableError(absl::StrCat("signal handler: ", uv_strerror(rc))));
    }
    handle->data = this;
    uv_signal_start(handle, &Daemon::OnSignal, signum);
  }
  // Before the transfer thread can report a change.
  if (const int rc = uv_async_init(&loop_, &secondaries_changed_, &Daemon::OnSecondariesChanged);
      rc != 0) {
    return Fail(absl::UnavailableError(absl::StrCat("async handle: ", uv_strerror(rc))));
  }
  secondaries_changed_.data = this;
  server_.SetNotifyHandler(
      [this](absl::string_view apex, const sockaddr* source, absl::string_view key) {
        return secondaries_->Notify(apex, source, key);
      });
  // Beside a running agilityd, refuse before anything it shares (steering
  // above all) is touched. The control socket itself comes last: its
  // appearance tells scripts that DNS is being served.
  absl::Status status = ControlServer::RefuseIfLive(server_config.control);
  if (status.ok()) status = server_.Start(server_config, rate_limit, running_dnstap_);
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
  if (status.ok()) {
    if (const int rc = uv_timer_init(&loop_, &tick_); rc != 0) {
      status = absl::UnavailableError(absl::StrCat("timer: ", uv_strerror(rc)));
    }
  }
  if (!status.ok()) {
    server_.Stop();
    uv_close(reinterpret_cast<uv_handle_t*>(&secondaries_changed_), nullptr);
    if (control_ != nullptr) control_->Close();
    if (metrics_ != nullptr) metrics_->Close();
    CloseSignals();
    uv_run(&loop_, UV_RUN_DEFAULT);  // lets the close callbacks run
    uv_loop_close(&loop_);
    return Fail(status);
  }
  tick_.data = this;
  uv_timer_start(&tick_, &Daemon::OnTick, kTickMs, kTickMs);
  secondaries_->Start();
  notifier_.Start();
  Log(absl::StrCat("control socket ", server_config.control));
  // Zones loaded, sockets answering, steering and control up.
  NotifySystemd(absl::StrCat("READY=1\nSTATUS=serving generation ", generation_));
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
  NotifySystemd("STOPPING=1");
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  secondaries_->Stop();
  notifier_.Stop();
  uv_close(reinterpret_cast<uv_handle_t*>(&secondaries_changed_), nullptr);
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
  NotifySystemd("RELOADING=1");
  auto* job = new ReloadJob;
  job->daemon = this;
  job->path = config_path_;
  job->workers = running_server_.workers;
  job->secondaries = secondaries_.get();
  job->previous = snapshots_.Get();
  job->replies = std::move(waiting_);
  job->started = absl::Now();
  waiting_.clear();
  job->work.data = job;
  uv_queue_work(
      &loop_, &job->work,
      [](uv_work_t* work) {
        auto* job = static_cast<ReloadJob*>(work->data);
        auto config = config::LoadConfig(job->path);
        if (!config.ok()) {
          job->result = config.status();
        } else {
          // Follows the new secondary zones now; a reload that fails goes
          // back to the old ones (FinishReload).
          job->secondaries->Configure(*config);
          job->result = LoadSnapshot(*std::move(config), /*generation=*/0, job->workers,
                                     job->previous.get(), nullptr,  // numbered when published
                                     job->secondaries->Copies());
        }
        job->previous.reset();
      },
      [](uv_work_t* work, int /*status*/) {
        auto* job = static_cast<ReloadJob*>(work->data);
        job->daemon->FinishReload(std::unique_ptr<ReloadJob>(job));
      });
}

absl::Status Daemon::Adopt(std::shared_ptr<Snapshot> snapshot, std::vector<std::string>& cleared) {
  // The newest intent wins: an override whose YAML weight changed goes.
  policy::WeightOverrides kept_overrides = overrides_;
  cleared = kept_overrides.Reconcile(snapshot->config);
  auto reweighed = Reweighed(*snapshot, kept_overrides);
  if (!reweighed.ok()) return reweighed.status();
  if (*reweighed != nullptr) snapshot = *std::move(reweighed);
  // Steering first: a policy that cannot be steered keeps the old snapshot.
  if (auto status = steering_.Sync(*snapshot, sockets::SkLookup::Gaps::kNever); !status.ok()) {
    return status;
  }
  notifier_.Configure(snapshot->config);
  overrides_ = std::move(kept_overrides);
  if (!cleared.empty()) PersistOverrides();
  Publish(std::move(snapshot));
  return absl::OkStatus();
}

void Daemon::FinishReload(std::unique_ptr<ReloadJob> job) {
  reloading_ = false;
  absl::Status status = job->result.status();
  std::string body;
  std::vector<std::string> cleared;
  if (status.ok()) status = Adopt(*std::move(job->result), cleared);
  if (status.ok()) {
    const auto snapshot = snapshots_.Get();
    body = Summary(*snapshot);
    for (const std::string& line : cleared) absl::StrAppend(&body, line, "\n");
    // Sockets, workers and their limits are set up once, at start.
    std::vector<absl::string_view> kept;
    if (!(snapshot->config.server == running_server_)) kept.push_back("server");
    if (!(snapshot->config.rate_limit == running_rate_limit_)) kept.push_back("rate_limit");
    if (!(snapshot->config.dnstap == running_dnstap_)) kept.push_back("dnstap");
    if (!snapshot->config.sk_lookup.SameAttachment(running_sk_lookup_)) {
      kept.push_back("sk_lookup");
    }
    if (!kept.empty()) {
      absl::StrAppend(&body, "note: the changed ", absl::StrJoin(kept, " and "),
                      " settings take effect at the next restart; the running ones stay\n");
    }
    Log(absl::StrCat("reloaded: ", body));
  }
  if (!status.ok()) {
    Log(LogLevel::kError, absl::StrCat("reload failed, still serving generation ", generation_,
                                       ":\n", status.message()));
    secondaries_->Configure(snapshots_.Get()->config);
  }
  NotifySystemd(absl::StrCat("READY=1\nSTATUS=serving generation ", generation_,
                             status.ok() ? "" : " (the last reload failed)"));
  reloads_.last_ok = status.ok();
  ++(status.ok() ? reloads_.succeeded : reloads_.failed);
  reloads_.last_at = absl::Now();
  reloads_.last_seconds = absl::ToDoubleSeconds(reloads_.last_at - job->started);
  for (auto& reply : job->replies) reply(status, body);
  if (reload_again_) {
    Reload(nullptr);
  } else if (secondaries_pending_) {
    PublishSecondaries();
  }
}

void Daemon::OnSecondariesChanged(uv_async_t* async) {
  static_cast<Daemon*>(async->data)->PublishSecondaries();
}

void Daemon::PublishSecondaries() {
  // A reload under way may have read the copies before this change.
  if (reloading_) {
    secondaries_pending_ = true;
    return;
  }
  secondaries_pending_ = false;
  auto next = WithSecondaries(*snapshots_.Get(), secondaries_->Copies());
  if (!next.ok()) {
    Log(LogLevel::kWarning,
        absl::StrCat("secondary zones not published: ", next.status().message()));
    return;
  }
  if (!(*next)->config.policy_from.empty()) {
    // A new copy of the policy zone: pools and policies change with it, in
    // the same snapshot, drains and all.
    auto with_policy = WithPolicyFrom(**next, running_server_.workers);
    if (!with_policy.ok()) {
      Log(LogLevel::kWarning,
          absl::StrCat("policy zone not applied: ", with_policy.status().message()));
    } else if (*with_policy != nullptr) {
      const PolicySource& source = (*with_policy)->policy_source;
      if (source.serial == (*next)->policy_source.serial) {
        Publish(*std::move(with_policy));  // refused: the status says why
        return;
      }
      std::vector<std::string> cleared;
      const uint32_t serial = source.serial;
      if (auto status = Adopt(*std::move(with_policy), cleared); !status.ok()) {
        Log(LogLevel::kWarning,
            absl::StrCat("policy zone serial ", serial, " not applied: ", status.message()));
        // Not tried again before a new copy; the status says why.
        PolicySource& refused = (*next)->policy_source;
        refused.rejected_serial = serial;
        refused.rejected_why = std::string(status.message());
        ++refused.rejected;
      } else {
        Log(absl::StrCat("policy zone ", dns::NameToText((*next)->config.policy_from), " serial ",
                         serial, " in force: ", Summary(*snapshots_.Get())));
        for (const std::string& line : cleared) Log(line);
        return;
      }
    }
  }
  Publish(*std::move(next));
}

void Daemon::Publish(std::shared_ptr<Snapshot> snapshot) {
  const auto previous = snapshots_.Get();
  const std::shared_ptr<const Snapshot> published = snapshot;
  snapshot->generation = ++generation_;
  snapshots_.Publish(std::move(snapshot));
  server_.SnapshotPublished();
  // Journals are kept for restarts; a journal dropped (a zone changed
  // without a new serial) is removed. Secondary zones keep theirs as they
  // save their copies (Secondaries::Save).
  if (state_->status().ok()) {
    // Asked per journal, not per zone: thousands of catalog members may
    // be served, and a snapshot is published after each of their transfers.
    const auto secondary = [&](absl::string_view apex) {
      for (const Snapshot* snapshot : {published.get(), previous.get()}) {
        if (snapshot == nullptr) continue;
        dns::LabelOffsets labels;
        dns::ComputeLabelOffsets(apex, labels);
        const dns::ServedZone* served = snapshot->zones.FindBest(apex, labels);
        if (served != nullptr && served->zone->apex() == apex && served->secondary != nullptr) {
          return true;
        }
      }
      return false;
    };
    for (const auto& [apex, journal] : published->journals) {
      if (secondary(apex)) continue;
      if (previous != nullptr) {
        const auto it = previous->journals.find(apex);
        if (it != previous->journals.end() && it->second == journal) continue;
      }
      if (auto status = WriteJournal(*state_, apex, *journal); !status.ok()) {
        Log(LogLevel::kWarning, absl::StrCat("IXFR journal of ", dns::NameToText(apex),
                                             " not kept: ", status.message()));
      }
    }
    if (previous != nullptr) {
      for (const auto& [apex, journal] : previous->journals) {
        if (!published->journals.contains(apex) && !secondary(apex)) {
          RemoveJournal(*state_, apex);
        }
      }
    }
    SaveWrittenZones(*published, previous.get());
  }
  // A new serial (or a zone served anew) is announced to transfer.notify,
  // once published: a secondary that asks at once must get the new zone.
  if (published->config.transfer.notify.empty()) return;
  absl::flat_hash_map<absl::string_view, uint32_t> serials;
  if (previous != nullptr) {
    for (const auto& zone : previous->zones.zones()) serials[zone->apex()] = zone->serial();
  }
  for (size_t i = 0; i < published->zones.zones().size(); ++i) {
    const auto& zone = published->zones.zones()[i];
    // A secondary zone's placeholder has nothing to announce.
    if (zone->serial() == 0 && published->zones.served(i).secondary != nullptr) continue;
    const auto it = serials.find(zone->apex());
    if (it == serials.end() || it->second != zone->serial()) {
      const dns::RrsetView soa = zone->apex_node().Find(dns::type::kSoa);
      notifier_.Announce(zone->apex(), dns::AsChars(soa.records() + 2, dns::ReadU16(soa.records())),
                         soa.ttl());
    }
  }
}

std::unique_ptr<Snapshot> Daemon::StateBeforeStart(const config::Config& config) const {
  if (!state_->status().ok()) return nullptr;
  auto before = std::make_unique<Snapshot>();
  bool found = false;
  // Each zone agilityd writes, as published last: the same serial when it
  // says the same, and IXFR from it when not.
  for (const std::string& apex : config::WrittenZones(config)) {
    auto zone = ReadSavedZone(apex, ".zone");
    if (zone == nullptr) continue;
    if (auto journal = ReadJournal(*state_, *zone, size_t{config.transfer.journal_mb} << 20)) {
      before->journals[apex] = std::move(journal);
    }
    found |= before->zones.Add(std::move(zone)).ok();
  }
  // The policy to keep should the copy of the followed policy zone be refused.
  if (!config.policy_from.empty()) {
    if (auto zone = ReadSavedZone(config.policy_from, kAcceptedPolicySuffix)) {
      before->config = config;
      if (auto status = config::ReadPolicyZone(*zone, before->config); status.ok()) {
        before->policy_source.serial = zone->serial();
        before->policy_source.applied_at = absl::Now();
        found = true;
      } else {
        Log(LogLevel::kWarning, absl::StrCat("the last policy accepted (", zone->source(),
                                             ") is refused now: ", status.message()));
        before->config = config::Config();
      }
    }
  }
  return found ? std::move(before) : nullptr;
}

std::shared_ptr<const dns::Zone> Daemon::ReadSavedZone(const std::string& apex,
                                                       const char* suffix) const {
  const std::string file = ZoneFileStem(apex) + suffix;
  auto text = state_->Read(file);
  if (!text.ok() || !text->has_value()) return nullptr;
  auto zone = dns::ParseZoneText(**text, state_->FilePath(file), dns::NameToText(apex));
  if (!zone.ok() || (*zone)->apex() != apex) {
    Log(absl::StrCat(state_->FilePath(file),
                     " ignored: ", zone.ok() ? "another zone" : zone.status().message()));
    return nullptr;
  }
  return *std::move(zone);
}

void Daemon::SaveWrittenZones(const Snapshot& published, const Snapshot* previous) const {
  std::vector<std::pair<std::string, const char*>> files;
  for (const std::string& apex : config::WrittenZones(published.config)) {
    const auto zone = ZoneAt(published.zones, apex);
    if (zone != nullptr && (previous == nullptr || ZoneAt(previous->zones, apex) != zone)) {
      files.emplace_back(apex, ".zone");
    }
  }
  // The copy of the followed policy zone whose policy is in force, once per
  // new one.
  const std::string& followed = published.config.policy_from;
  const uint32_t serial = published.policy_source.serial;
  const auto copy = followed.empty() ? nullptr : ZoneAt(published.zones, followed);
  if (copy != nullptr && serial != 0 && copy->serial() == serial &&
      (previous == nullptr || previous->config.policy_from != followed ||
       previous->policy_source.serial != serial)) {
    files.emplace_back(followed, kAcceptedPolicySuffix);
  }
  for (const auto& [apex, suffix] : files) {
    dns::ZoneTextWriter text;
    absl::Status status = text.AddZone(*ZoneAt(published.zones, apex));
    if (status.ok()) status = state_->Write(ZoneFileStem(apex) + suffix, text.text());
    if (!status.ok()) {
      Log(LogLevel::kWarning, absl::StrCat("zone ", dns::NameToText(apex),
                                           " not kept for restarts: ", status.message()));
    }
  }
}

absl::StatusOr<std::shared_ptr<Snapshot>> Daemon::Reweighed(
    const Snapshot& snapshot, const policy::WeightOverrides& overrides) const {
  const policy::LiveWeights live = overrides.At(snapshot.config, NowMs());
  if (live == TableWeights(*snapshot.table)) return nullptr;
  return WithWeights(snapshot, running_server_.workers, live);
}

void Daemon::OnTick(uv_timer_t* timer) {
  auto* self = static_cast<Daemon*>(timer->data);
  const auto current = self->snapshots_.Get();
  // A reload under way publishes with the weights of its end.
  if (!self->reloading_ && !self->overrides_.overrides().empty()) {
    auto next = self->Reweighed(*current, self->overrides_);
    if (!next.ok()) {
      Log(LogLevel::kWarning, absl::StrCat("weights not applied: ", next.status().message()));
    } else if (*next != nullptr) {
      self->Publish(*std::move(next));
    }
  }
  self->steering_.ExpireDrains(*self->snapshots_.Get());
}

void Daemon::PersistOverrides() {
  if (auto status = state_->Write(kWeightsFile, overrides_.Serialize()); !status.ok()) {
    Log(LogLevel::kWarning, absl::StrCat("weight overrides not persisted: ", status.message()));
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
    if (!absl::SimpleAtoi(words[3], &weight) || weight > config::kMaxWeight) {
      return absl::InvalidArgumentError(
          absl::StrCat("weight '", words[3], "': an integer 0..", config::kMaxWeight));
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

}  // namespace agility::daemon
