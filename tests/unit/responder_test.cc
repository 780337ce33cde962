#include "dns/responder.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>

#include "config/config.h"
#include "dns/wire.h"
#include "dns/zone_file.h"
#include "policy/table.h"
#include "query_builder.h"
#include "responder_fixture.h"

namespace agility::dns {
namespace {

using testing::BuildQuery;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::ParseResponse;
using testing::QueryOptions;
using testing::SectionText;
using ::testing::UnorderedElementsAre;

constexpr const char* kZone = fixtures::kResponderZone;

const std::string kConfig = std::string("zones: [test.zone]\n") + fixtures::kResponderPolicies;

std::string BigTxtZone() {
  std::string zone = kZone;
  for (int i = 0; i < 40; ++i) {
    zone += "big TXT \"" + std::string(90, static_cast<char>('a' + i % 26)) + std::to_string(i) +
            "\"\n";
  }
  return zone;
}

class ResponderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto zone = ParseZoneText(BigTxtZone(), "test.zone", "example.com.");
    ASSERT_TRUE(zone.ok()) << zone.status();
    ASSERT_TRUE(zones_.Add(std::move(*zone)).ok());
    auto config = config::ParseConfig(kConfig, "/tmp/agility-test.yaml");
    ASSERT_TRUE(config.ok()) << config.status();
    auto table = policy::Table::Build(*config, 1);
    ASSERT_TRUE(table.ok()) << table.status();
    table_ = std::move(*table);
  }

  struct Reply {
    std::vector<uint8_t> wire;
    testing::Packet packet;
    ResponseInfo info;
  };

  Reply AskRaw(const std::vector<uint8_t>& query, Transport transport = Transport::kUdp) {
    Reply r;
    r.wire.resize(kMaxMessageSize);
    policy::PoolDrawer drawer(*table_, rng_, 0);
    const size_t size = Respond(query.data(), query.size(), transport, zones_, drawer, options_,
                                r.wire.data(), &r.info, nullptr, nullptr, cookies_);
    r.wire.resize(size);
    if (size > 0) r.packet = ParseResponse(r.wire.data(), size);
    return r;
  }

  Reply Ask(const std::string& name, uint16_t qtype, QueryOptions options = {},
            Transport transport = Transport::kUdp) {
    Reply r = AskRaw(BuildQuery(name, qtype, options), transport);
    EXPECT_NE(r.packet, nullptr) << "unparseable response to " << name;
    return r;
  }

  static std::vector<std::string> Answer(const Reply& r) {
    return SectionText(ldns_pkt_answer(r.packet.get()));
  }
  static std::vector<std::string> Authority(const Reply& r) {
    return SectionText(ldns_pkt_authority(r.packet.get()));
  }
  static std::vector<std::string> Additional(const Reply& r) {
    return SectionText(ldns_pkt_additional(r.packet.get()));
  }
  static int Rcode(const Reply& r) { return ldns_pkt_get_rcode(r.packet.get()); }
  static bool Aa(const Reply& r) { return ldns_pkt_aa(r.packet.get()); }

  // A FORMERR found after a sound question echoes the question, as Knot does,
  // but no OPT: the query's own was not valid.
  static void ExpectFormErrEchoingQuestion(const Reply& r) {
    ASSERT_NE(r.packet, nullptr);
    EXPECT_EQ(ldns_pkt_get_rcode(r.packet.get()), LDNS_RCODE_FORMERR);
    EXPECT_EQ(ldns_pkt_qdcount(r.packet.get()), 1);
    EXPECT_EQ(ldns_pkt_arcount(r.packet.get()), 0);
    EXPECT_FALSE(ldns_pkt_edns(r.packet.get()));
  }

  // The address bytes of answer record `i`.
  static std::vector<uint8_t> Address(const Reply& r, size_t i) {
    const ldns_rr* rr = ldns_rr_list_rr(ldns_pkt_answer(r.packet.get()), i);
    const ldns_rdf* rdf = ldns_rr_rdf(rr, 0);
    return {ldns_rdf_data(rdf), ldns_rdf_data(rdf) + ldns_rdf_size(rdf)};
  }

  static std::vector<uint8_t> Bytes(int family, const char* text) {
    uint8_t buffer[16];
    EXPECT_EQ(inet_pton(family, text, buffer), 1);
    return {buffer, buffer + (family == AF_INET ? 4 : 16)};
  }

  ZoneSet zones_;
  std::unique_ptr<policy::Table> table_;
  policy::Rng rng_ = policy::SeededRng(7);
  ResponderOptions options_;
  const CookieContext* cookies_ = nullptr;
};

TEST_F(ResponderTest, PoolAnswerForPolicyName) {
  for (int i = 0; i < 50; ++i) {
    const Reply r = Ask("www.cdn.example.com", type::kA);
    EXPECT_EQ(Rcode(r), LDNS_RCODE_NOERROR);
    EXPECT_TRUE(Aa(r));
    ASSERT_EQ(ldns_pkt_ancount(r.packet.get()), 1);
    const ldns_rr* rr = ldns_rr_list_rr(ldns_pkt_answer(r.packet.get()), 0);
    EXPECT_EQ(ldns_rr_get_type(rr), LDNS_RR_TYPE_A);
    EXPECT_EQ(ldns_rr_ttl(rr), 60u);
    const auto address = Address(r, 0);
    EXPECT_EQ(address[0], 127);
    EXPECT_EQ(address[1], 77);
    EXPECT_LT(address[2], 16) << "outside 127.77.0.0/20";
    EXPECT_TRUE(r.info.pool_answer);
  }
}

TEST_F(ResponderTest, PoolAnswerIpv6) {
  const Reply r = Ask("www.cdn.example.com", type::kAaaa);
  ASSERT_EQ(ldns_pkt_ancount(r.packet.get()), 1);
  const auto address = Address(r, 0);
  const auto base = Bytes(AF_INET6, "fd00:77::");
  EXPECT_TRUE(std::equal(base.begin(), base.begin() + 5, address.begin()));
  EXPECT_EQ(address[5] & 0xf0, 0) << "outside fd00:77::/44";
}

TEST_F(ResponderTest, ExactPatternBeatsWildcard) {
  const Reply r = Ask("special.cdn.example.com", type::kA);
  EXPECT_THAT(Answer(r), ElementsAre("special.cdn.example.com. 30 IN A 127.79.0.1"));
}

TEST_F(ResponderTest, LongerWildcardSuffixWins) {
  const Reply r = Ask("x.deep.cdn.example.com", type::kA);
  ASSERT_EQ(ldns_pkt_ancount(r.packet.get()), 1);
  const auto address = Address(r, 0);
  EXPECT_EQ(std::vector<uint8_t>(address.begin(), address.begin() + 3),
            (std::vector<uint8_t>{127, 78, 1}));
  EXPECT_EQ(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(r.packet.get()), 0)), 45u);
}

