#include "policy/alias_table.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <vector>

#include "absl/random/distributions.h"
#include "policy/random.h"

namespace agility::policy {
namespace {

// Adds up, over every column, the units each index receives: index i must get
// weights[i] * n of the n * W units, which is exactly weights[i] / W.
void ExpectExact(const std::vector<uint32_t>& weights) {
  SCOPED_TRACE(testing::Message() << "n=" << weights.size());
  const AliasTable table = AliasTable::Build(weights);
  const uint64_t n = weights.size();
  const uint64_t total = std::accumulate(weights.begin(), weights.end(), uint64_t{0});
  ASSERT_EQ(table.size(), n);
  ASSERT_EQ(table.capacity(), total);
  std::vector<uint64_t> mass(n, 0);
  for (size_t c = 0; c < n; ++c) {
    const AliasTable::Column& column = table.columns()[c];
    ASSERT_LE(column.threshold, total) << "column " << c;
    ASSERT_LT(column.alias, n) << "column " << c;
    mass[c] += column.threshold;
    const uint64_t rest = total - column.threshold;
    if (rest > 0) {
      EXPECT_GT(weights[column.alias], 0u) << "column " << c << " aliases a weight-0 entry";
    }
    mass[column.alias] += rest;
  }
  for (size_t i = 0; i < n; ++i) EXPECT_EQ(mass[i], weights[i] * n) << "index " << i;
}

TEST(AliasTableTest, ExactForHandPickedWeights) {
  ExpectExact({3, 1});
  ExpectExact({3, 1, 0});
  ExpectExact({1});
  ExpectExact({0, 5});
  ExpectExact({5, 0});
  ExpectExact({1000000, 1});
  ExpectExact({0, 0, 0, 7, 0});
  ExpectExact({1, 1, 1, 1, 1, 1, 1});
  ExpectExact({1, 2, 3, 4, 5, 6, 7, 8});
}

TEST(AliasTableTest, ExactForRandomWeights) {
  Rng rng = SeededRng(20240601);
  for (int round = 0; round < 7; ++round) {
    const size_t n = absl::Uniform<size_t>(absl::IntervalClosed, rng, 1, 3000);
    std::vector<uint32_t> weights(n);
    // Small weights in some rounds, the full range in others.
    const uint32_t max_weight = round % 2 ? 1000000 : 10;
    for (uint32_t& w : weights) {
      // About a third zeros, so weight-0 entries are well represented.
      const bool zero = absl::Bernoulli(rng, 1.0 / 3);
      w = zero ? 0 : absl::Uniform<uint32_t>(absl::IntervalClosed, rng, 1, max_weight);
    }
    weights[absl::Uniform<size_t>(rng, 0, n)] = absl::Uniform<uint32_t>(rng, 1, 1000);
    ExpectExact(weights);
  }
}

TEST(AliasTableTest, ExactAtTheLimits) {
  // The largest table with the largest weights: W * n near 2^42.
  std::vector<uint32_t> weights(65536, 1000000);
  weights[0] = 1;
  weights[1] = 0;
  ExpectExact(weights);
  Rng rng = SeededRng(7);
  for (uint32_t& w : weights) w = absl::Uniform<uint32_t>(absl::IntervalClosed, rng, 0, 1000000);
  weights[12345] = 1000000;
  ExpectExact(weights);
}

TEST(AliasTableTest, EqualWeightsFillEveryColumn) {
  const AliasTable table = AliasTable::Build({4, 4, 4});
  for (const AliasTable::Column& column : table.columns()) {
    EXPECT_EQ(column.threshold, table.capacity());
  }
}

TEST(AliasTableTest, SingleEntryDrawsWithoutRandomness) {
  const AliasTable table = AliasTable::Build({9});
  Rng rng = SeededRng(3);
  Rng untouched = SeededRng(3);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(table.Draw(rng), 0u);
  EXPECT_EQ(rng(), untouched());
}

TEST(AliasTableTest, ThreeToOneShares) {
  const AliasTable table = AliasTable::Build({3, 1, 0});
  Rng rng = SeededRng(42);
  constexpr int kDraws = 1000000;
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < kDraws; ++i) {
    const uint32_t index = table.Draw(rng);
    ASSERT_LT(index, 3u);
    ++counts[index];
  }
  EXPECT_NEAR(100.0 * counts[0] / kDraws, 75.0, 0.3);
  EXPECT_NEAR(100.0 * counts[1] / kDraws, 25.0, 0.3);
  EXPECT_EQ(counts[2], 0);
}

TEST(AliasTableTest, ChiSquareOnUnequalWeights) {
  const std::vector<uint32_t> weights = {1, 2, 3, 5, 8, 13, 21, 34};
  const AliasTable table = AliasTable::Build(weights);
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  Rng rng = SeededRng(1234);
  constexpr int kDraws = 870000;
  std::vector<int> counts(weights.size(), 0);
  for (int i = 0; i < kDraws; ++i) ++counts[table.Draw(rng)];
  double chi_square = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    const double expected = kDraws * weights[i] / total;
    const double diff = counts[i] - expected;
    chi_square += diff * diff / expected;
  }
  // 7 degrees of freedom: 24.32 is the 0.1% critical value. The seed is
  // fixed, so this cannot flake; it catches a systematic bias.
  EXPECT_LT(chi_square, 24.32);
}

}  // namespace
}  // namespace agility::policy
