// agilityd: loads the configuration and zones, serves DNS, and reloads on
// SIGHUP or `agilityctl reload`.
#include <getopt.h>
#include <uv.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "daemon/control.h"
#include "daemon/log.h"
#include "daemon/server.h"
#include "daemon/snapshot.h"

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
    control_ = std::make_unique<ControlServer>(
        &loop_, [this](const std::string& request, ControlServer::Reply reply) {
          Control(request, std::move(reply));
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

  void Control(const std::string& request, ControlServer::Reply reply) {
    const std::vector<std::string> words = absl::StrSplit(request, ' ', absl::SkipEmpty());
    const std::string command = words.empty() ? "" : words[0];
    if (command == "status") {
      reply(absl::OkStatus(), Status());
    } else if (command == "reload") {
      Reload(std::move(reply));
    } else {
      reply(absl::InvalidArgumentError(absl::StrCat("unknown command '", command,
                                                    "' (try: status, reload)")),
            "");
    }
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
    return out;
  }

  // Parses and validates off the loop thread, then publishes on it.
  struct ReloadWork {
    uv_work_t work;
    Daemon* daemon;
    std::string path;
    uint64_t generation;
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
    auto* job = new ReloadWork{{}, this, config_path_, generation_ + 1, absl::UnknownError(""),
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
          job->result = LoadSnapshot(*std::move(config), job->generation);
        },
        [](uv_work_t* work, int /*status*/) {
          std::unique_ptr<ReloadWork> job(static_cast<ReloadWork*>(work->data));
          Daemon* self = job->daemon;
          self->reloading_ = false;
          absl::Status status = job->result.status();
          std::string body;
          if (status.ok()) {
            self->generation_ = job->generation;
            body = Summary(**job->result);
            self->snapshots_.Publish(*std::move(job->result));
            Log(absl::StrCat("reloaded: ", body));
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