TEST_F(ResponderTest, WildcardPatternDoesNotMatchItsOwnApex) {
  // "*.cdn.example.com" is strictly below cdn.example.com.
  const Reply r = Ask("cdn.example.com", type::kA);
  EXPECT_THAT(Answer(r), ElementsAre("cdn.example.com. 3600 IN A 192.0.2.79"));
}

TEST_F(ResponderTest, FamilyWithoutPoolServesZoneRecords) {
  const Reply v6 = Ask("host.v4.example.com", type::kAaaa);
  EXPECT_THAT(Answer(v6), ElementsAre("host.v4.example.com. 3600 IN AAAA 2001:db8::44"));
  const Reply v4 = Ask("host.v4.example.com", type::kA);
  ASSERT_EQ(ldns_pkt_ancount(v4.packet.get()), 1);
  EXPECT_EQ(Address(v4, 0)[1], 77);
}

TEST_F(ResponderTest, PolicyAppliesToExistingNamesOnly) {
  const Reply r = Ask("nothere.cdn.example.com", type::kA);
  EXPECT_EQ(Rcode(r), LDNS_RCODE_NXDOMAIN);
}

TEST_F(ResponderTest, PolicyAppliesToNameWithoutAddressRecords) {
  const Reply r = Ask("txt.cdn.example.com", type::kA);
  ASSERT_EQ(ldns_pkt_ancount(r.packet.get()), 1);
  EXPECT_EQ(Address(r, 0)[1], 77);
}

TEST_F(ResponderTest, PolicyAppliesThroughZoneWildcard) {
  const Reply r = Ask("anything.w.cdn.example.com", type::kA);
  ASSERT_EQ(ldns_pkt_ancount(r.packet.get()), 1);
  const ldns_rr* rr = ldns_rr_list_rr(ldns_pkt_answer(r.packet.get()), 0);
  char* owner = ldns_rdf2str(ldns_rr_owner(rr));
  EXPECT_STREQ(owner, "anything.w.cdn.example.com.");
  free(owner);
  EXPECT_EQ(Address(r, 0)[1], 77);
}

TEST_F(ResponderTest, CnameWinsOverPolicy) {
  const Reply r = Ask("cname.cdn.example.com", type::kA);
  EXPECT_THAT(Answer(r), ElementsAre("cname.cdn.example.com. 3600 IN CNAME plain.example.com.",
                                     "plain.example.com. 3600 IN A 192.0.2.10"));
}

TEST_F(ResponderTest, CnameToPolicyNameGetsPoolAnswer) {
  const Reply r = Ask("to-cdn.example.com", type::kA);
  ASSERT_EQ(ldns_pkt_ancount(r.packet.get()), 2);
  EXPECT_EQ(Answer(r)[0], "to-cdn.example.com. 3600 IN CNAME www.cdn.example.com.");
  EXPECT_EQ(Address(r, 1)[1], 77);
}

TEST_F(ResponderTest, NxDomainCarriesSoaWithNegativeTtl) {
  const Reply r = Ask("nope.example.com", type::kA);
  EXPECT_EQ(Rcode(r), LDNS_RCODE_NXDOMAIN);
  EXPECT_TRUE(Aa(r));
  EXPECT_THAT(Answer(r), ElementsAre());
  EXPECT_THAT(Authority(r), ElementsAre("example.com. 300 IN SOA ns1.example.com. "
                                        "hostmaster.example.com. 42 7200 3600 1209600 300"));
}

