#include "policy/alias_table.h"

namespace agility::policy {

AliasTable AliasTable::Build(const std::vector<uint32_t>& weights) {
  const size_t n = weights.size();
  assert(n >= 1 && n <= 65536);
  AliasTable table;
  uint64_t total = 0;
  for (uint32_t w : weights) {
    assert(w <= 1000000);
    total += w;
  }
  assert(total > 0);
  // At most 65536 * 1'000'000 per column: far from overflowing 64 bits.
  table.capacity_ = total;
  table.columns_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    table.columns_[i] = {.threshold = uint64_t{weights[i]} * n, .alias = static_cast<uint32_t>(i)};
  }

  // One array holds both work lists: under-full entries grow from the front,
  // full or over-full ones from the back. They can never meet, since each
  // entry sits in at most one list.
  std::vector<uint32_t> work(n);
  size_t small_end = 0;
  size_t large_begin = n;
  for (size_t i = 0; i < n; ++i) {
    if (table.columns_[i].threshold < total) {
      work[small_end++] = static_cast<uint32_t>(i);
    } else {
      work[--large_begin] = static_cast<uint32_t>(i);
    }
  }

  // An under-full column is topped up from an over-full entry, which loses
  // exactly what it gives. A weight-0 entry starts under-full and never leaves
  // that list, so it can never become an alias.
  while (small_end > 0 && large_begin < n) {
    const uint32_t small = work[--small_end];
    const uint32_t large = work[large_begin];
    table.columns_[small].alias = large;
    uint64_t& rest = table.columns_[large].threshold;
    rest -= total - table.columns_[small].threshold;
    if (rest < total) {
      ++large_begin;
      work[small_end++] = large;
    }
  }

  // In exact arithmetic the mass adds up to n * W, so what remains is only
  // entries holding exactly W: full columns that never reach their alias.
  assert(small_end == 0);
  for (size_t k = large_begin; k < n; ++k) {
    Column& column = table.columns_[work[k]];
    assert(column.threshold == total);
    column.threshold = total;
    column.alias = work[k];
  }
  return table;
}

}  // namespace agility::policy
