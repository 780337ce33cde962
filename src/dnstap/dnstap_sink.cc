#include "dnstap/dnstap_sink.h"

#include <fcntl.h>
#include <fstrm.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "dnstap/encoder.h"

namespace agility::dnstap {
namespace {

constexpr char kContentType[] = "protobuf:dnstap.Dnstap";
// Per worker: some seconds of a busy worker's messages while the collector
// catches up; pages are touched only as far as the backlog reaches.
constexpr size_t kRingBytes = 8 << 20;
constexpr size_t kQueueEntries = FSTRM_IOTHR_INPUT_QUEUE_SIZE_MAX;
constexpr unsigned kNotifyThreshold = 4096;
constexpr size_t kOutputQueue = 1024;  // frames per write, within IOV_MAX

void ReleaseFrame(void* frame, void*) { FrameRing::Release(static_cast<uint8_t*>(frame)); }

}  // namespace

WorkerLog::WorkerLog(fstrm_iothr* iothr, fstrm_iothr_queue* queue, const SinkOptions& options)
    : iothr_(iothr),
      queue_(queue),
      options_(options),
      sample_(options.sample),
      seen_(options.sample - 1),  // the first query is logged
      ring_(kRingBytes) {}

void WorkerLog::Log(const sockaddr* client, bool tcp, absl::Span<const uint8_t> query,
                    absl::Span<const uint8_t> response) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  if (options_.queries) Submit({MessageType::kAuthQuery, client, tcp, now, query});
  if (options_.responses && !response.empty()) {
    Submit({MessageType::kAuthResponse, client, tcp, now, response});
  }
}

void WorkerLog::Submit(const Exchange& exchange) {
  // Reserved at a bound, made in one pass, then trimmed to what it took.
  uint8_t* frame = ring_.Reserve(EncodedSizeBound(options_.identity, options_.version, exchange));
  if (frame == nullptr) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const size_t size = Encode(options_.identity, options_.version, exchange, frame);
  ring_.Shrink(frame, size);
  if (fstrm_iothr_submit(iothr_, queue_, frame, size, ReleaseFrame, nullptr) != fstrm_res_success) {
    FrameRing::Release(frame);  // still ours when the queue is full
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  sent_.fetch_add(1, std::memory_order_relaxed);
}

absl::StatusOr<std::unique_ptr<Sink>> Sink::Open(SinkOptions options, int workers) {
  if (options.sample == 0) options.sample = 1;
  if (!options.file_path.empty()) {
    // Said at start, not found later by the I/O thread.
    const int fd = open(options.file_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
      return absl::ErrnoToStatus(errno, absl::StrCat("dnstap.file ", options.file_path));
    }
    close(fd);
  }
  auto sink = std::unique_ptr<Sink>(new Sink(std::move(options)));
  const SinkOptions& o = sink->options_;

  fstrm_writer_options* writer_options = fstrm_writer_options_init();
  fstrm_writer_options_add_content_type(writer_options, kContentType, sizeof(kContentType) - 1);
  fstrm_writer* writer = nullptr;
  if (!o.file_path.empty()) {
    fstrm_file_options* file = fstrm_file_options_init();
    fstrm_file_options_set_file_path(file, o.file_path.c_str());
    writer = fstrm_file_writer_init(file, writer_options);
    fstrm_file_options_destroy(&file);
  } else {
    fstrm_unix_writer_options* unix_options = fstrm_unix_writer_options_init();
    fstrm_unix_writer_options_set_socket_path(unix_options, o.socket_path.c_str());
    writer = fstrm_unix_writer_init(unix_options, writer_options);
    fstrm_unix_writer_options_destroy(&unix_options);
  }
  fstrm_writer_options_destroy(&writer_options);
  if (writer == nullptr) return absl::InternalError("dnstap: cannot make the fstrm writer");

  fstrm_iothr_options* iothr_options = fstrm_iothr_options_init();
  fstrm_iothr_options_set_num_input_queues(iothr_options, static_cast<size_t>(workers));
  fstrm_iothr_options_set_queue_model(iothr_options, FSTRM_IOTHR_QUEUE_MODEL_SPSC);
  fstrm_iothr_options_set_input_queue_size(iothr_options, kQueueEntries);
  fstrm_iothr_options_set_reopen_interval(iothr_options, 1);
  // Few, large writes: the I/O thread is woken every few hundred messages
  // (or each second) and writes up to 64 KiB at once. At 100 000 messages a
  // second that is what keeps its share of the CPU small.
  fstrm_iothr_options_set_queue_notify_threshold(iothr_options, kNotifyThreshold);
  fstrm_iothr_options_set_buffer_hint(iothr_options, FSTRM_IOTHR_BUFFER_HINT_MAX);
  fstrm_iothr_options_set_output_queue_size(iothr_options, kOutputQueue);
  sink->iothr_ = fstrm_iothr_init(iothr_options, &writer);
  fstrm_iothr_options_destroy(&iothr_options);
  if (sink->iothr_ == nullptr) {
    if (writer != nullptr) fstrm_writer_destroy(&writer);
    return absl::InternalError("dnstap: cannot start the fstrm I/O thread");
  }
  for (int i = 0; i < workers; ++i) {
    fstrm_iothr_queue* queue =
        fstrm_iothr_get_input_queue_idx(sink->iothr_, static_cast<size_t>(i));
    if (queue == nullptr) return absl::InternalError("dnstap: no fstrm input queue");
    sink->workers_.push_back(
        std::unique_ptr<WorkerLog>(new WorkerLog(sink->iothr_, queue, sink->options_)));
  }
  return sink;
}

bool Sink::Close(std::chrono::milliseconds wait) {
  if (iothr_ == nullptr) return true;
  // fstrm_iothr_destroy joins the I/O thread, which first writes out (or
  // discards) and releases every queued frame: the rings must outlive it.
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  std::thread([iothr = iothr_, done]() mutable {
    fstrm_iothr_destroy(&iothr);
    done->set_value();
  }).detach();
  iothr_ = nullptr;
  if (finished.wait_for(wait) == std::future_status::ready) return true;
  // Still in its hands; kept where leak checkers see them, too.
  static auto* const kept = new std::vector<std::unique_ptr<WorkerLog>>;
  for (auto& worker : workers_) kept->push_back(std::move(worker));
  workers_.clear();
  return false;
}

uint64_t Sink::Sum(uint64_t (WorkerLog::*counter)() const) const {
  uint64_t total = 0;
  for (const auto& worker : workers_) total += (worker.get()->*counter)();
  return total;
}

}  // namespace agility::dnstap