TEST_F(ResponderTest, NoDataCarriesSoa) {
  const Reply r = Ask("txtonly.example.com", type::kA);
  EXPECT_EQ(Rcode(r), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(Aa(r));
  EXPECT_THAT(Answer(r), ElementsAre());
  ASSERT_EQ(Authority(r).size(), 1u);
  EXPECT_THAT(Authority(r)[0], HasSubstr("IN SOA"));
}

TEST_F(ResponderTest, EmptyNonTerminalIsNoData) {
  for (const char* name : {"b.c.example.com", "c.example.com"}) {
    const Reply r = Ask(name, type::kA);
    EXPECT_EQ(Rcode(r), LDNS_RCODE_NOERROR) << name;
    EXPECT_THAT(Answer(r), ElementsAre()) << name;
    EXPECT_EQ(Authority(r).size(), 1u) << name;
  }
  EXPECT_EQ(Rcode(Ask("x.c.example.com", type::kA)), LDNS_RCODE_NXDOMAIN);
}

TEST_F(ResponderTest, CnameChainFollowedInZone) {
  const Reply r = Ask("chain1.example.com", type::kAaaa);
  EXPECT_THAT(Answer(r), ElementsAre("chain1.example.com. 3600 IN CNAME chain2.example.com.",
                                     "chain2.example.com. 3600 IN CNAME plain.example.com.",
                                     "plain.example.com. 3600 IN AAAA 2001:db8::10"));
}

TEST_F(ResponderTest, CnameLoopStopsBeforeRepeating) {
  const Reply r = Ask("loop1.example.com", type::kA);
  EXPECT_EQ(Rcode(r), LDNS_RCODE_NOERROR);
  EXPECT_THAT(Answer(r), ElementsAre("loop1.example.com. 3600 IN CNAME loop2.example.com.",
                                     "loop2.example.com. 3600 IN CNAME loop1.example.com."));
}

TEST_F(ResponderTest, CnameIntoDelegationAddsReferral) {
  const Reply r = Ask("to-sub.example.com", type::kA);
  EXPECT_TRUE(Aa(r));
  EXPECT_THAT(Answer(r), ElementsAre("to-sub.example.com. 3600 IN CNAME host.sub.example.com."));
  EXPECT_EQ(Authority(r).size(), 2u);
  EXPECT_THAT(Additional(r), ElementsAre("ns.sub.example.com. 3600 IN A 192.0.2.53"));
}

TEST_F(ResponderTest, AnyAtCnameUnderPolicyIsTheCname) {
  const Reply r = Ask("cname.cdn.example.com", type::kAny);
  EXPECT_THAT(Answer(r), ElementsAre("cname.cdn.example.com. 3600 IN CNAME plain.example.com."));
  EXPECT_FALSE(r.info.pool_answer);
}

TEST_F(ResponderTest, CnameOutOfZoneStops) {
  const Reply r = Ask("outside.example.com", type::kA);
  EXPECT_THAT(Answer(r), ElementsAre("outside.example.com. 3600 IN CNAME www.example.net."));
  EXPECT_EQ(Rcode(r), LDNS_RCODE_NOERROR);
}

TEST_F(ResponderTest, DanglingCnameIsNxDomain) {
  const Reply r = Ask("dangling.example.com", type::kA);
  EXPECT_THAT(Answer(r), ElementsAre("dangling.example.com. 3600 IN CNAME missing.example.com."));
  EXPECT_EQ(Rcode(r), LDNS_RCODE_NXDOMAIN);  // RFC 6604
  EXPECT_EQ(Authority(r).size(), 1u);
}

TEST_F(ResponderTest, CnameQueryReturnsCnameOnly) {
  const Reply r = Ask("alias.example.com", type::kCname);
  EXPECT_THAT(Answer(r), ElementsAre("alias.example.com. 3600 IN CNAME plain.example.com."));
}

TEST_F(ResponderTest, ZoneWildcardSynthesizesQueriedName) {
  const Reply a = Ask("host.wild.example.com", type::kA);
  EXPECT_THAT(Answer(a), ElementsAre("host.wild.example.com. 3600 IN A 192.0.2.99"));
  const Reply txt = Ask("x.y.wild.example.com", type::kTxt);
  EXPECT_THAT(Answer(txt), ElementsAre("x.y.wild.example.com. 3600 IN TXT \"wild\""));
  const Reply nodata = Ask("host.wild.example.com", type::kMx);
  EXPECT_EQ(Rcode(nodata), LDNS_RCODE_NOERROR);
  EXPECT_THAT(Answer(nodata), ElementsAre());
}

TEST_F(ResponderTest, ReferralForDelegation) {
  for (const char* name : {"sub.example.com", "x.sub.example.com", "ns.sub.example.com"}) {
    const Reply r = Ask(name, type::kA);
    EXPECT_EQ(Rcode(r), LDNS_RCODE_NOERROR) << name;
    EXPECT_FALSE(Aa(r)) << name;
    EXPECT_THAT(Answer(r), ElementsAre()) << name;
    EXPECT_THAT(Authority(r),
                UnorderedElementsAre("sub.example.com. 3600 IN NS ns.other.net.",
                                     "sub.example.com. 3600 IN NS ns.sub.example.com."))
        << name;
    EXPECT_THAT(Additional(r), ElementsAre("ns.sub.example.com. 3600 IN A 192.0.2.53")) << name;
  }
}

TEST_F(ResponderTest, DsAtCutAnsweredByParent) {
  const Reply r = Ask("sub.example.com", type::kDs);
  EXPECT_TRUE(Aa(r));
  EXPECT_THAT(Answer(r), ElementsAre());
  ASSERT_EQ(Authority(r).size(), 1u);
  EXPECT_THAT(Authority(r)[0], HasSubstr("SOA"));
}

TEST_F(ResponderTest, DsAtChildApexAnsweredByLoadedParent) {
  auto child = ParseZoneText(
      "@ 600 SOA ns hostmaster 9 1 2 3 60\n@ 600 NS ns\nns 600 A 192.0.2.53\n"
      "www 600 A 192.0.2.80\n",
      "sub.zone", "sub.example.com.");
  ASSERT_TRUE(child.ok()) << child.status();
  ASSERT_TRUE(zones_.Add(std::move(*child)).ok());
  // The child answers for its own names, SOA included...
  EXPECT_THAT(Answer(Ask("sub.example.com", type::kSoa))[0], HasSubstr("hostmaster.sub"));
  EXPECT_EQ(Answer(Ask("www.sub.example.com", type::kA)).size(), 1u);
  // ...but DS at its apex comes from the parent: NODATA with the parent's SOA.
  const Reply ds = Ask("sub.example.com", type::kDs);
  EXPECT_TRUE(Aa(ds));
  EXPECT_THAT(Answer(ds), ElementsAre());
  ASSERT_EQ(Authority(ds).size(), 1u);
  EXPECT_THAT(Authority(ds)[0], HasSubstr("hostmaster.example.com"));
}

class DnameTest : public ResponderTest {
 protected:
  void SetUp() override {
    ResponderTest::SetUp();
    zones_ = ZoneSet();
    auto zone = ParseZoneText(
        "@ SOA ns hostmaster 1 2 3 4 60\n@ NS ns\nns A 192.0.2.1\n"
        "out 300 DNAME target.example.net.\n"
        "in DNAME inside.example.com.\n"
        "a.inside A 192.0.2.5\n"
        "occluded.in A 192.0.2.99\n"
        "long DNAME " +
            std::string(60, 'x') + "." + std::string(60, 'y') + "." + std::string(60, 'z') +
            ".example.com.\n",
        "z.zone", "example.com.");
    ASSERT_TRUE(zone.ok()) << zone.status();
    ASSERT_TRUE(zones_.Add(std::move(*zone)).ok());
  }
};

TEST_F(DnameTest, RedirectsOutOfZoneWithSynthesizedCname) {
  const Reply r = Ask("x.out.example.com", type::kA);
  EXPECT_EQ(Rcode(r), LDNS_RCODE_NOERROR);
  EXPECT_TRUE(Aa(r));
  EXPECT_THAT(Answer(r), ElementsAre("out.example.com. 300 IN DNAME target.example.net.",
                                     "x.out.example.com. 300 IN CNAME x.target.example.net."));
}

TEST_F(DnameTest, FollowsInZoneTargetsAndOccludesData) {
  EXPECT_THAT(Answer(Ask("a.in.example.com", type::kA)),
              ElementsAre(HasSubstr("DNAME inside.example.com."),
                          HasSubstr("a.in.example.com. 3600 IN CNAME a.inside.example.com."),
                          HasSubstr("a.inside.example.com. 3600 IN A 192.0.2.5")));
  // Data below a DNAME is occluded: the redirection answers instead.
  const Reply occluded = Ask("occluded.in.example.com", type::kA);
  EXPECT_EQ(Rcode(occluded), LDNS_RCODE_NXDOMAIN);  // occluded.inside does not exist
  EXPECT_THAT(Answer(occluded)[0], HasSubstr("DNAME"));
}

TEST_F(DnameTest, OwnerItselfIsNotRedirected) {
  EXPECT_THAT(Answer(Ask("out.example.com", type::kDname)),
              ElementsAre(HasSubstr("DNAME target.example.net.")));
  const Reply nodata = Ask("out.example.com", type::kA);
  EXPECT_THAT(Answer(nodata), ElementsAre());
  EXPECT_THAT(Authority(nodata)[0], HasSubstr("SOA"));
}

TEST_F(DnameTest, OverlongSubstitutionIsYxDomain) {
  const Reply r = Ask(std::string(60, 'a') + ".long.example.com", type::kA);
  EXPECT_EQ(Rcode(r), LDNS_RCODE_YXDOMAIN);
  EXPECT_THAT(Answer(r), ElementsAre(HasSubstr("DNAME")));
}

TEST_F(ResponderTest, RefusedOutsideZones) {
  const Reply r = Ask("www.example.org", type::kA);
  EXPECT_EQ(Rcode(r), LDNS_RCODE_REFUSED);
  EXPECT_FALSE(Aa(r));
}

TEST_F(ResponderTest, QuestionEchoedWithCaseAndOwnerCompressed) {
  const auto query = BuildQuery("PlAiN.ExAmPlE.CoM", type::kA);
  const Reply r = AskRaw(query);
  const size_t question_end = query.size();
  ASSERT_GT(r.wire.size(), question_end + 2);
  EXPECT_TRUE(std::equal(query.begin() + 12, query.end(), r.wire.begin() + 12));
  // The answer owner is a pointer to the question name.
  EXPECT_EQ(r.wire[question_end], 0xc0);
  EXPECT_EQ(r.wire[question_end + 1], 12);
}

TEST_F(ResponderTest, MxAndSrvTargetsInAdditional) {
  const Reply mx = Ask("example.com", type::kMx);
  EXPECT_THAT(Additional(mx), ElementsAre("mail.example.com. 3600 IN A 192.0.2.25",
                                          "mail.example.com. 3600 IN AAAA 2001:db8::25"));
  const Reply srv = Ask("_sip._udp.example.com", type::kSrv);
  EXPECT_EQ(Additional(srv).size(), 2u);
  const Reply ns = Ask("example.com", type::kNs);
  EXPECT_THAT(Additional(ns), ElementsAre("ns1.example.com. 3600 IN A 192.0.2.1"));
}

TEST_F(ResponderTest, SharedTargetsGetTheirAddressesOnce) {
  const Reply srv = Ask("_sip._tcp.example.com", type::kSrv);
  EXPECT_EQ(Answer(srv).size(), 3u);
  EXPECT_THAT(Additional(srv), UnorderedElementsAre("mail.example.com. 3600 IN A 192.0.2.25",
                                                    "mail.example.com. 3600 IN AAAA 2001:db8::25",
                                                    "ns1.example.com. 3600 IN A 192.0.2.1"));
  // A policy target is drawn once, not once per record.
  const Reply web = Ask("_web._tcp.example.com", type::kSrv);
  EXPECT_EQ(Answer(web).size(), 2u);
  const auto additional = Additional(web);
  ASSERT_EQ(additional.size(), 2u);  // one A, one AAAA from the cdn pools
  EXPECT_THAT(additional[0], HasSubstr(" IN A 127.77."));
  EXPECT_THAT(additional[1], HasSubstr(" IN AAAA fd00:77:"));
}

TEST_F(ResponderTest, AnyReturnsOneRrset) {
  const Reply r = Ask("plain.example.com", type::kAny);
  ASSERT_EQ(ldns_pkt_ancount(r.packet.get()), 1);
  const Reply pool = Ask("www.cdn.example.com", type::kAny);
  ASSERT_EQ(ldns_pkt_ancount(pool.packet.get()), 1);
  EXPECT_EQ(Address(pool, 0)[1], 77);
}

TEST_F(ResponderTest, EdnsEchoedWithOurSize) {
  QueryOptions o;
  o.edns = true;
  o.udp_size = 4096;
  const Reply r = Ask("plain.example.com", type::kA, o);
  EXPECT_TRUE(ldns_pkt_edns(r.packet.get()));
  EXPECT_EQ(ldns_pkt_edns_udp_size(r.packet.get()), 1232);
  const Reply without = Ask("plain.example.com", type::kA);
  EXPECT_FALSE(ldns_pkt_edns(without.packet.get()));
}

class CookieResponderTest : public ResponderTest {
 protected:
  void SetUp() override {
    ResponderTest::SetUp();
    inet_pton(AF_INET, "192.0.2.7", &client_.sin_addr);
    client_.sin_family = AF_INET;
  }
  QueryOptions WithCookie(std::vector<uint8_t> cookie) {
    QueryOptions o;
    o.edns = true;
    o.cookies.push_back(std::move(cookie));
    return o;
  }
  static constexpr uint32_t kNow = 1700000000;
  CookieSecrets secrets_{{CookieSecret{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}}};
  sockaddr_in client_{};
  CookieContext context_{secrets_, reinterpret_cast<const sockaddr*>(&client_), kNow};
  const std::vector<uint8_t> client_cookie_ = {1, 1, 2, 3, 5, 8, 13, 21};
  // DNS cookies (RFC 7873): the option our OPT carries, found with ldns.
  static std::string CookieOption(const Reply& r) {
    const ldns_rdf* data = ldns_pkt_edns_data(r.packet.get());
    if (data == nullptr) return "";
    const std::string options(reinterpret_cast<const char*>(ldns_rdf_data(data)),
                              ldns_rdf_size(data));
    for (size_t at = 0; at + 4 <= options.size();) {
      const size_t length =
          static_cast<uint8_t>(options[at + 2]) << 8 | static_cast<uint8_t>(options[at + 3]);
      if (options[at] == 0 && options[at + 1] == 10) return options.substr(at + 4, length);
      at += 4 + length;
    }
    return "";
  }
};

TEST_F(CookieResponderTest, WithoutCookiesTheOptionIsIgnored) {
  const Reply r = Ask("plain.example.com", type::kA, WithCookie({1, 2, 3}));  // even malformed
  EXPECT_EQ(Rcode(r), LDNS_RCODE_NOERROR);
  EXPECT_EQ(CookieOption(r), "");
  EXPECT_EQ(r.info.cookie, CookieCheck::kNone);
}

TEST_F(CookieResponderTest, AClientCookieIsAnsweredWithOurs) {
  cookies_ = &context_;
  const Reply first = Ask("plain.example.com", type::kA, WithCookie(client_cookie_));
  EXPECT_EQ(Rcode(first), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_ancount(first.packet.get()), 1);
  EXPECT_EQ(first.info.cookie, CookieCheck::kClientOnly);
  const std::string cookie = CookieOption(first);
  ASSERT_EQ(cookie.size(), 24u);
  EXPECT_EQ(cookie.substr(0, 8), std::string(client_cookie_.begin(), client_cookie_.end()));
  uint8_t expected[16];
  MakeServerCookie(secrets_.secrets[0], client_cookie_.data(),
                   reinterpret_cast<const sockaddr*>(&client_), kNow, expected);
  EXPECT_EQ(cookie.substr(8), std::string(expected, expected + 16));
  // Sent back, it is valid, and echoed.
  const Reply second =
      Ask("plain.example.com", type::kA, WithCookie({cookie.begin(), cookie.end()}));
  EXPECT_EQ(second.info.cookie, CookieCheck::kValid);
  EXPECT_EQ(CookieOption(second), cookie);
  // Errors carry it too; a query without one gets none.
  EXPECT_EQ(CookieOption(Ask("elsewhere.org", type::kA, WithCookie(client_cookie_))).size(), 24u);
  QueryOptions plain;
  plain.edns = true;
  EXPECT_EQ(CookieOption(Ask("plain.example.com", type::kA, plain)), "");
}

TEST_F(CookieResponderTest, MalformedCookiesAreFormErr) {
  cookies_ = &context_;
  for (const size_t size : {0, 1, 7, 9, 15, 41}) {
    const Reply r = Ask("plain.example.com", type::kA, WithCookie(std::vector<uint8_t>(size, 7)));
    EXPECT_EQ(Rcode(r), LDNS_RCODE_FORMERR) << size;
    EXPECT_EQ(ldns_pkt_ancount(r.packet.get()), 0) << size;
    EXPECT_EQ(CookieOption(r), "") << size;
  }
  for (const size_t size : {8, 16, 40}) {
    EXPECT_EQ(Rcode(Ask("plain.example.com", type::kA, WithCookie(std::vector<uint8_t>(size, 7)))),
              LDNS_RCODE_NOERROR)
        << size;
  }
  QueryOptions twice = WithCookie(client_cookie_);
  twice.cookies.push_back(client_cookie_);
  EXPECT_EQ(Rcode(Ask("plain.example.com", type::kA, twice)), LDNS_RCODE_FORMERR);
}

TEST_F(CookieResponderTest, AQueryWithoutQuestionLearnsOurCookie) {
  cookies_ = &context_;
  std::vector<uint8_t> query =
      BuildQuery("plain.example.com", type::kA, WithCookie(client_cookie_));
  // RFC 7873 §5.4: QDCOUNT 0, the question cut out.
  query[5] = 0;
  query.erase(query.begin() + kHeaderSize, query.begin() + kHeaderSize + 19 + 4);
  const Reply r = AskRaw(query);
  ASSERT_NE(r.packet, nullptr);
  EXPECT_EQ(Rcode(r), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_qdcount(r.packet.get()), 0);
  EXPECT_EQ(CookieOption(r).size(), 24u);
  // Without a cookie, or with cookies off, it stays FORMERR.
  std::vector<uint8_t> plain = BuildQuery("plain.example.com", type::kA, [] {
    QueryOptions o;
    o.edns = true;
    return o;
  }());
  plain[5] = 0;
  plain.erase(plain.begin() + kHeaderSize, plain.begin() + kHeaderSize + 19 + 4);
  EXPECT_EQ(AskRaw(plain).info.rcode, rcode::kFormErr);
  cookies_ = nullptr;
  EXPECT_EQ(AskRaw(query).info.rcode, rcode::kFormErr);
}

TEST_F(CookieResponderTest, BadCookieKeepsTheQuestionAndGivesOurCookie) {
  cookies_ = &context_;
  Reply r = Ask("plain.example.com", type::kA, WithCookie(client_cookie_));
  const std::string cookie = CookieOption(r);
  r.wire.resize(BadCookie(r.wire.data(), r.info, 1232));
  const testing::Packet bad = ParseResponse(r.wire.data(), r.wire.size());
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(ldns_pkt_get_rcode(bad.get()), 23 & 0xf);
  EXPECT_EQ(ldns_pkt_edns_extended_rcode(bad.get()), 23 >> 4);
  EXPECT_EQ(ldns_pkt_qdcount(bad.get()), 1);
  EXPECT_EQ(ldns_pkt_ancount(bad.get()), 0);
  EXPECT_FALSE(ldns_pkt_aa(bad.get()));
  Reply parsed;
  parsed.packet = ParseResponse(r.wire.data(), r.wire.size());
  EXPECT_EQ(CookieOption(parsed), cookie);
}

TEST_F(ResponderTest, BadVersForEdnsVersionOne) {
  QueryOptions o;
  o.edns = true;
  o.edns_version = 1;
  const Reply r = Ask("plain.example.com", type::kA, o);
  EXPECT_EQ(r.info.rcode, rcode::kBadVers);
  EXPECT_EQ(ldns_pkt_edns_extended_rcode(r.packet.get()), 1);
  EXPECT_EQ(ldns_pkt_edns_version(r.packet.get()), 0);
  EXPECT_EQ(ldns_pkt_ancount(r.packet.get()), 0);
}

TEST_F(ResponderTest, DnssecOkBitIsCopied) {
  // RFC 3225 §3: the DO bit of the query MUST be copied in the response.
  QueryOptions o;
  o.edns = true;
  o.dnssec_ok = true;
  const Reply r = Ask("plain.example.com", type::kA, o);
  EXPECT_TRUE(ldns_pkt_edns_do(r.packet.get()));
  o.dnssec_ok = false;
  EXPECT_FALSE(ldns_pkt_edns_do(Ask("plain.example.com", type::kA, o).packet.get()));
}

TEST_F(ResponderTest, FormErrForMalformedEdnsOptions) {
  QueryOptions o;
  o.edns = true;
  auto query = BuildQuery("plain.example.com", type::kA, o);
  // RDLENGTH 4: an option header announcing 8 bytes that are not there.
  query[query.size() - 1] = 4;
  for (uint8_t b : {0, 10, 0, 8}) query.push_back(b);
  EXPECT_EQ(AskRaw(query).info.rcode, rcode::kFormErr);
  // The same option with its 8 bytes is fine (an unknown option is ignored).
  query[query.size() - 5] = 12;
  for (int i = 0; i < 8; ++i) query.push_back(0);
  EXPECT_EQ(AskRaw(query).info.rcode, rcode::kNoError);
}

TEST_F(ResponderTest, TruncatesOverUdpAndAnswersFullyOverTcp) {
  const Reply udp = Ask("big.example.com", type::kTxt);
  EXPECT_TRUE(ldns_pkt_tc(udp.packet.get()));
  EXPECT_EQ(ldns_pkt_ancount(udp.packet.get()), 0);
  EXPECT_LE(udp.wire.size(), 512u);
  QueryOptions o;
  o.edns = true;
  o.udp_size = 4096;
  const Reply edns = Ask("big.example.com", type::kTxt, o);
  EXPECT_TRUE(ldns_pkt_tc(edns.packet.get()));
  EXPECT_LE(edns.wire.size(), 1232u);
  EXPECT_TRUE(ldns_pkt_edns(edns.packet.get()));
  const Reply tcp = Ask("big.example.com", type::kTxt, {}, Transport::kTcp);
  EXPECT_FALSE(ldns_pkt_tc(tcp.packet.get()));
  EXPECT_EQ(ldns_pkt_ancount(tcp.packet.get()), 40);
}

TEST_F(ResponderTest, SmallEdnsSizeIsRaisedTo512) {
  QueryOptions o;
  o.edns = true;
  o.udp_size = 100;
  const Reply r = Ask("example.com", type::kMx, o);
  EXPECT_FALSE(ldns_pkt_tc(r.packet.get()));
  EXPECT_EQ(ldns_pkt_ancount(r.packet.get()), 1);
}

TEST_F(ResponderTest, DropsResponsesAndRunts) {
  auto query = BuildQuery("plain.example.com", type::kA);
  query[2] |= 0x80;  // QR
  EXPECT_TRUE(AskRaw(query).wire.empty());
  EXPECT_TRUE(AskRaw(std::vector<uint8_t>(11, 0)).wire.empty());
  EXPECT_TRUE(AskRaw({}).wire.empty());
}

TEST_F(ResponderTest, FormErrForMalformedQuestions) {
  const auto good = BuildQuery("plain.example.com", type::kA);
  auto header_only = std::vector<uint8_t>(good.begin(), good.begin() + 12);
  auto two_questions = good;
  two_questions[5] = 2;
  auto no_question = good;
  no_question[5] = 0;
  auto cut_name = std::vector<uint8_t>(good.begin(), good.begin() + 20);
  auto no_type = std::vector<uint8_t>(good.begin(), good.end() - 3);
  auto long_label = good;
  long_label[12] = 64;
  auto pointer = good;
  pointer[12] = 0xc0;
  pointer[13] = 12;
  auto answer_count = good;
  answer_count[7] = 1;
  for (const auto& packet : {header_only, two_questions, no_question, cut_name, no_type, long_label,
                             pointer, answer_count}) {
    const Reply r = AskRaw(packet);
    ASSERT_EQ(r.wire.size(), 12u);
    EXPECT_EQ(r.wire[3] & 0x0f, rcode::kFormErr);
    EXPECT_EQ(r.wire[0], 0x12);
    EXPECT_EQ(r.wire[1], 0x34);
    EXPECT_TRUE(r.wire[2] & 0x80);
  }
}

TEST_F(ResponderTest, FormErrForTwoOptRecords) {
  QueryOptions o;
  o.edns = true;
  auto query = BuildQuery("plain.example.com", type::kA, o);
  const std::vector<uint8_t> opt(query.end() - 11, query.end());
  query.insert(query.end(), opt.begin(), opt.end());
  query[11] = 2;
  const Reply r = AskRaw(query);
  EXPECT_EQ(r.info.rcode, rcode::kFormErr);
  ExpectFormErrEchoingQuestion(r);
}

TEST_F(ResponderTest, FormErrForMissingAdditionalRecords) {
  auto query = BuildQuery("plain.example.com", type::kA);
  query[11] = 1;  // one additional record announced, none sent
  ExpectFormErrEchoingQuestion(AskRaw(query));
}

TEST_F(ResponderTest, NotImpForOtherOpcodes) {
  auto query = BuildQuery("plain.example.com", type::kA);
  query[2] |= 2 << 3;  // STATUS
  const Reply r = AskRaw(query);
  ASSERT_NE(r.packet, nullptr);
  EXPECT_EQ(r.info.rcode, rcode::kNotImp);
  EXPECT_EQ(ldns_pkt_get_opcode(r.packet.get()), LDNS_PACKET_STATUS);
  EXPECT_EQ(ldns_pkt_qdcount(r.packet.get()), 1);
  EXPECT_FALSE(ldns_pkt_aa(r.packet.get()));
  EXPECT_FALSE(ldns_pkt_edns(r.packet.get()));
}

TEST_F(ResponderTest, NotImpEchoesTheOptOfAnUpdate) {
  // An UPDATE (RFC 2136) carries its prerequisites and updates in the answer
  // and authority sections; the OPT after them is still found and echoed
  // (RFC 6891 §7: a reply to an EDNS query carries an OPT).
  QueryOptions o;
  o.edns = true;
  o.dnssec_ok = true;
  auto query = BuildQuery("example.com", type::kSoa, o);
  const std::vector<uint8_t> opt(query.end() - 11, query.end());
  query.resize(query.size() - 11);
  // One update: delete all A records of example.com (compressed owner).
  for (uint8_t b : {0xc0, 12, 0, 1, 0, 255, 0, 0, 0, 0, 0, 0}) query.push_back(b);
  query.insert(query.end(), opt.begin(), opt.end());
  query[2] |= 5 << 3;  // UPDATE
  query[9] = 1;        // NSCOUNT: the update
  const Reply r = AskRaw(query);
  ASSERT_NE(r.packet, nullptr);
  EXPECT_EQ(Rcode(r), LDNS_RCODE_NOTIMPL);
  EXPECT_EQ(ldns_pkt_get_opcode(r.packet.get()), LDNS_PACKET_UPDATE);
  EXPECT_EQ(ldns_pkt_qdcount(r.packet.get()), 1);
  EXPECT_EQ(ldns_pkt_nscount(r.packet.get()), 0);
  EXPECT_TRUE(ldns_pkt_edns(r.packet.get()));
  EXPECT_TRUE(ldns_pkt_edns_do(r.packet.get()));
  EXPECT_LE(r.wire.size(), query.size());
}

TEST_F(ResponderTest, NotImpWithoutQuestionIsHeaderOnly) {
  auto query = BuildQuery("plain.example.com", type::kA);
  query[2] |= 4 << 3;  // NOTIFY
  query[5] = 0;        // no question
  const Reply r = AskRaw(query);
  ASSERT_EQ(r.wire.size(), 12u);
  EXPECT_EQ(r.wire[3] & 0x0f, rcode::kNotImp);
}

// ISC's "opcodeflg" probe: opcode 15, header only, every flag bit set (TC,
// RD, RA, CD, AD, AA, Z). The reply is QR, the opcode and NOTIMP: no flag of
// the request it did not understand comes back.
TEST_F(ResponderTest, NotImpEchoesNoFlagOfTheRejectedOpcode) {
  // 0x7f: opcode 15, AA, TC, RD (QR clear); 0xf0: RA, Z, AD, CD.
  const std::vector<uint8_t> query = {0x12, 0x34, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0, 0, 0};
  const Reply r = AskRaw(query);
  ASSERT_EQ(r.wire.size(), 12u);
  EXPECT_EQ(ReadU16(r.wire.data() + 2), flag::kQr | 15 << 11 | rcode::kNotImp);
  // A QUERY keeps RD and CD.
  auto plain = BuildQuery("plain.example.com", type::kA);
  plain[2] |= 0x01;  // RD
  plain[3] |= 0x10;  // CD
  const Reply answered = AskRaw(plain);
  EXPECT_EQ(ReadU16(answered.wire.data() + 2) & (flag::kRd | flag::kCd), flag::kRd | flag::kCd);
}

// A TSIG record (RFC 8945 §4.2) with key name `key` (wire form), hmac-sha256,
// a MAC of `mac_size` bytes and the given error.
std::vector<uint8_t> TsigRecord(const std::string& key, uint16_t original_id, uint16_t mac_size,
                                uint16_t error) {
  std::vector<uint8_t> rr(key.begin(), key.end());
  const std::string algorithm("\x0bhmac-sha256\0", 13);
  const uint16_t rdlength = static_cast<uint16_t>(algorithm.size() + 16 + mac_size);
  for (uint8_t b : {0, 250, 0, 255, 0, 0, 0, 0}) rr.push_back(b);  // TSIG ANY, TTL 0
  rr.push_back(rdlength >> 8);
  rr.push_back(rdlength & 0xff);
  rr.insert(rr.end(), algorithm.begin(), algorithm.end());
  for (uint8_t b : {0, 0, 0x6a, 0, 0, 1, 1, 44}) rr.push_back(b);  // time signed, fudge 300
  rr.push_back(mac_size >> 8);
  rr.push_back(mac_size & 0xff);
  rr.insert(rr.end(), mac_size, 0xab);
  for (uint16_t v : {original_id, error, uint16_t{0}}) {
    rr.push_back(v >> 8);
    rr.push_back(v & 0xff);
  }
  return rr;
}

std::vector<uint8_t> Signed(std::vector<uint8_t> query, const std::vector<uint8_t>& tsig) {
  query.insert(query.end(), tsig.begin(), tsig.end());
  ++query[11];
  return query;
}

const std::string kKey("\x08transfer\x03key\0", 14);

TEST_F(ResponderTest, SignedQueryGetsUnsignedBadKey) {
  // No TSIG key is configured: RFC 8945 §5.2.1, NOTAUTH with a TSIG that
  // names the query's key, no MAC, error BADKEY (as NSD and Knot answer).
  QueryOptions o;
  o.edns = true;
  const auto query =
      Signed(BuildQuery("plain.example.com", type::kA, o), TsigRecord(kKey, 0x1234, 32, 0));
  for (const Transport transport : {Transport::kUdp, Transport::kTcp}) {
    const Reply r = AskRaw(query, transport);
    ASSERT_NE(r.packet, nullptr);
    EXPECT_EQ(r.info.rcode, rcode::kNotAuth);
    EXPECT_EQ(ldns_pkt_qdcount(r.packet.get()), 1);
    EXPECT_EQ(ldns_pkt_ancount(r.packet.get()), 0);
    EXPECT_FALSE(ldns_pkt_aa(r.packet.get()));
    EXPECT_TRUE(ldns_pkt_edns(r.packet.get()));
    ASSERT_NE(ldns_pkt_tsig(r.packet.get()), nullptr);
    const auto expected = TsigRecord(kKey, 0x1234, 0, tsig_error::kBadKey);
    ASSERT_GE(r.wire.size(), expected.size());
    EXPECT_TRUE(std::equal(expected.begin(), expected.end(), r.wire.end() - expected.size()));
    EXPECT_LT(r.wire.size(), query.size());
  }
}

TEST_F(ResponderTest, SignedNotifyGetsBadKeyRatherThanNotImp) {
  auto query = Signed(BuildQuery("example.com", type::kSoa), TsigRecord(kKey, 0x1234, 32, 0));
  query[2] |= 4 << 3;  // NOTIFY
  const Reply r = AskRaw(query);
  ASSERT_NE(r.packet, nullptr);
  EXPECT_EQ(r.info.rcode, rcode::kNotAuth);
  EXPECT_NE(ldns_pkt_tsig(r.packet.get()), nullptr);
}

TEST_F(ResponderTest, CompressedKeyNameIsWrittenOutButNeverAmplifies) {
  // The key name "k.example.com" as "k" plus a pointer into the question.
  auto query = BuildQuery("plain.example.com", type::kA);
  const std::string key("\x01k\xc0\x12", 4);  // offset 18: "example.com" in the question
  query = Signed(query, TsigRecord(key, 0x1234, 32, 0));
  const Reply r = AskRaw(query);
  ASSERT_NE(ldns_pkt_tsig(r.packet.get()), nullptr);
  char* owner = ldns_rdf2str(ldns_rr_owner(ldns_pkt_tsig(r.packet.get())));
  EXPECT_STREQ(owner, "k.example.com.");
  free(owner);
  EXPECT_LE(r.wire.size(), query.size());
  // Without a MAC to drop, the written-out name would make the reply the
  // larger: the TSIG is left out, the rcode stays.
  auto no_mac = Signed(BuildQuery("plain.example.com", type::kA), TsigRecord(key, 0x1234, 0, 0));
  const Reply small = AskRaw(no_mac);
  EXPECT_EQ(small.info.rcode, rcode::kNotAuth);
  EXPECT_EQ(ldns_pkt_tsig(small.packet.get()), nullptr);
  EXPECT_LE(small.wire.size(), no_mac.size());
}

TEST_F(ResponderTest, MisplacedOrMalformedTsigIsFormErr) {
  QueryOptions o;
  o.edns = true;
  // TSIG before the OPT: it must be last (RFC 8945 §5.1).
  auto unsigned_query = BuildQuery("plain.example.com", type::kA);
  auto tsig_first = Signed(unsigned_query, TsigRecord(kKey, 0x1234, 32, 0));
  const auto with_opt = BuildQuery("plain.example.com", type::kA, o);
  tsig_first.insert(tsig_first.end(), with_opt.end() - 11, with_opt.end());
  ++tsig_first[11];
  ExpectFormErrEchoingQuestion(AskRaw(tsig_first));
  // A MAC size running past the RDATA.
  auto overrun = Signed(unsigned_query, TsigRecord(kKey, 0x1234, 32, 0));
  const size_t mac_size_at = 12 + (unsigned_query.size() - 12) + kKey.size() + 10 + 13 + 8;
  overrun[mac_size_at + 1] = 40;
  ExpectFormErrEchoingQuestion(AskRaw(overrun));
  // Other data longer than announced.
  auto trailing = Signed(unsigned_query, TsigRecord(kKey, 0x1234, 32, 0));
  trailing.back() = 1;
  ExpectFormErrEchoingQuestion(AskRaw(trailing));
}

TEST_F(ResponderTest, RefusedForOtherClassesAndTransfers) {
  QueryOptions chaos;
  chaos.qclass = rr_class::kCh;
  EXPECT_EQ(Rcode(Ask("plain.example.com", type::kTxt, chaos)), LDNS_RCODE_REFUSED);
  QueryOptions hesiod;
  hesiod.qclass = 4;
  EXPECT_EQ(Rcode(Ask("plain.example.com", type::kTxt, hesiod)), LDNS_RCODE_REFUSED);
  EXPECT_EQ(Rcode(Ask("example.com", type::kAxfr, {}, Transport::kTcp)), LDNS_RCODE_REFUSED);
  EXPECT_EQ(Rcode(Ask("example.com", type::kOpt)), LDNS_RCODE_FORMERR);
}

TEST_F(ResponderTest, ChaosTxtAndNsidTellTheConfiguredIdentity) {
  QueryOptions chaos;
  chaos.qclass = rr_class::kCh;
  QueryOptions nsid;
  nsid.edns = true;
  nsid.nsid = true;
  // Not configured: not told.
  EXPECT_EQ(Rcode(Ask("id.server", type::kTxt, chaos)), LDNS_RCODE_REFUSED);
  EXPECT_EQ(Rcode(Ask("version.bind", type::kTxt, chaos)), LDNS_RCODE_REFUSED);
  EXPECT_EQ(ldns_pkt_edns_data(Ask("plain.example.com", type::kA, nsid).packet.get()), nullptr);
  options_.identity = "edge-fra-1";
  options_.version = "agility test";
  for (const auto& [name, text] :
       std::vector<std::pair<std::string, std::string>>{{"id.server", "edge-fra-1"},
                                                        {"HOSTNAME.bind", "edge-fra-1"},
                                                        {"version.bind", "agility test"},
                                                        {"version.server", "agility test"}}) {
    const Reply r = Ask(name, type::kTxt, chaos);
    EXPECT_EQ(Rcode(r), LDNS_RCODE_NOERROR) << name;
    EXPECT_TRUE(ldns_pkt_aa(r.packet.get()));
    ASSERT_EQ(ldns_pkt_ancount(r.packet.get()), 1) << name;
    const ldns_rr* rr = ldns_rr_list_rr(ldns_pkt_answer(r.packet.get()), 0);
    EXPECT_EQ(ldns_rr_get_class(rr), LDNS_RR_CLASS_CH);
    EXPECT_EQ(ldns_rr_ttl(rr), 0u);
    EXPECT_THAT(SectionText(ldns_pkt_answer(r.packet.get()))[0], HasSubstr("\"" + text + "\""));
  }
  EXPECT_EQ(Rcode(Ask("other.bind", type::kTxt, chaos)), LDNS_RCODE_REFUSED);
  const Reply nodata = Ask("id.server", type::kA, chaos);
  EXPECT_EQ(Rcode(nodata), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_ancount(nodata.packet.get()), 0);
  // NSID (RFC 5001): option 3 in our OPT, only when asked.
  const Reply answered = Ask("plain.example.com", type::kA, nsid);
  const ldns_rdf* data = ldns_pkt_edns_data(answered.packet.get());
  ASSERT_NE(data, nullptr);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ldns_rdf_data(data)), ldns_rdf_size(data)),
            std::string("\0\3\0\12edge-fra-1", 14));
  EXPECT_EQ(ldns_pkt_ancount(answered.packet.get()), 1);
  QueryOptions plain_edns;
  plain_edns.edns = true;
  EXPECT_EQ(ldns_pkt_edns_data(Ask("plain.example.com", type::kA, plain_edns).packet.get()),
            nullptr);
}

