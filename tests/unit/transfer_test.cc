// Zone transfers in: reading AXFR and IXFR responses (RFC 5936, RFC 1995),
// applying IXFR steps to a zone, and TSIG over a many-message response
// signed as a primary signs it (libknot's knot_tsig_sign/_sign_next).
extern "C" {
#include <libknot/libknot.h>
}

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dns/journal.h"
#include "dns/name.h"
#include "dns/query.h"
#include "dns/transfer.h"
#include "dns/transfer_out.h"
#include "dns/tsig.h"
#include "dns/wire.h"
#include "dns/zone_file.h"
#include "dns/zone_text.h"
#include "transfer_records.h"

namespace agility::dns {
namespace {

constexpr uint16_t kId = 0x4242;
constexpr char kSecret[] = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=";

using testing::Soa;
using testing::U16;
using testing::U32;
using testing::Wire;
TransferRecord A(const std::string& owner, uint8_t last, uint32_t ttl = 300) {
  return {Wire(owner + ".example.net."), std::string("\xc0\x00\x02", 3) + static_cast<char>(last),
          ttl, type::kA};
}
TransferRecord Ns() { return {Wire("example.net."), Wire("ns1.example.net."), 300, type::kNs}; }

// A response to our query carrying `records` in its answer section.
std::vector<uint8_t> Message(const std::vector<TransferRecord>& records, uint16_t qtype,
                             uint16_t id = kId, uint8_t rcode = 0) {
  std::string m = U16(id) + U16(0x8400 | rcode) + U16(1) +
                  U16(static_cast<uint16_t>(records.size())) + U16(0) + U16(0);
  m += Wire("example.net.") + U16(qtype) + U16(1);
  for (const TransferRecord& r : records) {
    m += r.owner + U16(r.type) + U16(1) + U32(r.ttl) + U16(static_cast<uint16_t>(r.rdata.size())) +
         r.rdata;
  }
  return std::vector<uint8_t>(m.begin(), m.end());
}

struct Received {
  std::vector<TransferRecord> full;
  TransferReader reader;
  explicit Received(uint16_t qtype, std::optional<uint32_t> serial, TsigClient* tsig = nullptr)
      : reader(Wire("example.net."), qtype, kId, serial, tsig, [this](const TransferRecord& r) {
          full.push_back(r);
          return absl::OkStatus();
        }) {}
  absl::Status Read(const std::vector<uint8_t>& message) {
    return reader.Read(message.data(), message.size());
  }
};

TEST(TransferReaderTest, AxfrOverTwoMessages) {
  Received r(type::kAxfr, std::nullopt);
  ASSERT_TRUE(r.Read(Message({Soa(5), Ns()}, type::kAxfr)).ok());
  EXPECT_FALSE(r.reader.done());
  ASSERT_TRUE(r.Read(Message({A("www", 10), Soa(5)}, type::kAxfr)).ok());
  EXPECT_TRUE(r.reader.done());
  EXPECT_EQ(r.reader.result(), TransferReader::Result::kFull);
  EXPECT_EQ(r.reader.serial(), 5u);
  EXPECT_EQ(r.full, (std::vector<TransferRecord>{Soa(5), Ns(), A("www", 10)}));
  EXPECT_FALSE(r.Read(Message({A("late", 1)}, type::kAxfr)).ok());
}

TEST(TransferReaderTest, IxfrStepsAreKeptAsDiffs) {
  Received r(type::kIxfr, 1);
  ASSERT_TRUE(
      r.Read(Message({Soa(3), Soa(1), A("gone", 1), Soa(2), A("new", 2)}, type::kIxfr)).ok());
  ASSERT_TRUE(r.Read(Message({Soa(2), Soa(3), A("newer", 3), Soa(3)}, type::kIxfr)).ok());
  ASSERT_TRUE(r.reader.done());
  EXPECT_EQ(r.reader.result(), TransferReader::Result::kIncremental);
  ASSERT_EQ(r.reader.diffs().size(), 2u);
  const ZoneDiff& first = r.reader.diffs()[0];
  EXPECT_EQ(first.from_serial, 1u);
  EXPECT_EQ(first.to_serial, 2u);
  EXPECT_EQ(first.removed, (std::vector<TransferRecord>{Soa(1), A("gone", 1)}));
  EXPECT_EQ(first.added, (std::vector<TransferRecord>{Soa(2), A("new", 2)}));
  EXPECT_EQ(r.reader.diffs()[1].removed, (std::vector<TransferRecord>{Soa(2)}));
  EXPECT_TRUE(r.full.empty());
}

TEST(TransferReaderTest, IxfrAnsweredWithTheWholeZone) {
  Received r(type::kIxfr, 1);
  ASSERT_TRUE(r.Read(Message({Soa(4), Ns(), A("www", 10), Soa(4)}, type::kIxfr)).ok());
  EXPECT_EQ(r.reader.result(), TransferReader::Result::kFull);
  EXPECT_EQ(r.full.size(), 3u);
}

TEST(TransferReaderTest, OneSoaOfOurSerialIsUpToDate) {
  Received r(type::kIxfr, 7);
  ASSERT_TRUE(r.Read(Message({Soa(7)}, type::kIxfr)).ok());
  EXPECT_TRUE(r.reader.done());
  EXPECT_EQ(r.reader.result(), TransferReader::Result::kUpToDate);
}

TEST(TransferReaderTest, RefusesWhatIsNotASoundTransfer) {
  {
    Received r(type::kIxfr, 7);
    const absl::Status status = r.Read(Message({Soa(6)}, type::kIxfr));
    EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
    EXPECT_NE(status.message().find("older than ours"), std::string::npos);
  }
  {
    // A step that does not start where the last one ended.
    Received r(type::kIxfr, 1);
    EXPECT_FALSE(
        r.Read(Message({Soa(3), Soa(1), Soa(2), Soa(1), Soa(3), Soa(3)}, type::kIxfr)).ok());
  }
  {
    // A step that goes backwards.
    Received r(type::kIxfr, 5);
    EXPECT_FALSE(r.Read(Message({Soa(6), Soa(5), Soa(4)}, type::kIxfr)).ok());
  }
  {
    Received r(type::kAxfr, std::nullopt);
    EXPECT_FALSE(r.Read(Message({Ns(), Soa(1)}, type::kAxfr)).ok());  // no SOA first
  }
  {
    Received r(type::kAxfr, std::nullopt);
    EXPECT_FALSE(r.Read(Message({Soa(1), Ns(), Soa(2)}, type::kAxfr)).ok());  // another SOA last
  }
  {
    Received r(type::kAxfr, std::nullopt);
    EXPECT_FALSE(r.Read(Message({Soa(1)}, type::kAxfr, kId + 1)).ok());  // another ID
  }
  {
    Received r(type::kAxfr, std::nullopt);
    const absl::Status status = r.Read(Message({}, type::kAxfr, kId, rcode::kNotAuth));
    EXPECT_NE(status.message().find("NOTAUTH"), std::string::npos) << status;
  }
  {
    Received r(type::kAxfr, std::nullopt);
    std::vector<uint8_t> cut = Message({Soa(1), Ns()}, type::kAxfr);
    cut.resize(cut.size() - 3);
    EXPECT_FALSE(r.Read(cut).ok());
  }
}

TEST(TransferQueryTest, IxfrCarriesOurSoa) {
  uint8_t out[512];
  const TransferRecord soa = Soa(9);
  const size_t size = WriteTransferQuery(Wire("example.net."), type::kIxfr, kId, soa.rdata, 300,
                                         nullptr, out, sizeof(out));
  ASSERT_GT(size, 0u);
  EXPECT_EQ(ReadU16(out), kId);
  EXPECT_EQ(ReadU16(out + 4), 1);  // QDCOUNT
  EXPECT_EQ(ReadU16(out + 8), 1);  // NSCOUNT: our SOA
  EXPECT_EQ(SoaSerial(AsChars(out + size - soa.rdata.size(), soa.rdata.size())), 9u);
  EXPECT_EQ(WriteTransferQuery(Wire("example.net."), type::kAxfr, kId, {}, 0, nullptr, out, 20),
            0u);
}

std::unique_ptr<Zone> Base() {
  auto zone = ParseZoneText(
      "$ORIGIN example.net.\n@ 300 SOA ns1 h 1 3600 600 86400 60\n@ 300 NS ns1\n"
      "ns1 300 A 192.0.2.1\nwww 300 A 192.0.2.10\nwww 300 A 192.0.2.11\n",
      "base", "example.net.");
  EXPECT_TRUE(zone.ok()) << zone.status();
  return std::move(*zone);
}

TEST(ApplyDiffsTest, AppliesStepsInOrder) {
  const auto base = Base();
  std::vector<ZoneDiff> diffs = {
      {1, 2, {Soa(1), A("www", 10)}, {Soa(2), A("new", 1)}},
      // The TTL of www's remaining record changes; `new` goes again.
      {2, 3, {Soa(2), A("www", 11), A("new", 1)}, {Soa(3), A("www", 11, 60)}},
  };
  ZoneTextWriter text;
  ASSERT_TRUE(ApplyDiffs(*base, diffs, text).ok());
  auto zone = ParseZoneText(text.text(), "applied", "example.net.");
  ASSERT_TRUE(zone.ok()) << zone.status() << "\n" << text.text();
  EXPECT_EQ((*zone)->serial(), 3u);
  EXPECT_FALSE((*zone)->Find(Wire("new.example.net.")).valid());
  const RrsetView www = (*zone)->Find(Wire("www.example.net.")).Find(type::kA);
  ASSERT_TRUE(www.valid());
  EXPECT_EQ(www.count(), 1);
  EXPECT_EQ(www.ttl(), 60u);
  EXPECT_EQ((*zone)->record_count(), base->record_count() - 1);
}

TEST(ApplyDiffsTest, RefusesStepsThatDoNotFit) {
  const auto base = Base();
  ZoneTextWriter text;
  // Removing what the zone does not have.
  EXPECT_FALSE(ApplyDiffs(*base, {{1, 2, {Soa(1), A("none", 1)}, {Soa(2)}}}, text).ok());
  // Removing it twice.
  EXPECT_FALSE(ApplyDiffs(*base,
                          {{1, 2, {Soa(1), A("www", 10)}, {Soa(2)}},
                           {2, 3, {Soa(2), A("www", 10)}, {Soa(3)}}},
                          text)
                   .ok());
  // A step from a serial the zone is not at.
  EXPECT_FALSE(ApplyDiffs(*base, {{4, 5, {Soa(4)}, {Soa(5)}}}, text).ok());
}

TEST(ZoneTextWriterTest, RefusesDataInvalidForItsType) {
  ZoneTextWriter text;
  EXPECT_FALSE(text.Add(Wire("a.example.net."), type::kA, 300, "\x01\x02").ok());
  EXPECT_FALSE(text.Add(Wire("a.example.net."), type::kNs, 300, "\x05zz").ok());
  EXPECT_TRUE(text.Add(Wire("a.example.net."), 65280, 300, "anything").ok());
  // Salt and hash lengths past the data (libknot 3.2's dumper would read on).
  EXPECT_FALSE(text.Add(Wire("a.example.net."), type::kNsec3, 300, "\x03ns2\xc0\x0c").ok());
  EXPECT_FALSE(text.Add(Wire("a.example.net."), type::kNsec3, 300,
                        std::string("\x01\x00\x00\x0a\x00\x14\x01", 7))
                   .ok());
  EXPECT_FALSE(text.Add(Wire("a.example.net."), type::kNsec3Param, 300,
                        std::string("\x01\x00\x00\x0a\x08\xab", 6))
                   .ok());
  EXPECT_TRUE(text.Add(Wire("a.example.net."), type::kNsec3Param, 300,
                       std::string("\x01\x00\x00\x0a\x01\xab", 6))
                  .ok());
  EXPECT_FALSE(text.Add(Wire("a.example.net."), type::kTsig, 300, "x").ok());
}

TEST(JournalTest, DiffsOfZoneFilesChainAndApply) {
  const auto base = Base();
  auto next = ParseZoneText(
      "$ORIGIN example.net.\n@ 300 SOA ns1 h 2 3600 600 86400 60\n@ 300 NS ns1\n"
      "ns1 300 A 192.0.2.1\nwww 60 A 192.0.2.10\nnew 300 A 192.0.2.77\n",
      "next", "example.net.");
  ASSERT_TRUE(next.ok()) << next.status();
  const ZoneDiff diff = DiffZones(*base, **next);
  EXPECT_EQ(diff.from_serial, 1u);
  EXPECT_EQ(diff.to_serial, 2u);
  ASSERT_FALSE(diff.removed.empty());
  ASSERT_FALSE(diff.added.empty());
  EXPECT_EQ(diff.removed.front().type, type::kSoa);  // each side starts with its SOA
  EXPECT_EQ(diff.added.front().type, type::kSoa);
  // www's TTL changed (both records go, one comes back), www 192.0.2.11
  // went, new came.
  EXPECT_EQ(diff.removed.size(), 3u);
  EXPECT_EQ(diff.added.size(), 3u);
  // Applying the difference to the base gives the new zone.
  ZoneTextWriter text;
  ASSERT_TRUE(ApplyDiffs(*base, {diff}, text).ok());
  auto applied = ParseZoneText(text.text(), "applied", "example.net.");
  ASSERT_TRUE(applied.ok()) << applied.status();
  EXPECT_EQ((*applied)->serial(), 2u);
  EXPECT_EQ((*applied)->record_count(), (*next)->record_count());
  EXPECT_EQ(DiffZones(**applied, **next).removed.size(), 0u);

  auto journal = Journal::Append(nullptr, std::make_shared<ZoneDiff>(diff), 1 << 20);
  ZoneDiff later{2, 3, {Soa(2)}, {Soa(3)}};
  journal = Journal::Append(journal.get(), std::make_shared<ZoneDiff>(later), 1 << 20);
  EXPECT_EQ(journal->From(1).size(), 2u);
  EXPECT_EQ(journal->From(2).size(), 1u);
  EXPECT_TRUE(journal->From(7).empty());
  // A difference that does not continue the chain starts over.
  journal =
      Journal::Append(journal.get(), std::make_shared<ZoneDiff>(ZoneDiff{9, 10, {}, {}}), 1 << 20);
  EXPECT_EQ(journal->size(), 1u);
  // A journal file gives back the same differences, and refuses damage.
  const std::string bytes = journal->Serialize();
  auto parsed = Journal::Parse(bytes, 1 << 20);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ((*parsed)->size(), journal->size());
  EXPECT_EQ((*parsed)->From(9)[0]->to_serial, 10u);
  EXPECT_EQ(Journal::Parse(journal->Serialize().substr(0, bytes.size() - 1), 1 << 20).ok(), false);
  EXPECT_FALSE(Journal::Parse("not a journal", 1 << 20).ok());
  auto chained = Journal::Append(nullptr, std::make_shared<ZoneDiff>(diff), 1 << 20);
  chained = Journal::Append(chained.get(), std::make_shared<ZoneDiff>(later), 1 << 20);
  auto reread = Journal::Parse(chained->Serialize(), 1 << 20);
  ASSERT_TRUE(reread.ok()) << reread.status();
  ASSERT_EQ((*reread)->From(1).size(), 2u);
  EXPECT_EQ((*reread)->From(1)[0]->removed, diff.removed);
  EXPECT_EQ((*reread)->From(1)[0]->added, diff.added);
  EXPECT_EQ((*reread)->last_serial(), 3u);
  // Over the bound, the oldest go.
  auto small = Journal::Append(nullptr, std::make_shared<ZoneDiff>(diff), 1);
  small = Journal::Append(small.get(), std::make_shared<ZoneDiff>(later), 1);
  EXPECT_EQ(small->size(), 1u);
  EXPECT_TRUE(small->From(1).empty());
}

// What TransferWriter sends, TransferReader takes back: the whole zone
// over many messages, or the journal's differences.
TEST(TransferWriterTest, RoundTripsThroughTheReader) {
  std::string text = "$ORIGIN example.net.\n@ 300 SOA ns1 h 2 3600 600 86400 60\n@ NS ns1\n";
  for (int i = 0; i < 5000; ++i) text += "h" + std::to_string(i) + " A 198.51.100.1\n";
  auto zone = ParseZoneText(text, "big", "example.net.");
  ASSERT_TRUE(zone.ok()) << zone.status();
  for (const uint16_t qtype : {type::kAxfr, type::kIxfr}) {
    uint8_t query[512];
    const TransferRecord client_soa = Soa(1);
    const size_t query_size = WriteTransferQuery(Wire("example.net."), qtype, kId, client_soa.rdata,
                                                 300, nullptr, query, 512);
    Query q;
    ASSERT_EQ(ParseQuery(query, query_size, q), QueryStatus::kOk);
    const ZoneDiff diff{1, 2, {Soa(1), A("gone", 1)}, {Soa(2), A("new", 2)}};
    TransferWriter writer(**zone, query, q, std::nullopt,
                          qtype == type::kIxfr ? std::vector<const ZoneDiff*>{&diff}
                                               : std::vector<const ZoneDiff*>{});
    ZoneTextWriter received;
    TransferReader reader(Wire("example.net."), qtype, kId, 1, nullptr,
                          [&](const TransferRecord& r) { return received.Add(r); });
    std::vector<uint8_t> out(kMaxMessageSize);
    int messages = 0;
    while (const size_t size = writer.Next(out.data())) {
      ASSERT_TRUE(reader.Read(out.data(), size).ok()) << messages;
      ++messages;
    }
    ASSERT_TRUE(reader.done());
    if (qtype == type::kAxfr) {
      EXPECT_EQ(reader.result(), TransferReader::Result::kFull);
      EXPECT_GT(messages, 1);
      auto copy = ParseZoneText(received.text(), "copy", "example.net.");
      ASSERT_TRUE(copy.ok()) << copy.status();
      EXPECT_EQ((*copy)->record_count(), (*zone)->record_count());
    } else {
      EXPECT_EQ(reader.result(), TransferReader::Result::kIncremental);
      ASSERT_EQ(reader.diffs().size(), 1u);
      EXPECT_EQ(reader.diffs()[0].removed, diff.removed);
      EXPECT_EQ(reader.diffs()[0].added, diff.added);
    }
  }
}

// A primary's side of TSIG over several messages: the first signed with the
// request's MAC, the next ones chained to the previous MAC (RFC 8945 §5.3.1).
class TsigStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto keyring = TsigKeyring::Build({{"xfr", "hmac-sha256", kSecret}});
    ASSERT_TRUE(keyring.ok());
    keyring_ = *keyring;
    ASSERT_EQ(knot_tsig_key_init(&server_key_, "hmac-sha256", "xfr", kSecret), KNOT_EOK);
  }
  void TearDown() override { knot_tsig_key_deinit(&server_key_); }

