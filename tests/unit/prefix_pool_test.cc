#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "policy/pool.h"
#include "policy/prefix.h"
#include "policy/table.h"

namespace agility::policy {
namespace {

using ::testing::HasSubstr;

Pool MakePool(const char* text) { return Pool("p", {{*Prefix::Parse(text), 1}}); }

TEST(PrefixTest, ParsesIpv4AndIpv6) {
  auto v4 = Prefix::Parse("127.77.0.0/20");
  ASSERT_TRUE(v4.ok());
  EXPECT_TRUE(v4->ipv4);
  EXPECT_EQ(v4->length, 20);
  EXPECT_EQ(v4->size(), 4096u);
  EXPECT_EQ(v4->ToString(), "127.77.0.0/20");
  auto v6 = Prefix::Parse("fd00:77::/44");
  ASSERT_TRUE(v6.ok());
  EXPECT_FALSE(v6->ipv4);
  EXPECT_EQ(v6->host_bits(), 84);
  auto bare = Prefix::Parse("192.0.2.7");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->length, 32);
}

TEST(PrefixTest, RejectsBadInput) {
  EXPECT_FALSE(Prefix::Parse("127.77.0.0/33").ok());
  EXPECT_FALSE(Prefix::Parse("fd00::/129").ok());
  EXPECT_FALSE(Prefix::Parse("127.77.0/20").ok());
  EXPECT_FALSE(Prefix::Parse("example.com/24").ok());
  EXPECT_FALSE(Prefix::Parse("10.0.0.0/x").ok());
  auto host_bits = Prefix::Parse("127.77.0.1/20");
  ASSERT_FALSE(host_bits.ok());
  EXPECT_THAT(std::string(host_bits.status().message()), HasSubstr("did you mean 127.77.0.0/20"));
}

TEST(PoolTest, EveryAddressOfA24IsReachable) {
  const Pool pool = MakePool("127.78.1.0/24");
  Rng rng = SeededRng(1);
  std::set<uint8_t> seen;
  uint8_t address[16];
  for (int i = 0; i < 100000 && seen.size() < 256; ++i) {
    pool.Draw(rng, address);
    ASSERT_TRUE(pool.parts()[0].prefix.Contains(address));
    seen.insert(address[3]);
  }
  EXPECT_EQ(seen.size(), 256u);
}

TEST(PoolTest, Slash32AlwaysSameAddress) {
  const Pool pool = MakePool("127.79.0.1/32");
  Rng rng = SeededRng(2);
  uint8_t address[16];
  for (int i = 0; i < 1000; ++i) {
    pool.Draw(rng, address);
    ASSERT_EQ(std::vector<uint8_t>(address, address + 4), (std::vector<uint8_t>{127, 79, 0, 1}));
  }
}

// Pearson's chi-square over the 4096 addresses of a /20, fixed seed.
TEST(PoolTest, Slash20IsUniform) {
  const Pool pool = MakePool("127.77.0.0/20");
  Rng rng = SeededRng(42);
  constexpr int kBins = 4096;
  constexpr int kPerBin = 50;
  std::vector<int> counts(kBins, 0);
  uint8_t address[16];
  for (int i = 0; i < kBins * kPerBin; ++i) {
    pool.Draw(rng, address);
    ASSERT_TRUE(pool.parts()[0].prefix.Contains(address));
    ++counts[(address[2] & 0x0f) << 8 | address[3]];
  }
  double chi_square = 0;
  for (int c : counts) chi_square += (c - kPerBin) * (c - kPerBin) / static_cast<double>(kPerBin);
  // df = 4095: mean 4095, standard deviation ~90.5. Reject beyond 5 sigma.
  EXPECT_LT(chi_square, 4095 + 5 * 90.5);
  EXPECT_GT(chi_square, 4095 - 5 * 90.5) << "suspiciously regular";
  for (int c : counts) EXPECT_GT(c, 0);
}

TEST(PoolTest, Ipv6DrawsStayInPrefixAndVary) {
  const Pool pool = MakePool("fd00:77::/44");
  Rng rng = SeededRng(3);
  std::set<std::vector<uint8_t>> seen;
  std::set<int> fifth_byte_low_nibbles;
  uint8_t address[16];
  for (int i = 0; i < 2000; ++i) {
    pool.Draw(rng, address);
    ASSERT_TRUE(pool.parts()[0].prefix.Contains(address));
    fifth_byte_low_nibbles.insert(address[5] & 0x0f);
    seen.insert(std::vector<uint8_t>(address, address + 16));
  }
  EXPECT_EQ(seen.size(), 2000u);
  // The last host bits just below the prefix boundary are drawn too.
  EXPECT_EQ(fifth_byte_low_nibbles.size(), 16u);
}

TEST(PoolTest, Ipv6OddLengthPrefix) {
  const Pool pool = MakePool("2001:db8::/125");
  Rng rng = SeededRng(4);
  std::set<uint8_t> seen;
  uint8_t address[16];
  for (int i = 0; i < 1000; ++i) {
    pool.Draw(rng, address);
    ASSERT_TRUE(pool.parts()[0].prefix.Contains(address));
    seen.insert(address[15]);
  }
  EXPECT_EQ(seen.size(), 8u);
}

SubPrefix Part(const char* text, uint32_t weight) { return {*Prefix::Parse(text), weight}; }

// Draws `n` addresses at a fixed seed; counts by the part Draw returns, and
// checks every address is inside that part.
std::vector<int> CountDraws(const Pool& pool, int n, uint64_t seed) {
  Rng rng = SeededRng(seed);
  std::vector<int> counts(pool.parts().size(), 0);
  uint8_t address[16];
  for (int i = 0; i < n; ++i) {
    const uint32_t part = pool.Draw(rng, address);
    EXPECT_LT(part, pool.parts().size());
    if (part >= pool.parts().size()) break;
    EXPECT_TRUE(pool.parts()[part].prefix.Contains(address))
        << "draw " << i << " outside part " << part;
    ++counts[part];
  }
  return counts;
}

TEST(WeightedPoolTest, DrawsInProportionAndNeverFromWeight0) {
  const Pool pool("w",
                  {Part("127.77.0.0/24", 3), Part("127.77.1.0/24", 1), Part("127.77.2.0/24", 0)});
  EXPECT_TRUE(pool.ipv4());
  EXPECT_EQ(pool.address_size(), 4);
  constexpr int kDraws = 400000;
  const std::vector<int> counts = CountDraws(pool, kDraws, 7);
  EXPECT_EQ(counts[2], 0) << "weight 0: steered, never answered";
  EXPECT_EQ(counts[0] + counts[1], kDraws);
  EXPECT_NEAR(counts[0] / static_cast<double>(kDraws), 0.75, 0.005);
  EXPECT_NEAR(counts[1] / static_cast<double>(kDraws), 0.25, 0.005);
}

TEST(WeightedPoolTest, WeightsNotSizesDecideTheShares) {
  // A /32 and a /24 of equal weight: half of the answers are the one address.
  const Pool pool("w", {Part("127.79.0.1/32", 1), Part("127.78.1.0/24", 1)});
  constexpr int kDraws = 400000;
  Rng rng = SeededRng(11);
  int single = 0;
  std::set<uint8_t> seen;
  uint8_t address[16];
  for (int i = 0; i < kDraws; ++i) {
    const uint32_t part = pool.Draw(rng, address);
    ASSERT_TRUE(pool.parts()[part].prefix.Contains(address));
    if (part == 0) {
      ++single;
      ASSERT_EQ(std::vector<uint8_t>(address, address + 4), (std::vector<uint8_t>{127, 79, 0, 1}));
    } else {
      seen.insert(address[3]);
    }
  }
  EXPECT_NEAR(single / static_cast<double>(kDraws), 0.5, 0.005);
  EXPECT_EQ(seen.size(), 256u) << "the /24 is still drawn uniformly";
}

TEST(WeightedPoolTest, Ipv6PartsAndOnePartOfWeightAbove0) {
  const Pool pool("w6",
                  {Part("fd00:77::/44", 0), Part("fd00:78::/64", 2), Part("fd00:79::/48", 0)});
  EXPECT_FALSE(pool.ipv4());
  EXPECT_EQ(pool.address_size(), 16);
  const std::vector<int> counts = CountDraws(pool, 20000, 5);
  EXPECT_EQ(counts, (std::vector<int>{0, 20000, 0}));
}

TEST(WeightedPoolTest, SinglePartIsIndex0) {
  const Pool pool("one", {Part("127.77.0.0/20", 5)});
  const std::vector<int> counts = CountDraws(pool, 1000, 3);
  EXPECT_EQ(counts, (std::vector<int>{1000}));
}

constexpr char kTableYaml[] = R"(zones: [a.zone]
pools:
  w:
    - {prefix: 127.77.0.0/24, weight: 3}
    - {prefix: 127.77.1.0/24, weight: 1}
    - {prefix: 127.77.2.0/24, weight: 0}
  v6: "fd00:77::/44"
policies:
  - {name: x, match: [a.com], ipv4: w, ipv6: v6}
)";

