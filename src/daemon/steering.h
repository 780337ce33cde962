// agilityd's side of sk_lookup: attaches the program at startup, keeps the
// bindings in step with each snapshot, registers sockets for labels, and
// reports labels and counters.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "daemon/snapshot.h"
#include "sockets/sk_lookup.h"

namespace agility::daemon {

class Steering {
 public:
  // Attaches per `snapshot.config.sk_lookup` and steers its bindings; our own
  // DNS sockets (`dns_sockets`) are registered under the "dns" label. When BPF
  // is unavailable and not required, logs one line and stays inactive.
  absl::Status Start(const Snapshot& snapshot, const std::vector<int>& dns_sockets);
  bool active() const { return sk_lookup_ != nullptr; }

  // Brings the pinned bindings to `snapshot`'s (see SkLookup::Sync).
  absl::Status Sync(const Snapshot& snapshot, sockets::SkLookup::Gaps gaps);

  // `register LABEL` with descriptors received over the control socket.
  absl::Status RegisterFds(const std::string& label, const std::vector<int>& fds);
  // `register-pid PID LABEL tcp|udp ADDR:PORT`.
  absl::Status RegisterFromProcess(const std::vector<std::string>& words);

  std::string BindingsText() const;
  std::string StatusText() const;
  std::vector<sockets::LabelStatus> Labels() const;

 private:
  absl::Status CheckActive() const;
  std::unique_ptr<sockets::SkLookup> sk_lookup_;
};

}  // namespace agility::daemon