  // Our request, signed by `client`; keeps its MAC as the primary would.
  void Request(TsigClient& client) {
    uint8_t query[512];
    const size_t size = WriteTransferQuery(Wire("example.net."), type::kAxfr, kId, {}, 0, &client,
                                           query, sizeof(query));
    ASSERT_GT(size, 0u);
    // The primary checks it and keeps its MAC.
    knot_pkt_t* pkt = knot_pkt_new(query, static_cast<uint16_t>(size), nullptr);
    ASSERT_EQ(knot_pkt_parse(pkt, 0), KNOT_EOK);
    ASSERT_NE(pkt->tsig_rr, nullptr);
    ASSERT_EQ(knot_tsig_server_check(pkt->tsig_rr, pkt->wire, pkt->size, &server_key_), KNOT_EOK);
    digest_size_ = knot_tsig_rdata_mac_length(pkt->tsig_rr);
    memcpy(digest_, knot_tsig_rdata_mac(pkt->tsig_rr), digest_size_);
    knot_pkt_free(pkt);
  }

  // The first message of the response, signed with the request's MAC.
  std::vector<uint8_t> SignedFirst(std::vector<uint8_t> message) {
    size_t size = message.size();
    message.resize(size + 256);
    uint8_t previous[64];
    memcpy(previous, digest_, digest_size_);
    size_t digest_size = sizeof(digest_);
    EXPECT_EQ(knot_tsig_sign(message.data(), &size, message.size(), previous, digest_size_, digest_,
                             &digest_size, &server_key_, 0, 0),
              KNOT_EOK);
    digest_size_ = digest_size;
    message.resize(size);
    return message;
  }

