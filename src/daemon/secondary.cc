#include "daemon/secondary.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "daemon/log.h"
#include "daemon/snapshot.h"
#include "daemon/zone_state.h"
#include "dns/catalog.h"
#include "dns/name.h"
#include "dns/transfer.h"
#include "dns/wire.h"
#include "dns/zone_file.h"
#include "dns/zone_patch.h"
#include "dns/zone_text.h"
#include "sockets/tcp_client.h"

namespace agility::daemon {
namespace {

constexpr int kConnectTimeoutMs = 5000;
constexpr int kIdleTimeoutMs = 10000;  // between two octets of a transfer
// A zone without a copy tries again soon, backing off to this.
constexpr int64_t kFirstRetryMs = 1000;
constexpr int64_t kMaxRetryMs = 60000;

// The clock SecondaryState counts in.
int64_t SteadyMs() { return dns::SteadyClockMs(); }

// The SOA timers of a zone, in milliseconds (RFC 1035 §3.3.13), each at
// least a second.
struct SoaTimers {
  int64_t refresh_ms = 0, retry_ms = 0, expire_ms = 0;
};

SoaTimers TimersOf(const dns::Zone& zone) {
  const dns::RrsetView soa = zone.apex_node().Find(dns::type::kSoa);
  const uint8_t* rdata = soa.records() + 2;
  const size_t names = dns::WireNameLength(rdata);
  const uint8_t* numbers = rdata + names + dns::WireNameLength(rdata + names);
  const auto ms = [](uint32_t seconds) { return std::max<int64_t>(1000, int64_t{seconds} * 1000); };
  return {ms(dns::ReadU32(numbers + 4)), ms(dns::ReadU32(numbers + 8)),
          ms(dns::ReadU32(numbers + 12))};
}

absl::string_view SoaRdata(const dns::Zone& zone) {
  const dns::RrsetView soa = zone.apex_node().Find(dns::type::kSoa);
  return dns::AsChars(soa.records() + 2, dns::ReadU16(soa.records()));
}

bool SameHost(const sockaddr* a, const sockaddr* b) {
  if (a->sa_family != b->sa_family) return false;
  if (a->sa_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(a)->sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in*>(b)->sin_addr.s_addr;
  }
  if (a->sa_family == AF_INET6) {
    return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr,
                       &reinterpret_cast<const sockaddr_in6*>(b)->sin6_addr, sizeof(in6_addr)) == 0;
  }
  return false;
}

const char* KindName(dns::TransferReader::Result kind) {
  switch (kind) {
    case dns::TransferReader::Result::kUpToDate:
      return "up to date";
    case dns::TransferReader::Result::kFull:
      return "AXFR";
    case dns::TransferReader::Result::kIncremental:
      return "IXFR";
    case dns::TransferReader::Result::kPending:
      break;
  }
  return "incomplete";
}

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// `copy` with `steps` applied: in place when an overlay can hold them
// (PatchZone), else rebuilt whole from text, which `text` then holds for
// saving. `how` says which, and why.
absl::StatusOr<std::shared_ptr<const dns::Zone>> ApplySteps(
    std::shared_ptr<const dns::Zone> copy, const std::vector<const dns::ZoneDiff*>& steps,
    const std::string& source, std::string* text, std::string* how) {
  auto patched = dns::PatchZone(copy, steps);
  if (patched.ok()) {
    *how = "applied in place";
    return std::shared_ptr<const dns::Zone>(*std::move(patched));
  }
  *how = absl::StrCat("rebuilt whole (", patched.status().message(), ")");
  std::vector<dns::ZoneDiff> diffs;
  for (const dns::ZoneDiff* step : steps) diffs.push_back(*step);
  dns::ZoneTextWriter writer;
  if (auto status = dns::ApplyDiffs(*copy, diffs, writer); !status.ok()) return status;
  auto zone = dns::ParseZoneText(writer.text(), source, dns::NameToText(copy->apex()));
  if (!zone.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the transferred zone fails our checks: ", zone.status().message()));
  }
  *text = std::move(writer.text());
  return std::shared_ptr<const dns::Zone>(*std::move(zone));
}

}  // namespace

