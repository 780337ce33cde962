// NOTIFY out (RFC 1996): when a zone we serve gets a new serial, each
// server in transfer.notify is told at once over UDP, and told again with
// backoff (1 s, 2 s, 4 s... for about 10 minutes) until it answers. One
// thread; a NOTIFY signed with the remote's key expects a signed answer.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "config/config.h"
#include "dns/tsig.h"

namespace agility::daemon {

class Notifier {
 public:
  Notifier();
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Who to tell: the remotes `config` names under transfer.notify.
  void Configure(const config::Config& config);
  // `apex` (lowercase wire) now has the SOA `soa_rdata` (its TTL `ttl`):
  // tell everyone, replacing any NOTIFY of an older serial still unanswered.
  // The SOA rides in the answer section (RFC 1996 §3.7), so that a
  // secondary already as new need not ask.
  void Announce(absl::string_view apex, absl::string_view soa_rdata, uint32_t ttl);
  void Start();
  void Stop();

  struct Counters {
    uint64_t sent = 0, acknowledged = 0, given_up = 0;
  };
  Counters counters() const;

 private:
  struct Target {
    std::string label;
    sockets::Endpoint address;
    std::string key;  // lowercase wire; empty: unsigned
  };
  struct Pending;
  void Run();
  // Sends `p` again; false when it cannot be sent at all.
  bool Send(Pending& p);
  void Receive(Pending& p);

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Target> targets_;
  std::shared_ptr<const dns::TsigKeyring> keyring_;
  std::vector<std::unique_ptr<Pending>> pending_;
  Counters counters_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace agility::daemon
