#include "daemon/server.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "daemon/log.h"
#include "dns/name.h"
#include "dns/query.h"
#include "dns/transfer_out.h"
#include "sockets/socket_setup.h"
#include "sockets/udp_ring.h"

namespace agility::daemon {
namespace {

// A zone transfer under way on one TCP connection: its snapshot stays alive
// until the last message is written.
class TransferStream final : public sockets::ResponseStream {
 public:
  TransferStream(std::shared_ptr<const Snapshot> snapshot, const dns::Zone& zone,
                 const uint8_t* query, const dns::Query& q, std::optional<dns::TsigRequest> tsig,
                 std::vector<const dns::ZoneDiff*> diffs)
      : snapshot_(std::move(snapshot)),
        writer_(zone, query, q, std::move(tsig), std::move(diffs)) {}
  size_t Next(uint8_t* out) override { return writer_.Next(out); }

 private:
  std::shared_ptr<const Snapshot> snapshot_;
  dns::TransferWriter writer_;
};

// The question's type, or 0 when there is no sound question.
uint16_t QuestionType(const uint8_t* query, size_t size) {
  if (size < dns::kHeaderSize || dns::ReadU16(query + 4) != 1) return 0;
  const size_t end = dns::SkipPacketName(query, size, dns::kHeaderSize);
  return end != 0 && end + 4 <= size ? dns::ReadU16(query + end) : 0;
}

// transfer.allow: the client's address in a rule's prefix, signed with the
// rule's key when it names one.
bool TransferAllowed(const config::TransferConfig& transfer, const sockaddr* client,
                     absl::string_view key) {
  if (client == nullptr) return false;
  const uint8_t* address = nullptr;
  bool ipv4 = client->sa_family == AF_INET;
  if (ipv4) {
    address =
        reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in*>(client)->sin_addr);
  } else if (client->sa_family == AF_INET6) {
    address =
        reinterpret_cast<const uint8_t*>(&reinterpret_cast<const sockaddr_in6*>(client)->sin6_addr);
  } else {
    return false;
  }
  for (const config::TransferAllow& rule : transfer.allow) {
    if (rule.prefix.ipv4 != ipv4 || !rule.prefix.Contains(address)) continue;
    if (rule.key.empty()) return true;
    const auto wire = dns::NameFromText(rule.key);
    if (wire.ok() && *wire == key) return true;
  }
  return false;
}

}  // namespace

class Worker final : public sockets::PacketHandler {
 public:
  // `ring`: UDP through io_uring (sockets::UdpRing), else recvmmsg.
  Worker(int index, SnapshotHolder& snapshots, const config::ServerConfig& config, bool ring,
         sockets::TcpAdmission& tcp_admission, dns::RateLimiter* rate_limiter,
         const NotifyHandler* notify, dnstap::WorkerLog* dnstap)
      : index_(index),
        ring_(ring),
        snapshots_(snapshots),
        identity_(config.identity),
        version_(config.version),
        tcp_options_{config.tcp_idle_timeout_ms, config.tcp_query_timeout_ms,
                     config.tcp_max_unsent_bytes, 1024},
        tcp_admission_(tcp_admission),
        rate_limiter_(rate_limiter),
        notify_(notify),
        dnstap_(dnstap),
        signer_(static_cast<size_t>(config.dnssec_cache_mb) * (1 << 20) /
                static_cast<size_t>(std::max(config.workers, 1))) {
    options_.max_udp_size = config.max_udp_size;
    options_.identity = identity_;
    options_.version = version_;
    batch_wait_ = config.udp_batch_wait;
    // A loop or an async handle that cannot be made (no descriptors left) is
    // reported by StartListeners, before any thread starts.
    init_error_ = uv_loop_init(&loop_);
    stop_.data = this;
    if (init_error_ == 0) init_error_ = uv_async_init(&loop_, &stop_, &Worker::OnStop);
    refresh_.data = this;
    if (init_error_ == 0) init_error_ = uv_async_init(&loop_, &refresh_, &Worker::OnRefresh);
  }