struct Secondaries::Zone {
  std::string apex;  // lowercase wire
  std::string name;  // presentation form, for logs
  std::vector<Primary> primaries;
  std::shared_ptr<const dns::Zone> copy;  // null: none yet
  std::shared_ptr<const dns::Zone> placeholder;
  std::shared_ptr<dns::SecondaryState> state = std::make_shared<dns::SecondaryState>();
  int64_t refresh_at = 0;  // steady ms
  int64_t expire_at = 0;   // steady ms; 0: no copy
  int64_t backoff_ms = kFirstRetryMs;
  bool busy = false;            // a refresh is under way, off the lock
  bool notified_again = false;  // a NOTIFY came during it
  // The steps IXFRs brought, for secondaries of ours that ask by IXFR.
  std::shared_ptr<const dns::Journal> journal;
  // The serial of the copy saved as <zone>.zone: the journal leads on from
  // it to the copy in force (steps applied in place are saved only there).
  uint32_t saved_serial = 0;
  std::string last_transfer;  // what the last success brought
  std::string last_error;
  // A catalog zone (RFC 9432): its member zones are followed too, from the
  // catalog's primaries.
  bool catalog = false;
  size_t max_zones = 0;
  std::string member_of;  // a member zone: its catalog's apex; else empty
  bool removed = false;   // dropped by its catalog: its state goes
};

struct Secondaries::Outcome {
  absl::Status status;
  dns::TransferReader::Result kind = dns::TransferReader::Result::kPending;
  std::shared_ptr<const dns::Zone> zone;  // the new copy (AXFR, IXFR)
  std::string text;  // its text, for the state directory; empty when applied in place
  std::vector<dns::ZoneDiff> diffs;  // IXFR: the steps, for our own journal
  std::string how;                   // IXFR: in place, or rebuilt and why
  std::string from;                  // the primary's label
  size_t messages = 0, records = 0;
  double seconds = 0;   // the whole refresh
  double apply_ms = 0;  // compiling or applying what came
  // After Save: the journal leading to the new copy, and the saved serial.
  std::shared_ptr<const dns::Journal> journal;
  uint32_t saved_serial = 0;
};

