// Catalog zones (RFC 9432): the member list a consumer reads.
#include "dns/catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "dns/name.h"
#include "dns/zone_file.h"

namespace agility::dns {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Wire(const std::string& text) { return *NameFromText(text); }

absl::StatusOr<CatalogMembers> Read(const std::string& records, size_t max_zones = 100) {
  auto zone = ParseZoneText(
      "$ORIGIN catalog.invalid.\n$TTL 0\n@ SOA invalid. invalid. 1 3600 600 86400 0\n"
      "@ NS invalid.\n" +
          records,
      "catalog", "catalog.invalid.");
  EXPECT_TRUE(zone.ok()) << zone.status();
  return ReadCatalog(**zone, max_zones);
}

TEST(CatalogTest, ListsMembersInOrder) {
  auto members = Read(
      "version TXT \"2\"\nb.zones PTR Two.Example.\na.zones PTR one.example.\n"
      "ext.other TXT \"ignored\"\n");
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_THAT(members->zones, ElementsAre(Wire("two.example."), Wire("one.example.")));
  EXPECT_TRUE(members->notes.empty());
}

TEST(CatalogTest, ABrokenCatalogFails) {
  // No version, another version, two version records.
  EXPECT_FALSE(Read("a.zones PTR one.example.\n").ok());
  EXPECT_FALSE(Read("version TXT \"1\"\na.zones PTR one.example.\n").ok());
  EXPECT_FALSE(Read("version TXT \"2\"\nversion TXT \"3\"\n").ok());
  // More members than allowed.
  auto over = Read("version TXT \"2\"\na.zones PTR one.example.\nb.zones PTR two.example.\n", 1);
  ASSERT_FALSE(over.ok());
  EXPECT_THAT(std::string(over.status().message()), HasSubstr("more than 1 member zones"));
}

TEST(CatalogTest, LeavesOutBadMembersWithANote) {
  auto members = Read(
      "version TXT \"2\"\n"
      "a.zones PTR one.example.\na.zones PTR two.example.\n"      // two PTRs
      "b.zones PTR three.example.\nc.zones PTR three.example.\n"  // listed twice
      "d.zones PTR catalog.invalid.\n"                            // the catalog itself
      "coo.b.zones PTR elsewhere.invalid.\ngroup.b.zones TXT \"g\"\n");
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_THAT(members->zones, ElementsAre(Wire("three.example.")));
  ASSERT_EQ(members->notes.size(), 5u);
  EXPECT_THAT(members->notes[0], HasSubstr("2 PTR records"));
  EXPECT_THAT(members->notes[3], HasSubstr("change-of-ownership (coo) properties not honoured"));
  EXPECT_THAT(members->notes[4], HasSubstr("group properties ignored"));
}

TEST(CatalogTest, WhatAProducerWritesAConsumerReads) {
  const std::vector<std::string> members = {Wire("two.example."), Wire("One.Example.")};
  const std::string text = CatalogZoneText(Wire("catalog.invalid."), members, 7);
  auto zone = ParseZoneText(text, "catalog", "catalog.invalid.");
  ASSERT_TRUE(zone.ok()) << zone.status() << "\n" << text;
  EXPECT_EQ((*zone)->serial(), 7u);
  auto read = ReadCatalog(**zone, 10);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_THAT(read->zones,
              ::testing::UnorderedElementsAre(Wire("two.example."), Wire("one.example.")));
  EXPECT_TRUE(read->notes.empty());
  // A member's label is the SHA-1 of its name in wire form, lowercase,
  // whatever else the list holds.
  const std::string label = "6fcee748254915d6e0058b4813616296cbd9dbcc.zones 0 PTR one.example.\n";
  EXPECT_THAT(text, HasSubstr(label));
  EXPECT_THAT(CatalogZoneText(Wire("catalog.invalid."), {Wire("one.example.")}, 8),
              HasSubstr(label));
}

}  // namespace
}  // namespace agility::dns
