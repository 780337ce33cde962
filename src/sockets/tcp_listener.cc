#include "sockets/tcp_listener.h"

#include <netinet/in.h>
#include <unistd.h>

#include <cstring>

#include "dns/wire.h"

namespace agility::sockets {

struct TcpListener::Connection {
  TcpListener* owner = nullptr;
  uv_tcp_t stream;
  uv_timer_t timer;  // idle, query or write deadline: see ArmTimer
  uv_write_t write_req;
  TcpAdmission::Client client{};
  sockaddr_storage peer{};               // for the handler: who sent the query
  std::unique_ptr<ResponseStream> rest;  // of a response still being sent
  // Input: leftovers are always shorter than one message (or, while paused,
  // what the last read brought), so this stays bounded by one maximal
  // message plus one read.
  std::vector<uint8_t> in;
  size_t used = 0;
  // Output the socket did not take at once: `writing` is under way in
  // libuv and unchanged until OnWritten; later responses wait in `queued`.
  // Together at most max_unsent_bytes plus one response.
  std::vector<uint8_t> writing;
  std::vector<uint8_t> queued;
  int open_handles = 2;
  TcpTimeout waiting = TcpTimeout::kIdle;  // what the timer is running for
  bool admitted = false;
  bool write_under_way = false;
  bool paused = false;  // reading stopped for back-pressure
  bool eof = false;     // the client is done sending; close once drained
  bool closing = false;
  Connection* older = nullptr;  // in TcpListener::connections_
  Connection* newer = nullptr;
};

void TcpListener::List::Append(Connection* c) {
  c->older = newest;
  c->newer = nullptr;
  (newest != nullptr ? newest->newer : oldest) = c;
  newest = c;
  ++size;
}

void TcpListener::List::Remove(Connection* c) {
  (c->older != nullptr ? c->older->newer : oldest) = c->newer;
  (c->newer != nullptr ? c->newer->older : newest) = c->older;
  c->older = c->newer = nullptr;
  --size;
}

namespace {

constexpr size_t kRead = 4096;
// Buffers that grew beyond this for one large message or a burst of unsent
// answers are given back once empty, so that an idle connection holds little.
constexpr size_t kKeepCapacity = 16 * 1024;

void Trim(std::vector<uint8_t>& buffer) {
  if (buffer.capacity() > kKeepCapacity) std::vector<uint8_t>().swap(buffer);
}

}  // namespace

// --------------------------------------------------------------------------
// TcpAdmission

TcpAdmission::Verdict TcpAdmission::Admit(const Client& client) {
  if (open_.fetch_add(1, std::memory_order_relaxed) >= static_cast<int64_t>(max_connections_)) {
    open_.fetch_sub(1, std::memory_order_relaxed);
    return Verdict::kTooMany;
  }
  {
    std::lock_guard lock(mutex_);
    uint32_t& count = per_client_[client];
    if (count < max_per_client_) {
      ++count;
      return Verdict::kAdmitted;
    }
  }
  open_.fetch_sub(1, std::memory_order_relaxed);
  return Verdict::kTooManyFromClient;
}

bool TcpAdmission::ClientHasRoom(const Client& client) {
  std::lock_guard lock(mutex_);
  const auto it = per_client_.find(client);
  return it == per_client_.end() || it->second < max_per_client_;
}

void TcpAdmission::Release(const Client& client) {
  {
    std::lock_guard lock(mutex_);
    const auto it = per_client_.find(client);
    if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
  }
  open_.fetch_sub(1, std::memory_order_relaxed);
}

TcpAdmission::Client TcpAdmission::ClientOf(const sockaddr_storage& peer) {
  Client client{};
  if (peer.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(peer);
    std::memcpy(client.data(), &v6.sin6_addr, 16);
    // One host commonly holds a whole /64 and can pick any address in it:
    // the /64 is the client. IPv4-mapped addresses stay whole.
    if (!IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr)) std::memset(client.data() + 8, 0, 8);
  } else if (peer.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(peer);
    client[10] = 0xff;
    client[11] = 0xff;
    std::memcpy(client.data() + 12, &v4.sin_addr, 4);
  }
  return client;
}

