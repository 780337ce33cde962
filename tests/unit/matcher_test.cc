#include "policy/matcher.h"

#include <gtest/gtest.h>

namespace agility::policy {
namespace {

uint32_t MatchText(const Matcher& m, const char* text) {
  const std::string name = *dns::NameFromText(text);
  dns::LabelOffsets labels;
  dns::ComputeLabelOffsets(name, labels);
  return m.Match(name, labels);
}

TEST(MatcherTest, ExactAndWildcard) {
  Matcher m;
  ASSERT_TRUE(m.Add("example.com", 0).ok());
  ASSERT_TRUE(m.Add("*.example.com", 1).ok());
  EXPECT_EQ(MatchText(m, "example.com"), 0u);
  EXPECT_EQ(MatchText(m, "www.example.com"), 1u);
  EXPECT_EQ(MatchText(m, "a.b.example.com"), 1u);
  EXPECT_EQ(MatchText(m, "badexample.com"), Matcher::kNoMatch);
  EXPECT_EQ(MatchText(m, "com"), Matcher::kNoMatch);
}

TEST(MatcherTest, MostSpecificWins) {
  Matcher m;
  ASSERT_TRUE(m.Add("*.example.com", 0).ok());
  ASSERT_TRUE(m.Add("*.cdn.example.com", 1).ok());
  ASSERT_TRUE(m.Add("special.cdn.example.com", 2).ok());
  EXPECT_EQ(MatchText(m, "www.example.com"), 0u);
  EXPECT_EQ(MatchText(m, "cdn.example.com"), 0u);
  EXPECT_EQ(MatchText(m, "x.cdn.example.com"), 1u);
  EXPECT_EQ(MatchText(m, "y.x.cdn.example.com"), 1u);
  EXPECT_EQ(MatchText(m, "special.cdn.example.com"), 2u);
  EXPECT_EQ(MatchText(m, "a.special.cdn.example.com"), 1u);
}

TEST(MatcherTest, RejectsDuplicatesAndBadPatterns) {
  Matcher m;
  ASSERT_TRUE(m.Add("*.example.com", 0).ok());
  EXPECT_FALSE(m.Add("*.EXAMPLE.com.", 1).ok());
  EXPECT_EQ(m.Owner("*.example.com"), 0u);
  EXPECT_TRUE(m.Add("example.com", 1).ok()) << "exact and wildcard are different patterns";
  EXPECT_FALSE(m.Add("*", 2).ok());
  EXPECT_FALSE(m.Add("a.*.example.com", 2).ok());
  EXPECT_FALSE(m.Add("w*.example.com", 2).ok());
  EXPECT_FALSE(m.Add("", 2).ok());
}

}  // namespace
}  // namespace agility::policy