TEST_F(ResponderTest, QclassAnyIsAnsweredAsIn) {
  QueryOptions any;
  any.qclass = rr_class::kAny;
  const Reply r = Ask("plain.example.com", type::kA, any);
  EXPECT_EQ(Rcode(r), LDNS_RCODE_NOERROR);
  EXPECT_EQ(ldns_pkt_ancount(r.packet.get()), 1);
}

TEST_F(ResponderTest, RdAndIdCopied) {
  QueryOptions o;
  o.id = 0xbeef;
  o.rd = true;
  const Reply r = Ask("plain.example.com", type::kA, o);
  EXPECT_EQ(ldns_pkt_id(r.packet.get()), 0xbeef);
  EXPECT_TRUE(ldns_pkt_rd(r.packet.get()));
  EXPECT_FALSE(ldns_pkt_ra(r.packet.get()));
  EXPECT_TRUE(ldns_pkt_qr(r.packet.get()));
}

TEST_F(ResponderTest, ResponseKindsForRateLimiting) {
  const std::string apex = *NameFromText("example.com");
  const std::string www = *NameFromText("www.cdn.example.com");
  EXPECT_EQ(Ask("www.cdn.example.com", type::kA).info.kind, ResponseKind::kAnswer);
  EXPECT_EQ(std::string(Ask("WWW.cdn.example.com", type::kA).info.RateLimitName()), www);
  EXPECT_EQ(Ask("nope.example.com", type::kA).info.kind, ResponseKind::kNxDomain);
  EXPECT_EQ(std::string(Ask("nope.example.com", type::kA).info.RateLimitName()), apex);
  EXPECT_EQ(Ask("txtonly.example.com", type::kA).info.kind, ResponseKind::kNoData);
  EXPECT_EQ(Ask("x.sub.example.com", type::kA).info.kind, ResponseKind::kReferral);
  EXPECT_EQ(Ask("plain.example.com", type::kAny).info.kind, ResponseKind::kAny);
  EXPECT_EQ(Ask("www.example.org", type::kA).info.kind, ResponseKind::kError);
}

