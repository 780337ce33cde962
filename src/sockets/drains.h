// Drains: an address handed out in an answer is a promise for the answer's
// TTL. When a reload (or a restart with another configuration) stops
// answering a pool prefix, its bindings stay steered exactly as before, same
// label, until every answer that carried them has expired: the largest TTL
// they were answered with, plus a grace period. Longest-prefix match lets a
// draining /20 sit beside the new /24 that replaces part of it.
//
// The state is plain data, persisted by the daemon (server.state_dir) after
// every change, so drains outlive agilityd, SIGKILL included.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "sockets/bindings.h"

namespace agility::sockets {

class Drains {
 public:
  // Moves from the answered bindings in force to `desired` at `now` (Unix
  // seconds). An answered binding that is no longer desired with the same
  // label drains until now + its TTL + `grace_s`; one that comes back stops
  // draining; a TTL that shrank keeps the promise of the old one. Bindings
  // that were never answered (explicit `bindings:`) go at once.
  void Update(const std::vector<Binding>& desired, int64_t now, uint32_t grace_s);

  // Whether a drain's time has come (cheap: for a timer).
  bool Due(int64_t now) const;
  // Ends the drains whose time has come; true when any ended.
  bool Expire(int64_t now);

  // What to steer: `desired`, then the draining bindings whose key it does
  // not hold (marked `draining`).
  std::vector<Binding> Steered(const std::vector<Binding>& desired) const;

  // Draining bindings (not in `desired`) with their deadlines.
  struct Drain {
    Binding binding;
    int64_t until = 0;
  };
  std::vector<Drain> Draining(const std::vector<Binding>& desired) const;

  // The text kept in state_dir, one entry per line.
  std::string Serialize() const;
  // `source` names the file in errors ("file:line: message").
  static absl::StatusOr<Drains> Parse(const std::string& text, const std::string& source);

 private:
  struct Entry {
    Binding binding;
    // Draining: when it ends. In force: the earliest it may end, a promise
    // kept from a longer TTL answered before (0: none).
    int64_t until = 0;
  };
  absl::flat_hash_map<std::string, Entry> entries_;  // by Binding::Key()
};

}  // namespace agility::sockets
