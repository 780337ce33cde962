// agilityd: loads the configuration and zones, serves DNS, and reloads on
// SIGHUP or `agilityctl reload`.
#include <getopt.h>
#include <uv.h>

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "daemon/control.h"
#include "daemon/log.h"
#include "daemon/server.h"
#include "daemon/snapshot.h"
#include "sockets/sk_lookup.h"
#include "sockets/socket_facts.h"

namespace agility::daemon {
namespace {

constexpr char kUsage[] =
    "usage: agilityd [-c FILE] [--check]\n"
    "  -c, --config FILE  configuration (default config/agility.yaml)\n"
    "      --check        load and validate configuration and zones, print a summary, exit\n";

class Daemon {
 public:
  explicit Daemon(std::string config_path) : config_path_(std::move(config_path)) {}

  int Run() {
    auto config = policy::LoadConfig(config_path_);
    if (!config.ok()) return Fail(config.status());
    const policy::ServerConfig server_config = config->server;
    auto snapshot = LoadSnapshot(*std::move(config), ++generation_);
    if (!snapshot.ok()) return Fail(snapshot.status());
    Log(Summary(**snapshot));
    snapshots_.Publish(*std::move(snapshot));
    started_ = absl::Now();

    uv_loop_init(&loop_);
    if (auto status = server_.Start(server_config); !status.ok()) {
      server_.Stop();
      return Fail(status);
    }
    if (auto status = StartSteering(); !status.ok()) {
      server_.Stop();
      return Fail(status);
    }
    control_ = std::make_unique<ControlServer>(
        &loop_, [this](ControlServer::Request request, ControlServer::Reply reply) {
          Control(std::move(request), std::move(reply));
        });
    if (auto status = control_->Listen(server_config.control); !status.ok()) {
      server_.Stop();
      return Fail(status);
    }
    Log(absl::StrCat("control socket ", server_config.control));
    for (auto [handle, signum] : {std::pair{&sigint_, SIGINT}, std::pair{&sigterm_, SIGTERM},
                                  std::pair{&sighup_, SIGHUP}}) {
      uv_signal_init(&loop_, handle);
      handle->data = this;
      uv_signal_start(handle, &Daemon::OnSignal, signum);
    }
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    Log("stopped");
    return 0;
  }

 private:
  static int Fail(const absl::Status& status) {
    std::fprintf(stderr, "%.*s\n", static_cast<int>(status.message().size()),
                 status.message().data());
    return 1;
  }

  static void OnSignal(uv_signal_t* handle, int signum) {
    auto* self = static_cast<Daemon*>(handle->data);
    if (signum == SIGHUP) {
      Log("SIGHUP: reloading");
      self->Reload(nullptr);
      return;
    }
    Log(absl::StrCat("signal ", signum, ": stopping"));
    self->Shutdown();
  }

  void Shutdown() {
    server_.Stop();
    control_->Close();
    for (uv_signal_t* handle : {&sigint_, &sigterm_, &sighup_}) {
      uv_close(reinterpret_cast<uv_handle_t*>(handle), nullptr);
    }
  }

  // Loads and attaches sk_lookup, steers the configured bindings and
  // registers our own DNS sockets under the "dns" label. Without BPF we say
  // so once and serve DNS anyway, unless the configuration requires it.
  absl::Status StartSteering() {
    const auto snapshot = snapshots_.Get();
    const policy::SkLookupConfig& config = snapshot->config.sk_lookup;
    if (!config.enabled) return absl::OkStatus();
    auto steering = sockets::SkLookup::Attach(config.pin);
    if (!steering.ok()) {
      if (config.required) {
        return absl::FailedPreconditionError(absl::StrCat(
            "sk_lookup is required (sk_lookup.required) but unavailable: ",
            steering.status().message()));
      }
      Log(absl::StrCat("sk_lookup unavailable, serving DNS without steering: ",
                       steering.status().message()));
      return absl::OkStatus();
    }
    steering_ = std::move(*steering);
    if (auto status = SyncSteering(*snapshot); !status.ok()) return status;
    for (int fd : server_.dns_sockets()) {
      if (auto status = steering_->Register(policy::kDnsService, fd); !status.ok()) {
        return status;
      }
    }
    Log(absl::StrCat("sk_lookup attached, ", snapshot->bindings.size(), " bindings pinned in ",
                     config.pin));
    return absl::OkStatus();
  }

  absl::Status SyncSteering(const Snapshot& snapshot) {
    if (steering_ == nullptr) return absl::OkStatus();
    std::vector<std::string> labels = {policy::kDnsService};
    for (const auto& service : snapshot.config.services) labels.push_back(service.name);
    return steering_->Sync(labels, snapshot.bindings);
  }

