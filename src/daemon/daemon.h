// agilityd as a whole: the snapshot in force, the workers serving it, the
// reload machinery, steering, the control socket, metrics and signals, all
// driven from one libuv loop on the main thread.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "daemon/control.h"
#include "daemon/metrics.h"
#include "daemon/notifier.h"
#include "daemon/secondary.h"
#include "daemon/server.h"
#include "daemon/snapshot.h"
#include "daemon/state_dir.h"
#include "daemon/steering.h"
#include "policy/weight_overrides.h"

namespace agility::daemon {

class Daemon {
 public:
  explicit Daemon(std::string config_path) : config_path_(std::move(config_path)) {}
  // Serves until SIGINT or SIGTERM; returns the process exit code.
  int Run();

 private:
  struct ReloadJob;
  struct ReloadStats {
    uint64_t succeeded = 0, failed = 0;
    bool last_ok = true;
    double last_seconds = 0;
    absl::Time last_at = absl::InfinitePast();
  };

  static void OnSignal(uv_signal_t* handle, int signum);
  void Shutdown();
  void CloseSignals();
  void Control(ControlServer::Request request, ControlServer::Reply reply);
  // Parses and validates off the loop thread, then publishes on it.
  void Reload(ControlServer::Reply reply);
  void FinishReload(std::unique_ptr<ReloadJob> job);
  // Publishes a snapshot with a new policy (a reload, a policy zone's new
  // copy): weight overrides reconciled with it, steering synced first (its
  // drains too). A failure changes nothing.
  absl::Status Adopt(std::shared_ptr<Snapshot> snapshot, std::vector<std::string>& cleared);
  // Keeps for restarts the zones agilityd writes (policy_zone,
  // catalog_zone) that `published` serves anew, and the copy of a followed
  // policy zone whose policy it accepted.
  void SaveWrittenZones(const Snapshot& published, const Snapshot* previous) const;
  // What those saved say, as the snapshot "before" the first (null: none):
  // the zones written and their journals, and the policy last accepted.
  std::unique_ptr<Snapshot> StateBeforeStart(const config::Config& config) const;
  // A zone kept in the state directory as <zone><suffix>, or null.
  std::shared_ptr<const dns::Zone> ReadSavedZone(const std::string& apex, const char* suffix) const;
  // Gives `snapshot` the next generation and hands it to the workers.
  void Publish(std::shared_ptr<Snapshot> snapshot);
  // `snapshot` with the weights `overrides` set now; null when it already
  // serves them.
  absl::StatusOr<std::shared_ptr<Snapshot>> Reweighed(
      const Snapshot& snapshot, const policy::WeightOverrides& overrides) const;
  // A secondary zone got a new copy (or came back from expiry): publish.
  static void OnSecondariesChanged(uv_async_t* async);
  void PublishSecondaries();
  // Every half second: ramps advance, drains that are over end.
  static void OnTick(uv_timer_t* timer);
  // `shift POOL PREFIX WEIGHT [SECONDS]` and `shift POOL PREFIX reset`.
  absl::Status Shift(const std::vector<std::string>& words, std::string* body);
  void PersistOverrides();
  std::string StatusText() const;
  std::string StatusJson() const;
  std::string MetricsText() const;

  std::string config_path_;
  // What the server was started with; reloads do not change these.
  config::ServerConfig running_server_;
  config::RateLimitSettings running_rate_limit_;
  config::DnstapSettings running_dnstap_;
  config::SkLookupConfig running_sk_lookup_;
  uint64_t generation_ = 0;
  SnapshotHolder snapshots_;
  Server server_{snapshots_};
  Steering steering_;
  uv_loop_t loop_;
  uv_signal_t sigint_, sigterm_, sighup_;
  uv_timer_t tick_;
  uv_async_t secondaries_changed_;
  std::unique_ptr<StateDir> state_;
  std::unique_ptr<Secondaries> secondaries_;
  Notifier notifier_;
  bool secondaries_pending_ = false;  // changed during a reload: publish after it
  policy::WeightOverrides overrides_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<MetricsServer> metrics_;
  absl::Time started_;
  bool reloading_ = false;
  bool reload_again_ = false;
  std::vector<ControlServer::Reply> waiting_;
  ReloadStats reloads_;
};

}  // namespace agility::daemon
