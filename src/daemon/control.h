// The control socket: a Unix stream socket (mode 0600) speaking one request
// line per connection, optionally with file descriptors attached (SCM_RIGHTS)
// for socket registration. The reply is zero or more lines of text (on
// failure, the error, one problem per line) and a final line "ok" or
// "error"; then the server closes the connection.
#pragma once

#include <uv.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace agility::daemon {

class ControlServer {
 public:
  struct Request {
    std::string line;
    std::vector<int> fds;  // received with the request; the handler owns them
  };
  // `reply` may be called later (reload completes asynchronously), once.
  using Reply = std::function<void(absl::Status status, std::string body)>;
  using Handler = std::function<void(Request request, Reply reply)>;

  ControlServer(uv_loop_t* loop, Handler handler);
  ~ControlServer();
  // Refuses to take over the socket of a running agilityd.
  absl::Status Listen(const std::string& path);
  void Close();

 private:
  struct Client;
  static void OnAcceptable(uv_poll_t* poll, int status, int events);
  static void OnClientEvent(uv_poll_t* poll, int status, int events);
  void Read(Client& client);
  void Write(Client& client);
  void Finish(Client& client);

  uv_loop_t* loop_;
  Handler handler_;
  int fd_ = -1;
  uv_poll_t poll_;
  std::string path_;
};

}  // namespace agility::daemon
