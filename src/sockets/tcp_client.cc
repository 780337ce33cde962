#include "sockets/tcp_client.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace agility::sockets {

TcpClient::~TcpClient() {
  if (fd_ >= 0) close(fd_);
}

absl::Status TcpClient::Wait(short events, int timeout_ms) {
  pollfd fds[2] = {{fd_, events, 0}, {cancel_fd_, POLLIN, 0}};
  const int n = poll(fds, cancel_fd_ >= 0 ? 2 : 1, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return Wait(events, timeout_ms);
    return absl::ErrnoToStatus(errno, "poll");
  }
  if (n == 0)
    return absl::DeadlineExceededError(absl::StrCat("no progress in ", timeout_ms, " ms"));
  if (cancel_fd_ >= 0 && (fds[1].revents & POLLIN)) return absl::CancelledError("shutting down");
  return absl::OkStatus();
}

absl::Status TcpClient::Connect(const Endpoint& to, int timeout_ms) {
  fd_ = socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return absl::ErrnoToStatus(errno, "socket");
  if (connect(fd_, to.sockaddr_ptr(), to.length) != 0 && errno != EINPROGRESS) {
    return absl::ErrnoToStatus(errno, absl::StrCat("connect to ", to.ToString()));
  }
  if (auto status = Wait(POLLOUT, timeout_ms); !status.ok()) {
    return absl::Status(status.code(),
                        absl::StrCat("connect to ", to.ToString(), ": ", status.message()));
  }
  int error = 0;
  socklen_t length = sizeof(error);
  getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) return absl::ErrnoToStatus(error, absl::StrCat("connect to ", to.ToString()));
  return absl::OkStatus();
}

absl::Status TcpClient::Send(const uint8_t* message, size_t size, int timeout_ms) {
  std::string framed;
  framed.push_back(static_cast<char>(size >> 8));
  framed.push_back(static_cast<char>(size & 0xff));
  framed.append(reinterpret_cast<const char*>(message), size);
  size_t sent = 0;
  while (sent < framed.size()) {
    const ssize_t n = send(fd_, framed.data() + sent, framed.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return absl::ErrnoToStatus(errno, "send");
    } else if (auto status = Wait(POLLOUT, timeout_ms); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::Status TcpClient::ReadExactly(char* out, size_t size, int timeout_ms) {
  size_t got = 0;
  while (got < size) {
    const ssize_t n = recv(fd_, out + got, size - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
    } else if (n == 0) {
      return absl::UnavailableError("the connection closed");
    } else if (errno != EAGAIN && errno != EINTR) {
      return absl::ErrnoToStatus(errno, "recv");
    } else if (auto status = Wait(POLLIN, timeout_ms); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::Status TcpClient::Receive(std::string* out, int timeout_ms) {
  unsigned char length[2];
  if (auto status = ReadExactly(reinterpret_cast<char*>(length), 2, timeout_ms); !status.ok()) {
    return status;
  }
  out->resize(size_t{length[0]} << 8 | length[1]);
  return ReadExactly(out->data(), out->size(), timeout_ms);
}

}  // namespace agility::sockets
