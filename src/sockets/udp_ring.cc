#include "sockets/udp_ring.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace agility::sockets {
namespace {

// What a completion is for: a receive's user data is its socket's index.
constexpr uint64_t kLoopTag = UINT64_MAX;      // the event loop's poll
constexpr uint64_t kSendTag = UINT64_MAX - 1;  // a reply the kernel did not take

constexpr unsigned kEntries = 512;       // submission queue: replies, receives, the poll
constexpr unsigned kCompletions = 4096;  // a round of receives and failed sends

// The flags every ring is made with (see the header).
io_uring_params RingParams() {
  io_uring_params params = {};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
  params.cq_entries = kCompletions;
  return params;
}

absl::Status RingError(const char* what, int rc) { return absl::ErrnoToStatus(-rc, what); }

// libuv adds descriptors to its epoll set lazily, at the start of its next
// poll: a handle started (a TCP connection accepted, a write waiting for
// room, the loop's own async descriptor at first) is not in the set when the
// loop returns, so its readiness would never wake the ring. Until that queue
// is empty the loop runs again (its poll then takes no time). The queue's
// head is the loop's watcher_queue, whose first pointer points to itself
// when empty, in every libuv 1.x.
bool WatchersPending(const uv_loop_t* loop) {
  const auto* head = reinterpret_cast<const void* const*>(&loop->watcher_queue);
  return head[0] != static_cast<const void*>(head);
}

// Runs the loop once without blocking, and again while it left descriptors
// out of its epoll set; false when it has nothing left (the worker stopped).
bool RunLoop(uv_loop_t* loop) {
  bool alive;
  do {
    alive = uv_run(loop, UV_RUN_NOWAIT) != 0;
  } while (alive && WatchersPending(loop));
  return alive;
}

}  // namespace

absl::Status UdpRing::Probe() {
  io_uring ring;
  io_uring_params params = RingParams();
  if (const int rc = io_uring_queue_init_params(8, &ring, &params); rc != 0) {
    return RingError("io_uring_setup", rc);
  }
  // Provided buffer rings came after DEFER_TASKRUN's parts we rely on did
  // not: check the one registration we make, too.
  void* memory = nullptr;
  absl::Status status;
  if (posix_memalign(&memory, 4096, 4096) != 0) {
    status = absl::ResourceExhaustedError("io_uring buffer ring");
  } else {
    io_uring_buf_reg registration = {};
    registration.ring_addr = reinterpret_cast<uint64_t>(memory);
    registration.ring_entries = 1;
    if (const int rc = io_uring_register_buf_ring(&ring, &registration, 0); rc != 0) {
      status = RingError("io_uring_register_buf_ring", rc);
    }
  }
  io_uring_queue_exit(&ring);
  std::free(memory);
  return status;
}

UdpRing::UdpRing(uv_loop_t* loop, PacketHandler& handler, BatchWait batch_wait)
    : loop_(loop), handler_(handler), batch_wait_(batch_wait) {}

absl::StatusOr<std::unique_ptr<UdpRing>> UdpRing::Create(uv_loop_t* loop, PacketHandler& handler,
                                                         BatchWait batch_wait,
                                                         const std::vector<int>& fds) {
  // The sockets stay the caller's until the ring is whole.
  auto ring = std::unique_ptr<UdpRing>(new UdpRing(loop, handler, batch_wait));
  io_uring_params params = RingParams();
  if (const int rc = io_uring_queue_init_params(kEntries, &ring->ring_, &params); rc != 0) {
    return RingError("io_uring_setup", rc);
  }
  ring->ring_ready_ = true;
  void* memory = nullptr;
  if (posix_memalign(&memory, 4096, kBuffers * sizeof(io_uring_buf)) != 0) {
    return absl::ResourceExhaustedError("io_uring buffer ring");
  }
  ring->buffer_ring_ = static_cast<io_uring_buf_ring*>(memory);
  io_uring_buf_ring_init(ring->buffer_ring_);
  io_uring_buf_reg registration = {};
  registration.ring_addr = reinterpret_cast<uint64_t>(memory);
  registration.ring_entries = kBuffers;
  registration.bgid = 0;
  if (const int rc = io_uring_register_buf_ring(&ring->ring_, &registration, 0); rc != 0) {
    return RingError("io_uring_register_buf_ring", rc);
  }
  ring->buffers_ = std::make_unique_for_overwrite<uint8_t[]>(kBuffers * kBufferSize);
  ring->replies_ = std::make_unique_for_overwrite<Reply[]>(kReplies);
  const int mask = io_uring_buf_ring_mask(kBuffers);
  for (unsigned id = 0; id < kBuffers; ++id) {
    io_uring_buf_ring_add(ring->buffer_ring_, ring->BufferAt(id), kBufferSize,
                          static_cast<unsigned short>(id), mask, static_cast<int>(id));
  }
  io_uring_buf_ring_advance(ring->buffer_ring_, kBuffers);
  ring->receive_layout_.msg_namelen = sizeof(sockaddr_storage);
  ring->receive_layout_.msg_controllen = kPktinfoSpace;
  for (const int fd : fds) {
    Socket socket{fd, {}, false};
    socklen_t size = sizeof(socket.bound);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&socket.bound), &size) != 0) {
      socket.bound = {};
    }
    ring->sockets_.push_back(socket);
  }
  return ring;
}

