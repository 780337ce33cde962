#include "daemon/notifier.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "daemon/log.h"
#include "daemon/snapshot.h"
#include "dns/name.h"
#include "dns/transfer.h"
#include "dns/wire.h"

namespace agility::daemon {
namespace {

constexpr int64_t kFirstRetryMs = 1000;
constexpr int kMaxAttempts = 10;  // 1 + 2 + ... + 256 s: about 8.5 minutes
// Answers are waited for in slices this long, so that a NOTIFY announced
// meanwhile leaves within them.
constexpr int64_t kPollMs = 20;

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

struct Notifier::Pending {
  Target target;
  std::string apex;
  std::string soa;  // RDATA
  uint32_t ttl = 0;
  uint32_t serial = 0;
  uint16_t id = 0;
  int fd = -1;
  int attempts = 0;
  int64_t next_at = 0;
  std::unique_ptr<dns::TsigClient> tsig;
  bool done = false;
  ~Pending() {
    if (fd >= 0) close(fd);
  }
};

Notifier::Notifier() = default;
Notifier::~Notifier() { Stop(); }

void Notifier::Configure(const config::Config& config) {
  auto keyring = BuildKeyring(config);
  if (!keyring.ok()) keyring = dns::TsigKeyring::Build({});
  std::lock_guard lock(mutex_);
  keyring_ = *std::move(keyring);
  targets_.clear();
  for (const std::string& name : config.transfer.notify) {
    const config::Remote* remote = config::FindRemote(config, name);
    if (remote == nullptr) continue;
    Target target{absl::StrCat(name, " (", remote->address.ToString(), ")"), remote->address, ""};
    if (!remote->key.empty()) {
      if (auto key = dns::NameFromText(remote->key); key.ok()) target.key = *key;
    }
    targets_.push_back(std::move(target));
  }
}

void Notifier::Announce(absl::string_view apex, absl::string_view soa_rdata, uint32_t ttl) {
  std::lock_guard lock(mutex_);
  for (const Target& target : targets_) {
    std::erase_if(pending_, [&](const auto& p) {
      return p->apex == apex && p->target.label == target.label;
    });
    auto p = std::make_unique<Pending>();
    p->target = target;
    p->apex = std::string(apex);
    p->soa = std::string(soa_rdata);
    p->ttl = ttl;
    p->serial = dns::SoaSerial(soa_rdata);
    pending_.push_back(std::move(p));
  }
  wake_.notify_one();
}

void Notifier::Start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
}

void Notifier::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

Notifier::Counters Notifier::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

bool Notifier::Send(Pending& p) {
  thread_local absl::BitGen random;
  if (p.fd < 0) {
    p.fd = socket(p.target.address.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p.fd < 0 || connect(p.fd, p.target.address.sockaddr_ptr(), p.target.address.length) != 0) {
      return false;
    }
  }
  p.id = absl::Uniform<uint16_t>(random);
  uint8_t message[2048] = {};
  dns::WriteU16(message, p.id);
  dns::WriteU16(message + 2, dns::flag::kOpcodeNotify | dns::flag::kAa);
  dns::WriteU16(message + 4, 1);
  dns::WriteU16(message + 6, 1);
  size_t size = dns::kHeaderSize;
  std::memcpy(message + size, p.apex.data(), p.apex.size());
  size += p.apex.size();
  dns::WriteU16(message + size, dns::type::kSoa);
  dns::WriteU16(message + size + 2, dns::rr_class::kIn);
  size += 4;
  if (size + 12 + p.soa.size() + 512 > sizeof(message)) return false;  // room for the TSIG
  dns::WriteU16(message + size, 0xc000 | dns::kHeaderSize);
  dns::WriteU16(message + size + 2, dns::type::kSoa);
  dns::WriteU16(message + size + 4, dns::rr_class::kIn);
  dns::WriteU32(message + size + 6, p.ttl);
  dns::WriteU16(message + size + 10, static_cast<uint16_t>(p.soa.size()));
  std::memcpy(message + size + 12, p.soa.data(), p.soa.size());
  size += 12 + p.soa.size();
  p.tsig.reset();
  if (!p.target.key.empty()) {
    const dns::TsigKeyring::Key* key = keyring_->Find(p.target.key);
    if (key == nullptr) return false;
    p.tsig = std::make_unique<dns::TsigClient>(*key);
    if (!p.tsig->SignRequest(message, &size, sizeof(message))) return false;
  }
  ++p.attempts;
  ++counters_.sent;
  // Refused (an ICMP error of an earlier try: nobody listens yet) is one
  // more try without answer.
  return send(p.fd, message, size, 0) == static_cast<ssize_t>(size) || errno == ECONNREFUSED;
}

void Notifier::Receive(Pending& p) {
  uint8_t reply[dns::kMaxMessageSize];
  const ssize_t n = recv(p.fd, reply, sizeof(reply), 0);
  if (n < static_cast<ssize_t>(dns::kHeaderSize) || dns::ReadU16(reply) != p.id ||
      !(dns::ReadU16(reply + 2) & dns::flag::kQr)) {
    return;  // not the answer: keep waiting
  }
  const uint8_t rcode = reply[3] & 0xf;
  if (p.tsig != nullptr) {
    if (auto status = p.tsig->CheckResponse(reply, static_cast<size_t>(n)); !status.ok()) {
      Log(LogLevel::kWarning,
          absl::StrCat("NOTIFY of ", dns::NameToText(p.apex), " to ", p.target.label,
                       ": the answer's TSIG fails (", status.message(), ")"));
      return;
    }
  }
  p.done = true;
  ++counters_.acknowledged;
  if (rcode != dns::rcode::kNoError) {
    Log(LogLevel::kWarning,
        absl::StrCat("NOTIFY of ", dns::NameToText(p.apex), " serial ", p.serial, " to ",
                     p.target.label, ": answered with rcode ", rcode));
  }
}

void Notifier::Run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const int64_t now = SteadyMs();
    int64_t next = now + 60000;
    for (auto& p : pending_) {
      if (p->next_at > now) {
        next = std::min(next, p->next_at);
        continue;
      }
      if (p->attempts >= kMaxAttempts) {
        ++counters_.given_up;
        Log(LogLevel::kWarning,
            absl::StrCat("NOTIFY of ", dns::NameToText(p->apex), " serial ", p->serial, " to ",
                         p->target.label, ": no answer after ", p->attempts, " tries"));
        p->done = true;
        continue;
      }
      if (!Send(*p)) {
        Log(LogLevel::kWarning, absl::StrCat("NOTIFY of ", dns::NameToText(p->apex), " to ",
                                             p->target.label, ": cannot send"));
      }
      p->next_at = now + (kFirstRetryMs << std::min(p->attempts - 1, 16));
      next = std::min(next, p->next_at);
    }
    std::erase_if(pending_, [](const auto& p) { return p->done; });
    if (pending_.empty()) {
      wake_.wait_for(lock, std::chrono::milliseconds(next - now));
      continue;
    }
    // Waits for answers off the lock: Announce may add more meanwhile.
    std::vector<pollfd> fds;
    std::vector<Pending*> polled;
    for (auto& p : pending_) {
      if (p->fd < 0) continue;
      fds.push_back({p->fd, POLLIN, 0});
      polled.push_back(p.get());
    }
    lock.unlock();
    const int wait = static_cast<int>(std::clamp<int64_t>(next - now, 1, kPollMs));
    poll(fds.data(), fds.size(), wait);
    lock.lock();
    for (size_t i = 0; i < fds.size(); ++i) {
      // An entry Announce replaced meanwhile is gone: its answer no longer matters.
      const bool alive = std::any_of(pending_.begin(), pending_.end(),
                                     [&](const auto& p) { return p.get() == polled[i]; });
      if (alive && (fds[i].revents & POLLIN)) Receive(*polled[i]);
    }
  }
}

}  // namespace agility::daemon