  void AddSockets(int udp_fd, int tcp_fd) {
    udp_fds_.push_back(udp_fd);
    tcp_.push_back(std::make_unique<sockets::TcpListener>(&loop_, tcp_fd, tcp_options_,
                                                          tcp_admission_, stats_.tcp, *this));
  }

  absl::Status StartListeners() {
    if (init_error_ != 0) return Error("event loop", init_error_);
    if (!ring_) {
      if (const int rc = StartUdpListeners(); rc != 0) return Error("udp", rc);
    }
    for (auto& tcp : tcp_) {
      if (const int rc = tcp->Start(); rc != 0) return Error("tcp", rc);
    }
    return absl::OkStatus();
  }

  void Run() {
    thread_ = std::thread([this] {
      if (ring_) {
        // Made here: the ring has one issuer, this thread.
        auto ring = sockets::UdpRing::Create(&loop_, *this, batch_wait_, udp_fds_);
        if (ring.ok()) {
          (*ring)->Run();
          ring->reset();  // closes the sockets before the loop goes
          uv_loop_close(&loop_);
          return;
        }
        Log(LogLevel::kWarning, absl::StrCat("worker ", index_, ": ", ring.status().message(),
                                             ": UDP through recvmmsg"));
        if (const int rc = StartUdpListeners(); rc != 0) {
          Log(LogLevel::kError, Error("udp", rc).message());
        }
      }
      uv_run(&loop_, UV_RUN_DEFAULT);
      uv_loop_close(&loop_);
    });
  }

  void Stop() {
    uv_async_send(&stop_);
    if (thread_.joinable()) thread_.join();
  }

  // A new snapshot is out: take it now, even without traffic, so that an
  // idle worker does not keep the old one (and its zones) alive.
  void Refresh() { uv_async_send(&refresh_); }

  const WorkerStats& stats() const { return stats_; }
  const dns::OnlineSigner& signer() const { return signer_; }

  void BeginBatch() override {
    if (snapshots_.generation() != generation_) {
      snapshot_ = snapshots_.Get();
      generation_ = snapshot_->generation;
    }
  }

  size_t Handle(const uint8_t* query, size_t size, dns::Transport transport, const sockaddr* client,
                uint8_t* out) override {
    const size_t sent = Route(query, size, transport, client, out);
    if (dnstap_ != nullptr && dnstap_->Sampled()) [[unlikely]] {
      dnstap_->Log(client, transport == dns::Transport::kTcp, {query, size}, {out, sent});
    }
    return sent;
  }

  std::unique_ptr<sockets::ResponseStream> TakeStream() override { return std::move(stream_); }

  void CountSendDrop(size_t count) override { stats_.send_drops.Add(count); }

 private:
  // The first message of a zone transfer the client may have, the rest in
  // stream_; 0 when it may not (the responder then says why: REFUSED,
  // NOTAUTH).
  size_t Transfer(const uint8_t* query, size_t size, const sockaddr* client, uint8_t* out) {
    dns::Query q;
    if (dns::ParseQuery(query, size, q) != dns::QueryStatus::kOk ||
        q.qclass != dns::rr_class::kIn) {
      return 0;
    }
    std::optional<dns::TsigRequest> tsig;
    if (q.tsig_owner != 0) {
      if (snapshot_->keyring == nullptr) return 0;
      tsig = dns::CheckTsig(query, size, q.tsig_owner, q.tsig_rdata, *snapshot_->keyring);
      if (tsig->error != 0) return 0;
    }
    if (!TransferAllowed(snapshot_->config.transfer, client,
                         tsig.has_value() ? dns::TsigKeyName(*tsig->key) : absl::string_view())) {
      return 0;
    }
    const absl::string_view qname = dns::AsChars(q.qname, q.qname_size);
    dns::LabelOffsets labels;
    dns::ComputeLabelOffsets(qname, labels);
    const dns::ServedZone* served = snapshot_->zones.FindBest(qname, labels);
    if (served == nullptr || served->zone->apex() != qname || served->unavailable()) {
      return 0;
    }
    // IXFR from the journal when it reaches back to the client's serial.
    std::vector<const dns::ZoneDiff*> diffs;
    if (q.qtype == dns::type::kIxfr && q.has_ixfr_serial) {
      if (const auto it = snapshot_->journals.find(qname); it != snapshot_->journals.end()) {
        diffs = it->second->From(q.ixfr_serial);
        if (!diffs.empty() && diffs.back()->to_serial != served->zone->serial()) diffs.clear();
      }
    }
    const bool incremental = !diffs.empty();
    auto stream = std::make_unique<TransferStream>(snapshot_, *served->zone, query, q, tsig,
                                                   std::move(diffs));
    const size_t first = stream->Next(out);
    if (first == 0) return 0;
    stream_ = std::move(stream);
    stats_.transfers_out.Add();
    if (incremental) stats_.transfers_out_incremental.Add();
    stats_.queries[1][RcodeSlot(0)][QtypeSlot(q.qtype)].Add();
    return first;
  }

