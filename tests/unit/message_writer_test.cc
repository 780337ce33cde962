#include "dns/message_writer.h"

#include <gtest/gtest.h>

#include <vector>

#include "dns/name.h"
#include "dns/wire.h"

namespace agility::dns {
namespace {

std::string Wire(const char* text) { return *NameFromText(text); }

class MessageWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    buffer_.assign(512, 0);
    // Header plus question "Example.COM IN A", as a query would carry it.
    const std::string question = std::string("\7Example\3COM\0\0\1\0\1", 17);
    header_and_question_.assign(12, 0);
    header_and_question_.insert(header_and_question_.end(), question.begin(), question.end());
  }
  std::vector<uint8_t> buffer_;
  std::vector<uint8_t> header_and_question_;
};

TEST_F(MessageWriterTest, CompressesOwnersAndRdataNames) {
  MessageWriter w(buffer_.data(), buffer_.size());
  ASSERT_TRUE(w.Append(header_and_question_.data(), header_and_question_.size()));
  w.RememberName(12);
  const std::string target = Wire("mail.example.com");
  std::vector<uint8_t> mx = {0, 10};
  mx.insert(mx.end(), target.begin(), target.end());
  const size_t start = w.size();
  const size_t rdata = w.AppendRecord(MessageWriter::kNoOwner, Wire("example.com"), type::kMx, 300,
                                      mx.data(), mx.size());
  ASSERT_NE(rdata, 0u);
  // Owner: pointer to the question name, case-insensitively matched.
  EXPECT_EQ(buffer_[start], 0xc0);
  EXPECT_EQ(buffer_[start + 1], 12);
  // RDATA: preference, "mail", then a pointer to offset 12.
  EXPECT_EQ(ReadU16(buffer_.data() + rdata - 2), 2 + 5 + 2);
  EXPECT_EQ(buffer_[rdata + 2], 4);
  EXPECT_EQ(buffer_[rdata + 7], 0xc0);
  EXPECT_EQ(buffer_[rdata + 8], 12);
  // A later record for mail.example.com points at the name inside the MX.
  const uint8_t address[4] = {192, 0, 2, 1};
  const size_t next = w.size();
  ASSERT_NE(w.AppendRecord(MessageWriter::kNoOwner, target, type::kA, 300, address, 4), 0u);
  EXPECT_EQ(buffer_[next], 0xc0);
  EXPECT_EQ(buffer_[next + 1], rdata + 2);
}

TEST_F(MessageWriterTest, DoesNotCompressOtherRdata) {
  MessageWriter w(buffer_.data(), buffer_.size());
  ASSERT_TRUE(w.Append(header_and_question_.data(), header_and_question_.size()));
  w.RememberName(12);
  // SRV targets stay uncompressed (RFC 2782).
  const std::string target = Wire("example.com");
  std::vector<uint8_t> srv = {0, 1, 0, 2, 0, 3};
  srv.insert(srv.end(), target.begin(), target.end());
  const size_t rdata = w.AppendRecord(12, {}, type::kSrv, 60, srv.data(), srv.size());
  ASSERT_NE(rdata, 0u);
  EXPECT_EQ(ReadU16(buffer_.data() + rdata - 2), srv.size());
}

TEST_F(MessageWriterTest, RecordThatDoesNotFitLeavesMessageUnchanged) {
  MessageWriter w(buffer_.data(), 48);  // room for the question and one A record
  ASSERT_TRUE(w.Append(header_and_question_.data(), header_and_question_.size()));
  w.RememberName(12);
  const size_t before = w.size();
  const std::vector<uint8_t> big(100, 'x');
  EXPECT_EQ(w.AppendRecord(12, {}, type::kTxt, 60, big.data(), big.size()), 0u);
  EXPECT_EQ(w.size(), before);
  const uint8_t address[4] = {1, 2, 3, 4};
  EXPECT_NE(w.AppendRecord(12, {}, type::kA, 60, address, 4), 0u);
}

}  // namespace
}  // namespace agility::dns