UdpRing::~UdpRing() {
  if (ring_ready_) io_uring_queue_exit(&ring_);
  std::free(buffer_ring_);
  for (const Socket& socket : sockets_) close(socket.fd);
}

io_uring_sqe* UdpRing::NextEntry() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    // Full: what is queued goes now, replies included.
    io_uring_submit(&ring_);
    if (io_uring_sq_ready(&ring_) == 0) queued_replies_ = 0;
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void UdpRing::ArmReceive(size_t socket) {
  io_uring_sqe* sqe = NextEntry();
  if (sqe == nullptr) return;  // tried again after the next wait
  io_uring_prep_recvmsg_multishot(sqe, sockets_[socket].fd, &receive_layout_, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = 0;
  io_uring_sqe_set_data64(sqe, socket);
  sockets_[socket].armed = true;
}

bool UdpRing::ArmLoopPoll() {
  // One-shot, so that it reports readiness that is still there when armed
  // again (level-triggered): the loop may leave events for its next run.
  io_uring_sqe* sqe = NextEntry();
  if (sqe == nullptr) return false;  // tried again after the next wait
  io_uring_prep_poll_add(sqe, uv_backend_fd(loop_), POLLIN);
  io_uring_sqe_set_data64(sqe, kLoopTag);
  return true;
}

void UdpRing::Answer(const Socket& socket, io_uring_recvmsg_out& received, unsigned size) {
  if (queued_replies_ == kReplies) {
    io_uring_submit(&ring_);
    if (io_uring_sq_ready(&ring_) != 0) {
      handler_.CountSendDrop(1);
      return;
    }
    queued_replies_ = 0;
  }
  Reply& reply = replies_[queued_replies_];
  std::memcpy(&reply.peer, io_uring_recvmsg_name(&received), received.namelen);
  const size_t response = handler_.Handle(
      static_cast<const uint8_t*>(io_uring_recvmsg_payload(&received, &receive_layout_)), size,
      dns::Transport::kUdp, reinterpret_cast<const sockaddr*>(&reply.peer), reply.data);
  if (response == 0) return;
  msghdr query = {};
  query.msg_control = io_uring_recvmsg_cmsg_firsthdr(&received, &receive_layout_);
  query.msg_controllen = query.msg_control != nullptr ? received.controllen : 0;
  const size_t control = ReplySource(query, socket.bound, reply.control);
  reply.iov = {reply.data, response};
  reply.header = {};
  reply.header.msg_name = &reply.peer;
  reply.header.msg_namelen = received.namelen;
  reply.header.msg_iov = &reply.iov;
  reply.header.msg_iovlen = 1;
  reply.header.msg_control = control != 0 ? reply.control : nullptr;
  reply.header.msg_controllen = control;
  io_uring_sqe* sqe = NextEntry();
  if (sqe == nullptr) {
    handler_.CountSendDrop(1);
    return;
  }
  // MSG_DONTWAIT: sent or failed during the submit, never parked until the
  // socket is writable, so the slot is free once io_uring_enter returns.
  io_uring_prep_sendmsg(sqe, socket.fd, &reply.header, MSG_DONTWAIT);
  sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
  io_uring_sqe_set_data64(sqe, kSendTag);
  ++queued_replies_;
}

int UdpRing::OnReceive(size_t socket, const io_uring_cqe& cqe, int& returned) {
  // A multishot receive ends when the buffers ran out (ENOBUFS) or on an
  // error; it is armed again after this round gives its buffers back.
  if (!(cqe.flags & IORING_CQE_F_MORE)) sockets_[socket].armed = false;
  if (!(cqe.flags & IORING_CQE_F_BUFFER)) return 0;
  const unsigned id = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
  uint8_t* buffer = BufferAt(id);
  int queries = 0;
  if (cqe.res >= 0) {
    io_uring_recvmsg_out* received = io_uring_recvmsg_validate(buffer, cqe.res, &receive_layout_);
    // MSG_TRUNC: larger than any query we accept.
    if (received != nullptr && !(received->flags & MSG_TRUNC) &&
        received->namelen <= receive_layout_.msg_namelen) {
      Answer(sockets_[socket], *received,
             io_uring_recvmsg_payload_length(received, cqe.res, &receive_layout_));
      queries = 1;
    }
  }
  io_uring_buf_ring_add(buffer_ring_, buffer, kBufferSize, static_cast<unsigned short>(id),
                        io_uring_buf_ring_mask(kBuffers), returned++);
  return queries;
}

void UdpRing::Wait(uint32_t wait_us) {
  const int loop_ms = uv_backend_timeout(loop_);  // -1: no timer
  unsigned wait_for = 1;
  __kernel_timespec timeout = {};
  bool timed = loop_ms >= 0;
  if (timed) timeout = {loop_ms / 1000, static_cast<long long>(loop_ms % 1000) * 1000000};
  if (wait_us > 0 && (!timed || static_cast<int64_t>(loop_ms) * 1000 > wait_us)) {
    // A partial batch: sleep until a full one is in or wait_us passed.
    wait_for = kFullBatch;
    timeout = {0, static_cast<long long>(wait_us) * 1000};
    timed = true;
  }
  io_uring_cqe* first;
  io_uring_submit_and_wait_timeout(&ring_, &first, wait_for, timed ? &timeout : nullptr, nullptr);
  // Every reply queued went out (or failed) during that submit, unless it
  // was interrupted before it took them.
  if (io_uring_sq_ready(&ring_) == 0) queued_replies_ = 0;
}

void UdpRing::Run() {
  if (!RunLoop(loop_)) return;  // puts its descriptors in its epoll set
  for (size_t i = 0; i < sockets_.size(); ++i) ArmReceive(i);
  bool loop_armed = false;
  uint32_t wait_us = 0;
  while (true) {
    if (!loop_armed) loop_armed = ArmLoopPoll();
    Wait(wait_us);
    uv_update_time(loop_);  // the rate limiter reads the loop's clock
    handler_.BeginBatch();
    bool run_loop = false;
    int received = 0, returned = 0;
    unsigned head, seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      ++seen;
      const uint64_t tag = io_uring_cqe_get_data64(cqe);
      if (tag == kLoopTag) {
        loop_armed = false;
        run_loop = true;
      } else if (tag == kSendTag) {
        handler_.CountSendDrop(1);  // only failures complete
      } else if (tag < sockets_.size()) {
        received += OnReceive(static_cast<size_t>(tag), *cqe, returned);
      }
    }
    io_uring_cq_advance(&ring_, seen);
    if (returned != 0) io_uring_buf_ring_advance(buffer_ring_, returned);
    for (size_t i = 0; i < sockets_.size(); ++i) {
      if (!sockets_[i].armed) ArmReceive(i);
    }
    wait_us = received > 0 && received < kFullBatch ? WaitAfter(batch_wait_, received) : 0;
    if (run_loop || uv_backend_timeout(loop_) == 0) {
      // The replies go first: TCP and timers must not delay them.
      if (queued_replies_ != 0) {
        io_uring_submit(&ring_);
        if (io_uring_sq_ready(&ring_) == 0) queued_replies_ = 0;
      }
      if (!RunLoop(loop_)) return;
    }
  }
}

}  // namespace agility::sockets