Secondaries::Secondaries(const StateDir* state, std::function<void()> changed)
    : state_(state), changed_(std::move(changed)) {
  cancel_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

Secondaries::~Secondaries() {
  Stop();
  if (cancel_fd_ >= 0) close(cancel_fd_);
}

std::string Secondaries::FileName(absl::string_view apex) const {
  return ZoneFileStem(apex) + ".zone";
}

std::unique_ptr<Secondaries::Zone> Secondaries::NewZone(const std::string& apex,
                                                        size_t journal_bytes) const {
  auto zone = std::make_unique<Zone>();
  zone->apex = apex;
  zone->name = dns::NameToText(apex);
  const std::string origin = zone->name;
  auto placeholder =
      dns::ParseZoneText(absl::StrCat(origin, " 0 IN SOA invalid. invalid. 0 0 0 0 0\n", origin,
                                      " 0 IN NS invalid.\n"),
                         absl::StrCat(origin, " awaiting its first transfer"), origin);
  zone->placeholder = placeholder.ok() ? *std::move(placeholder) : nullptr;
  const std::string path = state_ != nullptr ? state_->FilePath(FileName(apex)) : "";
  struct stat file;
  if (state_ != nullptr && state_->status().ok() && stat(path.c_str(), &file) == 0) {
    auto saved = dns::LoadZoneFile(path);
    if (saved.ok() && (*saved)->apex() == apex) {
      zone->copy = *std::move(saved);
      zone->saved_serial = zone->copy->serial();
      zone->journal = ReadJournalOnFrom(*state_, *zone->copy, journal_bytes);
      if (zone->journal != nullptr && zone->journal->last_serial() != zone->copy->serial()) {
        // Steps applied in place after the copy was saved.
        std::string text, how;
        auto ahead =
            ApplySteps(zone->copy, zone->journal->From(zone->copy->serial()), path, &text, &how);
        if (ahead.ok()) {
          Log(absl::StrCat("secondary ", zone->name, ": the saved copy, serial ",
                           zone->saved_serial, ", brought to serial ", (*ahead)->serial(),
                           " by its journal (", how, ")"));
          zone->copy = *std::move(ahead);
        } else {
          Log(LogLevel::kWarning,
              absl::StrCat("secondary ", zone->name, ": the journal's steps from serial ",
                           zone->saved_serial, " do not apply (", ahead.status().message(),
                           "); serving the saved copy"));
          zone->journal = nullptr;
        }
      }
      // The file's time is the last contact with a primary (a refresh
      // that finds nothing new touches it): expire counts from there.
      const int64_t age_ms = absl::ToUnixMillis(absl::Now()) -
                             (int64_t{file.st_mtim.tv_sec} * 1000 + file.st_mtim.tv_nsec / 1000000);
      zone->expire_at = SteadyMs() + TimersOf(*zone->copy).expire_ms - std::max<int64_t>(0, age_ms);
      zone->state->expires_at_ms.store(zone->expire_at);
      zone->state->unavailable.store(zone->expire_at <= SteadyMs());
      Log(absl::StrCat("secondary ", zone->name, ": serving the saved copy, serial ",
                       zone->copy->serial(), zone->state->unavailable.load() ? " (expired)" : "",
                       ", from ", path));
    } else {
      Log(LogLevel::kWarning,
          absl::StrCat("secondary ", zone->name, ": the saved copy is not usable: ",
                       saved.ok() ? "another zone" : saved.status().message()));
    }
  }
  return zone;
}

void Secondaries::Configure(const config::Config& config) {
  // The configuration's keys were checked when it was read.
  auto keyring = BuildKeyring(config);
  if (!keyring.ok()) keyring = dns::TsigKeyring::Build({});
  // Zones new to us start from their saved copies, read off the lock: a
  // NOTIFY must not wait for a big zone to load.
  absl::flat_hash_map<std::string, std::unique_ptr<Zone>> added;
  {
    std::lock_guard lock(mutex_);
    for (const config::SecondaryZone& wanted : config.secondaries) {
      const bool known = std::any_of(zones_.begin(), zones_.end(),
                                     [&](const auto& zone) { return zone->apex == wanted.apex; });
      if (!known) added[wanted.apex] = nullptr;
    }
  }
  const size_t journal_bytes = size_t{config.transfer.journal_mb} << 20;
  for (auto& [apex, zone] : added) zone = NewZone(apex, journal_bytes);
  std::lock_guard lock(mutex_);
  keyring_ = *std::move(keyring);
  journal_bytes_ = journal_bytes;
  std::vector<std::unique_ptr<Zone>> kept;
  for (const config::SecondaryZone& wanted : config.secondaries) {
    std::unique_ptr<Zone> zone;
    for (auto& existing : zones_) {
      if (existing != nullptr && existing->apex == wanted.apex) zone = std::move(existing);
    }
    if (zone == nullptr) {
      const auto it = added.find(wanted.apex);
      zone = it != added.end() && it->second != nullptr ? std::move(it->second)
                                                        : NewZone(wanted.apex, journal_bytes);
    }
    zone->catalog = wanted.catalog;
    zone->max_zones = wanted.max_zones;
    zone->member_of.clear();
    zone->primaries.clear();
    for (const std::string& name : wanted.primaries) {
      const config::Remote* remote = config::FindRemote(config, name);
      if (remote == nullptr) continue;
      Primary primary;
      primary.label = absl::StrCat(name, " (", remote->address.ToString(), ")");
      primary.address = remote->address;
      if (!remote->key.empty()) {
        auto key = dns::NameFromText(remote->key);
        if (key.ok()) primary.key = *key;
      }
      zone->primaries.push_back(std::move(primary));
    }
    kept.push_back(std::move(zone));
  }
  // Members of catalogs still followed stay; ApplyCatalog sorts them out.
  for (auto& member : zones_) {
    if (member == nullptr || member->member_of.empty()) continue;
    const bool catalog_kept = std::any_of(kept.begin(), kept.end(), [&](const auto& zone) {
      return zone->catalog && zone->apex == member->member_of;
    });
    if (catalog_kept) kept.push_back(std::move(member));
  }
  for (const auto& dropped : zones_) {
    if (dropped != nullptr && !dropped->busy) {
      Log(absl::StrCat("secondary ", dropped->name, ": no longer followed"));
    }
  }
  // A zone dropped while it refreshes is let go when the refresh ends.
  for (auto& dropped : zones_) {
    if (dropped != nullptr && dropped->busy) orphans_.push_back(std::move(dropped));
  }
  zones_ = std::move(kept);
  std::vector<Zone*> catalogs;
  for (const auto& zone : zones_) {
    if (zone->catalog) catalogs.push_back(zone.get());
  }
  for (Zone* catalog : catalogs) ApplyCatalog(*catalog);
  wake_.notify_one();
}

void Secondaries::ApplyCatalog(Zone& catalog) {
  if (catalog.copy == nullptr) return;  // nothing listed yet
  std::vector<std::string> wanted;
  {
    auto members = dns::ReadCatalog(*catalog.copy, catalog.max_zones);
    if (!members.ok()) {
      // A broken catalog changes nothing.
      Log(absl::StrCat(members.status().message(), "; the members in force stay"));
      for (const auto& zone : zones_) {
        if (zone->member_of == catalog.apex) wanted.push_back(zone->apex);
      }
    } else {
      for (const std::string& note : members->notes) Log(note);
      wanted = std::move(members->zones);
    }
  }
  const absl::flat_hash_set<std::string> listed(wanted.begin(), wanted.end());
  // Members no longer listed stop being served, and their state goes.
  for (auto& zone : zones_) {
    if (zone->member_of != catalog.apex || listed.contains(zone->apex)) continue;
    Log(absl::StrCat("catalog ", catalog.name, ": member ", zone->name,
                     " removed; no longer served, its state deleted"));
    zone->removed = true;
    RemoveState(zone->apex);
    if (zone->busy) orphans_.push_back(std::move(zone));  // Run removes what it saves
    zone = nullptr;
  }
  std::erase(zones_, nullptr);
  absl::flat_hash_map<std::string, Zone*> followed;
  for (const auto& zone : zones_) followed[zone->apex] = zone.get();
  for (const std::string& apex : wanted) {
    const auto it = followed.find(apex);
    if (it != followed.end()) {
      if (it->second->member_of == catalog.apex) {
        it->second->primaries = catalog.primaries;
      } else {
        Log(absl::StrCat("catalog ", catalog.name, ": member ", dns::NameToText(apex),
                         " is already followed otherwise; left out"));
      }
      continue;
    }
    auto member = NewZone(apex, journal_bytes_);
    member->member_of = catalog.apex;
    member->primaries = catalog.primaries;
    Log(absl::StrCat("catalog ", catalog.name, ": member ", member->name, " added"));
    followed[apex] = member.get();
    zones_.push_back(std::move(member));
  }
  wake_.notify_one();
}

void Secondaries::RemoveState(const std::string& apex) const {
  if (state_ == nullptr || !state_->status().ok()) return;
  unlink(state_->FilePath(FileName(apex)).c_str());
  RemoveJournal(*state_, apex);
}

std::vector<SecondaryCopy> Secondaries::Copies() const {
  std::lock_guard lock(mutex_);
  std::vector<SecondaryCopy> copies;
  for (const auto& zone : zones_) {
    copies.push_back({zone->copy != nullptr ? zone->copy : zone->placeholder, zone->state,
                      zone->journal, !zone->member_of.empty()});
  }
  return copies;
}

bool Secondaries::Notify(absl::string_view apex, const sockaddr* source, absl::string_view key) {
  std::lock_guard lock(mutex_);
  for (const auto& zone : zones_) {
    if (zone->apex != apex) continue;
    const bool from_primary =
        source != nullptr &&
        std::any_of(zone->primaries.begin(), zone->primaries.end(), [&](const Primary& primary) {
          return SameHost(primary.address.sockaddr_ptr(), source) && primary.key == key;
        });
    if (!from_primary) break;
    ++counters_.notifies_accepted;
    if (zone->busy) {
      zone->notified_again = true;
    } else {
      zone->refresh_at = 0;
      wake_.notify_one();
    }
    return true;
  }
  ++counters_.notifies_refused;
  return false;
}

void Secondaries::Start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Run(); });
}

