// TSIG: queries signed by libknot as a client would sign them; the responses
// must pass libknot's client check (RFC 8945 §5.3), truncated ones too.
extern "C" {
#include <libknot/libknot.h>
}

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dns/responder.h"
#include "dns/tsig.h"
#include "dns/wire.h"
#include "dns/zone_file.h"
#include "query_builder.h"

namespace agility::dns {
namespace {

constexpr char kSecret[] = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";

class TsigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string text =
        "$ORIGIN example.com.\n@ SOA ns h 1 2 3 4 300\n@ NS ns\nns A 192.0.2.1\nwww A 192.0.2.2\n";
    for (int i = 0; i < 20; ++i) text += "big TXT \"" + std::string(100, 'a' + i) + "\"\n";
    auto zone = ParseZoneText(text, "z", "example.com.");
    ASSERT_TRUE(zone.ok()) << zone.status();
    ASSERT_TRUE(zones_.Add(std::move(*zone)).ok());
    auto keyring = TsigKeyring::Build({{"xfr", "hmac-sha256", kSecret}});
    ASSERT_TRUE(keyring.ok()) << keyring.status();
    keyring_ = *keyring;
    ASSERT_EQ(knot_tsig_key_init(&client_key_, "hmac-sha256", "xfr", kSecret), KNOT_EOK);
  }
  void TearDown() override { knot_tsig_key_deinit(&client_key_); }

  struct Exchange {
    std::vector<uint8_t> response;
    uint8_t request_mac[64];
    size_t request_mac_size = sizeof(request_mac);
  };

  // Signs a query for `name`/`qtype` with `key` and answers it.
  Exchange Ask(const std::string& name, uint16_t qtype, Transport transport, bool edns,
               const knot_tsig_key_t& key) {
    testing::QueryOptions options;
    options.edns = edns;
    std::vector<uint8_t> query = testing::BuildQuery(name, qtype, options);
    size_t size = query.size();
    query.resize(size + 512);
    Exchange exchange;
    EXPECT_EQ(knot_tsig_sign(query.data(), &size, query.size(), nullptr, 0, exchange.request_mac,
                             &exchange.request_mac_size, &key, 0, 0),
              KNOT_EOK);
    exchange.response.resize(kMaxMessageSize);
    ResponseInfo info;
    NoAddresses none;
    const size_t answered = Respond(query.data(), size, transport, zones_, none, {},
                                    exchange.response.data(), &info, nullptr, keyring_.get());
    exchange.response.resize(answered);
    return exchange;
  }

  // The response's TSIG as libknot's client checks it; its TSIG error in
  // `tsig_error`, its MAC size in `mac_size`.
  int Check(Exchange& exchange, uint16_t* tsig_error = nullptr, size_t* mac_size = nullptr) {
    knot_pkt_t* packet = knot_pkt_new(exchange.response.data(), exchange.response.size(), nullptr);
    int result = knot_pkt_parse(packet, 0);
    if (result == KNOT_EOK && packet->tsig_rr == nullptr) result = KNOT_ENOENT;
    if (result == KNOT_EOK) {
      if (tsig_error != nullptr) *tsig_error = knot_tsig_rdata_error(packet->tsig_rr);
      if (mac_size != nullptr) *mac_size = knot_tsig_rdata_mac_length(packet->tsig_rr);
      result =
          knot_tsig_client_check(packet->tsig_rr, packet->wire, packet->size, exchange.request_mac,
                                 exchange.request_mac_size, &client_key_, 0);
    }
    knot_pkt_free(packet);
    return result;
  }

  ZoneSet zones_;
  std::shared_ptr<const TsigKeyring> keyring_;
  knot_tsig_key_t client_key_{};
};

TEST_F(TsigTest, ResponsesToSignedQueriesVerify) {
  struct Case {
    const char* name;
    uint16_t qtype;
    Transport transport;
    bool edns;
    uint8_t rcode;
    bool truncated;
  };
  for (const Case& c : {Case{"www.example.com", type::kA, Transport::kUdp, false, 0, false},
                        Case{"www.example.com", type::kA, Transport::kTcp, true, 0, false},
                        Case{"nothere.example.com", type::kA, Transport::kUdp, true, 3, false},
                        Case{"big.example.com", type::kTxt, Transport::kUdp, false, 0, true},
                        Case{"big.example.com", type::kTxt, Transport::kTcp, false, 0, false}}) {
    SCOPED_TRACE(c.name);
    Exchange exchange = Ask(c.name, c.qtype, c.transport, c.edns, client_key_);
    ASSERT_GE(exchange.response.size(), kHeaderSize);
    const uint16_t flags = ReadU16(exchange.response.data() + 2);
    EXPECT_EQ(flags & flag::kRcodeMask, c.rcode);
    EXPECT_EQ((flags & flag::kTc) != 0, c.truncated);
    if (c.transport == Transport::kUdp) {
      EXPECT_LE(exchange.response.size(), c.edns ? 1232u : 512u);
    }
    EXPECT_EQ(Check(exchange), KNOT_EOK);
  }
}

TEST_F(TsigTest, AWrongSecretGetsAnUnsignedBadsig) {
  knot_tsig_key_t wrong{};
  ASSERT_EQ(knot_tsig_key_init(&wrong, "hmac-sha256", "xfr",
                               "d3Jvbmd3cm9uZ3dyb25nd3Jvbmd3cm9uZ3dyb25nMTI="),
            KNOT_EOK);
  Exchange exchange = Ask("www.example.com", type::kA, Transport::kUdp, false, wrong);
  knot_tsig_key_deinit(&wrong);
  EXPECT_EQ(ReadU16(exchange.response.data() + 2) & flag::kRcodeMask, rcode::kNotAuth);
  EXPECT_EQ(ReadU16(exchange.response.data() + 6), 0);  // no answer
  uint16_t error = 0;
  size_t mac_size = 99;
  Check(exchange, &error, &mac_size);
  EXPECT_EQ(error, tsig_error::kBadSig);
  EXPECT_EQ(mac_size, 0u);
}

TEST_F(TsigTest, KeyErrorsNameWhatIsWrong) {
  EXPECT_TRUE(CheckTsigKey({"xfr", "HMAC-SHA512", kSecret}).ok());
  EXPECT_NE(CheckTsigKey({"xfr", "hmac-md4", kSecret}).message().find("unknown TSIG algorithm"),
            std::string::npos);
  EXPECT_NE(CheckTsigKey({"xfr", "hmac-sha256", "not base64!"}).message().find("base64"),
            std::string::npos);
}

}  // namespace
}  // namespace agility::dns
