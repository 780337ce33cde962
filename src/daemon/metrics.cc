#include "daemon/metrics.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace agility::daemon {
namespace {

constexpr size_t kMaxRequest = 8192;

std::string Escape(absl::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void PrometheusText::Family(absl::string_view name, absl::string_view type,
                            absl::string_view help) {
  absl::StrAppend(&text_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

void PrometheusText::Sample(absl::string_view name, const Labels& labels, double value) {
  absl::StrAppend(&text_, name);
  if (!labels.empty()) {
    text_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      absl::StrAppend(&text_, i > 0 ? "," : "", labels[i].first, "=\"", Escape(labels[i].second),
                      "\"");
    }
    text_ += '}';
  }
  if (value == std::floor(value) && std::fabs(value) < 9.0e15) {
    absl::StrAppend(&text_, " ", static_cast<int64_t>(value), "\n");
  } else {
    absl::StrAppend(&text_, " ", absl::StrFormat("%.9g", value), "\n");
  }
}

struct MetricsServer::Client {
  MetricsServer* owner;
  uv_tcp_t stream;
  uint64_t accepted_ms;
  std::string request;
  std::string response;
  uv_write_t write;
  bool answered = false;
};

MetricsServer::MetricsServer(uv_loop_t* loop, std::function<std::string()> render)
    : loop_(loop), render_(std::move(render)) {
  server_.data = this;
  sweep_.data = this;
}

absl::Status MetricsServer::Listen(const sockets::Endpoint& endpoint) {
  if (const int rc = uv_tcp_init(loop_, &server_); rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", endpoint.ToString(), ": ", uv_strerror(rc)));
  }
  int rc = uv_tcp_bind(&server_, endpoint.sockaddr_ptr(), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server_), 64, &MetricsServer::OnConnection);
  }
  if (rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
    return absl::UnavailableError(
        absl::StrCat("cannot serve metrics on ", endpoint.ToString(), ": ", uv_strerror(rc)));
  }
  if (rc = uv_timer_init(loop_, &sweep_); rc != 0) {
    uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
    return absl::UnavailableError(absl::StrCat("metrics timer: ", uv_strerror(rc)));
  }
  uv_timer_start(&sweep_, &MetricsServer::OnSweep, 1000, 1000);
  listening_ = true;
  return absl::OkStatus();
}

void MetricsServer::Close() {
  if (!listening_) return;
  listening_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&server_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sweep_), nullptr);
  for (Client* client : std::vector<Client*>(clients_.begin(), clients_.end())) {
    CloseClient(client);
  }
}

void MetricsServer::CloseClient(Client* client) {
  auto* handle = reinterpret_cast<uv_handle_t*>(&client->stream);
  if (uv_is_closing(handle)) return;
  // A write under way is cancelled; its callback comes first.
  uv_close(handle, [](uv_handle_t* closed) {
    auto* c = static_cast<Client*>(closed->data);
    c->owner->clients_.erase(c);
    delete c;
  });
}

void MetricsServer::OnSweep(uv_timer_t* timer) {
  auto* self = static_cast<MetricsServer*>(timer->data);
  const uint64_t now = uv_now(self->loop_);
  for (Client* client : std::vector<Client*>(self->clients_.begin(), self->clients_.end())) {
    if (now - client->accepted_ms >= kRequestTimeoutMs) self->CloseClient(client);
  }
}

void MetricsServer::OnConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<MetricsServer*>(server->data);
  if (status < 0) return;
  auto* client = new Client{self, {}, uv_now(self->loop_), {}, {}, {}, false};
  if (uv_tcp_init(self->loop_, &client->stream) != 0) {
    delete client;  // the connection waits in the backlog for the next try
    return;
  }
  client->stream.data = client;
  self->clients_.insert(client);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&client->stream)) != 0 ||
      self->clients_.size() > kMaxClients) {
    self->CloseClient(client);
    return;
  }
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&client->stream),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static thread_local char buffer[2048];
        *buf = uv_buf_init(buffer, sizeof(buffer));
      },
      [](uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
        auto* c = static_cast<Client*>(stream->data);
        if (c->answered) return;
        if (nread < 0 || c->request.size() + static_cast<size_t>(nread) > kMaxRequest) {
          c->owner->CloseClient(c);
          return;
        }
        c->request.append(buf->base, static_cast<size_t>(nread));
        if (c->request.find("\r\n\r\n") == std::string::npos) return;
        c->answered = true;
        uv_read_stop(stream);
        const bool metrics =
            c->request.starts_with("GET /metrics ") || c->request.starts_with("GET /metrics?");
        const std::string body = metrics ? c->owner->render_() : "not found; try /metrics\n";
        c->response =
            absl::StrCat(metrics ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 404 Not Found\r\n",
                         "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n",
                         "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
        c->write.data = c;
        uv_buf_t out = uv_buf_init(c->response.data(), c->response.size());
        uv_write(&c->write, stream, &out, 1, [](uv_write_t* req, int) {
          auto* done = static_cast<Client*>(req->data);
          done->owner->CloseClient(done);
        });
      });
}

}  // namespace agility::daemon