  // A NOTIFY, a zone transfer (whose first message this returns, the rest
  // going to stream_), or a query for the responder.
  size_t Route(const uint8_t* query, size_t size, dns::Transport transport, const sockaddr* client,
               uint8_t* out) {
    if (dns::IsNotify(query, size)) [[unlikely]] {
      return Notify(query, size, transport, client, out);
    }
    if (transport == dns::Transport::kTcp) {
      const uint16_t qtype = QuestionType(query, size);
      if (qtype == dns::type::kAxfr || qtype == dns::type::kIxfr) [[unlikely]] {
        if (const size_t first = Transfer(query, size, client, out); first != 0) return first;
        stats_.transfers_refused.Add();
      }
    }
    return RateLimitedAnswer(query, size, transport, client, out);
  }

  // The answer to send (Respond's, or what rate limiting makes of it); 0:
  // none.
  size_t RateLimitedAnswer(const uint8_t* query, size_t size, dns::Transport transport,
                           const sockaddr* client, uint8_t* out) {
    policy::PoolDrawer drawer(*snapshot_->table, rng_, index_);
    dns::ResponseInfo info;
    std::optional<dns::CookieContext> cookies;
    if (snapshot_->cookies != nullptr) {
      cookies.emplace(*snapshot_->cookies, client, static_cast<uint32_t>(time(nullptr)));
    }
    const size_t response =
        dns::Respond(query, size, transport, snapshot_->zones, drawer, options_, out, &info,
                     &signer_, snapshot_->keyring.get(), cookies ? &*cookies : nullptr);
    const int tcp = transport == dns::Transport::kTcp ? 1 : 0;
    if (response == 0) {
      stats_.dropped[tcp].Add();
      return 0;
    }
    stats_.queries[tcp][RcodeSlot(info.rcode)][QtypeSlot(info.qtype)].Add();
    if (info.pool_answer) stats_.pool_answers.Add();
    if (info.truncated) stats_.truncated.Add();
    if (info.cookie != dns::CookieCheck::kNone) {
      stats_.cookies[info.cookie == dns::CookieCheck::kValid ? 1 : 0].Add();
    }
    // A valid server cookie proves the source address, as TCP does: such
    // clients are not rate limited (RFC 7873 §5.3).
    if (rate_limiter_ != nullptr && transport == dns::Transport::kUdp &&
        info.cookie != dns::CookieCheck::kValid) {
      switch (rate_limiter_->Check(client, info.kind, info.RateLimitName(), uv_now(&loop_))) {
        case dns::RateLimiter::Verdict::kSend:
          break;
        case dns::RateLimiter::Verdict::kSlip:
          // A client that knows cookies learns ours and comes back with
          // it; others are sent to TCP.
          if (info.cookie == dns::CookieCheck::kClientOnly) {
            stats_.rate_limited_bad_cookie.Add();
            return dns::BadCookie(out, info, options_.max_udp_size);
          }
          stats_.rate_limited_slipped.Add();
          return dns::Truncate(out, info);
        case dns::RateLimiter::Verdict::kDrop:
          stats_.rate_limited_dropped.Add();
          return 0;
      }
    }
    return response;
  }

