// dnstap (https://dnstap.info) query logging: AUTH_QUERY and AUTH_RESPONSE
// messages, protobuf-encoded, written as Frame Streams to a Unix socket (a
// collector such as fstrm_capture) or a file by fstrm's I/O thread. Each
// worker has its own input queue and frame ring: logging takes no lock and
// never waits; when the collector is slow or gone, messages are dropped and
// counted, and answers go out as before.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "dnstap/encoder.h"
#include "dnstap/frame_ring.h"

struct fstrm_iothr;
struct fstrm_iothr_queue;

namespace agility::dnstap {

struct SinkOptions {
  std::string socket_path;  // a Frame Streams collector's Unix socket; or
  std::string file_path;    // a file, written from its start
  bool queries = true;      // AUTH_QUERY
  bool responses = true;    // AUTH_RESPONSE
  uint32_t sample = 1;      // one query (and its response) in this many
  std::string identity;     // the Dnstap message's identity and version
  std::string version;
};

// What one worker logs through; used by that worker's thread alone, but for
// the counters, which the control thread reads.
class WorkerLog {
 public:
  // True when the next query is to be logged (one in `sample`).
  bool Sampled() {
    if (++seen_ < sample_) return false;
    seen_ = 0;
    return true;
  }

  // Logs `query` and `response` (empty: none was sent) exchanged with
  // `client` over UDP or TCP, as the options ask. Call when Sampled().
  void Log(const sockaddr* client, bool tcp, absl::Span<const uint8_t> query,
           absl::Span<const uint8_t> response);

  uint64_t sent() const { return sent_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  friend class Sink;
  WorkerLog(fstrm_iothr* iothr, fstrm_iothr_queue* queue, const SinkOptions& options);
  void Submit(const Exchange& exchange);

  fstrm_iothr* iothr_;
  fstrm_iothr_queue* queue_;
  const SinkOptions& options_;
  uint32_t sample_;
  uint32_t seen_ = 0;
  FrameRing ring_;
  std::atomic<uint64_t> sent_{0};     // handed to the I/O thread
  std::atomic<uint64_t> dropped_{0};  // ring or queue full, or too large
};

class Sink {
 public:
  // Starts the I/O thread, with one queue per worker. A collector that is
  // not there yet is tried again every second; until then, messages drop.
  static absl::StatusOr<std::unique_ptr<Sink>> Open(SinkOptions options, int workers);
  ~Sink() { Close(std::chrono::seconds(2)); }

  // Writes out what is queued and stops the I/O thread, once the workers
  // are done. False when that takes longer than `wait`: a collector that
  // stopped reading holds the thread in a write. It is then left to finish
  // (or end with the process), with what it needs kept.
  bool Close(std::chrono::milliseconds wait);

  WorkerLog* worker(int index) { return workers_[static_cast<size_t>(index)].get(); }
  uint64_t sent() const { return Sum(&WorkerLog::sent); }
  uint64_t dropped() const { return Sum(&WorkerLog::dropped); }

 private:
  explicit Sink(SinkOptions options) : options_(std::move(options)) {}
  uint64_t Sum(uint64_t (WorkerLog::*counter)() const) const;

  SinkOptions options_;
  fstrm_iothr* iothr_ = nullptr;
  std::vector<std::unique_ptr<WorkerLog>> workers_;
};

}  // namespace agility::dnstap
