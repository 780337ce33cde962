// Prometheus text exposition: a builder for the format and a minimal HTTP
// server that answers GET /metrics on a loopback address.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "sockets/endpoint.h"

namespace agility::daemon {

// Writes one metric family at a time: HELP and TYPE once, then samples.
class PrometheusText {
 public:
  using Labels = std::vector<std::pair<absl::string_view, std::string>>;

  void Family(absl::string_view name, absl::string_view type, absl::string_view help);
  void Sample(absl::string_view name, const Labels& labels, double value);
  void Sample(absl::string_view name, double value) { Sample(name, {}, value); }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

// The /metrics endpoint: one request per connection, at most kMaxClients
// connections at once, each closed kRequestTimeoutMs after it was accepted
// whatever it is doing (a slow client cannot hold a descriptor for long).
class MetricsServer {
 public:
  MetricsServer(uv_loop_t* loop, std::function<std::string()> render);
  absl::Status Listen(const sockets::Endpoint& endpoint);
  // Closes the listener and every connection: nothing is left to keep the
  // loop running.
  void Close();

  static constexpr size_t kMaxClients = 16;
  static constexpr uint64_t kRequestTimeoutMs = 5000;

 private:
  struct Client;
  static void OnConnection(uv_stream_t* server, int status);
  static void OnSweep(uv_timer_t* timer);
  void CloseClient(Client* client);

  uv_loop_t* loop_;
  std::function<std::string()> render_;
  uv_tcp_t server_;
  uv_timer_t sweep_;
  bool listening_ = false;
  std::unordered_set<Client*> clients_;
};

}  // namespace agility::daemon