  std::shared_ptr<const TsigKeyring> keyring_;
  knot_tsig_key_t server_key_{};
  uint8_t digest_[64];
  size_t digest_size_ = 0;
};

TEST_F(TsigStreamTest, ChecksEveryMessageOfTheStream) {
  TsigClient client(*keyring_->Find(Wire("xfr.")));
  Request(client);
  Received r(type::kAxfr, std::nullopt, &client);
  ASSERT_TRUE(r.Read(SignedFirst(Message({Soa(1), Ns()}, type::kAxfr))).ok());
  // An unsigned message in between is allowed; the next signed one covers it.
  const std::vector<uint8_t> middle = Message({A("www", 10)}, type::kAxfr);
  ASSERT_TRUE(r.Read(middle).ok());
  std::vector<uint8_t> last = Message({A("ns1", 1), Soa(1)}, type::kAxfr);
  // knot_tsig_sign_next signs only what it is given: the unsigned message
  // and this one, as the client buffers them.
  std::vector<uint8_t> both(middle);
  both.insert(both.end(), last.begin(), last.end());
  size_t size = last.size();
  last.resize(size + 256);
  uint8_t previous[64];
  memcpy(previous, digest_, digest_size_);
  size_t digest_size = sizeof(digest_);
  ASSERT_EQ(knot_tsig_sign_next(last.data(), &size, last.size(), previous, digest_size_, digest_,
                                &digest_size, &server_key_, both.data(), both.size()),
            KNOT_EOK);
  last.resize(size);
  const absl::Status status = r.Read(last);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_TRUE(r.reader.done());
}

