// Loads agility's sk_lookup program, attaches it to our network namespace
// and keeps its state pinned in bpffs, so that steering outlives agilityd and
// a new agilityd replaces the program without a gap (bpf_link_update).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sockets/bindings.h"

struct agility_bpf;
struct bpf_link;

namespace agility::sockets {

struct LabelStatus {
  std::string label;
  uint32_t id = 0;
  // Socket cookies by {tcp4, tcp6, udp4, udp6}; 0 = no socket.
  uint64_t cookies[4] = {};
  uint64_t lookups = 0, misses = 0, errors = 0;
  uint64_t drain_lookups = 0;  // lookups that matched a draining binding
};

class SkLookup {
 public:
  // Mounts bpffs at /sys/fs/bpf when the pin directory lives there and it is
  // not mounted yet. Fails (with the reason) without BPF privileges or when
  // the kernel lacks sk_lookup.
  static absl::StatusOr<std::unique_ptr<SkLookup>> Attach(const std::string& pin_dir);
  ~SkLookup();

  const std::string& pin_dir() const { return pin_dir_; }

  // Whether Sync may leave an address unsteered for a moment.
  enum class Gaps {
    kNever,          // a reload: when the map is too small, fail and change nothing
    kWhenMapIsFull,  // a start: then remove stale entries first
  };

  // Makes `labels` known (ids persist in the pinned `labels` map), then brings
  // the bindings map to `bindings`: new and changed entries first, most
  // specific first, then stale entries are removed, so that no address is
  // unsteered in between. Room and label ids are checked before the first
  // write, and a failed write is undone. Labels no longer named are freed,
  // with their sockets and counters.
  absl::Status Sync(const std::vector<std::string>& labels, const std::vector<Binding>& bindings,
                    Gaps gaps);

  // Steers `label` to the socket `fd` (validated first; a duplicate is
  // inserted, the caller keeps `fd`). Replaces the label's previous socket of
  // the same protocol and family.
  absl::Status Register(const std::string& label, int fd);

  std::vector<LabelStatus> Labels() const;
  std::vector<Binding> Bindings() const;

 private:
  SkLookup() = default;
  std::vector<std::string> LabelNames() const;  // by id; "" for a free id
  absl::StatusOr<uint32_t> LabelId(const std::string& label) const;
  absl::Status WriteLabel(uint32_t id, const std::string& label);
  void FreeLabel(uint32_t id);

  std::string pin_dir_;
  agility_bpf* skel_ = nullptr;
  bpf_link* link_ = nullptr;
};

}  // namespace agility::sockets