// --------------------------------------------------------------------------
// TcpListener

TcpListener::TcpListener(uv_loop_t* loop, int fd, const TcpOptions& options,
                         TcpAdmission& admission, TcpCounters& counters, PacketHandler& handler)
    : loop_(loop),
      fd_(fd),
      options_(options),
      admission_(admission),
      counters_(counters),
      handler_(handler),
      out_(2 + dns::kMaxMessageSize) {
  server_.data = this;
}

TcpListener::~TcpListener() {
  // Connections still open here belong to a loop that is gone.
  while (Connection* c = connections_.oldest) {
    connections_.Remove(c);
    admission_.Release(c->client);
    delete c;
  }
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
  while (connections_.oldest != nullptr) CloseConnection(*connections_.oldest);
}

void TcpListener::OnConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<TcpListener*>(server->data);
  if (status < 0) return;
  auto* c = new Connection;
  c->owner = self;
  // uv_tcp_init creates no socket and cannot fail; libuv has accepted the
  // connection already and waits for uv_accept before it accepts more.
  if (uv_tcp_init(self->loop_, &c->stream) != 0) {
    delete c;
    return;
  }
  c->stream.data = c;
  // Always accept, even over a limit: a connection left in the backlog would
  // hold it for the client's whole connect timeout. Until the timer is up,
  // the stream is the connection's only handle.
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->stream)) != 0 ||
      uv_timer_init(self->loop_, &c->timer) != 0) {
    c->open_handles = 1;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->stream), &TcpListener::OnHandleClosed);
    return;
  }
  c->timer.data = c;
  c->write_req.data = c;
  sockaddr_storage peer{};
  int peer_size = sizeof(peer);
  if (uv_tcp_getpeername(&c->stream, reinterpret_cast<sockaddr*>(&peer), &peer_size) != 0) {
    self->CloseConnection(*c);
    return;
  }
  c->client = TcpAdmission::ClientOf(peer);
  c->peer = peer;
  TcpAdmission::Verdict verdict = self->admission_.Admit(c->client);
  // Full: the connection that has gone longest without progress makes room
  // (again, should another worker take the place first), for a client within
  // its own limit only.
  if (verdict == TcpAdmission::Verdict::kTooMany) {
    if (!self->admission_.ClientHasRoom(c->client)) {
      verdict = TcpAdmission::Verdict::kTooManyFromClient;
    }
    while (verdict == TcpAdmission::Verdict::kTooMany && self->Evict()) {
      verdict = self->admission_.Admit(c->client);
    }
  }
  switch (verdict) {
    case TcpAdmission::Verdict::kTooMany:
      self->counters_.rejected_total.Add();
      self->CloseConnection(*c, /*reset=*/true);
      return;
    case TcpAdmission::Verdict::kTooManyFromClient:
      self->counters_.rejected_per_client.Add();
      self->CloseConnection(*c, /*reset=*/true);
      return;
    case TcpAdmission::Verdict::kAdmitted:
      c->admitted = true;
      break;
  }
  self->connections_.Append(c);
  if (uv_read_start(reinterpret_cast<uv_stream_t*>(&c->stream), &TcpListener::OnAlloc,
                    &TcpListener::OnRead) != 0) {
    self->CloseConnection(*c);
    return;
  }
  self->ArmTimer(*c, false);
}

void TcpListener::OnAlloc(uv_handle_t* handle, size_t /*suggested*/, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(handle->data);
  if (c->in.size() < c->used + kRead) c->in.resize(c->used + kRead);
  *buf = uv_buf_init(reinterpret_cast<char*>(c->in.data() + c->used), kRead);
}