  size_t Notify(const uint8_t* query, size_t size, dns::Transport transport, const sockaddr* client,
                uint8_t* out) {
    const int tcp = transport == dns::Transport::kTcp ? 1 : 0;
    const size_t response = dns::RespondToNotify(
        query, size, snapshot_->keyring.get(),
        [&](absl::string_view apex, absl::string_view key) {
          return notify_ != nullptr && *notify_ && (*notify_)(apex, client, key);
        },
        out, tcp ? dns::kMaxMessageSize : options_.max_udp_size);
    if (response == 0) {
      stats_.dropped[tcp].Add();
      return 0;
    }
    stats_.queries[tcp][RcodeSlot(out[3] & 0xf)][QtypeSlot(dns::type::kSoa)].Add();
    return response;
  }

  int StartUdpListeners() {
    buffers_ = std::make_unique<sockets::UdpBuffers>();
    for (const int fd : udp_fds_) {
      udp_.push_back(
          std::make_unique<sockets::UdpListener>(&loop_, fd, *buffers_, *this, batch_wait_));
      if (const int rc = udp_.back()->Start(); rc != 0) return rc;
    }
    return 0;
  }

  absl::Status Error(absl::string_view what, int rc) {
    return absl::UnavailableError(
        absl::StrCat("worker ", index_, ": cannot start ", what, " listener: ", uv_strerror(rc)));
  }

  static void OnStop(uv_async_t* async) {
    auto* self = static_cast<Worker*>(async->data);
    for (auto& udp : self->udp_) udp->Close();
    for (auto& tcp : self->tcp_) tcp->Close();
    uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->refresh_), nullptr);
  }

  static void OnRefresh(uv_async_t* async) { static_cast<Worker*>(async->data)->BeginBatch(); }

  int index_;
  bool ring_;           // UDP through io_uring
  int init_error_ = 0;  // of the loop and its async handles
  SnapshotHolder& snapshots_;
  const std::string identity_, version_;  // what options_ points into
  std::shared_ptr<const Snapshot> snapshot_;
  uint64_t generation_ = UINT64_MAX;
  policy::Rng rng_;  // seeded from the OS
  dns::ResponderOptions options_;
  sockets::BatchWait batch_wait_;
  std::unique_ptr<sockets::UdpBuffers> buffers_;  // the UdpListeners'; none with a ring
  sockets::TcpOptions tcp_options_;
  sockets::TcpAdmission& tcp_admission_;
  dns::RateLimiter* rate_limiter_;  // shared by all workers; null: no rate limiting
  const NotifyHandler* notify_;     // the server's
  dnstap::WorkerLog* dnstap_;       // null: no dnstap logging
  std::unique_ptr<sockets::ResponseStream> stream_;  // of the transfer Handle just began
  dns::OnlineSigner signer_;                         // this worker's signatures and their cache
  uv_loop_t loop_;
  uv_async_t stop_;
  uv_async_t refresh_;
  std::vector<int> udp_fds_;  // the UdpListeners' or the UdpRing's
  std::vector<std::unique_ptr<sockets::UdpListener>> udp_;
  std::vector<std::unique_ptr<sockets::TcpListener>> tcp_;
  std::thread thread_;
  WorkerStats stats_;
};

Server::Server(SnapshotHolder& snapshots) : snapshots_(snapshots) {}

Server::~Server() { Stop(); }

namespace {

// Every admitted TCP connection holds a descriptor: make room for all of
// them (plus the listeners and spares) when the hard limit allows.
void RaiseDescriptorLimit(const config::ServerConfig& config) {
  const rlim_t wanted = static_cast<rlim_t>(config.tcp_max_connections) +
                        static_cast<rlim_t>(config.workers) * config.listen.size() * 2 + 256;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= wanted) return;
  const rlim_t previous = limit.rlim_cur;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
  if (limit.rlim_cur > previous) setrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < wanted) {
    Log(LogLevel::kWarning,
        absl::StrCat("open file limit ", limit.rlim_cur, " is below the ", wanted,
                     " that server.tcp_max_connections ", config.tcp_max_connections,
                     " needs; connections beyond it are closed unanswered"));
  }
}

}  // namespace

