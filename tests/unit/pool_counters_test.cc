#include "policy/pool_counters.h"

#include <gtest/gtest.h>

namespace agility::policy {
namespace {

Pool MakePool(const char* name, const char* prefix) { return {name, *Prefix::Parse(prefix)}; }

const uint8_t kAddress[4] = {127, 77, 0, 9};

TEST(PoolCountersTest, AReloadContinuesTheCountsAndMissesNoLateAnswer) {
  const std::vector<Pool> pools = {MakePool("edge", "127.77.0.0/24")};
  PoolCounters before(pools, {"proxied"}, 2, nullptr);
  before.CountAnswer(0, 0, 0, kAddress);
  before.CountAnswer(1, 0, 0, kAddress);
  PoolCounters after(pools, {"proxied"}, 2, &before);
  EXPECT_EQ(after.Policy(0, false), 2u);
  EXPECT_EQ(after.Bucket(0, 9), 2u);
  // A worker that has not picked up the new snapshot yet still counts.
  before.CountAnswer(1, 0, 0, kAddress);
  after.CountAnswer(0, 0, 0, kAddress);
  EXPECT_EQ(after.Policy(0, false), 4u);
  EXPECT_EQ(after.Bucket(0, 9), 4u);
  EXPECT_EQ(after.PoolTotal(0), 4u);
}

TEST(PoolCountersTest, KeysAreNamesAndPrefixesNotPositions) {
  const std::vector<Pool> first = {MakePool("edge", "127.77.0.0/24")};
  PoolCounters before(first, {"a", "b"}, 1, nullptr);
  before.CountAnswer(0, 1, 0, kAddress);  // policy "b"
  // "b" moves to index 0; the pool changes size: its buckets start again.
  const std::vector<Pool> second = {MakePool("edge", "127.77.0.0/28"),
                                    MakePool("other", "127.78.0.0/24")};
  PoolCounters after(second, {"b", "c"}, 1, &before);
  EXPECT_EQ(after.Policy(0, false), 1u);
  EXPECT_EQ(after.Policy(1, false), 0u);
  EXPECT_EQ(after.PoolTotal(0), 0u);
  // Back to the first prefix: its buckets continue where they were.
  PoolCounters again(first, {"b"}, 1, &after);
  EXPECT_EQ(again.Bucket(0, 9), 1u);
}

}  // namespace
}  // namespace agility::policy
