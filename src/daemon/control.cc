#include "daemon/control.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace agility::daemon {
namespace {

constexpr size_t kMaxRequest = 4096;
constexpr size_t kMaxFds = 16;

sockaddr_un UnixAddress(const std::string& path) {
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  return address;
}

// True when something accepts connections on `path`.
bool SocketIsLive(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  const sockaddr_un address = UnixAddress(path);
  const bool live = connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return live;
}

}  // namespace

struct ControlServer::Client {
  ControlServer* owner = nullptr;
  int fd = -1;
  uint64_t accepted_ms = 0;
  uv_poll_t poll;
  std::string in;
  std::vector<int> fds;
  std::string out;
  size_t sent = 0;
  bool answered = false;        // the request is complete
  bool awaiting_reply = false;  // the handler has not replied yet
  bool close_on_reply = false;  // the server closed meanwhile
  bool closing = false;
};

ControlServer::ControlServer(uv_loop_t* loop, Handler handler)
    : loop_(loop), handler_(std::move(handler)) {
  poll_.data = this;
  tick_.data = this;
}

ControlServer::~ControlServer() { Close(); }

absl::Status ControlServer::RefuseIfLive(const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("control socket path too long: ", path));
  }
  if (SocketIsLive(path)) {
    return absl::AlreadyExistsError(
        absl::StrCat("another agilityd is already listening on ", path));
  }
  return absl::OkStatus();
}

absl::Status ControlServer::Listen(const std::string& path) {
  if (auto status = RefuseIfLive(path); !status.ok()) return status;
  std::error_code error;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), error);
  unlink(path.c_str());  // a stale socket from a process that died
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const sockaddr_un address = UnixAddress(path);
  // Created with mode 0600 from the start: no window where others connect.
  const mode_t old_mask = umask(0177);
  const bool bound =
      fd_ >= 0 && bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  umask(old_mask);
  if (!bound || listen(fd_, 16) != 0) {
    const std::string reason = strerror(errno);
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    return absl::UnavailableError(
        absl::StrCat("cannot listen on control socket ", path, ": ", reason));
  }
  path_ = path;
  if (const int rc = uv_poll_init(loop_, &poll_, fd_); rc != 0) {
    close(fd_);
    fd_ = -1;
    return absl::UnavailableError(
        absl::StrCat("cannot watch control socket ", path, ": ", uv_strerror(rc)));
  }
  if (const int rc = uv_timer_init(loop_, &tick_); rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&poll_), nullptr);
    close(fd_);
    fd_ = -1;
    return absl::UnavailableError(absl::StrCat("control socket timer: ", uv_strerror(rc)));
  }
  uv_poll_start(&poll_, UV_READABLE, &ControlServer::OnAcceptable);
  accepting_ = true;
  uv_timer_start(&tick_, &ControlServer::OnTick, 1000, 1000);
  return absl::OkStatus();
}

void ControlServer::Close() {
  if (fd_ < 0) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  close(fd_);
  fd_ = -1;
  unlink(path_.c_str());
  for (Client* client : std::vector<Client*>(clients_.begin(), clients_.end())) {
    if (client->awaiting_reply) {
      client->close_on_reply = true;
    } else {
      Finish(*client);
    }
  }
}

void ControlServer::OnTick(uv_timer_t* timer) {
  auto* self = static_cast<ControlServer*>(timer->data);
  const uint64_t now = uv_now(self->loop_);
  for (Client* client : std::vector<Client*>(self->clients_.begin(), self->clients_.end())) {
    if (!client->awaiting_reply && now - client->accepted_ms >= kClientTimeoutMs) {
      self->Finish(*client);
    }
  }
  if (!self->accepting_) {
    self->accepting_ = true;
    uv_poll_start(&self->poll_, UV_READABLE, &ControlServer::OnAcceptable);
  }
}

void ControlServer::OnAcceptable(uv_poll_t* poll, int status, int /*events*/) {
  auto* self = static_cast<ControlServer*>(poll->data);
  if (status < 0) return;
  while (true) {
    const int fd = accept4(self->fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // The pending connection stays readable: polling on would spin.
        // The next tick resumes accepting.
        uv_poll_stop(&self->poll_);
        self->accepting_ = false;
      }
      return;
    }
    if (self->clients_.size() >= kMaxClients) {
      close(fd);
      continue;
    }
    auto* client = new Client;
    client->owner = self;
    client->fd = fd;
    client->accepted_ms = uv_now(self->loop_);
    client->poll.data = client;
    if (uv_poll_init(self->loop_, &client->poll, fd) != 0) {
      close(fd);
      delete client;
      continue;
    }
    self->clients_.insert(client);
    uv_poll_start(&client->poll, UV_READABLE, &ControlServer::OnClientEvent);
  }
}

void ControlServer::OnClientEvent(uv_poll_t* poll, int status, int events) {
  auto* client = static_cast<Client*>(poll->data);
  if (status < 0) {
    client->owner->Finish(*client);
    return;
  }
  if (!client->answered && (events & UV_READABLE))
    client->owner->Read(*client);
  else if (events & UV_WRITABLE)
    client->owner->Write(*client);
}

void ControlServer::Read(Client& client) {
  char data[1024];
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  iovec iov = {data, sizeof(data)};
  msghdr message = {};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  const ssize_t n = recvmsg(client.fd, &message, MSG_CMSG_CLOEXEC);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n < 0) {
    Finish(client);  // the message (and any descriptors) is not there to read
    return;
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      client.fds.push_back(fd);
    }
  }
  if (n <= 0 || (message.msg_flags & MSG_CTRUNC) || client.in.size() + n > kMaxRequest) {
    Finish(client);  // closed early, too many descriptors or too long
    return;
  }
  client.in.append(data, static_cast<size_t>(n));
  const size_t newline = client.in.find('\n');
  if (newline == std::string::npos) return;
  client.answered = true;
  client.awaiting_reply = true;
  uv_poll_stop(&client.poll);
  Request request{std::string(absl::StripAsciiWhitespace(client.in.substr(0, newline))),
                  std::move(client.fds)};
  client.fds.clear();
  Client* target = &client;
  handler_(std::move(request), [target](absl::Status status, std::string body) {
    if (!status.ok()) {
      if (!body.empty() && body.back() != '\n') body += '\n';
      absl::StrAppend(&body, status.message());
    }
    if (!body.empty() && body.back() != '\n') body += '\n';
    target->awaiting_reply = false;
    if (target->close_on_reply) {
      target->owner->Finish(*target);
      return;
    }
    target->out = std::move(body);
    absl::StrAppend(&target->out, status.ok() ? "ok\n" : "error\n");
    uv_poll_start(&target->poll, UV_WRITABLE, &ControlServer::OnClientEvent);
  });
}

void ControlServer::Write(Client& client) {
  while (client.sent < client.out.size()) {
    const ssize_t n = send(client.fd, client.out.data() + client.sent,
                           client.out.size() - client.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      break;
    }
    client.sent += static_cast<size_t>(n);
  }
  Finish(client);
}

void ControlServer::Finish(Client& client) {
  if (client.closing) return;
  client.closing = true;
  for (int fd : client.fds) close(fd);
  client.fds.clear();
  uv_poll_stop(&client.poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&client.poll), [](uv_handle_t* handle) {
    auto* c = static_cast<Client*>(handle->data);
    c->owner->clients_.erase(c);
    close(c->fd);
    delete c;
  });
}

}  // namespace agility::daemon