absl::Status Server::Start(const config::ServerConfig& config,
                           const config::RateLimitSettings& rate_limit,
                           const config::DnstapSettings& dnstap) {
  RaiseDescriptorLimit(config);
  tcp_admission_ = std::make_unique<sockets::TcpAdmission>(config.tcp_max_connections,
                                                           config.tcp_max_connections_per_client);
  if (rate_limit.enabled) rate_limiter_ = std::make_unique<dns::RateLimiter>(rate_limit.limits);
  if (config.udp_queries_per_address != 0) {
    auto filter = sockets::QueryFilter::Load(config.udp_queries_per_address);
    if (!filter.ok()) {
      return absl::Status(filter.status().code(), absl::StrCat("server.udp_queries_per_address: ",
                                                               filter.status().message()));
    }
    query_filter_ = *std::move(filter);
  }
  if (dnstap.enabled) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    auto sink = dnstap::Sink::Open(
        {dnstap.socket, dnstap.file, dnstap.queries, dnstap.responses, dnstap.sample,
         config.identity.empty() ? std::string(host) : config.identity, "agility " AGILITY_VERSION},
        config.workers);
    if (!sink.ok()) return sink.status();
    dnstap_ = *std::move(sink);
    Log(absl::StrCat("dnstap: logging to ", dnstap.file.empty() ? "socket " : "file ",
                     dnstap.file.empty() ? dnstap.socket : dnstap.file));
  }
  bool ring = false;
  if (config.udp_io != sockets::UdpIo::kRecvmmsg) {
    const absl::Status usable = sockets::UdpRing::Probe();
    ring = usable.ok();
    if (!ring && config.udp_io == sockets::UdpIo::kIoUring) {
      return absl::Status(usable.code(),
                          absl::StrCat("server.udp_io: io_uring: ", usable.message()));
    }
    if (!ring) {
      Log(LogLevel::kWarning,
          absl::StrCat("io_uring unavailable (", usable.message(), "): UDP through recvmmsg"));
    }
  }
  for (int i = 0; i < config.workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, snapshots_, config, ring, *tcp_admission_,
                                                rate_limiter_.get(), &notify_,
                                                dnstap_ ? dnstap_->worker(i) : nullptr));
    for (const sockets::Endpoint& endpoint : config.listen) {
      auto udp = sockets::OpenUdpSocket(endpoint);
      if (!udp.ok()) return udp.status();
      if (query_filter_ != nullptr) {
        if (auto status = query_filter_->AttachTo(*udp); !status.ok()) {
          close(*udp);
          return status;
        }
      }
      auto tcp = sockets::OpenTcpListener(endpoint, 1024);
      if (!tcp.ok()) {
        close(*udp);
        return tcp.status();
      }
      workers_.back()->AddSockets(*udp, *tcp);
      if (i == 0) {
        dns_sockets_.push_back(*udp);
        dns_sockets_.push_back(*tcp);
      }
    }
    if (auto status = workers_.back()->StartListeners(); !status.ok()) return status;
  }
  for (auto& worker : workers_) worker->Run();
  std::vector<std::string> listen;
  for (const auto& endpoint : config.listen) listen.push_back(endpoint.ToString());
  Log(absl::StrCat("serving on ", absl::StrJoin(listen, ", "), " (udp+tcp) with ", config.workers,
                   " workers, UDP through ", ring ? "io_uring" : "recvmmsg"));
  return absl::OkStatus();
}

void Server::SnapshotPublished() {
  for (auto& worker : workers_) worker->Refresh();
}

void Server::Stop() {
  for (auto& worker : workers_) worker->Stop();
  workers_.clear();
  dns_sockets_.clear();
  // After the workers: writes out what they logged, unless the collector
  // does not read it in time.
  if (dnstap_ != nullptr && !dnstap_->Close(std::chrono::seconds(2))) {
    Log(LogLevel::kWarning,
        "dnstap: the collector stopped reading; what it has not taken is left unwritten");
  }
  dnstap_.reset();
}

