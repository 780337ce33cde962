// The floor for benchmarks: a bare UDP loop that returns each query with QR
// set, doing no DNS work at all. What it costs per packet is what the kernel
// costs; a DNS server can only add to it.
//
// Two ways into the kernel:
// - the default, recvmmsg/sendmmsg: a blocking recvmmsg that returns as soon
//   as one query is in (MSG_WAITFORONE), and one sendmmsg for the replies;
// - --uring: io_uring with one multishot recvmsg
//   into a ring of provided buffers, the replies queued as sendmsg entries,
//   and one io_uring_enter per wakeup that both sends them and waits for the
//   next query. Completions run only when we wait (DEFER_TASKRUN), so a
//   query arriving does not interrupt the worker while it answers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <liburing.h>

namespace {

constexpr int kBatch = 64;

int EchoWithMmsg(int fd) {
  static unsigned char data[kBatch][2048];
  static sockaddr_in peers[kBatch];
  static iovec iov[kBatch];
  static mmsghdr messages[kBatch];
  while (true) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {data[i], sizeof(data[i])};
      messages[i].msg_hdr = {};
      messages[i].msg_hdr.msg_name = &peers[i];
      messages[i].msg_hdr.msg_namelen = sizeof(peers[i]);
      messages[i].msg_hdr.msg_iov = &iov[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = recvmmsg(fd, messages, kBatch, MSG_WAITFORONE, nullptr);
    if (n <= 0) continue;
    for (int i = 0; i < n; ++i) {
      data[i][2] |= 0x80;
      iov[i].iov_len = messages[i].msg_len;
    }
    sendmmsg(fd, messages, static_cast<unsigned>(n), 0);
  }
}

int EchoWithUring(int fd) {
  constexpr unsigned kBuffers = 1024;  // receive buffers the kernel picks from
  constexpr unsigned kBufferSize = 2048;
  constexpr unsigned kReplies = 4096;  // reply slots, reused round-robin
  constexpr unsigned kMaxReply = 512;
  constexpr uint64_t kReceive = 1, kSend = 2;
  static unsigned char buffers[kBuffers][kBufferSize];
  static unsigned char replies[kReplies][kMaxReply];
  static sockaddr_in reply_peers[kReplies];
  static iovec reply_iov[kReplies];
  static msghdr reply_headers[kReplies];

  io_uring ring;
  io_uring_params params = {};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
  params.cq_entries = 8192;
  if (const int rc = io_uring_queue_init_params(1024, &ring, &params); rc != 0) {
    std::fprintf(stderr, "io_uring_queue_init_params: %s\n", std::strerror(-rc));
    return 1;
  }
  io_uring_buf_ring* buffer_ring = nullptr;
  if (posix_memalign(reinterpret_cast<void**>(&buffer_ring), 4096,
                     kBuffers * sizeof(io_uring_buf)) != 0) {
    return 1;
  }
  io_uring_buf_ring_init(buffer_ring);
  io_uring_buf_reg registration = {};
  registration.ring_addr = reinterpret_cast<uint64_t>(buffer_ring);
  registration.ring_entries = kBuffers;
  registration.bgid = 0;
  if (const int rc = io_uring_register_buf_ring(&ring, &registration, 0); rc != 0) {
    std::fprintf(stderr, "io_uring_register_buf_ring: %s\n", std::strerror(-rc));
    return 1;
  }
  const int mask = io_uring_buf_ring_mask(kBuffers);
  for (unsigned i = 0; i < kBuffers; ++i) {
    io_uring_buf_ring_add(buffer_ring, buffers[i], kBufferSize, static_cast<uint16_t>(i), mask,
                          static_cast<int>(i));
  }
  io_uring_buf_ring_advance(buffer_ring, kBuffers);

  msghdr receive_layout = {};  // tells the kernel how to lay out each buffer
  receive_layout.msg_namelen = sizeof(sockaddr_in);
  bool armed = false;
  unsigned next_reply = 0;
  while (true) {
    if (!armed) {
      io_uring_sqe* sqe = io_uring_get_sqe(&ring);
      io_uring_prep_recvmsg_multishot(sqe, fd, &receive_layout, 0);
      sqe->flags |= IOSQE_BUFFER_SELECT;
      sqe->buf_group = 0;
      io_uring_sqe_set_data64(sqe, kReceive);
      armed = true;
    }
    io_uring_submit_and_wait(&ring, 1);
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    int returned = 0;
    io_uring_for_each_cqe(&ring, head, cqe) {
      ++seen;
      if (cqe->user_data != kReceive) continue;  // a failed send: nothing to do
      if (!(cqe->flags & IORING_CQE_F_MORE)) armed = false;
      if (cqe->res < 0 || !(cqe->flags & IORING_CQE_F_BUFFER)) continue;
      const unsigned id = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
      if (io_uring_recvmsg_out* out =
              io_uring_recvmsg_validate(buffers[id], cqe->res, &receive_layout)) {
        const unsigned size = io_uring_recvmsg_payload_length(out, cqe->res, &receive_layout);
        const unsigned slot = next_reply++ % kReplies;
        if (size >= 3 && size <= kMaxReply && out->namelen == sizeof(sockaddr_in)) {
          std::memcpy(replies[slot], io_uring_recvmsg_payload(out, &receive_layout), size);
          replies[slot][2] |= 0x80;
          std::memcpy(&reply_peers[slot], io_uring_recvmsg_name(out), sizeof(sockaddr_in));
          reply_iov[slot] = {replies[slot], size};
          reply_headers[slot] = {};
          reply_headers[slot].msg_name = &reply_peers[slot];
          reply_headers[slot].msg_namelen = sizeof(sockaddr_in);
          reply_headers[slot].msg_iov = &reply_iov[slot];
          reply_headers[slot].msg_iovlen = 1;
          io_uring_sqe* sqe = io_uring_get_sqe(&ring);
          if (sqe == nullptr) {
            io_uring_submit(&ring);
            sqe = io_uring_get_sqe(&ring);
          }
          io_uring_prep_sendmsg(sqe, fd, &reply_headers[slot], 0);
          sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
          io_uring_sqe_set_data64(sqe, kSend);
        }
      }
      io_uring_buf_ring_add(buffer_ring, buffers[id], kBufferSize, static_cast<uint16_t>(id), mask,
                            returned++);
    }
    io_uring_cq_advance(&ring, seen);
    io_uring_buf_ring_advance(buffer_ring, returned);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const bool uring = argc == 3 && std::strcmp(argv[1], "--uring") == 0;
  if (argc != 2 && !uring) {
    std::fprintf(stderr, "usage: udp_echo [--uring] PORT   (serves 127.0.0.1:PORT until killed)\n");
    return 2;
  }
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[argc - 1])));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    std::perror("bind");
    return 1;
  }
  return uring ? EchoWithUring(fd) : EchoWithMmsg(fd);
}
