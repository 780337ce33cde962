// A worker's UDP sockets served through io_uring, its event loop polled
// through the same ring, so that one io_uring_enter per wakeup both sends the
// last batch's replies and waits for the next queries.
//
// - Each socket has one multishot recvmsg that fills buffers the kernel
//   picks from a ring of provided buffers: no syscall per batch to read.
// - Replies are queued as sendmsg entries with MSG_DONTWAIT: they go out, or
//   fail, while the next io_uring_enter submits them, so their slots are free
//   again when it returns. Only failures post a completion.
// - Completions run only when the worker waits (DEFER_TASKRUN), so queries
//   arriving do not interrupt it while it answers, and it is woken once for
//   them all.
// - The libuv loop (TCP, timers, the worker's async handles) is one more
//   poll entry in the ring: when its epoll descriptor is readable, or a timer
//   is due, the loop runs once without blocking.
#pragma once

#include <liburing.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sockets/batch_wait.h"
#include "sockets/packet_handler.h"
#include "sockets/reply_source.h"
#include "sockets/udp_listener.h"

namespace agility::sockets {

class UdpRing {
 public:
  // OK when this kernel and its policy (kernel.io_uring_disabled, a seccomp
  // filter) let a worker build its ring (Linux 6.1 or later); why not
  // otherwise.
  static absl::Status Probe();

  // A ring serving `fds`, which it then owns. Call it on the thread that
  // will Run it: the ring has a single issuer.
  static absl::StatusOr<std::unique_ptr<UdpRing>> Create(uv_loop_t* loop, PacketHandler& handler,
                                                         BatchWait batch_wait,
                                                         const std::vector<int>& fds);
  UdpRing(const UdpRing&) = delete;
  UdpRing& operator=(const UdpRing&) = delete;
  ~UdpRing();  // cancels what is in flight and closes the sockets

  // Serves until the loop has nothing left to run: the worker closed its
  // handles to stop.
  void Run();

 private:
  // The sizes and the full batch of the recvmmsg path, so that both paths
  // accept and answer alike.
  static constexpr size_t kMaxQuery = UdpBuffers::kMaxQuery;
  static constexpr size_t kMaxResponse = UdpBuffers::kMaxResponse;
  static constexpr int kFullBatch = UdpBuffers::kBatch;  // does not wait for more

  // Receive buffers the kernel picks from, shared by the worker's sockets.
  static constexpr unsigned kBuffers = 256;
  // Each: the kernel's header, the peer's address, PKTINFO, the query.
  static constexpr size_t kBufferSize =
      (sizeof(io_uring_recvmsg_out) + sizeof(sockaddr_storage) + kPktinfoSpace + kMaxQuery + 63) /
      64 * 64;
  // Replies queued between two io_uring_enter calls; past that many the
  // ring is submitted early.
  static constexpr unsigned kReplies = 256;

  struct Socket {
    int fd;
    sockaddr_storage bound;  // its own address
    bool armed = false;      // its multishot receive is in the ring
  };
  struct Reply {
    sockaddr_storage peer;
    iovec iov;
    msghdr header;
    alignas(cmsghdr) uint8_t control[kPktinfoSpace];
    uint8_t data[kMaxResponse];
  };

  UdpRing(uv_loop_t* loop, PacketHandler& handler, BatchWait batch_wait);
  io_uring_sqe* NextEntry();
  void ArmReceive(size_t socket);
  bool ArmLoopPoll();
  // Answers what one receive completion brought; returns the queries read
  // (0 or 1). `returned` counts buffers given back in this round.
  int OnReceive(size_t socket, const io_uring_cqe& cqe, int& returned);
  void Answer(const Socket& socket, io_uring_recvmsg_out& received, unsigned size);
  // Waits for completions, at most `wait_us` for a batch to fill when not 0.
  void Wait(uint32_t wait_us);
  uint8_t* BufferAt(unsigned id) { return buffers_.get() + static_cast<size_t>(id) * kBufferSize; }

  uv_loop_t* loop_;
  PacketHandler& handler_;
  BatchWait batch_wait_;
  io_uring ring_;
  bool ring_ready_ = false;
  io_uring_buf_ring* buffer_ring_ = nullptr;  // page-aligned; freed by the destructor
  std::unique_ptr<uint8_t[]> buffers_;
  std::unique_ptr<Reply[]> replies_;
  unsigned queued_replies_ = 0;  // slots of replies_ not yet submitted
  msghdr receive_layout_ = {};   // what every receive buffer holds, and how large
  std::vector<Socket> sockets_;
};

}  // namespace agility::sockets