  void Control(ControlServer::Request request, ControlServer::Reply reply) {
    const std::vector<std::string> words = absl::StrSplit(request.line, ' ', absl::SkipEmpty());
    const std::string command = words.empty() ? "" : words[0];
    // Descriptors only make sense with "register"; never leak them.
    struct CloseFds {
      std::vector<int>& fds;
      ~CloseFds() {
        for (int fd : fds) close(fd);
      }
    } close_fds{request.fds};
    if (command == "status") {
      reply(absl::OkStatus(), Status());
    } else if (command == "reload") {
      Reload(std::move(reply));
    } else if (command == "bindings") {
      reply(absl::OkStatus(), Bindings());
    } else if (command == "register" && words.size() == 2) {
      reply(RegisterFds(words[1], request.fds), "");
    } else if (command == "register-pid" && words.size() == 5) {
      reply(RegisterFromProcess(words), "");
    } else {
      reply(absl::InvalidArgumentError(absl::StrCat(
                "unknown command '", request.line,
                "' (try: status, reload, bindings, register LABEL + fds, "
                "register-pid PID LABEL tcp|udp ADDR:PORT)")),
            "");
    }
  }

  absl::Status Steerable() const {
    if (steering_ != nullptr) return absl::OkStatus();
    return absl::FailedPreconditionError("sk_lookup is not active in this agilityd");
  }

  absl::Status RegisterFds(const std::string& label, const std::vector<int>& fds) {
    if (auto status = Steerable(); !status.ok()) return status;
    if (fds.empty()) {
      return absl::InvalidArgumentError("register needs socket descriptors (SCM_RIGHTS)");
    }
    for (int fd : fds) {
      if (auto status = steering_->Register(label, fd); !status.ok()) return status;
      auto facts = sockets::InspectSocket(fd);
      Log(absl::StrCat("registered ", facts.ok() ? facts->Describe() : "socket", " as ", label));
    }
    return absl::OkStatus();
  }

  absl::Status RegisterFromProcess(const std::vector<std::string>& words) {
    if (auto status = Steerable(); !status.ok()) return status;
    int pid = 0;
    if (!absl::SimpleAtoi(words[1], &pid) || pid <= 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad pid '", words[1], "'"));
    }
    policy::Protocol protocol;
    if (words[3] == "tcp") {
      protocol = policy::Protocol::kTcp;
    } else if (words[3] == "udp") {
      protocol = policy::Protocol::kUdp;
    } else {
      return absl::InvalidArgumentError("protocol must be tcp or udp");
    }
    auto endpoint = sockets::Endpoint::Parse(words[4]);
    if (!endpoint.ok()) return endpoint.status();
    auto fd = sockets::TakeSocketFromProcess(pid, protocol, *endpoint);
    if (!fd.ok()) return fd.status();
    const absl::Status status = steering_->Register(words[2], *fd);
    if (status.ok()) {
      Log(absl::StrCat("registered ", words[3], " ", words[4], " of pid ", pid, " as ",
                       words[2]));
    }
    close(*fd);
    return status;
  }

  std::string Bindings() const {
    if (steering_ == nullptr) return "sk_lookup inactive\n";
    std::string out;
    for (const sockets::Binding& b : steering_->Bindings()) {
      absl::StrAppend(&out, b.ToString(), "\n");
    }
    return out;
  }

  std::string SteeringStatus() const {
    if (steering_ == nullptr) return "sk_lookup inactive\n";
    std::string out = absl::StrCat("sk_lookup pinned in ", steering_->pin_dir(), "\n");
    static constexpr const char* kSlots[] = {"tcp4", "tcp6", "udp4", "udp6"};
    for (const sockets::LabelStatus& label : steering_->Labels()) {
      absl::StrAppend(&out, "  label ", label.label, ":");
      bool any = false;
      for (int slot = 0; slot < 4; ++slot) {
        if (label.cookies[slot] == 0) continue;
        absl::StrAppend(&out, " ", kSlots[slot], " cookie ", label.cookies[slot]);
        any = true;
      }
      if (!any) absl::StrAppend(&out, " no socket");
      absl::StrAppend(&out, "; lookups ", label.lookups, " misses ", label.misses, " errors ",
                      label.errors, "\n");
    }
    return out;
  }

  std::string Status() const {
    const auto snapshot = snapshots_.Get();
    const ServerTotals t = server_.Totals();
    std::string out = absl::StrCat("uptime ", absl::FormatDuration(absl::Trunc(absl::Now() - started_, absl::Seconds(1))), "\n");
    absl::StrAppend(&out, Summary(*snapshot));
    absl::StrAppend(&out, "queries udp ", t.queries_udp, " tcp ", t.queries_tcp, ", pool answers ",
                    t.pool_answers, ", truncated ", t.truncated, ", dropped ", t.dropped,
                    ", send drops ", t.send_drops, "\n");
    static constexpr const char* kRcodeNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                                  "NOTIMP", "REFUSED"};
    absl::StrAppend(&out, "rcodes");
    for (size_t r = 0; r < std::size(kRcodeNames); ++r) {
      absl::StrAppend(&out, " ", kRcodeNames[r], " ", t.rcodes[r]);
    }
    absl::StrAppend(&out, " BADVERS ", t.rcodes[16], "\n");
    absl::StrAppend(&out, SteeringStatus());
    return out;
  }