TEST_F(ResponderTest, TruncateKeepsOnlyTheQuestion) {
  QueryOptions o;
  o.edns = true;
  Reply r = Ask("example.com", type::kMx, o);
  ASSERT_GT(ldns_pkt_ancount(r.packet.get()), 0);
  r.wire.resize(Truncate(r.wire.data(), r.info));
  const auto packet = ParseResponse(r.wire.data(), r.wire.size());
  ASSERT_NE(packet, nullptr);
  EXPECT_TRUE(ldns_pkt_tc(packet.get()));
  EXPECT_EQ(ldns_pkt_qdcount(packet.get()), 1);
  EXPECT_EQ(ldns_pkt_ancount(packet.get()) + ldns_pkt_nscount(packet.get()) +
                ldns_pkt_arcount(packet.get()),
            0);
  EXPECT_EQ(ldns_pkt_id(packet.get()), 0x1234);
}

// Mutated queries must give no response or a well-formed one, never a crash
// or a read out of bounds (the sanitized build checks the latter).
TEST_F(ResponderTest, SurvivesMutatedQueries) {
  std::mt19937 random(12345);
  const std::vector<std::vector<uint8_t>> seeds = {
      BuildQuery("www.cdn.example.com", type::kA), BuildQuery("big.example.com", type::kTxt),
      BuildQuery("x.sub.example.com", type::kA,
                 {0x1234, 1, true, true, 1232, 0, false, false, false, {}}),
      BuildQuery("chain1.example.com", type::kAny)};
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> packet = seeds[random() % seeds.size()];
    const int edits = 1 + static_cast<int>(random() % 4);
    for (int e = 0; e < edits; ++e) {
      switch (random() % 3) {
        case 0:
          packet[random() % packet.size()] = static_cast<uint8_t>(random());
          break;
        case 1:
          packet.resize(random() % (packet.size() + 1));
          break;
        default:
          packet.push_back(static_cast<uint8_t>(random()));
      }
      if (packet.empty()) break;
    }
    const Transport transport = random() % 2 ? Transport::kUdp : Transport::kTcp;
    const Reply r = AskRaw(packet, transport);
    if (r.wire.empty()) continue;
    ASSERT_GE(r.wire.size(), 12u);
    if (transport == Transport::kUdp) {
      ASSERT_LE(r.wire.size(), 1232u);
    }
    EXPECT_EQ(r.wire[0], packet[0]);
    EXPECT_EQ(r.wire[1], packet[1]);
    if (r.wire.size() > 12) {
      EXPECT_NE(r.packet, nullptr) << "unparseable response";
    }
  }
}

}  // namespace
}  // namespace agility::dns
