// The seam between the answer algorithm and the policy table: the responder
// asks whether a name that exists in a zone is governed by a pool.
#pragma once

#include <cstdint>
#include "absl/strings/string_view.h"

#include "dns/name.h"

namespace agility::dns {

struct PoolAddress {
  uint8_t bytes[16];
  uint8_t size = 0;  // 4 for A, 16 for AAAA
  uint32_t ttl = 0;
};

class AddressSource {
 public:
  virtual ~AddressSource() = default;
  // For `qtype` A or AAAA: when a policy with a pool of that family governs
  // `name` (lowercase wire), draws one address from it and returns true.
  virtual bool Draw(absl::string_view name, const LabelOffsets& labels, uint16_t qtype,
                    PoolAddress& out) = 0;
  // Whether Draw would answer `qtype` for `name`, without drawing: what a
  // denial's type bitmap lists for names the policy answers.
  virtual bool Governs(absl::string_view name, const LabelOffsets& labels, uint16_t qtype) = 0;
};

// No policies: every answer comes from the zones.
class NoAddresses final : public AddressSource {
 public:
  bool Draw(absl::string_view, const LabelOffsets&, uint16_t, PoolAddress&) override {
    return false;
  }
  bool Governs(absl::string_view, const LabelOffsets&, uint16_t) override { return false; }
};

}  // namespace agility::dns
