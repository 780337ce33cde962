// The control socket: a Unix stream socket (mode 0600) speaking one request
// line per connection. The reply is zero or more lines of text (on failure,
// the error, one problem per line) and a final line "ok" or "error"; then the
// server closes the connection.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "absl/status/status.h"

namespace agility::daemon {

class ControlServer {
 public:
  // `reply` may be called later (reload completes asynchronously), once.
  using Reply = std::function<void(absl::Status status, std::string body)>;
  using Handler = std::function<void(const std::string& request, Reply reply)>;

  ControlServer(uv_loop_t* loop, Handler handler);
  // Refuses to take over the socket of a running agilityd.
  absl::Status Listen(const std::string& path);
  void Close();

 private:
  struct Client;
  static void OnConnection(uv_stream_t* server, int status);
  static void OnAlloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void OnWritten(uv_write_t* req, int status);
  static void OnClosed(uv_handle_t* handle);

  uv_loop_t* loop_;
  Handler handler_;
  uv_pipe_t server_;
  std::string path_;
  bool listening_ = false;
};

}  // namespace agility::daemon
