#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "policy/pool.h"
#include "policy/prefix.h"

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

}  // namespace
}  // namespace agility::policy