void Secondaries::Stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (cancel_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = write(cancel_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
}

void Secondaries::Run() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const int64_t now = SteadyMs();
    Zone* due = nullptr;
    int64_t next = now + 60000;
    for (const auto& zone : zones_) {
      if (zone->copy != nullptr && zone->expire_at <= now && !zone->state->unavailable.load()) {
        zone->state->unavailable.store(true);
        Log(LogLevel::kWarning,
            absl::StrCat("secondary ", zone->name,
                         ": expired (no primary reached within the "
                         "SOA expire); answering SERVFAIL until a transfer succeeds"));
      }
      if (zone->copy != nullptr && zone->expire_at > now) next = std::min(next, zone->expire_at);
      if (zone->busy) continue;
      if (zone->refresh_at <= now && due == nullptr) {
        due = zone.get();
      } else {
        next = std::min(next, zone->refresh_at);
      }
    }
    if (due == nullptr) {
      wake_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(1, next - now)));
      continue;
    }
    due->busy = true;
    const std::string apex = due->apex;
    const std::vector<Primary> primaries = due->primaries;
    const std::shared_ptr<const dns::Zone> copy = due->copy;
    const std::shared_ptr<const dns::TsigKeyring> keyring = keyring_;
    const std::shared_ptr<const dns::Journal> journal = due->journal;
    const uint32_t saved_serial = due->saved_serial;
    const size_t journal_bytes = journal_bytes_;
    // A catalog's members come and go by the thousand, and a lost copy is
    // transferred again: theirs are written without fsync.
    const bool synced = due->member_of.empty();
    lock.unlock();
    Outcome outcome = Refresh(apex, primaries, copy, keyring);
    Save(apex, outcome, journal, saved_serial, journal_bytes, synced);
    lock.lock();
    due->busy = false;
    const bool followed = std::any_of(zones_.begin(), zones_.end(),
                                      [due](const auto& zone) { return zone.get() == due; });
    if (followed) {
      Finish(*due, std::move(outcome));
    } else {
      if (due->removed) RemoveState(due->apex);
      std::erase_if(orphans_, [due](const auto& zone) { return zone.get() == due; });
    }
  }
}

