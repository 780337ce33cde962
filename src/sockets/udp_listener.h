// Batched UDP service on one socket: a uv_poll tells us the socket is
// readable, then recvmmsg/sendmmsg move up to kBatch datagrams per syscall.
// Replies carry the query's destination address as their source (PKTINFO),
// which is what lets one socket answer for a whole steered prefix.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <uv.h>

#include <cstdint>

#include "sockets/batch_wait.h"
#include "sockets/packet_handler.h"
#include "sockets/reply_source.h"

namespace agility::sockets {

// The batch buffers of one worker, shared by all of its UDP sockets.
struct UdpBuffers {
  static constexpr int kBatch = 64;
  static constexpr size_t kMaxQuery = 4096;
  static constexpr size_t kMaxResponse = 4096;
  static constexpr size_t kControlSize = kPktinfoSpace;

  mmsghdr rx[kBatch];
  mmsghdr tx[kBatch];
  iovec rx_iov[kBatch];
  iovec tx_iov[kBatch];
  sockaddr_storage peers[kBatch];
  alignas(cmsghdr) uint8_t rx_control[kBatch][kControlSize];
  alignas(cmsghdr) uint8_t tx_control[kBatch][kControlSize];
  uint8_t rx_data[kBatch][kMaxQuery];
  uint8_t tx_data[kBatch][kMaxResponse];
};

class UdpListener {
 public:
  UdpListener(uv_loop_t* loop, int fd, UdpBuffers& buffers, PacketHandler& handler,
              BatchWait batch_wait);
  UdpListener(const UdpListener&) = delete;
  UdpListener& operator=(const UdpListener&) = delete;

  int Start();
  // Stops polling and closes the socket; the listener must outlive the
  // loop's close callbacks.
  void Close();

 private:
  static void OnReadable(uv_poll_t* poll, int status, int events);
  void Drain();

  uv_loop_t* loop_;
  int fd_;
  UdpBuffers& buffers_;
  PacketHandler& handler_;
  BatchWait batch_wait_;
  sockaddr_storage bound_ = {};  // the socket's own address
  uv_poll_t poll_;
};

}  // namespace agility::sockets
