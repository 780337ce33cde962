#include "dns/name_table.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace agility::dns {
namespace {

// Names live in a vector; a reference is an index into it.
struct Names {
  std::vector<std::string> list;
  absl::string_view operator()(uint32_t ref) const { return list[ref]; }
};

TEST(NameTableTest, InsertThenFindThroughGrowth) {
  Names names;
  NameTable table;
  for (uint32_t i = 0; i < 5000; ++i) {
    names.list.push_back("name" + std::to_string(i));
    bool inserted = false;
    EXPECT_EQ(table.Insert(names.list[i], NameTable::Hash(names.list[i]), i, names, inserted), i);
    EXPECT_TRUE(inserted);
  }
  EXPECT_EQ(table.size(), 5000u);
  EXPECT_LE(table.size(), table.capacity() - table.capacity() / 8);
  for (uint32_t i = 0; i < 5000; ++i) {
    const uint32_t* ref = table.Find(names.list[i], NameTable::Hash(names.list[i]), names);
    ASSERT_NE(ref, nullptr) << names.list[i];
    EXPECT_EQ(*ref, i);
  }
  EXPECT_EQ(table.Find("name5000", NameTable::Hash("name5000"), names), nullptr);
}

TEST(NameTableTest, SecondInsertReturnsTheFirstReference) {
  Names names{{"a", "a"}};
  NameTable table;
  bool inserted = false;
  table.Insert(names.list[0], NameTable::Hash("a"), 0, names, inserted);
  EXPECT_EQ(table.Insert(names.list[1], NameTable::Hash("a"), 1, names, inserted), 0u);
  EXPECT_FALSE(inserted);
  EXPECT_EQ(table.size(), 1u);
}

TEST(NameTableTest, CollidingHashesProbeAcrossGroupsAndWrapAround) {
  // Every name gets the same hash, homed at the last slot of a 64-slot
  // table: each probe runs through the full chain and wraps past the end.
  Names names;
  NameTable table;
  table.Reserve(50, names);
  ASSERT_EQ(table.capacity(), 64u);
  const uint64_t hash = 63;
  for (uint32_t i = 0; i < 50; ++i) {
    names.list.push_back("n" + std::to_string(i));
    bool inserted = false;
    table.Insert(names.list[i], hash, i, names, inserted);
    ASSERT_TRUE(inserted);
  }
  ASSERT_EQ(table.capacity(), 64u);  // no growth: the chain itself wrapped
  for (uint32_t i = 0; i < 50; ++i) {
    const uint32_t* ref = table.Find(names.list[i], hash, names);
    ASSERT_NE(ref, nullptr);
    EXPECT_EQ(*ref, i);
  }
  EXPECT_EQ(table.Find("absent", hash, names), nullptr);
}

TEST(NameTableTest, RewrittenReferencesStillFindTheirNames) {
  // References become positions in another list holding the same names,
  // as owner ids become arena offsets when a zone is compiled.
  Names ids{{"alpha", "beta", "gamma"}};
  Names offsets{{"x", "gamma", "y", "alpha", "beta"}};
  const uint32_t id_to_offset[] = {3, 4, 1};
  NameTable table;
  for (uint32_t i = 0; i < 3; ++i) {
    bool inserted = false;
    table.Insert(ids.list[i], NameTable::Hash(ids.list[i]), i, ids, inserted);
  }
  table.RewriteRefs([&](uint32_t id) { return id_to_offset[id]; });
  for (const char* name : {"alpha", "beta", "gamma"}) {
    const uint32_t* ref = table.Find(name, NameTable::Hash(name), offsets);
    ASSERT_NE(ref, nullptr);
    EXPECT_EQ(offsets.list[*ref], name);
  }
  EXPECT_EQ(table.Find("x", NameTable::Hash("x"), offsets), nullptr);
}

TEST(NameTableTest, EmptyTableFindsNothing) {
  Names names;
  const NameTable table;
  EXPECT_EQ(table.Find("a", NameTable::Hash("a"), names), nullptr);
  table.Prefetch(NameTable::Hash("a"));
}

}  // namespace
}  // namespace agility::dns
