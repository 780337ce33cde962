#include "sockets/drains.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "util/state_file.h"

namespace agility::sockets {
namespace {

constexpr char kHeader[] =
    "# agility steering state: protocol prefix port label ttl until answered|draining\n";

bool Covers(const absl::flat_hash_map<std::string, const Binding*>& desired, const Binding& b) {
  return desired.contains(b.Key());
}

absl::flat_hash_map<std::string, const Binding*> ByKey(const std::vector<Binding>& bindings) {
  absl::flat_hash_map<std::string, const Binding*> out;
  for (const Binding& b : bindings) out[b.Key()] = &b;
  return out;
}

}  // namespace

void Drains::Update(const std::vector<Binding>& desired, int64_t now, uint32_t grace_s) {
  absl::flat_hash_map<std::string, Entry> next;
  const auto wanted = ByKey(desired);
  for (const Binding& b : desired) {
    if (b.answered) next[b.Key()] = {b, 0};
  }
  for (auto& [key, entry] : entries_) {
    // Answers given up to now carried the TTL in force until now.
    const int64_t deadline =
        entry.binding.draining
            ? entry.until
            : std::max(entry.until, now + static_cast<int64_t>(entry.binding.ttl) + grace_s);
    if (deadline <= now) continue;
    const auto want = wanted.find(key);
    if (want != wanted.end()) {
      // The same addresses cannot lead to two sockets: the new label wins.
      if (want->second->label != entry.binding.label) continue;
      if (const auto kept = next.find(key); kept != next.end()) {
        kept->second.until = std::max(kept->second.until, deadline);
        continue;
      }
      // Desired but not answered (an explicit binding): the promise stays,
      // hidden behind it, in case that binding goes first.
    }
    Entry drain = entry;
    drain.binding.draining = true;
    drain.until = deadline;
    next[key] = std::move(drain);
  }
  entries_ = std::move(next);
}

bool Drains::Due(int64_t now) const {
  return std::any_of(entries_.begin(), entries_.end(), [now](const auto& item) {
    return item.second.binding.draining && item.second.until <= now;
  });
}

bool Drains::Expire(int64_t now) {
  const size_t before = entries_.size();
  absl::erase_if(entries_, [now](const auto& item) {
    return item.second.binding.draining && item.second.until <= now;
  });
  return entries_.size() != before;
}

std::vector<Binding> Drains::Steered(const std::vector<Binding>& desired) const {
  std::vector<Binding> out = desired;
  for (const Drain& drain : Draining(desired)) out.push_back(drain.binding);
  return out;
}

std::vector<Drains::Drain> Drains::Draining(const std::vector<Binding>& desired) const {
  const auto wanted = ByKey(desired);
  std::vector<Drain> out;
  for (const auto& [key, entry] : entries_) {
    if (entry.binding.draining && !Covers(wanted, entry.binding)) {
      out.push_back({entry.binding, entry.until});
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Drain& a, const Drain& b) { return a.binding.Key() < b.binding.Key(); });
  return out;
}

std::string Drains::Serialize() const {
  std::vector<const Entry*> sorted;
  for (const auto& [key, entry] : entries_) sorted.push_back(&entry);
  std::sort(sorted.begin(), sorted.end(),
            [](const Entry* a, const Entry* b) { return a->binding.Key() < b->binding.Key(); });
  std::string out = kHeader;
  for (const Entry* e : sorted) {
    const Binding& b = e->binding;
    absl::StrAppend(&out, config::ProtocolName(b.protocol), " ", b.prefix.ToString(), " ", b.port,
                    " ", b.label, " ", b.ttl, " ", e->until, " ",
                    b.draining ? "draining" : "answered", "\n");
  }
  return out;
}

absl::StatusOr<Drains> Drains::Parse(const std::string& text, const std::string& source) {
  Drains drains;
  const absl::Status status = ForEachStateRecord(
      text, source, 7, [&](const std::vector<absl::string_view>& fields) -> std::string {
        Entry entry;
        Binding& b = entry.binding;
        if (fields[0] == "tcp") {
          b.protocol = config::Protocol::kTcp;
        } else if (fields[0] == "udp") {
          b.protocol = config::Protocol::kUdp;
        } else {
          return "protocol must be tcp or udp";
        }
        auto prefix = policy::Prefix::Parse(fields[1]);
        if (!prefix.ok()) return std::string(prefix.status().message());
        b.prefix = *prefix;
        uint32_t port = 0;
        if (!absl::SimpleAtoi(fields[2], &port) || port > 65535) return "bad port";
        b.port = static_cast<uint16_t>(port);
        b.label = std::string(fields[3]);
        if (b.label.empty()) return "empty label";
        if (!absl::SimpleAtoi(fields[4], &b.ttl) || !absl::SimpleAtoi(fields[5], &entry.until)) {
          return "bad ttl or deadline";
        }
        if (fields[6] != "answered" && fields[6] != "draining") {
          return "state must be answered or draining";
        }
        b.answered = true;
        b.draining = fields[6] == "draining";
        b.source = source;
        drains.entries_[b.Key()] = std::move(entry);
        return "";
      });
  if (!status.ok()) return status;
  return drains;
}

}  // namespace agility::sockets
