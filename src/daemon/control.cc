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

// True when something accepts connections on `path`.
bool SocketIsLive(const std::string& path) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un address = {};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  const bool live = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  close(fd);
  return live;
}
}  // namespace

struct ControlServer::Client {
  ControlServer* owner;
  uv_pipe_t pipe;
  std::string request;
  std::string response;
  uv_write_t write;
  bool answered = false;
};

ControlServer::ControlServer(uv_loop_t* loop, Handler handler)
    : loop_(loop), handler_(std::move(handler)) {
  server_.data = this;
}

absl::Status ControlServer::Listen(const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("control socket path too long: ", path));
  }
  std::error_code error;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), error);
  if (SocketIsLive(path)) {
    return absl::AlreadyExistsError(
        absl::StrCat("another agilityd is already listening on ", path));
  }
  unlink(path.c_str());  // a stale socket from a process that died
  uv_pipe_init(loop_, &server_, 0);
  // Created with mode 0600 from the start: no window where others connect.
  const mode_t old_mask = umask(0177);
  const int rc = uv_pipe_bind(&server_, path.c_str());
  umask(old_mask);
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
    return absl::UnavailableError(
        absl::StrCat("cannot bind control socket ", path, ": ", uv_strerror(rc)));
  }
  chmod(path.c_str(), 0600);
  if (const int lrc = uv_listen(reinterpret_cast<uv_stream_t*>(&server_), 16,
                                &ControlServer::OnConnection);
      lrc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
    return absl::UnavailableError(
        absl::StrCat("cannot listen on control socket ", path, ": ", uv_strerror(lrc)));
  }
  path_ = path;
  listening_ = true;
  return absl::OkStatus();
}

void ControlServer::Close() {
  if (!listening_) return;
  listening_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
  unlink(path_.c_str());
}

void ControlServer::OnConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<ControlServer*>(server->data);
  if (status < 0) return;
  auto* client = new Client{self, {}, {}, {}, {}, false};
  uv_pipe_init(self->loop_, &client->pipe, 0);
  client->pipe.data = client;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&client->pipe)) != 0 ||
      uv_read_start(reinterpret_cast<uv_stream_t*>(&client->pipe), &ControlServer::OnAlloc,
                    &ControlServer::OnRead) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&client->pipe), &ControlServer::OnClosed);
  }
}

void ControlServer::OnAlloc(uv_handle_t* /*handle*/, size_t /*suggested*/, uv_buf_t* buf) {
  static thread_local char buffer[1024];
  *buf = uv_buf_init(buffer, sizeof(buffer));
}

void ControlServer::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* client = static_cast<Client*>(stream->data);
  if (client->answered) return;
  if (nread < 0) {
    if (nread != UV_EOF || client->request.empty()) {
      uv_close(reinterpret_cast<uv_handle_t*>(stream), &ControlServer::OnClosed);
      return;
    }
  } else {
    client->request.append(buf->base, static_cast<size_t>(nread));
    if (client->request.size() > kMaxRequest) {
      uv_close(reinterpret_cast<uv_handle_t*>(stream), &ControlServer::OnClosed);
      return;
    }
    if (client->request.find('\n') == std::string::npos) return;
  }
  client->answered = true;
  uv_read_stop(stream);
  std::string line = client->request.substr(0, client->request.find('\n'));
  line = std::string(absl::StripAsciiWhitespace(line));
  client->owner->handler_(line, [client](absl::Status status, std::string body) {
    if (!status.ok()) absl::StrAppend(&body, body.empty() || body.back() == '\n' ? "" : "\n",
                                      status.message());
    if (!body.empty() && body.back() != '\n') body += '\n';
    client->response = std::move(body);
    absl::StrAppend(&client->response, status.ok() ? "ok\n" : "error\n");
    client->write.data = client;
    uv_buf_t out = uv_buf_init(client->response.data(), client->response.size());
    if (uv_write(&client->write, reinterpret_cast<uv_stream_t*>(&client->pipe), &out, 1,
                 &ControlServer::OnWritten) != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&client->pipe), &ControlServer::OnClosed);
    }
  });
}

void ControlServer::OnWritten(uv_write_t* req, int /*status*/) {
  auto* client = static_cast<Client*>(req->data);
  uv_close(reinterpret_cast<uv_handle_t*>(&client->pipe), &ControlServer::OnClosed);
}

void ControlServer::OnClosed(uv_handle_t* handle) { delete static_cast<Client*>(handle->data); }

}  // namespace agility::daemon
