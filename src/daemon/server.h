// The query-serving side of agilityd: one thread per worker, each with its
// own libuv loop, SO_REUSEPORT UDP and TCP sockets on every listen address,
// random generator and counters.
#pragma once

#include <uv.h>

#include <array>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "daemon/snapshot.h"
#include "policy/random.h"
#include "sockets/packet_handler.h"
#include "sockets/tcp_listener.h"
#include "sockets/udp_listener.h"

namespace agility::daemon {

// Counters of one worker, written only by it, read by the control thread.
struct WorkerStats {
  std::atomic<uint64_t> queries[2] = {};  // by transport: udp, tcp
  std::atomic<uint64_t> rcodes[17] = {};  // 0..15 header rcodes, 16 = BADVERS
  std::atomic<uint64_t> dropped = {};     // malformed beyond an answer
  std::atomic<uint64_t> pool_answers = {};
  std::atomic<uint64_t> truncated = {};
  std::atomic<uint64_t> send_drops = {};
};

struct ServerTotals {
  uint64_t queries_udp = 0, queries_tcp = 0, dropped = 0, pool_answers = 0, truncated = 0,
           send_drops = 0;
  std::array<uint64_t, 17> rcodes = {};
};

class Worker;

class Server {
 public:
  explicit Server(SnapshotHolder& snapshots);
  ~Server();

  // Opens every socket first (so errors surface before any thread starts),
  // then starts the workers.
  absl::Status Start(const policy::ServerConfig& config);
  void Stop();
  ServerTotals Totals() const;
  // The first worker's UDP and TCP sockets: what the "dns" label steers to
  // (the kernel spreads each SO_REUSEPORT group across all workers).
  const std::vector<int>& dns_sockets() const { return dns_sockets_; }

 private:
  SnapshotHolder& snapshots_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<int> dns_sockets_;
};

}  // namespace agility::daemon
