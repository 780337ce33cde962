#include "dns/name.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace agility::dns {
namespace {

std::string Wire(const char* text) { return *NameFromText(text); }

TEST(NameTest, TextRoundTripLowercases) {
  EXPECT_EQ(Wire("WWW.Example.com"), std::string("\3www\7example\3com\0", 17));
  EXPECT_EQ(Wire("www.example.com."), Wire("www.example.com"));
  EXPECT_EQ(NameToText(Wire("www.example.com")), "www.example.com.");
  EXPECT_EQ(NameToText(std::string(1, '\0')), ".");
  EXPECT_FALSE(NameFromText("").ok());
  EXPECT_FALSE(NameFromText(std::string(64, 'a') + ".com").ok());
}

TEST(NameTest, LabelOffsetsAndSuffixes) {
  const std::string name = Wire("www.example.com");
  LabelOffsets labels;
  ComputeLabelOffsets(name, labels);
  ASSERT_EQ(labels.count, 3);
  EXPECT_EQ(Suffix(name, labels, 1), Wire("example.com"));
  EXPECT_EQ(Suffix(name, labels, 2), Wire("com"));
  EXPECT_EQ(Suffix(name, labels, 3), std::string(1, '\0'));
}

TEST(NameTest, AtOrBelowRespectsLabelBoundaries) {
  EXPECT_TRUE(IsAtOrBelow(Wire("a.example.com"), Wire("example.com")));
  EXPECT_TRUE(IsAtOrBelow(Wire("example.com"), Wire("example.com")));
  EXPECT_FALSE(IsAtOrBelow(Wire("badexample.com"), Wire("example.com")));
  EXPECT_FALSE(IsAtOrBelow(Wire("com"), Wire("example.com")));
  EXPECT_TRUE(IsAtOrBelow(Wire("x.com"), std::string(1, '\0')));
}

std::vector<uint8_t> Packet(const std::string& bytes) { return {bytes.begin(), bytes.end()}; }

TEST(NameTest, QuestionNameIsLowercasedAndBounded) {
  const auto packet = Packet(std::string("\3WwW\7ExAmple\3COM\0rest", 21));
  uint8_t lower[255];
  size_t size = 0;
  EXPECT_EQ(ReadQuestionName(packet.data(), packet.size(), 0, lower, &size), 17u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(lower), size), Wire("www.example.com"));
}

TEST(NameTest, QuestionNameRejectsMalformed) {
  uint8_t lower[255];
  size_t size = 0;
  const auto runs_off = Packet("\3www\7exa");
  EXPECT_EQ(ReadQuestionName(runs_off.data(), runs_off.size(), 0, lower, &size), 0u);
  const auto pointer = Packet(std::string("\3www\xc0\x0c", 6));
  EXPECT_EQ(ReadQuestionName(pointer.data(), pointer.size(), 0, lower, &size), 0u);
  const auto reserved = Packet(std::string("\x40www\0", 5));
  EXPECT_EQ(ReadQuestionName(reserved.data(), reserved.size(), 0, lower, &size), 0u);
  // 4 x 63-byte labels = 256 bytes of name: one too many.
  std::string too_long;
  for (int i = 0; i < 4; ++i) too_long += '\x3f' + std::string(63, 'a');
  too_long += '\0';
  const auto long_packet = Packet(too_long);
  EXPECT_EQ(ReadQuestionName(long_packet.data(), long_packet.size(), 0, lower, &size), 0u);
  // 3 x 63 + one 61-byte label = 255 bytes: the maximum.
  std::string longest;
  for (int i = 0; i < 3; ++i) longest += '\x3f' + std::string(63, 'a');
  longest += '\x3d' + std::string(61, 'a') + '\0';
  const auto longest_packet = Packet(longest);
  EXPECT_EQ(ReadQuestionName(longest_packet.data(), longest_packet.size(), 0, lower, &size), 255u);
  EXPECT_EQ(size, 255u);
}

TEST(NameTest, PacketNameIsDecompressedWithCaseKept) {
  // "Key" then a pointer to "example.com" at offset 4.
  const auto packet = Packet(std::string("\3www\7Example\3com\0\3Key\xc0\x04", 23));
  uint8_t wire[255];
  size_t size = 0;
  EXPECT_EQ(ReadPacketName(packet.data(), packet.size(), 17, wire, &size), 23u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(wire), size),
            std::string("\3Key\7Example\3com\0", 17));
  EXPECT_EQ(ReadPacketName(packet.data(), packet.size(), 0, wire, &size), 17u);
  EXPECT_EQ(size, 17u);
}

TEST(NameTest, PacketNameRejectsLoopsAndForwardPointers) {
  uint8_t wire[255];
  size_t size = 0;
  const auto self = Packet(std::string("\xc0\x00", 2));
  EXPECT_EQ(ReadPacketName(self.data(), self.size(), 0, wire, &size), 0u);
  const auto forward = Packet(std::string("\xc0\x02\0", 3));
  EXPECT_EQ(ReadPacketName(forward.data(), forward.size(), 0, wire, &size), 0u);
  // A label, then a pointer back to it: each pass would add the label again.
  const auto repeat = Packet(std::string("\3abc\xc0\x00", 6));
  EXPECT_EQ(ReadPacketName(repeat.data(), repeat.size(), 0, wire, &size), 0u);
  const auto cut = Packet(std::string("\3abc\xc0", 5));
  EXPECT_EQ(ReadPacketName(cut.data(), cut.size(), 0, wire, &size), 0u);
}

TEST(NameTest, SkipPacketNameHandlesPointersAndBounds) {
  const auto packet = Packet(std::string("\3www\0\xc0\x00\x01", 8));
  EXPECT_EQ(SkipPacketName(packet.data(), packet.size(), 0), 5u);
  EXPECT_EQ(SkipPacketName(packet.data(), packet.size(), 5), 7u);
  EXPECT_EQ(SkipPacketName(packet.data(), 6, 5), 0u);
  EXPECT_EQ(SkipPacketName(packet.data(), packet.size(), 7), 0u);
}

}  // namespace
}  // namespace agility::dns