Secondaries::Outcome Secondaries::Refresh(const std::string& apex,
                                          const std::vector<Primary>& primaries,
                                          std::shared_ptr<const dns::Zone> copy,
                                          std::shared_ptr<const dns::TsigKeyring> keyring) {
  Outcome outcome;
  outcome.status = absl::FailedPreconditionError("no primary configured");
  for (const Primary& primary : primaries) {
    const auto start = std::chrono::steady_clock::now();
    // IXFR when we hold a copy (RFC 1995); an IXFR the primary cannot
    // serve, or answers badly, falls back to AXFR.
    outcome = TransferFrom(apex, primary, copy != nullptr ? dns::type::kIxfr : dns::type::kAxfr,
                           copy, *keyring);
    if (!outcome.status.ok() && copy != nullptr && !absl::IsCancelled(outcome.status) &&
        !absl::IsUnavailable(outcome.status) && !absl::IsDeadlineExceeded(outcome.status)) {
      Log(LogLevel::kWarning,
          absl::StrCat("secondary ", dns::NameToText(apex), ": IXFR from ", primary.label,
                       " failed (", outcome.status.message(), "); trying AXFR"));
      outcome = TransferFrom(apex, primary, dns::type::kAxfr, copy, *keyring);
    }
    outcome.from = primary.label;
    outcome.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (outcome.status.ok() || absl::IsCancelled(outcome.status)) break;
  }
  return outcome;
}

