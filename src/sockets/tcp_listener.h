// DNS over TCP (RFC 7766) on one listening socket: length-prefixed messages,
// several queries per connection answered in order, and the defences against
// clients that abuse TCP:
//   - connection limits, global and per client address, shared by every
//     listener of every worker (TcpAdmission). At the global limit a new
//     connection takes the place of the listener's connection that has gone
//     longest without progress (a query answered, answers taken; its accept
//     at first), so that held connections cannot lock clients out;
//     a connection over its client's limit, or one with no place to take,
//     is accepted and reset at once, so the kernel backlog never fills;
//   - an idle timeout between queries, and a query timeout: a message whose
//     first byte has arrived must be complete within it (slow-loris);
//   - back-pressure: when a connection's unsent responses reach
//     max_unsent_bytes, the listener stops reading from it (and stops
//     answering what it has already read) until the client has taken them;
//   - at most one maximal message plus one read of input per connection.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "sockets/packet_handler.h"
#include "util/counter.h"

namespace agility::sockets {

struct TcpOptions {
  uint32_t idle_timeout_ms = 10000;   // no query under way, nothing to send
  uint32_t query_timeout_ms = 2000;   // from a message's first byte to its last
  uint32_t max_unsent_bytes = 65536;  // stop reading at this much unsent response data
  int backlog = 1024;
};

// Why a connection was closed by a timer.
enum class TcpTimeout : uint8_t {
  kIdle,   // no query under way and nothing left to send
  kQuery,  // a message was started and did not complete in time
  kWrite,  // responses waited and the client took none of them
};
inline constexpr int kTcpTimeoutKinds = 3;

// Per-worker counters of the TCP defences; written by the worker only.
struct TcpCounters {
  Counter rejected_total;       // over tcp_max_connections, nothing to evict
  Counter evicted;              // closed to make room at tcp_max_connections
  Counter rejected_per_client;  // over tcp_max_connections_per_client
  Counter timeouts[kTcpTimeoutKinds];
  Counter read_pauses;  // reading stopped for back-pressure
};

// The connection limits, shared by all listeners of all workers: a lock-free
// global count, and a count per client address under a mutex (taken once
// when a connection opens and once when it closes, never per query).
class TcpAdmission {
 public:
  using Client = std::array<uint8_t, 16>;  // an IPv6 /64, or IPv4-mapped IPv6
  enum class Verdict : uint8_t { kAdmitted, kTooMany, kTooManyFromClient };

  TcpAdmission(uint32_t max_connections, uint32_t max_per_client)
      : max_connections_(max_connections), max_per_client_(max_per_client) {}
  TcpAdmission(const TcpAdmission&) = delete;
  TcpAdmission& operator=(const TcpAdmission&) = delete;

  // On kAdmitted the caller must call Release(client) when the connection ends.
  Verdict Admit(const Client& client);
  void Release(const Client& client);
  // Whether `client` is below its own limit (a new connection of it would
  // be admitted were there room overall).
  bool ClientHasRoom(const Client& client);
  // Connections admitted and not yet released, over all workers.
  int64_t open() const { return open_.load(std::memory_order_relaxed); }

  // The address, or for IPv6 its /64.
  static Client ClientOf(const sockaddr_storage& peer);

 private:
  const uint32_t max_connections_;
  const uint32_t max_per_client_;
  std::atomic<int64_t> open_{0};
  // std::mutex rather than absl::Mutex: Debian's absl is not built with
  // ThreadSanitizer annotations, std::mutex is seen by every race detector.
  std::mutex mutex_;
  absl::flat_hash_map<Client, uint32_t> per_client_;  // guarded by mutex_
};

class TcpListener {
 public:
  // `admission` and `counters` outlive the listener.
  TcpListener(uv_loop_t* loop, int fd, const TcpOptions& options, TcpAdmission& admission,
              TcpCounters& counters, PacketHandler& handler);
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  ~TcpListener();

  int Start();
  // Closes the listening socket and every open connection.
  void Close();
  size_t connection_count() const { return connections_.size; }

 private:
  struct Connection;
  static void OnConnection(uv_stream_t* server, int status);
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnTimer(uv_timer_t* timer);
  static void OnWritten(uv_write_t* req, int status);
  static void OnHandleClosed(uv_handle_t* handle);
  // Sends the stream's next messages until the unsent limit or its end.
  bool Pump(Connection& c);

  // Answers the complete messages in the connection's buffer, up to the
  // back-pressure limit; returns false when the connection must close.
  // `*answered` tells whether at least one message was consumed.
  bool Process(Connection& c, bool* answered);
  bool Send(Connection& c, size_t size);
  // Hands the queued responses to libuv when no write is under way.
  bool Flush(Connection& c);
  size_t Unsent(const Connection& c) const;
  void Pause(Connection& c);
  // Arms the connection's one timer for its state; `new_message` restarts the
  // query deadline for a message that began in this read.
  void ArmTimer(Connection& c, bool new_message);
  // `reset` aborts with RST (SO_LINGER 0) instead of an orderly FIN.
  void CloseConnection(Connection& c, bool reset = false);
  // Records progress: `c` answered a query or the client took answers.
  void Progressed(Connection& c);
  // Closes the connection that has gone longest without progress to make
  // room for a new one; false when the listener holds none.
  bool Evict();

  // Connections in the order they last made progress, oldest first,
  // threaded through the connections themselves (O(1) to move or evict).
  struct List {
    Connection* oldest = nullptr;
    Connection* newest = nullptr;
    size_t size = 0;
    void Append(Connection* c);
    void Remove(Connection* c);
  };

  uv_loop_t* loop_;
  int fd_;
  TcpOptions options_;
  TcpAdmission& admission_;
  TcpCounters& counters_;
  PacketHandler& handler_;
  uv_tcp_t server_;
  std::vector<uint8_t> out_;  // 2-byte length + largest message
  List connections_;
};

}  // namespace agility::sockets
