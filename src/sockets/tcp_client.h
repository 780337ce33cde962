// A blocking DNS-over-TCP client for the transfer thread: connect, send one
// message, read messages, each step bounded by a timeout and interrupted at
// once when a shared cancel descriptor becomes readable (shutdown).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "sockets/endpoint.h"

namespace agility::sockets {

class TcpClient {
 public:
  // `cancel_fd` (an eventfd, or -1) ends any wait once readable.
  explicit TcpClient(int cancel_fd) : cancel_fd_(cancel_fd) {}
  ~TcpClient();
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  absl::Status Connect(const Endpoint& to, int timeout_ms);
  // Sends `message` with its two-octet length (RFC 1035 §4.2.2).
  absl::Status Send(const uint8_t* message, size_t size, int timeout_ms);
  // Reads the next message into `out`; fails on a timeout (no octet for
  // `timeout_ms`), on a closed connection and on cancellation.
  absl::Status Receive(std::string* out, int timeout_ms);

 private:
  // Waits for `events` on the socket.
  absl::Status Wait(short events, int timeout_ms);
  absl::Status ReadExactly(char* out, size_t size, int timeout_ms);

  int fd_ = -1;
  int cancel_fd_;
};

}  // namespace agility::sockets
