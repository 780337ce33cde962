#include "sockets/query_filter.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "query_filter.skel.h"
#include "query_filter_maps.h"

namespace agility::sockets {
namespace {

// The error's own code (EPERM, ENOENT, EEXIST stay distinct), with `what`.
absl::Status Errno(absl::string_view what, int error) { return absl::ErrnoToStatus(error, what); }

}  // namespace

absl::StatusOr<std::unique_ptr<QueryFilter>> QueryFilter::Load(uint32_t queries_per_second) {
  std::unique_ptr<QueryFilter> self(new QueryFilter());
  self->skel_ = agility_query_filter_bpf__open();
  if (self->skel_ == nullptr) return Errno("opening the query filter program", errno);
  const uint64_t rate = std::max<uint32_t>(1, queries_per_second);
  const uint64_t interval = std::max<uint64_t>(1, 1000000000 / rate);
  self->skel_->bss->interval_ns = interval;
  self->skel_->bss->burst_ns = interval * (rate - 1);
  if (const int err = agility_query_filter_bpf__load(self->skel_); err != 0) {
    return Errno("loading the query filter program", -err);
  }
  return self;
}

QueryFilter::~QueryFilter() {
  // Sockets it is attached to keep the program (and its map) alive.
  if (skel_ != nullptr) agility_query_filter_bpf__destroy(skel_);
}

absl::Status QueryFilter::AttachTo(int udp_fd) {
  const int program = bpf_program__fd(skel_->progs.query_filter);
  if (setsockopt(udp_fd, SOL_SOCKET, SO_ATTACH_BPF, &program, sizeof(program)) != 0) {
    return Errno("attaching the query filter (SO_ATTACH_BPF)", errno);
  }
  return absl::OkStatus();
}

QueryFilter::Counts QueryFilter::Read() const {
  Counts total;
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return total;
  std::vector<agility_filter_counters> per_cpu(static_cast<size_t>(cpus));
  const uint32_t zero = 0;
  if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.filter_counters), &zero, per_cpu.data()) != 0) {
    return total;
  }
  for (const agility_filter_counters& c : per_cpu) {
    total.passed += c.passed;
    total.dropped += c.dropped;
  }
  return total;
}

}  // namespace agility::sockets