  // Parses and validates off the loop thread, then publishes on it.
  struct ReloadWork {
    uv_work_t work;
    Daemon* daemon;
    std::string path;
    uint64_t generation;
    std::shared_ptr<const Snapshot> previous;
    absl::StatusOr<std::shared_ptr<const Snapshot>> result = absl::UnknownError("not run");
    std::vector<ControlServer::Reply> replies;
  };

  void Reload(ControlServer::Reply reply) {
    if (reply) waiting_.push_back(std::move(reply));
    if (reloading_) {
      reload_again_ = true;
      return;
    }
    reloading_ = true;
    reload_again_ = false;
    auto* job = new ReloadWork{{},          this,
                               config_path_, generation_ + 1,
                               snapshots_.Get(), absl::UnknownError(""),
                               std::move(waiting_)};
    waiting_.clear();
    job->work.data = job;
    uv_queue_work(
        &loop_, &job->work,
        [](uv_work_t* work) {
          auto* job = static_cast<ReloadWork*>(work->data);
          auto config = policy::LoadConfig(job->path);
          if (!config.ok()) {
            job->result = config.status();
            return;
          }
          job->result = LoadSnapshot(*std::move(config), job->generation, job->previous.get());
          job->previous.reset();
        },
        [](uv_work_t* work, int /*status*/) {
          std::unique_ptr<ReloadWork> job(static_cast<ReloadWork*>(work->data));
          Daemon* self = job->daemon;
          self->reloading_ = false;
          absl::Status status = job->result.status();
          std::string body;
          if (status.ok()) {
            self->generation_ = job->generation;
            const std::shared_ptr<const Snapshot> snapshot = *std::move(job->result);
            body = Summary(*snapshot);
            self->snapshots_.Publish(snapshot);
            Log(absl::StrCat("reloaded: ", body));
            if (auto steering = self->SyncSteering(*snapshot); !steering.ok()) {
              status = steering;
              Log(absl::StrCat("steering update failed: ", steering.message()));
            }
          } else {
            Log(absl::StrCat("reload failed, still serving generation ", self->generation_, ":\n",
                             status.message()));
          }
          for (auto& reply : job->replies) reply(status, body);
          if (self->reload_again_) self->Reload(nullptr);
        });
  }

  std::string config_path_;
  uint64_t generation_ = 0;
  SnapshotHolder snapshots_;
  Server server_{snapshots_};
  uv_loop_t loop_;
  uv_signal_t sigint_, sigterm_, sighup_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<sockets::SkLookup> steering_;
  absl::Time started_;
  bool reloading_ = false;
  bool reload_again_ = false;
  std::vector<ControlServer::Reply> waiting_;
};

}  // namespace
}  // namespace agility::daemon

int main(int argc, char** argv) {
  std::string config = "config/agility.yaml";
  bool check = false;
  static const option kOptions[] = {{"config", required_argument, nullptr, 'c'},
                                    {"check", no_argument, nullptr, 'k'},
                                    {"help", no_argument, nullptr, 'h'},
                                    {nullptr, 0, nullptr, 0}};
  for (int opt; (opt = getopt_long(argc, argv, "c:h", kOptions, nullptr)) != -1;) {
    switch (opt) {
      case 'c':
        config = optarg;
        break;
      case 'k':
        check = true;
        break;
      case 'h':
        std::fputs(agility::daemon::kUsage, stdout);
        return 0;
      default:
        std::fputs(agility::daemon::kUsage, stderr);
        return 2;
    }
  }
  if (optind != argc) {
    std::fputs(agility::daemon::kUsage, stderr);
    return 2;
  }
  if (check) {
    auto parsed = agility::policy::LoadConfig(config);
    if (!parsed.ok()) {
      std::fprintf(stderr, "%s\n", std::string(parsed.status().message()).c_str());
      return 1;
    }
    auto snapshot = agility::daemon::LoadSnapshot(*std::move(parsed), 1);
    if (!snapshot.ok()) {
      std::fprintf(stderr, "%s\n", std::string(snapshot.status().message()).c_str());
      return 1;
    }
    std::fputs(agility::daemon::Summary(**snapshot).c_str(), stdout);
    return 0;
  }
  return agility::daemon::Daemon(config).Run();
}