void TcpListener::OnRead(uv_stream_t* stream, ssize_t nread, const uv_buf_t* /*buf*/) {
  auto* c = static_cast<Connection*>(stream->data);
  TcpListener* self = c->owner;
  if (c->closing) return;
  if (nread == UV_EOF) {
    // Half-closed: the answers already produced still go out.
    c->eof = true;
    uv_read_stop(stream);
    if (self->Unsent(*c) == 0) {
      self->CloseConnection(*c);
    } else {
      self->ArmTimer(*c, false);
    }
    return;
  }
  if (nread < 0) {
    self->CloseConnection(*c);
    return;
  }
  if (nread == 0) return;
  c->used += static_cast<size_t>(nread);
  bool answered = false;
  if (!self->Process(*c, &answered)) {
    self->CloseConnection(*c);
    return;
  }
  if (answered) self->Progressed(*c);
  self->ArmTimer(*c, answered);
}

bool TcpListener::Process(Connection& c, bool* answered) {
  size_t offset = 0;
  bool began = false;
  while (!c.paused && c.rest == nullptr && c.used - offset >= 2) {
    const size_t length = dns::ReadU16(c.in.data() + offset);
    if (length == 0) return false;
    if (c.used - offset < 2 + length) break;
    if (!began) {
      handler_.BeginBatch();
      began = true;
    }
    const size_t size =
        handler_.Handle(c.in.data() + offset + 2, length, dns::Transport::kTcp,
                        reinterpret_cast<const sockaddr*>(&c.peer), out_.data() + 2);
    offset += 2 + length;
    if (size == 0) return false;  // a query we drop ends the connection
    if (!Send(c, size)) return false;
    c.rest = handler_.TakeStream();
    if (c.rest != nullptr && !Pump(c)) return false;
    if (Unsent(c) >= options_.max_unsent_bytes) Pause(c);
  }
  if (offset > 0) {
    std::memmove(c.in.data(), c.in.data() + offset, c.used - offset);
    c.used -= offset;
    if (c.used == 0) Trim(c.in);
  }
  *answered = offset > 0;
  return true;
}

bool TcpListener::Pump(Connection& c) {
  // A few messages at a time, so that a long transfer shares the worker
  // with other clients: the last goes through libuv's write queue, whose
  // completion (OnWritten) pumps again.
  constexpr int kMessagesPerPump = 16;
  for (int sent = 1; c.rest != nullptr && Unsent(c) < options_.max_unsent_bytes; ++sent) {
    const size_t size = c.rest->Next(out_.data() + 2);
    if (size == 0) {
      c.rest.reset();
      break;
    }
    if (sent < kMessagesPerPump) {
      if (!Send(c, size)) return false;
      continue;
    }
    dns::WriteU16(out_.data(), static_cast<uint16_t>(size));
    c.queued.insert(c.queued.end(), out_.begin(), out_.begin() + size + 2);
    if (!Flush(c)) return false;
    break;
  }
  // Reading waits for the stream's end: queries behind it are answered then.
  if (c.rest != nullptr) Pause(c);
  return true;
}

size_t TcpListener::Unsent(const Connection& c) const { return c.writing.size() + c.queued.size(); }

bool TcpListener::Send(Connection& c, size_t size) {
  dns::WriteU16(out_.data(), static_cast<uint16_t>(size));
  const size_t total = size + 2;
  if (!c.write_under_way) {
    // The common case: the socket takes the whole response now, no copy.
    auto* stream = reinterpret_cast<uv_stream_t*>(&c.stream);
    uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(out_.data()), total);
    const int written = uv_try_write(stream, &buf, 1);
    if (written == static_cast<int>(total)) return true;
    if (written < 0 && written != UV_EAGAIN) return false;
    const size_t done = written > 0 ? static_cast<size_t>(written) : 0;
    c.queued.insert(c.queued.end(), out_.begin() + done, out_.begin() + total);
    return Flush(c);
  }
  // A write is under way: keep the order, it is flushed when that one ends.
  c.queued.insert(c.queued.end(), out_.begin(), out_.begin() + total);
  return true;
}

bool TcpListener::Flush(Connection& c) {
  if (c.write_under_way || c.queued.empty()) return true;
  c.writing.swap(c.queued);
  c.queued.clear();
  uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(c.writing.data()), c.writing.size());
  if (uv_write(&c.write_req, reinterpret_cast<uv_stream_t*>(&c.stream), &buf, 1,
               &TcpListener::OnWritten) != 0) {
    c.writing.clear();
    return false;
  }
  c.write_under_way = true;
  return true;
}

