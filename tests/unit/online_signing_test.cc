// Online signing: key files, the signer (checked by ldns's validator), the
// signature cache, and the compact denials the responder makes with them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <ldns/ldns.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "dns/denial.h"
#include "dns/name.h"
#include "dns/online_signer.h"
#include "dns/responder.h"
#include "dns/signature_cache.h"
#include "dns/wire.h"
#include "dns/zone_file.h"
#include "dns/zone_keys.h"
#include "dns/zone_set.h"
#include "query_builder.h"
#include "test_keys.h"

namespace agility::dns {
namespace {

using testing::TempDir;
using testing::WriteKey;

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kZone[] = R"($ORIGIN example.com.
$TTL 3600
@         SOA   ns1 hostmaster 42 7200 3600 1209600 300
@         NS    ns1
ns1       A     192.0.2.1
www       A     192.0.2.10
www       A     192.0.2.11
upper     CNAME WWW.Example.COM.
mx        MX    10 WWW.EXAMPLE.COM.
*.wild    A     192.0.2.99
a.b.ent   TXT   "x"
sub       NS    ns.sub
ns.sub    A     192.0.2.53
)";

const std::string kApex = "\7example\3com\0";
std::string Apex() { return std::string(kApex.data(), 13); }

TEST(ZoneKeysTest, ReadsKeysAndSplitsTheirRoles) {
  TempDir dir;
  const uint16_t ksk = WriteKey(dir.path(), "example.com", 257, false);
  const uint16_t zsk = WriteKey(dir.path(), "example.com", 256, false);
  auto keys = ZoneKeys::Load(Apex(), dir.path(), 3600);
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ((*keys)->keys().size(), 2u);
  EXPECT_EQ((*keys)->SignersOf(type::kDnskey).size(), 1u);
  EXPECT_EQ((*keys)->SignersOf(type::kDnskey)[0]->tag, ksk);
  EXPECT_EQ((*keys)->SignersOf(type::kCds)[0]->tag, ksk);
  EXPECT_EQ((*keys)->SignersOf(type::kA)[0]->tag, zsk);
  EXPECT_EQ((*keys)->Find(type::kDnskey).count(), 2);
  EXPECT_EQ((*keys)->Find(type::kDnskey).ttl(), 3600u);
  EXPECT_EQ((*keys)->Find(type::kCds).count(), 1);
  EXPECT_EQ((*keys)->Find(type::kCdnskey).count(), 1);
  EXPECT_FALSE((*keys)->Find(type::kA).valid());
}

TEST(ZoneKeysTest, KeyTagAgreesWithLdns) {
  TempDir dir;
  for (const bool ed25519 : {false, true}) {
    const uint16_t tag = WriteKey(dir.path(), "example.com", 257, ed25519);
    auto keys = ZoneKeys::Load(Apex(), dir.path(), 3600);
    ASSERT_TRUE(keys.ok()) << keys.status();
    for (const SigningKey& key : (*keys)->keys()) {
      EXPECT_EQ(key.tag, ldns_calc_keytag_raw(
                             reinterpret_cast<uint8_t*>(const_cast<char*>(key.dnskey_rdata.data())),
                             key.dnskey_rdata.size()));
    }
    EXPECT_TRUE(std::any_of((*keys)->keys().begin(), (*keys)->keys().end(),
                            [&](const SigningKey& key) { return key.tag == tag; }));
  }
}

TEST(ZoneKeysTest, AKeyWithoutItsPrivateFileIsPublishedOnly) {
  TempDir dir;
  WriteKey(dir.path(), "example.com", 257, true);
  const uint16_t next = WriteKey(dir.path(), "example.com", 256, true);
  char private_file[64];
  snprintf(private_file, sizeof(private_file), "/Kexample.com.+015+%05d.private", next);
  ASSERT_TRUE(std::filesystem::remove(dir.path() + private_file)) << private_file;
  auto keys = ZoneKeys::Load(Apex(), dir.path(), 3600);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ((*keys)->Find(type::kDnskey).count(), 2);
  // The KSK alone signs: a combined signing key until the ZSK is ready.
  ASSERT_EQ((*keys)->SignersOf(type::kA).size(), 1u);
  EXPECT_EQ((*keys)->SignersOf(type::kA)[0]->flags, 257);
}

TEST(ZoneKeysTest, ErrorsNameTheFileAndLine) {
  TempDir dir;
  EXPECT_THAT(std::string(ZoneKeys::Load(Apex(), dir.path(), 3600).status().message()),
              HasSubstr("no Kexample.com.+*.key files"));
  std::ofstream(dir.path() + "/Kexample.com.+013+00001.key")
      << "; a comment\nexample.com. IN DNSKEY 256 3 13 not*base64\n";
  EXPECT_THAT(std::string(ZoneKeys::Load(Apex(), dir.path(), 3600).status().message()),
              HasSubstr(dir.path() + "/Kexample.com.+013+00001.key:2: "));
  std::ofstream(dir.path() + "/Kexample.com.+013+00001.key")
      << "example.com. IN DNSKEY 256 3 13 " << absl::Base64Escape(std::string(64, 'x')) << "\n";
  std::ofstream(dir.path() + "/Kexample.com.+013+00001.private")
      << "Private-key-format: v1.2\nAlgorithm: 8 (RSASHA256)\nPrivateKey: AAAA\n";
  EXPECT_THAT(std::string(ZoneKeys::Load(Apex(), dir.path(), 3600).status().message()),
              HasSubstr(".private:2: algorithm '8 (RSASHA256)' is not the DNSKEY's 13"));
}

TEST(SignatureWindowTest, WeeklyAndValidAWeekAhead) {
  for (const int64_t now : {int64_t{1795000000}, int64_t{1795000000} + 6 * 86400 + 86399}) {
    const SignatureWindow window = SignatureWindow::At(now);
    EXPECT_LT(window.inception, now);
    EXPECT_GE(int64_t{window.expiration} - now, 7 * 86400);
    EXPECT_EQ(window.expiration - window.inception, 15u * 86400);
  }
  EXPECT_EQ(SignatureWindow::At(1795000000).expiration,
            SignatureWindow::At(1795000000 + 3600).expiration);
}

TEST(SignatureCacheTest, StaysWithinItsBudgetAndKeepsWhatIsUsed) {
  SignatureCache cache(64 * 1024);
  EXPECT_LE(cache.bytes(), 64u * 1024);
  EXPECT_GT(cache.capacity(), 700u);
  EXPECT_EQ(cache.bytes() / cache.capacity(), SignatureCache::kBytesPerSignature);
  uint8_t signature[kSignatureSize];
  uint64_t evictions = 0;
  const SignatureKey hot{7, 7};
  std::memset(signature, 0xaa, sizeof(signature));
  cache.Insert(hot, signature);
  for (uint64_t i = 0; i < 10 * cache.capacity(); ++i) {
    std::memset(signature, static_cast<int>(i), sizeof(signature));
    evictions += cache.Insert({i * 0x9e3779b97f4a7c15ULL + 1000, i}, signature);
    ASSERT_NE(cache.Find(hot), nullptr) << "evicted at " << i;  // used all along: kept
  }
  EXPECT_GE(evictions, 9 * cache.capacity());
  EXPECT_EQ(cache.Find(hot)[0], 0xaa);
  EXPECT_EQ(cache.Find({hot.hash, hot.check + 1}), nullptr);
}

TEST(DenialTest, NextNames) {
  uint8_t out[kMaxNameLength];
  const std::string name("\3www\7example\3com\0", 17);
  size_t size = NextName(name, Apex(), false, out);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(out), size),
            std::string("\1\0\3www\7example\3com\0", 19));
  size = NextName(name, Apex(), true, out);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(out), size),
            std::string("\4www\0\7example\3com\0", 18));
  // Too long for a new label: the first label grows by a zero octet.
  std::string longest = Apex();
  while (longest.size() + 64 <= kMaxNameLength) longest = "\77" + std::string(63, 'a') + longest;
  longest = std::string(1, static_cast<char>(kMaxNameLength - longest.size() - 2)) +
            std::string(kMaxNameLength - longest.size() - 2, 'b') + longest;
  ASSERT_EQ(longest.size(), kMaxNameLength - 1);
  size = NextName(longest, Apex(), false, out);
  EXPECT_EQ(size, kMaxNameLength);
  EXPECT_EQ(out[0], longest[0] + 1);
  EXPECT_EQ(out[1 + longest[0]], 0);
  // 63 octets and no room: the last octet goes up; 'Z'+1 skips capitals.
  std::string full = "\77" + std::string(62, 'a') + "@" + std::string("\3com\0", 5);
  size = NextName(full, std::string("\3com\0", 5), true, out);
  EXPECT_EQ(out[63], '[');
  EXPECT_EQ(size, full.size());
  std::string all_ff = "\2\xff\xff" + std::string("\3com\0", 5);
  // Well within length: the \000 label goes first.
  EXPECT_EQ(NextName(all_ff, std::string("\3com\0", 5), false, out), all_ff.size() + 2);
}

