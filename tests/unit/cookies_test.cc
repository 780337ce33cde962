#include "dns/cookies.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace agility::dns {
namespace {

std::vector<uint8_t> Hex(const std::string& text) {
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i + 1 < text.size(); i += 2) {
    bytes.push_back(static_cast<uint8_t>(std::stoi(text.substr(i, 2), nullptr, 16)));
  }
  return bytes;
}

CookieSecret Secret(const std::string& hex) {
  CookieSecret secret;
  EXPECT_TRUE(ParseCookieSecret(hex, &secret)) << hex;
  return secret;
}

sockaddr_storage Address(const char* text) {
  sockaddr_storage storage{};
  if (inet_pton(AF_INET, text, &reinterpret_cast<sockaddr_in*>(&storage)->sin_addr) == 1) {
    storage.ss_family = AF_INET;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, text, &reinterpret_cast<sockaddr_in6*>(&storage)->sin6_addr), 1);
    storage.ss_family = AF_INET6;
  }
  return storage;
}

const sockaddr* As(const sockaddr_storage& storage) {
  return reinterpret_cast<const sockaddr*>(&storage);
}

std::vector<uint8_t> ServerCookie(const std::string& secret, const std::string& client_cookie,
                                  const char* client, uint32_t now) {
  std::vector<uint8_t> out(kServerCookieSize);
  const sockaddr_storage address = Address(client);
  MakeServerCookie(Secret(secret), Hex(client_cookie).data(), As(address), now, out.data());
  return out;
}