config::Config TableConfig() {
  auto config = config::ParseConfig(kTableYaml, "t.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : config::Config{};
}

std::vector<uint32_t> Weights(const Pool& pool) {
  std::vector<uint32_t> out;
  for (const SubPrefix& part : pool.parts()) out.push_back(part.weight);
  return out;
}

std::string Key(const char* pool, const char* prefix) {
  return WeightKey(pool, *Prefix::Parse(prefix));
}

TEST(TableWeightsTest, BuildTakesTheYamlWeights) {
  const config::Config config = TableConfig();
  auto table = Table::Build(config, 2);
  ASSERT_TRUE(table.ok()) << table.status();
  const int w = (*table)->FindPool("w");
  ASSERT_GE(w, 0);
  EXPECT_EQ(Weights((*table)->pools()[w]), (std::vector<uint32_t>{3, 1, 0}));
  EXPECT_EQ((*table)->FindPool("nowhere"), -1);
}

TEST(TableWeightsTest, LiveWeightsOverrideTheYaml) {
  const config::Config config = TableConfig();
  const LiveWeights live = {{Key("w", "127.77.0.0/24"), 0},
                            {Key("w", "127.77.2.0/24"), 7},
                            {Key("v6", "fd00:77::/44"), 4},
                            {Key("gone", "10.0.0.0/8"), 9}};  // ignored: no such pool
  auto table = Table::Build(config, 2, nullptr, &live);
  ASSERT_TRUE(table.ok()) << table.status();
  const Pool& pool = (*table)->pools()[(*table)->FindPool("w")];
  EXPECT_EQ(Weights(pool), (std::vector<uint32_t>{0, 1, 7}));
  EXPECT_EQ(Weights((*table)->pools()[(*table)->FindPool("v6")]), (std::vector<uint32_t>{4}));
  const std::vector<int> counts = CountDraws(pool, 80000, 9);
  EXPECT_EQ(counts[0], 0) << "live weight 0";
  EXPECT_NEAR(counts[2] / 80000.0, 7.0 / 8, 0.01);
}

TEST(TableWeightsTest, LiveWeightsLeavingAPoolAllZeroAreAnError) {
  const config::Config config = TableConfig();
  const LiveWeights live = {{Key("w", "127.77.0.0/24"), 0}, {Key("w", "127.77.1.0/24"), 0}};
  auto table = Table::Build(config, 2, nullptr, &live);
  ASSERT_FALSE(table.ok());
  EXPECT_THAT(std::string(table.status().message()),
              HasSubstr("pool 'w': every weight in force is 0"));

  auto built = Table::Build(config, 2);
  ASSERT_TRUE(built.ok()) << built.status();
  auto reweighted = (*built)->Reweighted(config, 2, live);
  ASSERT_FALSE(reweighted.ok());
  EXPECT_THAT(std::string(reweighted.status().message()), HasSubstr("pool 'w'"));
}

TEST(TableWeightsTest, ReweightedSharesTheMatcherAndKeepsTheCounts) {
  const config::Config config = TableConfig();
  auto table = Table::Build(config, 2);
  ASSERT_TRUE(table.ok()) << table.status();
  const int w = (*table)->FindPool("w");
  uint8_t address[16] = {127, 77, 1, 9};
  (*table)->counters().CountAnswer(0, 0, w, 1, address);
  (*table)->counters().CountAnswer(1, 0, w, 1, address);
  EXPECT_EQ((*table)->counters().PartTotal(w, 1), 2u);

  const LiveWeights live = {{Key("w", "127.77.1.0/24"), 0}, {Key("w", "127.77.2.0/24"), 5}};
  auto next = (*table)->Reweighted(config, 2, live);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(&(*next)->matcher(), &(*table)->matcher());
  ASSERT_EQ((*next)->policies().size(), 1u);
  EXPECT_EQ((*next)->policies()[0].name, "x");
  EXPECT_EQ(Weights((*next)->pools()[w]), (std::vector<uint32_t>{3, 0, 5}));
  EXPECT_EQ(Weights((*table)->pools()[w]), (std::vector<uint32_t>{3, 1, 0})) << "untouched";
  EXPECT_EQ((*next)->counters().PartTotal(w, 1), 2u);
  EXPECT_EQ((*next)->counters().Policy(0, false), 2u);

  // The counts outlive the table they were counted in.
  table->reset();
  (*next)->counters().CountAnswer(0, 0, w, 1, address);
  EXPECT_EQ((*next)->counters().PartTotal(w, 1), 3u);
}

}  // namespace
}  // namespace agility::policy
