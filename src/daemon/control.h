// The control socket: a Unix stream socket (mode 0600) speaking one request
// line per connection, optionally with file descriptors attached (SCM_RIGHTS)
// for socket registration. The reply is zero or more lines of text (on
// failure, the error, one problem per line) and a final line "ok" or
// "error"; then the server closes the connection.
#pragma once

#include <uv.h>

#include <functional>
#include <string>
#include <unordered_set>
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
  // Fails when an agilityd answers on `path`: checked before a new one
  // touches anything it shares (steering), long before it listens.
  static absl::Status RefuseIfLive(const std::string& path);
  // Refuses to take over the socket of a running agilityd.
  absl::Status Listen(const std::string& path);
  // Closes the listener and every client; one waiting for a reply (a reload
  // under way) is closed when the reply comes.
  void Close();

  // Clients at once; more are closed on arrival.
  static constexpr size_t kMaxClients = 32;
  // From accepting a client to its reply written, time spent waiting for
  // the handler aside.
  static constexpr uint64_t kClientTimeoutMs = 10000;

 private:
  struct Client;
  static void OnAcceptable(uv_poll_t* poll, int status, int events);
  static void OnTick(uv_timer_t* timer);
  static void OnClientEvent(uv_poll_t* poll, int status, int events);
  void Read(Client& client);
  void Write(Client& client);
  void Finish(Client& client);

  uv_loop_t* loop_;
  Handler handler_;
  int fd_ = -1;
  uv_poll_t poll_;
  uv_timer_t tick_;  // timeouts; resumes accepting after running out of descriptors
  bool accepting_ = false;
  std::string path_;
  std::unordered_set<Client*> clients_;
};

}  // namespace agility::daemon
