#include "sockets/udp_listener.h"

#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "sockets/reply_source.h"

namespace agility::sockets {
namespace {

// Rounds of recvmmsg per readiness event before yielding to the other
// sockets of the loop; the poll is level-triggered, so nothing is missed.
constexpr int kRoundsPerEvent = 8;

}  // namespace

UdpListener::UdpListener(uv_loop_t* loop, int fd, UdpBuffers& buffers, PacketHandler& handler,
                         BatchWait batch_wait)
    : loop_(loop), fd_(fd), buffers_(buffers), handler_(handler), batch_wait_(batch_wait) {
  poll_.data = this;
}

int UdpListener::Start() {
  socklen_t size = sizeof(bound_);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&bound_), &size) != 0) bound_ = {};
  if (const int rc = uv_poll_init(loop_, &poll_, fd_); rc != 0) return rc;
  return uv_poll_start(&poll_, UV_READABLE, &UdpListener::OnReadable);
}

void UdpListener::Close() {
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&poll_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), nullptr);
  }
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

void UdpListener::OnReadable(uv_poll_t* poll, int status, int /*events*/) {
  if (status < 0) return;
  static_cast<UdpListener*>(poll->data)->Drain();
}

void UdpListener::Drain() {
  UdpBuffers& b = buffers_;
  for (int round = 0; round < kRoundsPerEvent; ++round) {
    for (int i = 0; i < UdpBuffers::kBatch; ++i) {
      b.rx_iov[i] = {b.rx_data[i], UdpBuffers::kMaxQuery};
      msghdr& h = b.rx[i].msg_hdr;
      h.msg_name = &b.peers[i];
      h.msg_namelen = sizeof(b.peers[i]);
      h.msg_iov = &b.rx_iov[i];
      h.msg_iovlen = 1;
      h.msg_control = b.rx_control[i];
      h.msg_controllen = UdpBuffers::kControlSize;
      h.msg_flags = 0;
    }
    const int received = recvmmsg(fd_, b.rx, UdpBuffers::kBatch, MSG_DONTWAIT, nullptr);
    if (received <= 0) return;  // EAGAIN: drained; other errors: try next event

    handler_.BeginBatch();
    int replies = 0;
    for (int i = 0; i < received; ++i) {
      const msghdr& in = b.rx[i].msg_hdr;
      if (in.msg_flags & MSG_TRUNC) continue;  // larger than any query we accept
      const size_t size =
          handler_.Handle(b.rx_data[i], b.rx[i].msg_len, dns::Transport::kUdp,
                          reinterpret_cast<const sockaddr*>(&b.peers[i]), b.tx_data[replies]);
      if (size == 0) continue;
      b.tx_iov[replies] = {b.tx_data[replies], size};
      msghdr& out = b.tx[replies].msg_hdr;
      out.msg_name = &b.peers[i];
      out.msg_namelen = in.msg_namelen;
      out.msg_iov = &b.tx_iov[replies];
      out.msg_iovlen = 1;
      const size_t control = ReplySource(in, bound_, b.tx_control[replies]);
      out.msg_control = control != 0 ? b.tx_control[replies] : nullptr;
      out.msg_controllen = control;
      out.msg_flags = 0;
      ++replies;
    }
    int sent = 0;
    while (sent < replies) {
      const int n = sendmmsg(fd_, b.tx + sent, static_cast<unsigned>(replies - sent), MSG_DONTWAIT);
      if (n > 0) {
        sent += n;
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        // One bad destination (e.g. unreachable) must not sink the rest.
        handler_.CountSendDrop(1);
        ++sent;
      } else {
        handler_.CountSendDrop(static_cast<size_t>(replies - sent));
        break;
      }
    }
    if (received < UdpBuffers::kBatch) {
      const uint32_t wait_us = WaitAfter(batch_wait_, received);
      if (wait_us == 0) return;
      // Rather than sleep in epoll and be woken for every few queries, give
      // the queue a moment to fill: fewer wakeups per query for at most
      // wait_us of added latency.
      const timespec pause = {0, static_cast<long>(wait_us) * 1000};
      nanosleep(&pause, nullptr);
    }
  }
}

}  // namespace agility::sockets
