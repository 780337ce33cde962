#include "sockets/tcp_listener.h"

#include <unistd.h>

#include <cstring>

#include "dns/wire.h"

namespace agility::sockets {

struct TcpListener::Connection {
  TcpListener* owner;
  uv_tcp_t stream;
  uv_timer_t idle;
  std::vector<uint8_t> in;
  size_t used = 0;
  int open_handles = 2;
  bool closing = false;
};

namespace {
struct PendingWrite {
  uv_write_t req;
  std::vector<uint8_t> data;
};
}  // namespace

TcpListener::TcpListener(uv_loop_t* loop, int fd, const TcpOptions& options,
                         PacketHandler& handler)
    : loop_(loop), fd_(fd), options_(options), handler_(handler), out_(2 + dns::kMaxMessageSize) {
  server_.data = this;
}

TcpListener::~TcpListener() {
  // Connections still open here belong to a loop that is gone.
  for (Connection* c : connections_) delete c;
}

int TcpListener::Start() {
  if (const int rc = uv_tcp_init(loop_, &server_); rc != 0) return rc;
  if (const int rc = uv_tcp_open(&server_, fd_); rc != 0) return rc;
  return uv_listen(reinterpret_cast<uv_stream_t*>(&server_), options_.backlog,
                   &TcpListener::OnConnection);
}

void TcpListener::Close() {
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&server_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);  // closes fd_
  }
  std::vector<Connection*> open(connections_.begin(), connections_.end());
  for (Connection* c : open) CloseConnection(*c);
}

void TcpListener::OnConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<TcpListener*>(server->data);
  if (status < 0) return;
  auto* c = new Connection{self, {}, {}, {}, 0, 2, false};
  uv_tcp_init(self->loop_, &c->stream);
  uv_timer_init(self->loop_, &c->idle);
  c->stream.data = c;
  c->idle.data = c;
  self->connections_.insert(c);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->stream)) != 0 ||
      uv_read_start(reinterpret_cast<uv_stream_t*>(&c->stream), &TcpListener::OnAlloc,
                    &TcpListener::OnRead) != 0) {
    self->CloseConnection(*c);
    return;
  }
  uv_timer_start(&c->idle, &TcpListener::OnIdle, self->options_.idle_timeout_ms, 0);
}

void TcpListener::OnAlloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(handle->data);
  // Leftovers are always shorter than one message, so this stays bounded by
  // one maximal message plus one read.
  constexpr size_t kRead = 4096;
  if (c->in.size() < c->used + kRead) c->in.resize(c->used + kRead);
  *buf = uv_buf_init(reinterpret_cast<char*>(c->in.data() + c->used), kRead);
}

void TcpListener::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* /*buf*/) {
  auto* c = static_cast<Connection*>(stream->data);
  TcpListener* self = c->owner;
  if (nread < 0) {
    self->CloseConnection(*c);
    return;
  }
  if (nread == 0) return;
  c->used += static_cast<size_t>(nread);
  uv_timer_start(&c->idle, &TcpListener::OnIdle, self->options_.idle_timeout_ms, 0);
  if (!self->Process(*c)) self->CloseConnection(*c);
}

bool TcpListener::Process(Connection& c) {
  size_t offset = 0;
  bool began = false;
  while (c.used - offset >= 2) {
    const size_t length = dns::ReadU16(c.in.data() + offset);
    if (length == 0) return false;
    if (c.used - offset < 2 + length) break;
    if (!began) {
      handler_.BeginBatch();
      began = true;
    }
    const size_t size =
        handler_.Handle(c.in.data() + offset + 2, length, dns::Transport::kTcp, out_.data() + 2);
    offset += 2 + length;
    if (size == 0) return false;  // a query we drop ends the connection
    if (!Send(c, size)) return false;
  }
  if (offset > 0) {
    std::memmove(c.in.data(), c.in.data() + offset, c.used - offset);
    c.used -= offset;
  }
  return true;
}

bool TcpListener::Send(Connection& c, size_t size) {
  dns::WriteU16(out_.data(), static_cast<uint16_t>(size));
  const size_t total = size + 2;
  auto* stream = reinterpret_cast<uv_stream_t*>(&c.stream);
  uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(out_.data()), total);
  const int written = uv_try_write(stream, &buf, 1);
  if (written == static_cast<int>(total)) return true;
  if (written < 0 && written != UV_EAGAIN) return false;
  // The socket is full or earlier writes are queued: keep the rest in order.
  const size_t done = written > 0 ? static_cast<size_t>(written) : 0;
  auto* pending = new PendingWrite;
  pending->req.data = pending;
  pending->data.assign(out_.begin() + done, out_.begin() + total);
  buf = uv_buf_init(reinterpret_cast<char*>(pending->data.data()), pending->data.size());
  if (uv_write(&pending->req, stream, &buf, 1, &TcpListener::OnWritten) != 0) {
    delete pending;
    return false;
  }
  return true;
}

void TcpListener::OnWritten(uv_write_t* req, int /*status*/) {
  delete static_cast<PendingWrite*>(req->data);
}

void TcpListener::OnIdle(uv_timer_t* timer) {
  auto* c = static_cast<Connection*>(timer->data);
  c->owner->CloseConnection(*c);
}

void TcpListener::CloseConnection(Connection& c) {
  if (c.closing) return;
  c.closing = true;
  connections_.erase(&c);
  uv_close(reinterpret_cast<uv_handle_t*>(&c.stream), &TcpListener::OnHandleClosed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c.idle), &TcpListener::OnHandleClosed);
}

void TcpListener::OnHandleClosed(uv_handle_t* handle) {
  auto* c = static_cast<Connection*>(handle->data);
  if (--c->open_handles == 0) delete c;
}

}  // namespace agility::sockets