TEST(DenialTest, TypeBitmapsAsRfc4034Writes) {
  const uint16_t types[] = {type::kNsec, type::kRrsig, type::kA, type::kNxname, type::kA, 257};
  uint8_t out[kMaxBitmapSize];
  const size_t size = WriteTypeBitmap(types, 6, out);
  // Window 0: A (1); RRSIG (46) and NSEC (47) in octet 5; NXNAME (128) in
  // octet 16. Window 1: CAA (257).
  const uint8_t expected[] = {0, 17, 0x40, 0, 0, 0, 0, 0x03, 0, 0, 0,
                              0, 0,  0,    0, 0, 0, 0, 0x80, 1, 1, 0x40};
  EXPECT_EQ(std::vector<uint8_t>(out, out + size),
            std::vector<uint8_t>(expected, expected + sizeof(expected)));
}

class OnlineResponderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteKey(dir_.path(), "example.com", 257, false);
    WriteKey(dir_.path(), "example.com", 256, false);
    auto zone = ParseZoneText(kZone, "test.zone", "example.com.");
    ASSERT_TRUE(zone.ok()) << zone.status();
    ASSERT_TRUE(zones_.Add(std::move(*zone)).ok());
    auto keys = ZoneKeys::Load(Apex(), dir_.path(), 3600);
    ASSERT_TRUE(keys.ok()) << keys.status();
    ASSERT_TRUE(zones_.SetKeys(*keys).ok());
    keys_ = *keys;
  }

  testing::Packet Ask(const std::string& name, uint16_t qtype, bool compact_ok = false) {
    testing::QueryOptions options;
    options.edns = true;
    options.dnssec_ok = true;
    options.compact_ok = compact_ok;
    const std::vector<uint8_t> query = testing::BuildQuery(name, qtype, options);
    std::vector<uint8_t> out(kMaxMessageSize);
    ResponseInfo info;
    const size_t size = Respond(query.data(), query.size(), Transport::kTcp, zones_, addresses_, {},
                                out.data(), &info, &signer_);
    return testing::ParseResponse(out.data(), size);
  }

  // Every RRSIG of `section` verifies with the zone's DNSKEYs (ldns's
  // validator, which canonicalizes on its own), and every RRset has one.
  void ExpectValid(const ldns_rr_list* section) {
    ldns_rr_list* dnskeys = ldns_rr_list_new();
    auto dnskey_packet = Ask("example.com", type::kDnskey);
    ASSERT_NE(dnskey_packet, nullptr);
    const ldns_rr_list* answer = ldns_pkt_answer(dnskey_packet.get());
    for (size_t i = 0; i < ldns_rr_list_rr_count(answer); ++i) {
      if (ldns_rr_get_type(ldns_rr_list_rr(answer, i)) == LDNS_RR_TYPE_DNSKEY) {
        ldns_rr_list_push_rr(dnskeys, ldns_rr_clone(ldns_rr_list_rr(answer, i)));
      }
    }
    int covered = 0, rrsets = 0;
    for (const ldns_rr_type type :
         {LDNS_RR_TYPE_A, LDNS_RR_TYPE_CNAME, LDNS_RR_TYPE_MX, LDNS_RR_TYPE_SOA, LDNS_RR_TYPE_NSEC,
          LDNS_RR_TYPE_DNSKEY, LDNS_RR_TYPE_CDS}) {
      ldns_rr_list* rrset = ldns_rr_list_new();
      ldns_rr_list* rrsigs = ldns_rr_list_new();
      for (size_t i = 0; i < ldns_rr_list_rr_count(section); ++i) {
        ldns_rr* rr = ldns_rr_list_rr(section, i);
        if (ldns_rr_get_type(rr) == type) ldns_rr_list_push_rr(rrset, rr);
        if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_RRSIG &&
            ldns_rdf2rr_type(ldns_rr_rrsig_typecovered(rr)) == type) {
          ldns_rr_list_push_rr(rrsigs, rr);
        }
      }
      if (ldns_rr_list_rr_count(rrset) > 0) {
        ++rrsets;
        EXPECT_GT(ldns_rr_list_rr_count(rrsigs), 0u) << "type " << type << " unsigned";
        for (size_t i = 0; i < ldns_rr_list_rr_count(rrsigs); ++i) {
          EXPECT_EQ(ldns_verify_rrsig_keylist(rrset, ldns_rr_list_rr(rrsigs, i), dnskeys, nullptr),
                    LDNS_STATUS_OK)
              << "type " << type;
          ++covered;
        }
      }
      ldns_rr_list_free(rrset);
      ldns_rr_list_free(rrsigs);
    }
    EXPECT_GT(rrsets, 0);
    EXPECT_GE(covered, rrsets);
    ldns_rr_list_deep_free(dnskeys);
  }

  TempDir dir_;
  ZoneSet zones_;
  std::shared_ptr<const ZoneKeys> keys_;
  NoAddresses addresses_;
  OnlineSigner signer_{1 << 20};
};

