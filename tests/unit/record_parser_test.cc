#include "dns/record_parser.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "dns/name.h"
#include "dns/wire.h"

// Last: ldns's headers define macros (false, true) that upset <optional>.
#include <ldns/ldns.h>

namespace agility::dns {
namespace {

// What ldns makes of the same entry: owner (lowercased), type, TTL, RDATA.
bool LdnsParse(const std::string& entry, ldns_rdf* origin, ldns_rdf** previous, ParsedRecord& out) {
  ldns_rr* rr = nullptr;
  if (ldns_rr_new_frm_str(&rr, entry.c_str(), 3600, origin, previous) != LDNS_STATUS_OK) {
    return false;
  }
  const ldns_rdf* owner = ldns_rr_owner(rr);
  out.owner.assign(reinterpret_cast<const char*>(ldns_rdf_data(owner)), ldns_rdf_size(owner));
  for (char& c : out.owner) c = static_cast<char>(AsciiLower(static_cast<uint8_t>(c)));
  out.type = ldns_rr_get_type(rr);
  out.ttl = ldns_rr_ttl(rr);
  ldns_buffer* buffer = ldns_buffer_new(512);
  ldns_rr_rdata2buffer_wire(buffer, rr);
  out.rdata.assign(reinterpret_cast<const char*>(ldns_buffer_begin(buffer)),
                   ldns_buffer_position(buffer));
  ldns_buffer_free(buffer);
  ldns_rr_free(rr);
  return true;
}

// The fast path must agree with ldns on everything it accepts.
TEST(RecordParserTest, AgreesWithLdns) {
  const std::vector<std::string> entries = {
      "www A 192.0.2.1",
      "WWW.Example.COM. 300 IN A 192.0.2.2",
      "  AAAA 2001:db8::1",
      "mail 60 IN MX 10 Mx1.Example.net.",
      "@ NS ns1",
      "alias CNAME www",
      "1.2 PTR host.example.com.",
      "txt TXT \"hello world\" unquoted \"\"",
      "deep.a.b.c 86400 A 10.0.0.1",
      "\tTXT x",
      "x in a 192.0.2.9",
  };
  ldns_rdf* origin = ldns_dname_new_frm_str("example.com.");
  ldns_rdf* previous = ldns_dname_new_frm_str("prev.example.com.");
  const std::string origin_wire = *NameFromText("example.com");
  std::string previous_wire = *NameFromText("prev.example.com");
  for (const std::string& entry : entries) {
    ParsedRecord fast;
    ASSERT_TRUE(ParseCommonRecord(entry, origin_wire, previous_wire, 3600, fast)) << entry;
    ParsedRecord slow;
    ASSERT_TRUE(LdnsParse(entry, origin, &previous, slow)) << entry;
    EXPECT_EQ(fast.owner, slow.owner) << entry;
    EXPECT_EQ(fast.type, slow.type) << entry;
    EXPECT_EQ(fast.ttl, slow.ttl) << entry;
    EXPECT_EQ(fast.rdata, slow.rdata) << entry;
    previous_wire = fast.owner;
  }
  ldns_rdf_deep_free(origin);
  ldns_rdf_deep_free(previous);
}

// RFC 1035 §5.1 allows the class before the TTL (ldns does not).
TEST(RecordParserTest, ClassBeforeTtl) {
  ParsedRecord out;
  ASSERT_TRUE(
      ParseCommonRecord("mail IN 60 A 192.0.2.1", *NameFromText("example.com"), {}, 3600, out));
  EXPECT_EQ(out.ttl, 60u);
  EXPECT_EQ(out.type, type::kA);
}

TEST(RecordParserTest, LeavesEverythingElseToLdns) {
  const std::string origin = *NameFromText("example.com");
  const std::string previous = *NameFromText("p.example.com");
  ParsedRecord out;
  for (const char* entry :
       {"@ SOA ns h 1 2 3 4 5", "x 1h A 192.0.2.1", "x A 300.1.1.1", "x\\.y A 192.0.2.1",
        "x CH TXT \"a\"", "x A", "x A 192.0.2.1 extra", "x TXT \"a\\\"b\"", "x MX 70000 mail",
        "a..b A 192.0.2.1", "x SRV 0 0 53 y", "x TYPE65534 \\# 0", "x CAA 0 issue \"ca\""}) {
    EXPECT_FALSE(ParseCommonRecord(entry, origin, previous, 3600, out)) << entry;
  }
}

}  // namespace
}  // namespace agility::dns

namespace agility::dns {
namespace {

TEST(RdataTest, LayoutsOfTypesTheServerReads) {
  const std::string name = *NameFromText("ns.example.com");
  EXPECT_TRUE(IsWellFormedRdata(type::kNs, name));
  EXPECT_FALSE(IsWellFormedRdata(type::kNs, ""));
  EXPECT_FALSE(IsWellFormedRdata(type::kNs, name.substr(0, name.size() - 1)));
  EXPECT_FALSE(IsWellFormedRdata(type::kCname, name + "x"));
  EXPECT_TRUE(IsWellFormedRdata(type::kMx, std::string("\0\12", 2) + name));
  EXPECT_FALSE(IsWellFormedRdata(type::kMx, std::string("\0\12", 2)));
  EXPECT_FALSE(IsWellFormedRdata(type::kSrv, std::string(6, '\0')));
  EXPECT_TRUE(IsWellFormedRdata(type::kSoa, name + name + std::string(20, '\1')));
  EXPECT_FALSE(IsWellFormedRdata(type::kSoa, name + name + std::string(19, '\1')));
  EXPECT_FALSE(IsWellFormedRdata(type::kA, "abc"));
  EXPECT_FALSE(IsWellFormedRdata(type::kTxt, ""));
  EXPECT_FALSE(IsWellFormedRdata(type::kTxt, "\5ab"));
  EXPECT_TRUE(IsWellFormedRdata(type::kTxt, std::string("\0", 1)));
  EXPECT_TRUE(IsWellFormedRdata(65534, ""));
}

}  // namespace
}  // namespace agility::dns
