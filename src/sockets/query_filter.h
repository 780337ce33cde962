// The UDP query filter: an eBPF socket filter on agilityd's DNS sockets that
// admits queries to each destination address at a bounded rate (see
// bpf/query_filter.bpf.c). A second layer beside Response Rate Limiting:
// RRL protects victims from our answers, this protects the queries to every
// other address from a flood at one.
#pragma once

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"

struct agility_query_filter_bpf;

namespace agility::sockets {

class QueryFilter {
 public:
  // Loads the program, admitting `queries_per_second` per destination
  // address with a burst of one second's worth.
  static absl::StatusOr<std::unique_ptr<QueryFilter>> Load(uint32_t queries_per_second);
  ~QueryFilter();
  QueryFilter(const QueryFilter&) = delete;
  QueryFilter& operator=(const QueryFilter&) = delete;

  // Filters what `udp_fd` receives from now on (SO_ATTACH_BPF).
  absl::Status AttachTo(int udp_fd);

  struct Counts {
    uint64_t passed = 0, dropped = 0;
  };
  // Summed over CPUs.
  Counts Read() const;

 private:
  QueryFilter() = default;

  agility_query_filter_bpf* skel_ = nullptr;
};

}  // namespace agility::sockets
