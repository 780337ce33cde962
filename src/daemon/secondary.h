// The zones agilityd follows as a secondary (RFC 1034 §4.3.5, RFC 1996):
// one thread that refreshes each zone when its SOA says (refresh, retry,
// expire) or at once on a NOTIFY from one of its primaries, by IXFR when it
// holds a copy and AXFR otherwise. A transfer replaces the copy in force
// whole or not at all: it is read into zone text, compiled with every check
// a zone file gets, written to server.state_dir, and only then handed to
// the daemon, which publishes a snapshot with it.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "config/config.h"
#include "daemon/snapshot.h"
#include "daemon/state_dir.h"
#include "dns/tsig.h"
#include "dns/zone.h"

namespace agility::daemon {

class Secondaries {
 public:
  // `changed` runs on the transfer thread after a zone's copy changed or
  // the zone became available; the daemon then publishes Copies(). Without
  // `state` (agilityd --check), no copy is read and none is kept.
  Secondaries(const StateDir* state, std::function<void()> changed);
  ~Secondaries();
  Secondaries(const Secondaries&) = delete;
  Secondaries& operator=(const Secondaries&) = delete;

  // Follows the secondary zones of `config`: zones already followed keep
  // their copy and timers (new primaries apply from the next refresh); new
  // ones start from the copy saved in the state directory, if any, and are
  // refreshed at once; the others are dropped (their saved copies stay).
  void Configure(const config::Config& config);

  // What to serve, one entry per followed zone: the copy in force, or a
  // placeholder (SOA and NS only) flagged unavailable before the first
  // transfer.
  std::vector<SecondaryCopy> Copies() const;

  // A NOTIFY for `apex` (lowercase wire) from `source`, signed with `key`
  // (lowercase wire; empty: unsigned). True when one of the zone's
  // primaries has that address and key: the zone is then refreshed at once.
  bool Notify(absl::string_view apex, const sockaddr* source, absl::string_view key);

  // Runs the transfer thread until Stop (which the destructor calls).
  void Start();
  void Stop();

  // One line per zone: serial, state, last transfer, last error.
  std::string StatusText() const;
  struct Counters {
    uint64_t axfr = 0, ixfr = 0, up_to_date = 0, failed = 0;
    uint64_t notifies_accepted = 0, notifies_refused = 0;
    uint64_t expired = 0;  // zones past expire now
  };
  Counters counters() const;

 private:
  struct Primary {
    std::string label;  // "hidden (127.0.0.1:5300)"
    sockets::Endpoint address;
    std::string key;  // lowercase wire; empty: unsigned
  };
  struct Zone;
  struct Outcome;

  // A zone to follow, from its saved copy when there is one.
  std::unique_ptr<Zone> NewZone(const std::string& apex, size_t journal_bytes) const;
  void Run();
  // One refresh of `zone` from its primaries, off the lock.
  Outcome Refresh(const std::string& apex, const std::vector<Primary>& primaries,
                  std::shared_ptr<const dns::Zone> copy,
                  std::shared_ptr<const dns::TsigKeyring> keyring);
  Outcome TransferFrom(const std::string& apex, const Primary& primary, uint16_t qtype,
                       const std::shared_ptr<const dns::Zone>& copy,
                       const dns::TsigKeyring& keyring);
  // Keeps what a successful refresh brought in the state directory, off the
  // lock, before it is served: the journal that leads to it (`journal`
  // before, now with its steps) and the copy itself when it was compiled
  // whole or the journal no longer leads on from `saved_serial`. Unsynced
  // (`synced` false) for catalog members.
  void Save(const std::string& apex, Outcome& outcome, std::shared_ptr<const dns::Journal> journal,
            uint32_t saved_serial, size_t journal_bytes, bool synced) const;
  void Finish(Zone& zone, Outcome outcome);
  // Follows the members `catalog`'s copy lists (RFC 9432), under the lock:
  // new ones are added (refreshed at once), those gone are dropped with
  // their state. A broken catalog changes nothing.
  void ApplyCatalog(Zone& catalog);
  // Deletes a zone's copy and journal from the state directory.
  void RemoveState(const std::string& apex) const;
  std::string FileName(absl::string_view apex) const;

  const StateDir* state_;
  std::function<void()> changed_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::unique_ptr<Zone>> zones_;
  std::vector<std::unique_ptr<Zone>> orphans_;  // dropped by Configure while refreshing
  std::shared_ptr<const dns::TsigKeyring> keyring_;
  size_t journal_bytes_ = 0;  // per zone (transfer.journal_mb)
  Counters counters_;
  bool stopping_ = false;
  int cancel_fd_ = -1;  // eventfd: ends transfers under way at Stop
  std::thread thread_;
};

}  // namespace agility::daemon
