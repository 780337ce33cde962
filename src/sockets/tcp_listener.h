// DNS over TCP (RFC 7766) on one listening socket: length-prefixed messages,
// several queries per connection answered in order, an idle timeout.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "sockets/packet_handler.h"

namespace agility::sockets {

struct TcpOptions {
  uint32_t idle_timeout_ms = 10000;
  int backlog = 1024;
};

class TcpListener {
 public:
  TcpListener(uv_loop_t* loop, int fd, const TcpOptions& options, PacketHandler& handler);
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  ~TcpListener();

  int Start();
  // Closes the listening socket and every open connection.
  void Close();
  size_t connection_count() const { return connections_.size(); }

 private:
  struct Connection;
  static void OnConnection(uv_stream_t* server, int status);
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnIdle(uv_timer_t* timer);
  static void OnWritten(uv_write_t* req, int status);
  static void OnHandleClosed(uv_handle_t* handle);

  // Answers every complete message in the connection's buffer.
  bool Process(Connection& c);
  bool Send(Connection& c, size_t size);
  void CloseConnection(Connection& c);

  uv_loop_t* loop_;
  int fd_;
  TcpOptions options_;
  PacketHandler& handler_;
  uv_tcp_t server_;
  std::vector<uint8_t> out_;  // 2-byte length + largest message
  absl::flat_hash_set<Connection*> connections_;
};

}  // namespace agility::sockets
