#include "policy/pool_counters.h"

#include <gtest/gtest.h>

#include <memory>

#include "absl/strings/str_cat.h"

namespace agility::policy {
namespace {

Pool MakePool(const char* name, const char* prefix) {
  return Pool(name, {{*Prefix::Parse(prefix), 1}});
}

const uint8_t kAddress[4] = {127, 77, 0, 9};

TEST(PoolCountersTest, AReloadContinuesTheCountsAndMissesNoLateAnswer) {
  const std::vector<Pool> pools = {MakePool("edge", "127.77.0.0/24")};
  PoolCounters before(pools, {"proxied"}, 2, nullptr);
  before.CountAnswer(0, 0, 0, 0, kAddress);
  before.CountAnswer(1, 0, 0, 0, kAddress);
  PoolCounters after(pools, {"proxied"}, 2, &before);
  EXPECT_EQ(after.Policy(0, false), 2u);
  EXPECT_EQ(after.Bucket(0, 0, 9), 2u);
  // A worker that has not picked up the new snapshot yet still counts.
  before.CountAnswer(1, 0, 0, 0, kAddress);
  after.CountAnswer(0, 0, 0, 0, kAddress);
  EXPECT_EQ(after.Policy(0, false), 4u);
  EXPECT_EQ(after.Bucket(0, 0, 9), 4u);
  EXPECT_EQ(after.PoolTotal(0), 4u);
}

TEST(PoolCountersTest, KeysAreNamesAndPrefixesNotPositions) {
  const std::vector<Pool> first = {MakePool("edge", "127.77.0.0/24")};
  PoolCounters before(first, {"a", "b"}, 1, nullptr);
  before.CountAnswer(0, 1, 0, 0, kAddress);  // policy "b"
  // "b" moves to index 0; the pool changes size: its buckets start again.
  const std::vector<Pool> second = {MakePool("edge", "127.77.0.0/28"),
                                    MakePool("other", "127.78.0.0/24")};
  PoolCounters after(second, {"b", "c"}, 1, &before);
  EXPECT_EQ(after.Policy(0, false), 1u);
  EXPECT_EQ(after.Policy(1, false), 0u);
  EXPECT_EQ(after.PoolTotal(0), 0u);
  // Back to the first prefix: its buckets continue where they were.
  PoolCounters again(first, {"b"}, 1, &after);
  EXPECT_EQ(again.Bucket(0, 0, 9), 1u);
}

TEST(PoolCountersTest, SlotsOfGoneSnapshotsAreReusedWithCountsReset) {
  // Pool sizes changing forever: each prefix gets fresh buckets, and those of
  // the snapshots gone are free again, so the store never fills.
  auto current =
      std::make_unique<PoolCounters>(std::vector<Pool>{MakePool("edge", "127.77.0.0/24")},
                                     std::vector<std::string>{"proxied"}, 1, nullptr);
  current->CountAnswer(0, 0, 0, 0, kAddress);
  for (int i = 0; i < 2 * static_cast<int>(CounterStore::kSlots) / 256; ++i) {
    const std::string prefix = absl::StrCat("127.", 78 + i % 100, ".", i / 100, ".0/24");
    auto next =
        std::make_unique<PoolCounters>(std::vector<Pool>{MakePool("edge", prefix.c_str())},
                                       std::vector<std::string>{"proxied"}, 1, current.get());
    current = std::move(next);  // the previous snapshot is gone
    ASSERT_TRUE(current->BucketsCounted(0)) << "reload " << i;
    EXPECT_EQ(current->PoolTotal(0), 0u) << "a reused slot kept its count";
  }
  // The policy's series went on throughout.
  EXPECT_EQ(current->Policy(0, false), 1u);
}

TEST(PoolCountersTest, AFullStoreCountsNothingApartRatherThanMixingPools) {
  std::vector<Pool> pools;
  for (uint32_t i = 0; i <= CounterStore::kSlots / 256; ++i) {
    pools.push_back(MakePool(absl::StrCat("p", i).c_str(),
                             absl::StrCat("10.", i / 256, ".", i % 256, ".0/24").c_str()));
  }
  PoolCounters counters(pools, {"proxied"}, 1, nullptr);
  const int last = static_cast<int>(pools.size()) - 1;
  EXPECT_TRUE(counters.BucketsCounted(0));
  EXPECT_FALSE(counters.BucketsCounted(last));
  EXPECT_TRUE(counters.PolicyCounted(0, false));
  // Answers from the first pool show up only under it.
  counters.CountAnswer(0, 0, 0, 0, kAddress);
  EXPECT_EQ(counters.PoolTotal(0), 1u);
  EXPECT_EQ(counters.PoolTotal(last - 1), 0u);
}

}  // namespace
}  // namespace agility::policy
