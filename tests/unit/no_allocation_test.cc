// The query path allocates nothing: every operator new in the process is
// counted while the responder answers a mix of queries.
#include <gtest/gtest.h>

#include <netinet/in.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "config/config.h"
#include "dns/responder.h"
#include "dns/wire.h"
#include "dns/zone_file.h"
#include "dns/zone_keys.h"
#include "policy/table.h"
#include "query_builder.h"
#include "test_keys.h"

namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  if (counting.load(std::memory_order_relaxed)) allocations.fetch_add(1);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace agility::dns {
namespace {

TEST(NoAllocationTest, RespondAllocatesNothing) {
  std::string zone_text =
      "$ORIGIN example.com.\n@ SOA ns h 1 2 3 4 300\n@ NS ns\n@ MX 10 mail\nns A 192.0.2.1\n"
      "mail A 192.0.2.2\nwww A 192.0.2.3\nalias CNAME www\n*.wild A 192.0.2.4\n"
      "sub NS ns.sub\nns.sub A 192.0.2.5\n";
  for (int i = 0; i < 40; ++i) zone_text += "big TXT \"" + std::string(100, 'x') + "\"\n";
  auto zone = ParseZoneText(zone_text, "z", "example.com.");
  ASSERT_TRUE(zone.ok()) << zone.status();
  ZoneSet zones;
  ASSERT_TRUE(zones.Add(std::move(*zone)).ok());
  auto config = config::ParseConfig(
      "zones: [z]\npools: {v4: 127.77.0.0/20, v6: \"fd00::/64\"}\n"
      "policies: [{name: p, match: [\"*.example.com\"], ipv4: v4, ipv6: v6}]\n",
      "c.yaml");
  ASSERT_TRUE(config.ok());
  auto table = policy::Table::Build(*config, 1);
  ASSERT_TRUE(table.ok());
  policy::Rng rng = policy::SeededRng(5);
  std::vector<std::vector<uint8_t>> queries;
  testing::QueryOptions edns;
  edns.edns = true;
  // DNS cookies: a client cookie alone, and with a (stale) server cookie.
  testing::QueryOptions cookie = edns;
  cookie.cookies = {std::vector<uint8_t>(8, 1)};
  testing::QueryOptions with_server_cookie = edns;
  with_server_cookie.cookies = {
      std::vector<uint8_t>{1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}};
  for (const char* name :
       {"www.example.com", "alias.example.com", "x.wild.example.com", "nothere.example.com",
        "a.sub.example.com", "example.com", "big.example.com", "example.org"}) {
    for (uint16_t qtype : {type::kA, type::kAaaa, type::kMx, type::kTxt, type::kAny}) {
      queries.push_back(testing::BuildQuery(name, qtype));
      queries.push_back(testing::BuildQuery(name, qtype, edns));
    }
    queries.push_back(testing::BuildQuery(name, type::kA, cookie));
    queries.push_back(testing::BuildQuery(name, type::kA, with_server_cookie));
  }
  const CookieSecrets secrets{{CookieSecret{}}};
  sockaddr_in client{};
  client.sin_family = AF_INET;
  const CookieContext cookies{secrets, reinterpret_cast<const sockaddr*>(&client), 1700000000};
  queries.push_back({1, 2, 3});  // runt
  std::vector<uint8_t> out(kMaxMessageSize);
  ResponderOptions options;
  size_t answered = 0;
  counting = true;
  for (int round = 0; round < 200; ++round) {
    for (const auto& q : queries) {
      policy::PoolDrawer drawer(**table, rng, 0);
      ResponseInfo info;
      const Transport transport = round % 2 ? Transport::kTcp : Transport::kUdp;
      answered += Respond(q.data(), q.size(), transport, zones, drawer, options, out.data(), &info,
                          nullptr, nullptr, &cookies) > 0;
    }
  }
  counting = false;
  EXPECT_EQ(allocations.load(), 0);
  EXPECT_GT(answered, 200u * (queries.size() - 1) - 1);
  // The counter works: an allocation while counting is seen.
  counting = true;
  auto* probe = new int(1);
  counting = false;
  delete probe;
  EXPECT_EQ(allocations.load(), 1);
}

// Signed zones with DO set: RRSIGs, NSEC lookups in canonical order, NSEC3
// hashing. The signatures are placeholders; only the code paths matter here.
TEST(NoAllocationTest, SignedAnswersAllocateNothing) {
  constexpr char kSig[] = " 13 2 300 20300101000000 20200101000000 1 example.com. AAAA";
  std::string nsec_zone = std::string("$ORIGIN example.com.\n@ SOA ns h 1 2 3 4 300\n@ NS ns\n") +
                          "@ DNSKEY 257 3 13 AAAA\n@ RRSIG SOA" + kSig + "\n@ RRSIG DNSKEY" + kSig +
                          "\n@ NSEC ns.example.com. NS SOA RRSIG NSEC DNSKEY\n" +
                          "ns A 192.0.2.1\nns RRSIG A" + kSig + "\nns NSEC *.w.example.com. A\n" +
                          "*.w A 192.0.2.2\n*.w RRSIG A" + kSig + "\n*.w NSEC example.com. A\n" +
                          "sub NS ns.sub\nsub NSEC *.w.example.com. NS\n";
  std::string nsec3_zone =
      std::string("$ORIGIN example.net.\n@ SOA ns h 1 2 3 4 300\n@ NS ns\n") +
      "@ DNSKEY 257 3 13 AAAA\n@ RRSIG SOA" + kSig + "\n@ NSEC3PARAM 1 0 5 abcd\n" +
      "ns A 192.0.2.1\n*.w A 192.0.2.2\n" +
      "0123456789abcdefghijklmnopqrstuv NSEC3 1 1 5 abcd 4123456789abcdefghijklmnopqrstuv A\n" +
      "4123456789abcdefghijklmnopqrstuv NSEC3 1 1 5 abcd 8123456789abcdefghijklmnopqrstuv A\n" +
      "8123456789abcdefghijklmnopqrstuv NSEC3 1 1 5 abcd 0123456789abcdefghijklmnopqrstuv A\n";
  ZoneSet zones;
  for (const auto& [text, origin] :
       {std::pair{nsec_zone, "example.com."}, std::pair{nsec3_zone, "example.net."}}) {
    auto zone = ParseZoneText(text, "z", origin);
    ASSERT_TRUE(zone.ok()) << zone.status();
    ASSERT_TRUE((*zone)->is_signed());
    ASSERT_TRUE(zones.Add(std::move(*zone)).ok());
  }
  auto config = config::ParseConfig("zones: [z]\n", "c.yaml");
  ASSERT_TRUE(config.ok());
  auto table = policy::Table::Build(*config, 1);
  ASSERT_TRUE(table.ok());
  policy::Rng rng = policy::SeededRng(5);
  testing::QueryOptions dnssec;
  dnssec.edns = true;
  dnssec.dnssec_ok = true;
  std::vector<std::vector<uint8_t>> queries;
  for (const char* apex : {"example.com", "example.net"}) {
    for (const char* label : {"", "ns.", "x.w.", "nothere.", "a.sub.", "sub."}) {
      for (uint16_t qtype : {type::kA, type::kTxt, type::kDs, type::kSoa}) {
        queries.push_back(testing::BuildQuery(std::string(label) + apex, qtype, dnssec));
      }
    }
  }
  std::vector<uint8_t> out(kMaxMessageSize);
  ResponderOptions options;
  size_t with_proofs = 0;
  allocations = 0;
  counting = true;
  for (int round = 0; round < 50; ++round) {
    for (const auto& q : queries) {
      policy::PoolDrawer drawer(**table, rng, 0);
      ResponseInfo info;
      const size_t size =
          Respond(q.data(), q.size(), Transport::kTcp, zones, drawer, options, out.data(), &info);
      with_proofs += size > 12 && ReadU16(out.data() + 8) > 1;  // SOA and more
    }
  }
  counting = false;
  EXPECT_EQ(allocations.load(), 0);
  EXPECT_GT(with_proofs, 50u * 8);
}

// A zone signed online, once its signatures are cached: answers, compact
// denials, the keys' RRsets and pool answers (from a /32, so that one round
// caches them all) come from the cache without allocating. A miss signs
// through OpenSSL, which allocates; that is the cache's price to avoid.
TEST(NoAllocationTest, CachedOnlineSignaturesAllocateNothing) {
  testing::TempDir keys_dir;
  testing::WriteKey(keys_dir.path(), "example.org", 257, false);
  testing::WriteKey(keys_dir.path(), "example.org", 256, false);
  auto zone = ParseZoneText(
      "$ORIGIN example.org.\n@ SOA ns h 1 2 3 4 300\n@ NS ns\nns A 192.0.2.1\n"
      "www A 192.0.2.3\nalias CNAME www\n*.wild A 192.0.2.4\npool A 192.0.2.5\n"
      "sub NS ns.sub\nns.sub A 192.0.2.6\n",
      "z", "example.org.");
  ASSERT_TRUE(zone.ok()) << zone.status();
  const std::string apex("\7example\3org\0", 13);
  auto keys = ZoneKeys::Load(apex, keys_dir.path(), 300);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ZoneSet zones;
  ASSERT_TRUE(zones.Add(std::move(*zone)).ok());
  ASSERT_TRUE(zones.SetKeys(*keys).ok());
  auto config = config::ParseConfig(
      "zones: [z]\npools: {one: 127.77.0.1/32}\n"
      "policies: [{name: p, match: [pool.example.org], ipv4: one}]\n",
      "c.yaml");
  ASSERT_TRUE(config.ok());
  auto table = policy::Table::Build(*config, 1);
  ASSERT_TRUE(table.ok());
  policy::Rng rng = policy::SeededRng(5);
  testing::QueryOptions dnssec;
  dnssec.edns = true;
  dnssec.dnssec_ok = true;
  std::vector<std::vector<uint8_t>> queries;
  for (const char* name :
       {"example.org", "www.example.org", "alias.example.org", "x.wild.example.org",
        "nothere.example.org", "a.sub.example.org", "sub.example.org", "pool.example.org"}) {
    for (uint16_t qtype : {type::kA, type::kTxt, type::kDs, type::kDnskey}) {
      queries.push_back(testing::BuildQuery(name, qtype, dnssec));
    }
  }
  std::vector<uint8_t> out(kMaxMessageSize);
  ResponderOptions options;
  OnlineSigner signer(1 << 20);
  const auto answer_all = [&] {
    for (const auto& q : queries) {
      policy::PoolDrawer drawer(**table, rng, 0);
      ResponseInfo info;
      Respond(q.data(), q.size(), Transport::kTcp, zones, drawer, options, out.data(), &info,
              &signer);
    }
  };
  answer_all();  // signs and caches
  const uint64_t made = signer.stats().made.Get();
  ASSERT_GT(made, 10u);
  allocations = 0;
  counting = true;
  for (int round = 0; round < 50; ++round) answer_all();
  counting = false;
  EXPECT_EQ(allocations.load(), 0);
  EXPECT_EQ(signer.stats().made.Get(), made);  // all from the cache
  EXPECT_GT(signer.stats().hits.Get(), 50u * 20);
}

}  // namespace
}  // namespace agility::dns