TEST_F(TsigStreamTest, RefusesATamperedOrUnsignedEnd) {
  {
    TsigClient client(*keyring_->Find(Wire("xfr.")));
    Request(client);
    Received r(type::kAxfr, std::nullopt, &client);
    std::vector<uint8_t> first = SignedFirst(Message({Soa(1), A("www", 10)}, type::kAxfr));
    first[first.size() / 2] ^= 1;
    EXPECT_FALSE(r.Read(first).ok());
  }
  {
    TsigClient client(*keyring_->Find(Wire("xfr.")));
    Request(client);
    Received r(type::kAxfr, std::nullopt, &client);
    ASSERT_TRUE(r.Read(SignedFirst(Message({Soa(1), Ns()}, type::kAxfr))).ok());
    const absl::Status status = r.Read(Message({Soa(1)}, type::kAxfr));  // unsigned last
    EXPECT_TRUE(absl::IsPermissionDenied(status)) << status;
  }
  {
    // A signed response to an unsigned request.
    Received r(type::kAxfr, std::nullopt);
    TsigClient client(*keyring_->Find(Wire("xfr.")));
    Request(client);
    EXPECT_FALSE(r.Read(SignedFirst(Message({Soa(1), Soa(1)}, type::kAxfr))).ok());
  }
}

}  // namespace
}  // namespace agility::dns
