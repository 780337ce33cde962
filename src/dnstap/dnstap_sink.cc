#include "dnstap/dnstap_sink.h"

#include <fcntl.h>
#include <fstrm.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "dnstap/dnstap.pb-c.h"

namespace agility::dnstap {
namespace {

constexpr char kContentType[] = "protobuf:dnstap.Dnstap";
// Per worker: some seconds of a busy worker's messages while the collector
// catches up; pages are touched only as far as the backlog reaches.
constexpr size_t kRingBytes = 8 << 20;
constexpr size_t kQueueEntries = FSTRM_IOTHR_INPUT_QUEUE_SIZE_MAX;

ProtobufCBinaryData Bytes(const void* data, size_t size) {
  return {size, static_cast<uint8_t*>(const_cast<void*>(data))};
}

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
  if (options_.queries) Submit(DNSTAP__MESSAGE__TYPE__AUTH_QUERY, client, tcp, now, query);
  if (options_.responses && !response.empty()) {
    Submit(DNSTAP__MESSAGE__TYPE__AUTH_RESPONSE, client, tcp, now, response);
  }
}

void WorkerLog::Submit(int type, const sockaddr* client, bool tcp, const struct timespec& at,
                       absl::Span<const uint8_t> message) {
  Dnstap__Message m = DNSTAP__MESSAGE__INIT;
  m.type = static_cast<Dnstap__Message__Type>(type);
  m.has_socket_protocol = true;
  m.socket_protocol = tcp ? DNSTAP__SOCKET_PROTOCOL__TCP : DNSTAP__SOCKET_PROTOCOL__UDP;
  if (client->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(client);
    m.has_socket_family = m.has_query_address = m.has_query_port = true;
    m.socket_family = DNSTAP__SOCKET_FAMILY__INET6;
    m.query_address = Bytes(&in6->sin6_addr, 16);
    m.query_port = ntohs(in6->sin6_port);
  } else if (client->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(client);
    m.has_socket_family = m.has_query_address = m.has_query_port = true;
    m.socket_family = DNSTAP__SOCKET_FAMILY__INET;
    m.query_address = Bytes(&in->sin_addr, 4);
    m.query_port = ntohs(in->sin_port);
  }
  // The query's time on both; the response's as well on a response (it
  // was made within the same microseconds).
  m.has_query_time_sec = m.has_query_time_nsec = true;
  m.query_time_sec = static_cast<uint64_t>(at.tv_sec);
  m.query_time_nsec = static_cast<uint32_t>(at.tv_nsec);
  if (type == DNSTAP__MESSAGE__TYPE__AUTH_QUERY) {
    m.has_query_message = true;
    m.query_message = Bytes(message.data(), message.size());
  } else {
    m.has_response_time_sec = m.has_response_time_nsec = m.has_response_message = true;
    m.response_time_sec = m.query_time_sec;
    m.response_time_nsec = m.query_time_nsec;
    m.response_message = Bytes(message.data(), message.size());
  }
  Dnstap__Dnstap d = DNSTAP__DNSTAP__INIT;
  d.type = DNSTAP__DNSTAP__TYPE__MESSAGE;
  d.message = &m;
  if (!options_.identity.empty()) {
    d.has_identity = true;
    d.identity = Bytes(options_.identity.data(), options_.identity.size());
  }
  d.has_version = true;
  d.version = Bytes(options_.version.data(), options_.version.size());

  const size_t size = dnstap__dnstap__get_packed_size(&d);
  uint8_t* frame = ring_.Reserve(size);
  if (frame == nullptr) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  dnstap__dnstap__pack(&d, frame);
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

Sink::~Sink() {
  // Joins the I/O thread, which writes out (or discards) and releases every
  // queued frame first: the rings outlive it.
  if (iothr_ != nullptr) fstrm_iothr_destroy(&iothr_);
}

uint64_t Sink::sent() const {
  uint64_t total = 0;
  for (const auto& worker : workers_) total += worker->sent();
  return total;
}

uint64_t Sink::dropped() const {
  uint64_t total = 0;
  for (const auto& worker : workers_) total += worker->dropped();
  return total;
}

}  // namespace agility::dnstap
