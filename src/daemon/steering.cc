#include "daemon/steering.h"

#include <unistd.h>

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "daemon/log.h"
#include "sockets/socket_facts.h"

namespace agility::daemon {

namespace {

constexpr char kDrainsFile[] = "steering";

int64_t NowSeconds() { return absl::ToUnixSeconds(absl::Now()); }

}  // namespace

absl::Status Steering::Start(const Snapshot& snapshot, const std::vector<int>& dns_sockets,
                             const StateDir* state) {
  const config::SkLookupConfig& config = snapshot.config.sk_lookup;
  state_ = state;
  if (!config.enabled) return absl::OkStatus();
  auto attached = sockets::SkLookup::Attach(config.pin);
  if (!attached.ok()) {
    if (config.required) {
      return absl::FailedPreconditionError(
          absl::StrCat("sk_lookup is required (sk_lookup.required) but unavailable: ",
                       attached.status().message()));
    }
    Log(LogLevel::kWarning, absl::StrCat("sk_lookup unavailable, serving DNS without steering: ",
                                         attached.status().message()));
    return absl::OkStatus();
  }
  sk_lookup_ = std::move(*attached);
  if (state_ != nullptr) LoadDrains(config.pin);
  absl::Status status = Sync(snapshot, sockets::SkLookup::Gaps::kWhenMapIsFull);
  for (size_t i = 0; i < dns_sockets.size() && status.ok(); ++i) {
    status = sk_lookup_->Register(config::kDnsService, dns_sockets[i]);
  }
  if (!status.ok()) {
    if (config.required) return status;
    // The pinned bindings keep steering as they were; a reload tries again.
    Log(LogLevel::kWarning,
        absl::StrCat("sk_lookup not brought up to date, serving DNS anyway: ", status.message()));
    return absl::OkStatus();
  }
  Log(absl::StrCat("sk_lookup attached, ", snapshot.bindings.size(), " bindings pinned in ",
                   config.pin));
  return absl::OkStatus();
}

// The drains of another pin directory describe another agilityd's steering:
// the file names the pin it belongs to on its first line.
void Steering::LoadDrains(const std::string& pin) {
  const std::string path = state_->FilePath(kDrainsFile);
  auto text = state_->Read(kDrainsFile);
  if (!text.ok()) {
    Log(LogLevel::kWarning, absl::StrCat("ignoring the steering state: ", text.status().message()));
    return;
  }
  if (!text->has_value()) return;
  const std::string header = absl::StrCat("# pin ", pin, "\n");
  if (!absl::StartsWith(**text, header)) {
    Log(LogLevel::kWarning,
        absl::StrCat("ignoring ", path, ": it belongs to another sk_lookup.pin"));
    return;
  }
  auto drains = sockets::Drains::Parse(**text, path);
  if (!drains.ok()) {
    Log(LogLevel::kWarning,
        absl::StrCat("ignoring the steering state: ", drains.status().message()));
    return;
  }
  drains_ = *std::move(drains);
}

absl::Status Steering::Sync(const Snapshot& snapshot, sockets::SkLookup::Gaps gaps) {
  if (sk_lookup_ == nullptr) return absl::OkStatus();
  sockets::Drains next = drains_;
  next.Update(snapshot.bindings, NowSeconds(), snapshot.config.sk_lookup.drain_grace_s);
  const size_t before = drains_.Draining(snapshot.bindings).size();
  absl::Status status = Apply(snapshot, next, gaps);
  if (!status.ok() && gaps == sockets::SkLookup::Gaps::kWhenMapIsFull &&
      !next.Draining(snapshot.bindings).empty()) {
    // A start cannot refuse the configuration it was given: without room
    // for both, the new bindings win over the drains.
    Log(absl::StrCat(
        "sk_lookup: ", next.Draining(snapshot.bindings).size(),
        " draining bindings dropped, no room beside the new ones: ", status.message()));
    sockets::Drains none;
    none.Update(snapshot.bindings, NowSeconds(), 0);
    status = Apply(snapshot, none, gaps);
  }
  if (!status.ok()) return status;
  const size_t after = drains_.Draining(snapshot.bindings).size();
  if (after != before) Log(absl::StrCat("sk_lookup: ", after, " bindings draining"));
  return absl::OkStatus();
}

void Steering::ExpireDrains(const Snapshot& snapshot) {
  if (sk_lookup_ == nullptr || !drains_.Due(NowSeconds())) return;
  sockets::Drains next = drains_;
  next.Expire(NowSeconds());
  const size_t before = drains_.Draining(snapshot.bindings).size();
  if (auto status = Apply(snapshot, next, sockets::SkLookup::Gaps::kNever); !status.ok()) {
    Log(LogLevel::kWarning,
        absl::StrCat("sk_lookup: ending drains failed, trying again: ", status.message()));
    return;
  }
  Log(absl::StrCat("sk_lookup: ", before - drains_.Draining(snapshot.bindings).size(),
                   " drains ended, ", drains_.Draining(snapshot.bindings).size(), " left"));
}

absl::Status Steering::Apply(const Snapshot& snapshot, const sockets::Drains& drains,
                             sockets::SkLookup::Gaps gaps) {
  std::vector<std::string> labels = {config::kDnsService};
  for (const auto& service : snapshot.config.services) labels.push_back(service.name);
  // A draining binding keeps its label, and the label its sockets, even when
  // the service is gone from the configuration.
  for (const sockets::Drains::Drain& drain : drains.Draining(snapshot.bindings)) {
    if (std::find(labels.begin(), labels.end(), drain.binding.label) == labels.end()) {
      labels.push_back(drain.binding.label);
    }
  }
  if (auto status = sk_lookup_->Sync(labels, drains.Steered(snapshot.bindings), gaps);
      !status.ok()) {
    return status;
  }
  drains_ = drains;
  if (state_ != nullptr) {
    if (auto status = state_->Write(
            kDrainsFile, absl::StrCat("# pin ", sk_lookup_->pin_dir(), "\n", drains_.Serialize()));
        !status.ok()) {
      Log(LogLevel::kWarning,
          absl::StrCat("sk_lookup: drains not persisted (they end with this process): ",
                       status.message()));
    }
  }
  return absl::OkStatus();
}

std::vector<sockets::Drains::Drain> Steering::Draining(const Snapshot& snapshot) const {
  if (sk_lookup_ == nullptr) return {};
  return drains_.Draining(snapshot.bindings);
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
  config::Protocol protocol;
  if (words[3] == "tcp") {
    protocol = config::Protocol::kTcp;
  } else if (words[3] == "udp") {
    protocol = config::Protocol::kUdp;
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

std::string Steering::BindingsText(const Snapshot& snapshot) const {
  if (sk_lookup_ == nullptr) return "sk_lookup inactive\n";
  absl::flat_hash_map<std::string, int64_t> until;
  for (const auto& drain : Draining(snapshot)) until[drain.binding.Key()] = drain.until;
  const int64_t now = NowSeconds();
  std::string out;
  for (const sockets::Binding& b : sk_lookup_->Bindings()) {
    absl::StrAppend(&out, b.ToString());
    if (b.draining) {
      const auto it = until.find(b.Key());
      absl::StrAppend(
          &out, " draining ",
          it == until.end() ? "?" : absl::StrCat(std::max<int64_t>(it->second - now, 0)), "s left");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

void Steering::BindingsJson(const Snapshot& snapshot, JsonWriter& json) const {
  absl::flat_hash_map<std::string, int64_t> until;
  for (const auto& drain : Draining(snapshot)) until[drain.binding.Key()] = drain.until;
  const int64_t now = NowSeconds();
  json.BeginObject().Key("active").Bool(sk_lookup_ != nullptr).Key("bindings").BeginArray();
  if (sk_lookup_ != nullptr) {
    for (const sockets::Binding& b : sk_lookup_->Bindings()) {
      json.BeginObject()
          .Key("protocol")
          .String(config::ProtocolName(b.protocol))
          .Key("prefix")
          .String(b.prefix.ToString())
          .Key("port")
          .Value(b.port)
          .Key("label")
          .String(b.label)
          .Key("draining")
          .Bool(b.draining);
      if (const auto it = until.find(b.Key()); b.draining && it != until.end()) {
        json.Key("seconds_left").Value(std::max<int64_t>(it->second - now, 0));
        json.Key("until").Value(it->second);
      }
      json.EndObject();
    }
  }
  json.EndArray().EndObject();
}

std::string Steering::StatusText(const Snapshot& snapshot) const {
  if (sk_lookup_ == nullptr) return "sk_lookup inactive\n";
  std::string out = absl::StrCat("sk_lookup pinned in ", sk_lookup_->pin_dir(), "\n");
  const auto draining = Draining(snapshot);
  if (!draining.empty()) {
    int64_t last = 0;
    for (const auto& drain : draining) last = std::max(last, drain.until);
    absl::StrAppend(&out, "  draining bindings ", draining.size(), ", the last ends in ",
                    std::max<int64_t>(last - NowSeconds(), 0), "s\n");
  } else {
    absl::StrAppend(&out, "  draining bindings 0\n");
  }
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

void Steering::StatusJson(const Snapshot& snapshot, JsonWriter& json) const {
  static constexpr const char* kSlots[] = {"tcp4", "tcp6", "udp4", "udp6"};
  json.BeginObject().Key("active").Bool(sk_lookup_ != nullptr);
  if (sk_lookup_ != nullptr) {
    json.Key("pin").String(sk_lookup_->pin_dir());
    json.Key("draining_bindings").Value(Draining(snapshot).size());
    json.Key("labels").BeginArray();
    for (const sockets::LabelStatus& label : sk_lookup_->Labels()) {
      json.BeginObject().Key("label").String(label.label).Key("sockets").BeginObject();
      for (int slot = 0; slot < 4; ++slot) {
        if (label.cookies[slot] != 0) json.Key(kSlots[slot]).Value(label.cookies[slot]);
      }
      json.EndObject()
          .Key("lookups")
          .Value(label.lookups)
          .Key("misses")
          .Value(label.misses)
          .Key("errors")
          .Value(label.errors)
          .Key("drain_lookups")
          .Value(label.drain_lookups)
          .EndObject();
    }
    json.EndArray();
  }
  json.EndObject();
}

}  // namespace agility::daemon