TEST_F(OnlineResponderTest, AnswersVerify) {
  for (const auto& [name, type] : std::vector<std::pair<std::string, uint16_t>>{
           {"www.example.com", type::kA},
           {"upper.example.com", type::kA},  // CNAME to upper case: lowercased to sign
           {"mx.example.com", type::kMx},
           {"x.y.wild.example.com", type::kA},
           {"example.com", type::kDnskey},
           {"example.com", type::kCds}}) {
    SCOPED_TRACE(name);
    auto packet = Ask(name, type);
    ASSERT_NE(packet, nullptr);
    EXPECT_EQ(ldns_pkt_get_rcode(packet.get()), LDNS_RCODE_NOERROR);
    ExpectValid(ldns_pkt_answer(packet.get()));
  }
}

TEST_F(OnlineResponderTest, CompactDenialsVerify) {
  for (const auto& [name, type] :
       std::vector<std::pair<std::string, uint16_t>>{{"nothere.example.com", type::kA},
                                                     {"www.example.com", type::kTxt},
                                                     {"b.ent.example.com", type::kA},
                                                     {"x.wild.example.com", type::kMx},
                                                     {"sub.example.com", type::kDs}}) {
    SCOPED_TRACE(name);
    auto packet = Ask(name, type);
    ASSERT_NE(packet, nullptr);
    EXPECT_EQ(ldns_pkt_get_rcode(packet.get()), LDNS_RCODE_NOERROR);
    ExpectValid(ldns_pkt_authority(packet.get()));
  }
}

TEST_F(OnlineResponderTest, NxdomainOnlyForCompactAnswersOk) {
  auto plain = Ask("nothere.example.com", type::kA);
  EXPECT_EQ(ldns_pkt_get_rcode(plain.get()), LDNS_RCODE_NOERROR);
  auto compact = Ask("nothere.example.com", type::kA, /*compact_ok=*/true);
  EXPECT_EQ(ldns_pkt_get_rcode(compact.get()), LDNS_RCODE_NXDOMAIN);
  ExpectValid(ldns_pkt_authority(compact.get()));
  auto nxname = Ask("www.example.com", type::kNxname);
  EXPECT_EQ(ldns_pkt_get_rcode(nxname.get()), LDNS_RCODE_FORMERR);  // RFC 9824 §3.5
}

TEST_F(OnlineResponderTest, RepeatedAnswersComeFromTheCache) {
  Ask("www.example.com", type::kA);
  const uint64_t made = signer_.stats().made.Get();
  for (int i = 0; i < 5; ++i) Ask("www.example.com", type::kA);
  EXPECT_EQ(signer_.stats().made.Get(), made);
  EXPECT_GE(signer_.stats().hits.Get(), 5u);
}

}  // namespace
}  // namespace agility::dns