Secondaries::Outcome Secondaries::TransferFrom(const std::string& apex, const Primary& primary,
                                               uint16_t qtype,
                                               const std::shared_ptr<const dns::Zone>& copy,
                                               const dns::TsigKeyring& keyring) {
  Outcome outcome;
  const auto fail = [&outcome](absl::Status status) {
    outcome.status = std::move(status);
    return std::move(outcome);
  };
  std::unique_ptr<dns::TsigClient> tsig;
  if (!primary.key.empty()) {
    const dns::TsigKeyring::Key* key = keyring.Find(primary.key);
    if (key == nullptr) return fail(absl::FailedPreconditionError("its TSIG key is not defined"));
    tsig = std::make_unique<dns::TsigClient>(*key);
  }
  thread_local absl::BitGen random;
  const uint16_t id = absl::Uniform<uint16_t>(random);
  uint8_t query[1024];
  const size_t query_size = dns::WriteTransferQuery(
      apex, qtype, id, copy != nullptr ? SoaRdata(*copy) : absl::string_view(),
      copy != nullptr ? copy->apex_node().Find(dns::type::kSoa).ttl() : 0, tsig.get(), query,
      sizeof(query));
  if (query_size == 0) return fail(absl::InternalError("the request does not fit"));

  dns::ZoneTextWriter text;
  dns::TransferReader reader(
      apex, qtype, id, copy != nullptr ? std::optional<uint32_t>(copy->serial()) : std::nullopt,
      tsig.get(), [&text](const dns::TransferRecord& record) { return text.Add(record); });
  sockets::TcpClient connection(cancel_fd_);
  if (auto status = connection.Connect(primary.address, kConnectTimeoutMs); !status.ok()) {
    return fail(status);
  }
  if (auto status = connection.Send(query, query_size, kIdleTimeoutMs); !status.ok()) {
    return fail(status);
  }
  std::string message;
  while (!reader.done()) {
    if (auto status = connection.Receive(&message, kIdleTimeoutMs); !status.ok()) {
      return fail(
          absl::Status(status.code(), absl::StrCat(status.message(), " after ", reader.messages(),
                                                   " messages, ", reader.records(), " records")));
    }
    if (auto status = reader.Read(reinterpret_cast<const uint8_t*>(message.data()), message.size());
        !status.ok()) {
      return fail(status);
    }
  }
  outcome.kind = reader.result();
  outcome.messages = reader.messages();
  outcome.records = reader.records();
  if (outcome.kind == dns::TransferReader::Result::kUpToDate) return fail(absl::OkStatus());
  const std::string source = state_->FilePath(FileName(apex));
  const auto start = std::chrono::steady_clock::now();
  if (outcome.kind == dns::TransferReader::Result::kIncremental) {
    std::vector<const dns::ZoneDiff*> steps;
    for (const dns::ZoneDiff& diff : reader.diffs()) steps.push_back(&diff);
    auto zone = ApplySteps(copy, steps, source, &outcome.text, &outcome.how);
    if (!zone.ok()) return fail(zone.status());
    outcome.zone = *std::move(zone);
    outcome.diffs = std::move(reader.diffs());
  } else {
    auto zone = dns::ParseZoneText(text.text(), source, dns::NameToText(apex));
    if (!zone.ok()) {
      return fail(absl::InvalidArgumentError(
          absl::StrCat("the transferred zone fails our checks: ", zone.status().message())));
    }
    outcome.zone = *std::move(zone);
    outcome.text = std::move(text.text());
  }
  outcome.apply_ms = MillisecondsSince(start);
  if (outcome.zone->apex() != apex || outcome.zone->serial() != reader.serial()) {
    outcome.zone = nullptr;
    return fail(absl::DataLossError("the transferred zone is not the one asked for"));
  }
  return fail(absl::OkStatus());
}

void Secondaries::Save(const std::string& apex, Outcome& outcome,
                       std::shared_ptr<const dns::Journal> journal, uint32_t saved_serial,
                       size_t journal_bytes, bool synced) const {
  if (!outcome.status.ok() || state_ == nullptr) return;
  const std::string name = dns::NameToText(apex);
  const std::string file = FileName(apex);
  const auto touch = [&] {
    // The file's time records a contact with a primary (NewZone reads it back).
    utimensat(AT_FDCWD, state_->FilePath(file).c_str(), nullptr, 0);
  };
  if (outcome.zone == nullptr) {
    touch();
    return;
  }
  if (outcome.kind != dns::TransferReader::Result::kIncremental) journal = nullptr;
  for (dns::ZoneDiff& diff : outcome.diffs) {
    journal = dns::Journal::Append(
        journal.get(), std::make_shared<const dns::ZoneDiff>(std::move(diff)), journal_bytes);
  }
  outcome.journal = journal;
  outcome.saved_serial = saved_serial;
  const uint32_t serial = outcome.zone->serial();
  // Saved before it is served: a restart must not find an older copy than
  // the one that was answered from. Steps applied in place go to the
  // journal only, as long as it leads on from the saved copy.
  const bool journal_leads =
      journal != nullptr && (saved_serial == serial || !journal->From(saved_serial).empty());
  if (outcome.text.empty() && !journal_leads) {
    dns::ZoneTextWriter writer;
    if (auto status = writer.AddZone(*outcome.zone); !status.ok()) {
      Log(LogLevel::kWarning,
          absl::StrCat("secondary ", name, ": the copy is not saved: ", status.message()));
    }
    outcome.text = std::move(writer.text());
  }
  if (!outcome.text.empty()) {
    if (auto status = state_->Write(file, outcome.text, synced); !status.ok()) {
      Log(LogLevel::kWarning,
          absl::StrCat("secondary ", name, ": the copy is not saved: ", status.message()));
    } else {
      outcome.saved_serial = serial;
    }
    std::string().swap(outcome.text);
  } else {
    touch();
  }
  if (journal == nullptr) {
    RemoveJournal(*state_, apex);
  } else if (auto status = WriteJournal(*state_, apex, *journal, synced); !status.ok()) {
    Log(LogLevel::kWarning,
        absl::StrCat("secondary ", name, ": the IXFR journal is not saved: ", status.message()));
  }
}

