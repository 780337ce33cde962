#include "daemon/steering.h"

#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "daemon/log.h"
#include "sockets/socket_facts.h"

namespace agility::daemon {

absl::Status Steering::Start(const Snapshot& snapshot, const std::vector<int>& dns_sockets) {
  const policy::SkLookupConfig& config = snapshot.config.sk_lookup;
  if (!config.enabled) return absl::OkStatus();
  auto attached = sockets::SkLookup::Attach(config.pin);
  if (!attached.ok()) {
    if (config.required) {
      return absl::FailedPreconditionError(
          absl::StrCat("sk_lookup is required (sk_lookup.required) but unavailable: ",
                       attached.status().message()));
    }
    Log(absl::StrCat("sk_lookup unavailable, serving DNS without steering: ",
                     attached.status().message()));
    return absl::OkStatus();
  }
  sk_lookup_ = std::move(*attached);
  absl::Status status = Sync(snapshot, sockets::SkLookup::Gaps::kWhenMapIsFull);
  for (size_t i = 0; i < dns_sockets.size() && status.ok(); ++i) {
    status = sk_lookup_->Register(policy::kDnsService, dns_sockets[i]);
  }
  if (!status.ok()) {
    if (config.required) return status;
    // The pinned bindings keep steering as they were; a reload tries again.
    Log(absl::StrCat("sk_lookup not brought up to date, serving DNS anyway: ", status.message()));
    return absl::OkStatus();
  }
  Log(absl::StrCat("sk_lookup attached, ", snapshot.bindings.size(), " bindings pinned in ",
                   config.pin));
  return absl::OkStatus();
}

absl::Status Steering::Sync(const Snapshot& snapshot, sockets::SkLookup::Gaps gaps) {
  if (sk_lookup_ == nullptr) return absl::OkStatus();
  std::vector<std::string> labels = {policy::kDnsService};
  for (const auto& service : snapshot.config.services) labels.push_back(service.name);
  return sk_lookup_->Sync(labels, snapshot.bindings, gaps);
}

absl::Status Steering::CheckActive() const {
  if (sk_lookup_ != nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError("sk_lookup is not active in this agilityd");
}

absl::Status Steering::RegisterFds(const std::string& label, const std::vector<int>& fds) {
  if (auto status = CheckActive(); !status.ok()) return status;
  if (fds.empty()) {
    return absl::InvalidArgumentError("register needs socket descriptors (SCM_RIGHTS)");
  }
  // All or nothing: check every socket before steering to any.
  for (int fd : fds) {
    auto facts = sockets::InspectSocket(fd);
    if (!facts.ok()) return facts.status();
    if (auto status = sockets::CheckSteerable(*facts); !status.ok()) return status;
  }
  for (int fd : fds) {
    if (auto status = sk_lookup_->Register(label, fd); !status.ok()) return status;
    auto facts = sockets::InspectSocket(fd);
    Log(absl::StrCat("registered ", facts.ok() ? facts->Describe() : "socket", " as ", label));
  }
  return absl::OkStatus();
}

absl::Status Steering::RegisterFromProcess(const std::vector<std::string>& words) {
  if (auto status = CheckActive(); !status.ok()) return status;
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
  const absl::Status status = sk_lookup_->Register(words[2], *fd);
  if (status.ok()) {
    Log(absl::StrCat("registered ", words[3], " ", words[4], " of pid ", pid, " as ", words[2]));
  }
  close(*fd);
  return status;
}

std::vector<sockets::LabelStatus> Steering::Labels() const {
  return sk_lookup_ == nullptr ? std::vector<sockets::LabelStatus>{} : sk_lookup_->Labels();
}

std::string Steering::BindingsText() const {
  if (sk_lookup_ == nullptr) return "sk_lookup inactive\n";
  std::string out;
  for (const sockets::Binding& b : sk_lookup_->Bindings())
    absl::StrAppend(&out, b.ToString(), "\n");
  return out;
}

std::string Steering::StatusText() const {
  if (sk_lookup_ == nullptr) return "sk_lookup inactive\n";
  std::string out = absl::StrCat("sk_lookup pinned in ", sk_lookup_->pin_dir(), "\n");
  static constexpr const char* kSlots[] = {"tcp4", "tcp6", "udp4", "udp6"};
  for (const sockets::LabelStatus& label : sk_lookup_->Labels()) {
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

}  // namespace agility::daemon
