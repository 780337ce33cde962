// The query-serving side of agilityd: one thread per worker, each with its
// own libuv loop, SO_REUSEPORT UDP and TCP sockets on every listen address,
// random generator and counters.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <iterator>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "daemon/snapshot.h"
#include "dns/rate_limiter.h"
#include "dnstap/dnstap_sink.h"
#include "policy/random.h"
#include "sockets/packet_handler.h"
#include "sockets/query_filter.h"
#include "sockets/tcp_listener.h"
#include "sockets/udp_listener.h"
#include "util/counter.h"

namespace agility::daemon {

// Query counters are kept per transport x rcode x qtype; these are the
// qtypes and rcodes with a slot of their own (the last slot is "other").
inline constexpr uint16_t kCountedQtypes[] = {1, 2, 5, 6, 12, 15, 16, 28, 33, 43, 255};
inline constexpr int kQtypeSlots = std::size(kCountedQtypes) + 1;
inline constexpr int kRcodeSlots = 10;  // NOERROR..YXDOMAIN, NOTAUTH, BADVERS, other
int QtypeSlot(uint16_t qtype);
int RcodeSlot(uint16_t rcode);
const char* QtypeSlotName(int slot);
const char* RcodeSlotName(int slot);

// Counters of one worker, written only by it, read by the control thread.
struct WorkerStats {
  Counter queries[2][kRcodeSlots][kQtypeSlots];  // [udp, tcp][rcode][qtype]
  Counter dropped[2];                            // no response at all, by transport
  Counter pool_answers;
  Counter truncated;
  Counter send_drops;                                  // UDP responses the kernel did not take
  Counter transfers_out, transfers_refused;            // AXFR/IXFR over TCP
  Counter transfers_out_incremental;                   // of those sent, from the journal
  Counter rate_limited_dropped, rate_limited_slipped;  // Response Rate Limiting
  Counter rate_limited_bad_cookie;                     // limited, and sent BADCOOKIE instead of TC
  Counter cookies[2];        // queries with a COOKIE: [no valid server cookie, valid]
  sockets::TcpCounters tcp;  // connections rejected, timeouts, read pauses
};

struct ServerTotals {
  uint64_t queries[2][kRcodeSlots][kQtypeSlots] = {};
  uint64_t dropped[2] = {};
  uint64_t pool_answers = 0, truncated = 0, send_drops = 0;
  uint64_t transfers_out = 0, transfers_refused = 0, transfers_out_incremental = 0;
  // Online signing (dns::OnlineSigner), all workers.
  uint64_t signatures_made = 0, signing_failures = 0;
  uint64_t signature_cache_hits = 0, signature_cache_misses = 0, signature_cache_evictions = 0;
  uint64_t signature_cache_bytes = 0, signature_cache_capacity = 0;
  uint64_t rate_limited_dropped = 0, rate_limited_slipped = 0, rate_limited_bad_cookie = 0;
  uint64_t cookies[2] = {};  // as WorkerStats::cookies
  bool dnstap = false;       // dnstap: is on
  uint64_t dnstap_sent = 0, dnstap_dropped = 0;
  bool query_filter = false;  // server.udp_queries_per_address is set
  uint64_t query_filter_passed = 0, query_filter_dropped = 0;
  uint64_t tcp_rejected_total = 0;                        // over tcp_max_connections
  uint64_t tcp_evicted = 0;                               // closed to make room
  uint64_t tcp_rejected_per_client = 0;                   // over tcp_max_connections_per_client
  uint64_t tcp_timeouts[sockets::kTcpTimeoutKinds] = {};  // by sockets::TcpTimeout
  uint64_t tcp_read_pauses = 0;
  int64_t tcp_connections = 0;  // open now, all workers

  uint64_t Queries(int transport) const;
  uint64_t Rcode(int slot) const;
};

class Worker;

// Takes a NOTIFY for a zone (lowercase wire apex) from `source`, signed
// with `key` (lowercase wire; empty: unsigned); true when accepted.
using NotifyHandler =
    std::function<bool(absl::string_view apex, const sockaddr* source, absl::string_view key)>;

class Server {
 public:
  explicit Server(SnapshotHolder& snapshots);
  ~Server();

  // Before Start: who takes the NOTIFYs workers receive (null: all refused).
  void SetNotifyHandler(NotifyHandler handler) { notify_ = std::move(handler); }

  // Opens every socket first (so errors surface before any thread starts),
  // then starts the workers.
  absl::Status Start(const config::ServerConfig& config,
                     const config::RateLimitSettings& rate_limit,
                     const config::DnstapSettings& dnstap);
  void Stop();
  // Has every worker take the snapshot just published.
  void SnapshotPublished();
  ServerTotals Totals() const;
  // The first worker's UDP and TCP sockets: what the "dns" label steers to
  // (the kernel spreads each SO_REUSEPORT group across all workers).
  const std::vector<int>& dns_sockets() const { return dns_sockets_; }

 private:
  SnapshotHolder& snapshots_;
  // Shared by every worker's TCP listeners; outlives them.
  std::unique_ptr<sockets::TcpAdmission> tcp_admission_;
  // One budget per bucket across all workers (null: no rate limiting).
  std::unique_ptr<dns::RateLimiter> rate_limiter_;
  // On every UDP socket (null: server.udp_queries_per_address is 0).
  std::unique_ptr<sockets::QueryFilter> query_filter_;
  std::unique_ptr<dnstap::Sink> dnstap_;  // null: no dnstap
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<int> dns_sockets_;
  NotifyHandler notify_;
};

}  // namespace agility::daemon
