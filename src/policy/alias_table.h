// Draws an index in proportion to integer weights, exactly and in O(1):
// Vose's alias method, in integers so that no rounding skews the shares.
//
// Every weight is scaled by n, the number of entries, so that each of the n
// columns holds exactly W = sum(weights) units of probability mass. Column i
// gives threshold[i] units to i and the remaining W - threshold[i] to
// alias[i]. A draw picks a column uniformly, then a unit uniformly in [0, W):
// index i comes out with probability weights[i] * n / (n * W), as asked.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/random/distributions.h"
#include "policy/random.h"

namespace agility::policy {

class AliasTable {
 public:
  struct Column {
    uint64_t threshold = 0;  // units in [0, W] kept by the column's own index
    uint32_t alias = 0;      // takes the rest; never an index of weight 0
  };

  AliasTable() = default;  // empty: Draw must not be called

  // `weights`: 1 to 65536 of them, each at most 1'000'000, at least one above
  // 0 (the caller validates). Weight-0 entries are never drawn.
  static AliasTable Build(const std::vector<uint32_t>& weights);

  // No allocation: pools draw on the answer path.
  uint32_t Draw(Rng& rng) const {
    assert(!columns_.empty());
    const uint32_t n = static_cast<uint32_t>(columns_.size());
    if (n == 1) return 0;
    const uint32_t c = absl::Uniform<uint32_t>(rng, 0u, n);
    const Column& column = columns_[c];
    // The second draw would not change the outcome of a full column (all of
    // them when the weights are equal) or an empty one (weight 0), so skipping
    // it keeps the probabilities exact and saves half the work.
    if (column.threshold == capacity_) return c;
    if (column.threshold == 0) return column.alias;
    return absl::Uniform<uint64_t>(rng, 0, capacity_) < column.threshold ? c : column.alias;
  }

  size_t size() const { return columns_.size(); }

  // The structure itself, for tests that check exactness by enumeration.
  uint64_t capacity() const { return capacity_; }  // W
  const std::vector<Column>& columns() const { return columns_; }

 private:
  uint64_t capacity_ = 0;
  std::vector<Column> columns_;
};

}  // namespace agility::policy