// The reference vector of the SipHash paper (Aumasson, Bernstein 2012,
// Appendix A): key 00..0f, message 00..0e.
TEST(SipHashTest, PaperVector) {
  CookieSecret key;
  for (int i = 0; i < 16; ++i) key[i] = static_cast<uint8_t>(i);
  uint8_t message[15];
  for (int i = 0; i < 15; ++i) message[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(SipHash24(key, message, sizeof(message)), 0xa129ca6149be45e5ULL);
  EXPECT_EQ(SipHash24(key, message, 0), 0x726fdb47dd0e0e31ULL);
  EXPECT_EQ(SipHash24(key, message, 8), 0x93f5f5799a932462ULL);
}

// RFC 9018 Appendix A: the examples, made and checked.
TEST(ServerCookieTest, Rfc9018AppendixA) {
  const std::string secret = "e5e973e5a6b2a43f48e7dc849e37bfcf";
  // A.1: learning a new server cookie.
  EXPECT_EQ(ServerCookie(secret, "2464c4abcf10c957", "198.51.100.100", 1559731985),
            Hex("010000005cf79f111f8130c3eee29480"));
  // A.2: the same client, a renewed cookie.
  EXPECT_EQ(ServerCookie(secret, "2464c4abcf10c957", "198.51.100.100", 1559734385),
            Hex("010000005cf7a871d4a564a1442aca77"));
  // A.3: another client, reserved octets set by another implementation: checked
  // as received, and still valid.
  CookieSecrets secrets{{Secret(secret)}};
  std::vector<uint8_t> option =
      Hex("fc93fc62807ddb86"
          "01abcdef5cf78f71a314227b6679ebf5");
  const sockaddr_storage client = Address("203.0.113.203");
  uint8_t reply[24];
  EXPECT_EQ(CheckCookie(secrets, option.data(), option.size(), As(client), 1559727985, reply),
            CookieCheck::kValid);
  EXPECT_EQ(std::vector<uint8_t>(reply, reply + 24), option);  // fresh: echoed
  // A.4: IPv6, the secret rolled over; the old cookie is still accepted, a new
  // one made with the new secret.
  const std::string old_secret = "dd3bdf9344b678b185a6f5cb60fca715";
  const std::string new_secret = "445536bcd2513298075a5d379663c962";
  EXPECT_EQ(ServerCookie(old_secret, "22681ab97d52c298", "2001:db8:220:1:59de:d0f4:8769:82b8",
                         1559741817),
            Hex("010000005cf7c57926556bd0934c72f8"));
  EXPECT_EQ(ServerCookie(new_secret, "22681ab97d52c298", "2001:db8:220:1:59de:d0f4:8769:82b8",
                         1559741961),
            Hex("010000005cf7c609a6bb79d16625507a"));
  CookieSecrets rolled{{Secret(new_secret), Secret(old_secret)}};
  option =
      Hex("22681ab97d52c298"
          "010000005cf7c57926556bd0934c72f8");
  const sockaddr_storage client6 = Address("2001:db8:220:1:59de:d0f4:8769:82b8");
  EXPECT_EQ(CheckCookie(rolled, option.data(), option.size(), As(client6), 1559741961, reply),
            CookieCheck::kValid);
  EXPECT_EQ(std::vector<uint8_t>(reply + 8, reply + 24), Hex("010000005cf7c609a6bb79d16625507a"));
}

class CheckCookieTest : public ::testing::Test {
 protected:
  static constexpr uint32_t kNow = 1700000000;
  CookieCheck Check(const std::vector<uint8_t>& option, uint32_t now = kNow,
                    const char* from = "192.0.2.7") {
    const sockaddr_storage client = Address(from);
    return CheckCookie(secrets_, option.data(), option.size(), As(client), now, reply_);
  }
  std::vector<uint8_t> Made(uint32_t at, const char* from = "192.0.2.7") {
    std::vector<uint8_t> option = client_cookie_;
    option.resize(24);
    const sockaddr_storage client = Address(from);
    MakeServerCookie(secrets_.secrets[0], client_cookie_.data(), As(client), at, option.data() + 8);
    return option;
  }

  CookieSecrets secrets_{{Secret("000102030405060708090a0b0c0d0e0f")}};
  std::vector<uint8_t> client_cookie_ = Hex("0123456789abcdef");
  uint8_t reply_[24];
};

TEST_F(CheckCookieTest, AClientCookieAloneGetsAFreshServerCookie) {
  EXPECT_EQ(Check(client_cookie_), CookieCheck::kClientOnly);
  EXPECT_EQ(std::vector<uint8_t>(reply_, reply_ + 24), Made(kNow));
}

TEST_F(CheckCookieTest, OursIsValidForAnHourAndRenewedAfterHalf) {
  EXPECT_EQ(Check(Made(kNow - 60)), CookieCheck::kValid);
  EXPECT_EQ(std::vector<uint8_t>(reply_, reply_ + 24), Made(kNow - 60));  // echoed
  EXPECT_EQ(Check(Made(kNow - 1900)), CookieCheck::kValid);
  EXPECT_EQ(std::vector<uint8_t>(reply_, reply_ + 24), Made(kNow));  // renewed
  EXPECT_EQ(Check(Made(kNow - 3600)), CookieCheck::kValid);
  EXPECT_EQ(Check(Made(kNow - 3601)), CookieCheck::kClientOnly);
  EXPECT_EQ(std::vector<uint8_t>(reply_, reply_ + 24), Made(kNow));
  // A fleet member's clock five minutes ahead is tolerated, not more.
  EXPECT_EQ(Check(Made(kNow + 300)), CookieCheck::kValid);
  EXPECT_EQ(Check(Made(kNow + 301)), CookieCheck::kClientOnly);
}

TEST_F(CheckCookieTest, AnotherAddressOrSecretOrVersionIsNotValid) {
  EXPECT_EQ(Check(Made(kNow), kNow, "192.0.2.8"), CookieCheck::kClientOnly);
  EXPECT_EQ(Check(Made(kNow, "2001:db8::7"), kNow, "2001:db8::7"), CookieCheck::kValid);
  EXPECT_EQ(Check(Made(kNow, "2001:db8::7"), kNow, "2001:db8::8"), CookieCheck::kClientOnly);
  std::vector<uint8_t> tampered = Made(kNow);
  tampered[23] ^= 1;
  EXPECT_EQ(Check(tampered), CookieCheck::kClientOnly);
  std::vector<uint8_t> version_two = Made(kNow);
  version_two[8] = 2;
  EXPECT_EQ(Check(version_two), CookieCheck::kClientOnly);
  // Not a size we make (8 to 32 octets are allowed): a new one.
  std::vector<uint8_t> longer = Made(kNow);
  longer.push_back(0);
  EXPECT_EQ(Check(longer), CookieCheck::kClientOnly);
  const std::vector<uint8_t> ours = Made(kNow);
  secrets_.secrets.insert(secrets_.secrets.begin(), Secret("ffeeddccbbaa99887766554433221100"));
  EXPECT_EQ(Check(ours), CookieCheck::kValid);  // rotated: the old secret still checks
  EXPECT_EQ(std::vector<uint8_t>(reply_, reply_ + 24), Made(kNow));  // made by the new one
}

TEST(CookieSecretTest, ThirtyTwoHexDigits) {
  CookieSecret secret;
  EXPECT_TRUE(ParseCookieSecret("E5E973E5A6B2A43F48E7DC849E37BFCF", &secret));
  EXPECT_EQ(secret[0], 0xe5);
  EXPECT_EQ(secret[15], 0xcf);
  EXPECT_FALSE(ParseCookieSecret("e5e973e5a6b2a43f48e7dc849e37bfc", &secret));
  EXPECT_FALSE(ParseCookieSecret("e5e973e5a6b2a43f48e7dc849e37bfcf00", &secret));
  EXPECT_FALSE(ParseCookieSecret("g5e973e5a6b2a43f48e7dc849e37bfcf", &secret));
}

}  // namespace
}  // namespace agility::dns
