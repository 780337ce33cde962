// The floor for benchmarks: a bare recvmmsg/sendmmsg UDP loop that returns
// each query with QR set, doing no DNS work at all. What it costs per packet
// is what the kernel costs; a DNS server can only add to it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: udp_echo PORT   (serves 127.0.0.1:PORT until killed)\n");
    return 2;
  }
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in address = {};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[1])));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    std::perror("bind");
    return 1;
  }
  constexpr int kBatch = 64;
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
