// A pool of addresses: one or more prefixes with weights. A draw picks a
// prefix in proportion to the weights (an alias table, O(1)), then one of
// its addresses uniformly at random.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "policy/alias_table.h"
#include "policy/prefix.h"
#include "policy/random.h"

namespace agility::policy {

// One prefix of a pool; its addresses are drawn uniformly.
struct SubPrefix {
  Prefix prefix;
  uint32_t weight = 1;  // in force: the YAML's, or a live override

  // Answers are also counted per sub-prefix, for a view of the spread: per
  // address for IPv4 prefixes up to a /24, per /24 for larger ones, at most
  // 256 buckets (2^8) in any case.
  int bucket_bits() const {
    const int host_bits = prefix.host_bits();
    const int bits = prefix.ipv4 && prefix.length < 24 ? 24 - prefix.length : host_bits;
    return bits < 8 ? bits : 8;
  }
  int bucket_count() const { return 1 << bucket_bits(); }
  // The bucket of an address of this prefix: the bucket_bits() after it.
  int Bucket(const uint8_t* address) const {
    int bucket = 0;
    for (int i = 0; i < bucket_bits(); ++i) {
      const int bit = prefix.length + i;
      bucket = bucket << 1 | ((address[bit / 8] >> (7 - bit % 8)) & 1);
    }
    return bucket;
  }
  Prefix BucketPrefix(int bucket) const {
    Prefix p = prefix;
    const int bits = bucket_bits();
    for (int i = 0; i < bits; ++i) {
      const int bit = prefix.length + i;
      if ((bucket >> (bits - 1 - i)) & 1)
        p.bytes[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
    }
    p.length = static_cast<uint8_t>(prefix.length + bits);
    return p;
  }

  // Writes prefix.address_size() bytes of `out`. Prefix sizes are powers of
  // two, so masking uniform random bits is exactly uniform: no modulo bias,
  // and every address, network and broadcast included, is reachable.
  void Draw(Rng& rng, uint8_t (&out)[16]) const {
    const int host_bits = prefix.host_bits();
    if (prefix.ipv4) {
      const uint32_t host = host_bits == 0 ? 0 : static_cast<uint32_t>(rng() >> (64 - host_bits));
      const uint32_t base = static_cast<uint32_t>(prefix.bytes[0]) << 24 |
                            static_cast<uint32_t>(prefix.bytes[1]) << 16 |
                            static_cast<uint32_t>(prefix.bytes[2]) << 8 | prefix.bytes[3];
      const uint32_t address = base | host;
      out[0] = static_cast<uint8_t>(address >> 24);
      out[1] = static_cast<uint8_t>(address >> 16);
      out[2] = static_cast<uint8_t>(address >> 8);
      out[3] = static_cast<uint8_t>(address);
      return;
    }
    std::memcpy(out, prefix.bytes, 16);
    // Fill the host bits from the last byte backwards, 64 bits at a time.
    int remaining = host_bits;
    int byte = 15;
    while (remaining > 0) {
      uint64_t bits = rng();
      for (int i = 0; i < 8 && remaining > 0; ++i, --byte) {
        const int take = remaining >= 8 ? 8 : remaining;
        const uint8_t mask = static_cast<uint8_t>((1u << take) - 1);
        out[byte] = static_cast<uint8_t>((out[byte] & ~mask) | (bits & mask));
        bits >>= 8;
        remaining -= take;
      }
    }
  }
};

class Pool {
 public:
  Pool() = default;
  // `parts`: one family, at least one weight above 0 (as the config checks).
  Pool(std::string name, std::vector<SubPrefix> parts)
      : name_(std::move(name)), parts_(std::move(parts)) {
    std::vector<uint32_t> weights;
    for (const SubPrefix& part : parts_) weights.push_back(part.weight);
    if (parts_.size() > 1) chooser_ = AliasTable::Build(weights);
  }

  const std::string& name() const { return name_; }
  const std::vector<SubPrefix>& parts() const { return parts_; }
  bool ipv4() const { return parts_.front().prefix.ipv4; }
  int address_size() const { return parts_.front().prefix.address_size(); }

  // Draws an address into `out`; returns the index of its sub-prefix.
  uint32_t Draw(Rng& rng, uint8_t (&out)[16]) const {
    // One prefix, the common case, needs no choice.
    const uint32_t part = parts_.size() == 1 ? 0 : chooser_.Draw(rng);
    parts_[part].Draw(rng, out);
    return part;
  }

 private:
  std::string name_;
  std::vector<SubPrefix> parts_;
  AliasTable chooser_;
};

}  // namespace agility::policy