void Secondaries::Finish(Zone& zone, Outcome outcome) {
  const int64_t now = SteadyMs();
  const bool notified = zone.notified_again;
  zone.notified_again = false;
  if (!outcome.status.ok()) {
    ++counters_.failed;
    zone.last_error =
        absl::StrCat(absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone()),
                     " from ", outcome.from, ": ", outcome.status.message());
    Log(LogLevel::kWarning,
        absl::StrCat("secondary ", zone.name,
                     ": refresh failed, the copy in force stays: ", zone.last_error));
    if (zone.copy != nullptr) {
      zone.refresh_at = now + TimersOf(*zone.copy).retry_ms;
    } else {
      zone.refresh_at = now + zone.backoff_ms;
      zone.backoff_ms = std::min(kMaxRetryMs, zone.backoff_ms * 2);
    }
    if (notified) zone.refresh_at = now;
    return;
  }
  zone.backoff_ms = kFirstRetryMs;
  const bool new_copy = outcome.zone != nullptr;
  if (new_copy) {
    const bool incremental = outcome.kind == dns::TransferReader::Result::kIncremental;
    ++(incremental ? counters_.ixfr : counters_.axfr);
    zone.last_transfer = absl::StrCat(
        KindName(outcome.kind), " of serial ", outcome.zone->serial(), " from ", outcome.from, ": ",
        outcome.records, " records in ", outcome.messages, " messages, ",
        absl::StrFormat("%.1f ms; ", outcome.seconds * 1000),
        incremental ? outcome.how : "compiled", absl::StrFormat(" in %.1f ms", outcome.apply_ms));
    Log(absl::StrCat("secondary ", zone.name, ": ", zone.last_transfer,
                     zone.copy != nullptr ? absl::StrCat(" (was ", zone.copy->serial(), ")") : ""));
    zone.copy = std::move(outcome.zone);
    zone.journal = std::move(outcome.journal);
    zone.saved_serial = outcome.saved_serial;
  } else {
    ++counters_.up_to_date;
  }
  if (zone.catalog && new_copy) ApplyCatalog(zone);
  const SoaTimers timers = TimersOf(*zone.copy);
  zone.refresh_at = notified ? now : now + timers.refresh_ms;
  zone.expire_at = now + timers.expire_ms;
  zone.state->expires_at_ms.store(zone.expire_at);
  const bool was_unavailable = zone.state->unavailable.exchange(false);
  if (outcome.kind != dns::TransferReader::Result::kUpToDate || was_unavailable) changed_();
}

std::string Secondaries::StatusText() const {
  std::lock_guard lock(mutex_);
  std::string out;
  const int64_t now = SteadyMs();
  for (const auto& zone : zones_) {
    std::vector<std::string> primaries;
    for (const Primary& primary : zone->primaries) primaries.push_back(primary.label);
    absl::StrAppend(&out, "  secondary ", zone->name, " from ", absl::StrJoin(primaries, ", "),
                    ": ");
    if (zone->copy == nullptr) {
      absl::StrAppend(&out, "no copy yet (SERVFAIL)");
    } else {
      absl::StrAppend(&out, "serial ", zone->copy->serial(),
                      zone->state->unavailable.load()
                          ? ", EXPIRED (SERVFAIL)"
                          : absl::StrCat(", expires in ", (zone->expire_at - now) / 1000, " s"));
    }
    if (zone->busy) absl::StrAppend(&out, ", refreshing now");
    if (!zone->last_transfer.empty()) absl::StrAppend(&out, "; last: ", zone->last_transfer);
    if (!zone->last_error.empty()) absl::StrAppend(&out, "; last error: ", zone->last_error);
    absl::StrAppend(&out, "\n");
  }
  return out;
}

Secondaries::Counters Secondaries::counters() const {
  std::lock_guard lock(mutex_);
  Counters counters = counters_;
  counters.expired = 0;
  for (const auto& zone : zones_) {
    if (zone->copy != nullptr && zone->state->unavailable.load()) ++counters.expired;
  }
  return counters;
}

}  // namespace agility::daemon