void TcpListener::Pause(Connection& c) {
  if (c.paused) return;
  c.paused = true;
  counters_.read_pauses.Add();
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c.stream));
}

void TcpListener::OnWritten(uv_write_t* req, int status) {
  auto* c = static_cast<Connection*>(req->data);
  c->write_under_way = false;
  c->writing.clear();
  if (c->closing) return;  // cancelled by uv_close
  TcpListener* self = c->owner;
  if (status < 0 || !self->Flush(*c)) {
    self->CloseConnection(*c);
    return;
  }
  self->Progressed(*c);  // the client took answers
  if (self->Unsent(*c) == 0) {
    Trim(c->writing);
    Trim(c->queued);
  }
  bool resumed = false;
  if (c->rest != nullptr && self->Unsent(*c) <= self->options_.max_unsent_bytes / 2 &&
      !self->Pump(*c)) {
    self->CloseConnection(*c);
    return;
  }
  if (c->paused && c->rest == nullptr && self->Unsent(*c) <= self->options_.max_unsent_bytes / 2) {
    // The client took its answers: answer what was read meanwhile, then read on.
    c->paused = false;
    resumed = true;
    bool answered = false;
    if (!self->Process(*c, &answered)) {
      self->CloseConnection(*c);
      return;
    }
    if (!c->paused && !c->eof &&
        uv_read_start(reinterpret_cast<uv_stream_t*>(&c->stream), &TcpListener::OnAlloc,
                      &TcpListener::OnRead) != 0) {
      self->CloseConnection(*c);
      return;
    }
  }
  if (c->eof && self->Unsent(*c) == 0 && c->rest == nullptr) {
    self->CloseConnection(*c);
    return;
  }
  self->ArmTimer(*c, resumed);
}

void TcpListener::ArmTimer(Connection& c, bool new_message) {
  uint32_t timeout = options_.idle_timeout_ms;
  if (c.paused || c.eof) {
    // Waiting for the client to take its answers; restarted on each progress.
    c.waiting = TcpTimeout::kWrite;
  } else if (c.used > 0) {
    // A message has begun: it must be complete by its deadline, however
    // slowly its bytes trickle in.
    if (c.waiting == TcpTimeout::kQuery && !new_message) return;
    c.waiting = TcpTimeout::kQuery;
    timeout = options_.query_timeout_ms;
  } else {
    c.waiting = Unsent(c) > 0 ? TcpTimeout::kWrite : TcpTimeout::kIdle;
  }
  uv_timer_start(&c.timer, &TcpListener::OnTimer, timeout, 0);
}

void TcpListener::OnTimer(uv_timer_t* timer) {
  auto* c = static_cast<Connection*>(timer->data);
  TcpListener* self = c->owner;
  self->counters_.timeouts[static_cast<int>(c->waiting)].Add();
  // An idle client gets an orderly close; one that stalled mid-message or
  // stopped reading gets a reset, so the kernel drops what is left at once.
  self->CloseConnection(*c, /*reset=*/c->waiting != TcpTimeout::kIdle);
}

void TcpListener::CloseConnection(Connection& c, bool reset) {
  if (c.closing) return;
  c.closing = true;
  if (c.admitted) {
    connections_.Remove(&c);
    admission_.Release(c.client);
  }
  if (!reset || uv_tcp_close_reset(&c.stream, &TcpListener::OnHandleClosed) != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&c.stream), &TcpListener::OnHandleClosed);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&c.timer), &TcpListener::OnHandleClosed);
}

void TcpListener::Progressed(Connection& c) {
  connections_.Remove(&c);
  connections_.Append(&c);
}

bool TcpListener::Evict() {
  Connection* victim = connections_.oldest;
  if (victim == nullptr) return false;
  counters_.evicted.Add();
  CloseConnection(*victim, /*reset=*/true);
  return true;
}

void TcpListener::OnHandleClosed(uv_handle_t* handle) {
  auto* c = static_cast<Connection*>(handle->data);
  if (--c->open_handles == 0) delete c;
}

}  // namespace agility::sockets