ServerTotals Server::Totals() const {
  ServerTotals t;
  for (const auto& worker : workers_) {
    const WorkerStats& s = worker->stats();
    for (int x = 0; x < 2; ++x) {
      for (int r = 0; r < kRcodeSlots; ++r) {
        for (int q = 0; q < kQtypeSlots; ++q) t.queries[x][r][q] += s.queries[x][r][q].Get();
      }
      t.dropped[x] += s.dropped[x].Get();
    }
    t.pool_answers += s.pool_answers.Get();
    t.truncated += s.truncated.Get();
    const dns::OnlineSigner& signer = worker->signer();
    t.signatures_made += signer.stats().made.Get();
    t.signature_cache_hits += signer.stats().hits.Get();
    t.signature_cache_misses += signer.stats().misses.Get();
    t.signature_cache_evictions += signer.stats().evictions.Get();
    t.signing_failures += signer.stats().failures.Get();
    t.signature_cache_bytes += signer.cache().bytes();
    t.signature_cache_capacity += signer.cache().capacity();
    t.send_drops += s.send_drops.Get();
    t.transfers_out += s.transfers_out.Get();
    t.transfers_refused += s.transfers_refused.Get();
    t.transfers_out_incremental += s.transfers_out_incremental.Get();
    t.rate_limited_dropped += s.rate_limited_dropped.Get();
    t.rate_limited_slipped += s.rate_limited_slipped.Get();
    t.rate_limited_bad_cookie += s.rate_limited_bad_cookie.Get();
    for (int valid = 0; valid < 2; ++valid) t.cookies[valid] += s.cookies[valid].Get();
    t.tcp_rejected_total += s.tcp.rejected_total.Get();
    t.tcp_evicted += s.tcp.evicted.Get();
    t.tcp_rejected_per_client += s.tcp.rejected_per_client.Get();
    for (int k = 0; k < sockets::kTcpTimeoutKinds; ++k)
      t.tcp_timeouts[k] += s.tcp.timeouts[k].Get();
    t.tcp_read_pauses += s.tcp.read_pauses.Get();
  }
  if (tcp_admission_ != nullptr) t.tcp_connections = tcp_admission_->open();
  if (dnstap_ != nullptr) {
    t.dnstap = true;
    t.dnstap_sent = dnstap_->sent();
    t.dnstap_dropped = dnstap_->dropped();
  }
  if (query_filter_ != nullptr) {
    const sockets::QueryFilter::Counts counts = query_filter_->Read();
    t.query_filter = true;
    t.query_filter_passed = counts.passed;
    t.query_filter_dropped = counts.dropped;
  }
  return t;
}

uint64_t ServerTotals::Queries(int transport) const {
  uint64_t n = dropped[transport];
  for (int r = 0; r < kRcodeSlots; ++r) {
    for (int q = 0; q < kQtypeSlots; ++q) n += queries[transport][r][q];
  }
  return n;
}

uint64_t ServerTotals::Rcode(int slot) const {
  uint64_t n = 0;
  for (int x = 0; x < 2; ++x) {
    for (int q = 0; q < kQtypeSlots; ++q) n += queries[x][slot][q];
  }
  return n;
}

int QtypeSlot(uint16_t qtype) {
  for (int i = 0; i < kQtypeSlots - 1; ++i) {
    if (kCountedQtypes[i] == qtype) return i;
  }
  return kQtypeSlots - 1;
}

int RcodeSlot(uint16_t rcode) {
  if (rcode <= dns::rcode::kYxDomain) return rcode;
  if (rcode == dns::rcode::kNotAuth) return 7;
  return rcode == dns::rcode::kBadVers ? 8 : 9;
}

const char* QtypeSlotName(int slot) {
  static constexpr const char* kNames[] = {"A",   "NS",   "CNAME", "SOA", "PTR", "MX",
                                           "TXT", "AAAA", "SRV",   "DS",  "ANY", "other"};
  return kNames[slot];
}

const char* RcodeSlotName(int slot) {
  static constexpr const char* kNames[] = {"NOERROR", "FORMERR",  "SERVFAIL", "NXDOMAIN", "NOTIMP",
                                           "REFUSED", "YXDOMAIN", "NOTAUTH",  "BADVERS",  "other"};
  static_assert(std::size(kNames) == kRcodeSlots);
  return kNames[slot];
}

}  // namespace agility::daemon
