// agilityd's side of sk_lookup: attaches the program at startup, keeps the
// bindings in step with each snapshot, registers sockets for labels, and
// reports labels and counters.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "daemon/snapshot.h"
#include "daemon/state_dir.h"
#include "sockets/drains.h"
#include "sockets/sk_lookup.h"
#include "util/json.h"

namespace agility::daemon {

class Steering {
 public:
  // Attaches per `snapshot.config.sk_lookup` and steers its bindings; our own
  // DNS sockets (`dns_sockets`) are registered under the "dns" label. When BPF
  // is unavailable and not required, logs one line and stays inactive.
  // Drains of an earlier agilityd are read from `state` and kept.
  absl::Status Start(const Snapshot& snapshot, const std::vector<int>& dns_sockets,
                     const StateDir* state);
  bool active() const { return sk_lookup_ != nullptr; }

  // Brings the pinned bindings to `snapshot`'s (see SkLookup::Sync), with
  // the prefixes it no longer answers draining beside them; persists the
  // drains. A failure changes nothing.
  absl::Status Sync(const Snapshot& snapshot, sockets::SkLookup::Gaps gaps);
  // Removes the bindings of drains that are over; logs what it did.
  void ExpireDrains(const Snapshot& snapshot);

  // `register LABEL` with descriptors received over the control socket.
  absl::Status RegisterFds(const std::string& label, const std::vector<int>& fds);
  // `register-pid PID LABEL tcp|udp ADDR:PORT`.
  absl::Status RegisterFromProcess(const std::vector<std::string>& words);

  std::string BindingsText(const Snapshot& snapshot) const;
  void BindingsJson(const Snapshot& snapshot, JsonWriter& json) const;
  std::string StatusText(const Snapshot& snapshot) const;
  void StatusJson(const Snapshot& snapshot, JsonWriter& json) const;
  std::vector<sockets::LabelStatus> Labels() const;
  // Draining bindings of `snapshot`'s steering, with their deadlines.
  std::vector<sockets::Drains::Drain> Draining(const Snapshot& snapshot) const;

 private:
  absl::Status CheckActive() const;
  void LoadDrains(const std::string& pin);
  absl::Status Apply(const Snapshot& snapshot, const sockets::Drains& drains,
                     sockets::SkLookup::Gaps gaps);
  std::unique_ptr<sockets::SkLookup> sk_lookup_;
  sockets::Drains drains_;
  const StateDir* state_ = nullptr;
};

}  // namespace agility::daemon
