#include "dns/rate_limiter.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "dns/name.h"

namespace agility::dns {
namespace {

sockaddr_storage Address(const char* text) {
  sockaddr_storage s = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&s);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&s);
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, text, &v6->sin6_addr), 1);
    v6->sin6_family = AF_INET6;
  }
  return s;
}

class RateLimiterTest : public ::testing::Test {
 protected:
  RateLimiter::Verdict Check(const char* client, uint64_t now_ms,
                             ResponseKind kind = ResponseKind::kAnswer,
                             const char* name = "www.example.com") {
    const sockaddr_storage address = Address(client);
    return limiter_.Check(reinterpret_cast<const sockaddr*>(&address), kind, *NameFromText(name),
                          now_ms);
  }
  RateLimitConfig config_{5, 2, 24, 56, 1024};
  RateLimiter limiter_{config_};
};

TEST_F(RateLimiterTest, BurstThenSlipAndDropAlternate) {
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Check("192.0.2.1", 1000), RateLimiter::Verdict::kSend);
  EXPECT_EQ(Check("192.0.2.1", 1000), RateLimiter::Verdict::kDrop);
  EXPECT_EQ(Check("192.0.2.1", 1000), RateLimiter::Verdict::kSlip);
  EXPECT_EQ(Check("192.0.2.1", 1000), RateLimiter::Verdict::kDrop);
  EXPECT_EQ(Check("192.0.2.1", 1000), RateLimiter::Verdict::kSlip);
}

TEST_F(RateLimiterTest, TokensRefillAtTheRate) {
  for (int i = 0; i < 5; ++i) Check("192.0.2.1", 1000);
  EXPECT_NE(Check("192.0.2.1", 1000), RateLimiter::Verdict::kSend);
  // 5 per second: one token every 200 ms.
  EXPECT_NE(Check("192.0.2.1", 1150), RateLimiter::Verdict::kSend);
  EXPECT_EQ(Check("192.0.2.1", 1400), RateLimiter::Verdict::kSend);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Check("192.0.2.1", 3000), RateLimiter::Verdict::kSend);
  EXPECT_NE(Check("192.0.2.1", 3000), RateLimiter::Verdict::kSend);
}

TEST_F(RateLimiterTest, BucketsPerNetworkKindAndName) {
  for (int i = 0; i < 5; ++i) Check("192.0.2.1", 1000);
  EXPECT_NE(Check("192.0.2.200", 1000), RateLimiter::Verdict::kSend) << "same /24";
  EXPECT_EQ(Check("192.0.3.1", 1000), RateLimiter::Verdict::kSend) << "another /24";
  EXPECT_EQ(Check("192.0.2.1", 1000, ResponseKind::kNxDomain), RateLimiter::Verdict::kSend);
  EXPECT_EQ(Check("192.0.2.1", 1000, ResponseKind::kAnswer, "mail.example.com"),
            RateLimiter::Verdict::kSend);
  for (int i = 0; i < 5; ++i) Check("2001:db8:0:1::1", 1000);
  EXPECT_NE(Check("2001:db8:0:ff::2", 1000), RateLimiter::Verdict::kSend) << "same /56";
  EXPECT_EQ(Check("2001:db8:0:100::1", 1000), RateLimiter::Verdict::kSend) << "another /56";
}

TEST(RateLimiterSlipTest, NoSlipMeansDrop) {
  RateLimiter limiter({1, 0, 24, 56, 64});
  const sockaddr_storage a = Address("198.51.100.1");
  const std::string name = *NameFromText("example.com");
  const auto* client = reinterpret_cast<const sockaddr*>(&a);
  EXPECT_EQ(limiter.Check(client, ResponseKind::kAny, name, 10), RateLimiter::Verdict::kSend);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(limiter.Check(client, ResponseKind::kAny, name, 10), RateLimiter::Verdict::kDrop);
  }
}

TEST(RateLimiterThreadsTest, WorkersShareOneBudget) {
  // SO_REUSEPORT spreads one client's queries over the workers: together
  // they must get one bucket's worth, not one per worker.
  RateLimiter limiter({5, 2, 24, 56, 1024});
  const sockaddr_storage a = Address("203.0.113.7");
  const auto* client = reinterpret_cast<const sockaddr*>(&a);
  const std::string name = *NameFromText("www.example.com");
  ASSERT_EQ(limiter.Check(client, ResponseKind::kAnswer, name, 1000), RateLimiter::Verdict::kSend);
  std::atomic<int> sent{0}, slipped{0}, dropped{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        switch (limiter.Check(client, ResponseKind::kAnswer, name, 1000)) {
          case RateLimiter::Verdict::kSend:
            ++sent;
            break;
          case RateLimiter::Verdict::kSlip:
            ++slipped;
            break;
          case RateLimiter::Verdict::kDrop:
            ++dropped;
            break;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  EXPECT_EQ(sent.load(), 4) << "the burst of 5, less the one sent before";
  EXPECT_EQ(slipped.load() + dropped.load(), 8000 - 4);
  EXPECT_EQ(slipped.load(), (8000 - 4) / 2) << "every second limited response slips";
}

}  // namespace
}  // namespace agility::dns
