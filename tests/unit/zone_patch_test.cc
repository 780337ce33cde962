// IXFR steps applied in place (PatchZone, ZoneBuilder::BuildOverlay): the
// overlay must answer exactly as the zone rebuilt from text does, step
// after step, or decline so that the rebuild applies the change.
#include "dns/zone_patch.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dns/name.h"
#include "dns/query.h"
#include "dns/transfer_out.h"
#include "dns/wire.h"
#include "dns/zone_file.h"
#include "dns/zone_text.h"
#include "transfer_records.h"

namespace agility::dns {
namespace {

using testing::Soa;
using testing::Wire;
TransferRecord A(const std::string& owner, uint8_t last, uint32_t ttl = 300) {
  return {Wire(owner + "example.net."), std::string("\xc0\x00\x02", 3) + static_cast<char>(last),
          ttl, type::kA};
}
TransferRecord Ns(const std::string& owner, const std::string& target) {
  return {Wire(owner + "example.net."), Wire(target + ".example.net."), 300, type::kNs};
}

std::shared_ptr<const Zone> Load(const std::string& records) {
  auto zone = ParseZoneText(
      "$ORIGIN example.net.\n@ 300 SOA ns1 h 1 3600 600 86400 60\n@ 300 NS ns1\n"
      "ns1 300 A 192.0.2.1\n" +
          records,
      "base", "example.net.");
  EXPECT_TRUE(zone.ok()) << zone.status();
  return zone.ok() ? std::shared_ptr<const Zone>(*std::move(zone)) : nullptr;
}

// What a node answers with: its flags (kHasChildren aside: an overlay may
// keep it after the last child goes) and its RRsets, byte for byte.
std::string Answer(const NodeView& node) {
  const auto* start = static_cast<const uint8_t*>(node.id());
  const size_t header = 3 + node.name().size();
  return absl::StrCat(node.flags() & ~node_flag::kHasChildren, ":",
                      AsChars(start + header, node.size() - header));
}

std::map<std::string, std::string> Nodes(const Zone& zone) {
  std::map<std::string, std::string> nodes;
  zone.ForEachNode([&](const NodeView& node) {
    EXPECT_TRUE(nodes.emplace(std::string(node.name()), Answer(node)).second)
        << "visited twice: " << NameToText(node.name());
  });
  return nodes;
}

void ExpectSameZone(const Zone& want, const Zone& got) {
  EXPECT_EQ(got.serial(), want.serial());
  EXPECT_EQ(got.name_count(), want.name_count());
  EXPECT_EQ(got.record_count(), want.record_count());
  EXPECT_EQ(got.negative_ttl(), want.negative_ttl());
  const auto want_nodes = Nodes(want);
  EXPECT_EQ(Nodes(got), want_nodes);
  for (const auto& [name, answer] : want_nodes) {
    const NodeView found = got.Find(name);
    ASSERT_TRUE(found.valid()) << NameToText(name);
    EXPECT_EQ(Answer(found), answer) << NameToText(name);
  }
}

// The reference: the steps applied to the zone's text, rebuilt whole.
absl::StatusOr<std::unique_ptr<Zone>> Rebuild(const Zone& current,
                                              const std::vector<ZoneDiff>& diffs) {
  ZoneTextWriter text;
  if (auto status = ApplyDiffs(current, diffs, text); !status.ok()) return status;
  return ParseZoneText(text.text(), "rebuilt", "example.net.");
}

absl::StatusOr<std::unique_ptr<Zone>> Patch(std::shared_ptr<const Zone> current,
                                            const std::vector<ZoneDiff>& diffs) {
  std::vector<const ZoneDiff*> steps;
  for (const ZoneDiff& diff : diffs) steps.push_back(&diff);
  return PatchZone(std::move(current), steps);
}

TEST(ZonePatchTest, ChangesNamesOverTheCompiledZone) {
  const auto base = Load("www 300 A 192.0.2.10\nold 300 A 192.0.2.20\nx.y 300 A 192.0.2.30\n");
  const std::vector<ZoneDiff> diffs = {
      {1, 2, {Soa(1), A("www.", 10), A("old.", 20)}, {Soa(2), A("www.", 11), A("a.b.c.", 1)}},
      // An ENT gains records; x.y goes, which leaves y an empty non-terminal.
      {2, 3, {Soa(2)}, {Soa(3), A("b.c.", 2, 60)}},
  };
  auto patched = Patch(base, diffs);
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)->base(), base.get());
  EXPECT_GT((*patched)->overlay_bytes(), 0u);
  auto rebuilt = Rebuild(*base, diffs);
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status();
  ExpectSameZone(**rebuilt, **patched);
  EXPECT_FALSE((*patched)->Find(Wire("old.example.net.")).valid());
  EXPECT_EQ((*patched)->Find(Wire("c.example.net.")).rrset_count(), 0);  // a new ENT
  EXPECT_EQ((*patched)->serial(), 3u);
  // The base is untouched: readers of the old snapshot see the old zone.
  EXPECT_TRUE(base->Find(Wire("old.example.net.")).valid());
  EXPECT_EQ(base->serial(), 1u);

  // A second overlay builds on the first, over the same base.
  const std::shared_ptr<const Zone> first = *std::move(patched);
  const std::vector<ZoneDiff> more = {{3, 4, {Soa(3), A("a.b.c.", 1)}, {Soa(4), A("old.", 21)}}};
  auto second = Patch(first, more);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*second)->base(), base.get());
  auto second_rebuilt = Rebuild(*first, more);
  ASSERT_TRUE(second_rebuilt.ok());
  ExpectSameZone(**second_rebuilt, **second);
}

// An AXFR of an overlay sends the zone as changed: base nodes the overlay
// replaces or deletes are left out, its own nodes are sent.
TEST(ZonePatchTest, AxfrOfAnOverlaySendsTheChangedZone) {
  std::string hosts;
  for (int i = 0; i < 3000; ++i) absl::StrAppend(&hosts, "h", i, " 300 A 198.51.100.1\n");
  const auto base = Load(hosts);
  const TransferRecord h7 = {Wire("h7.example.net."), std::string("\xc6\x33\x64\x01", 4), 300,
                             type::kA};  // 198.51.100.1
  const std::vector<ZoneDiff> diffs = {{1, 2, {Soa(1), h7}, {Soa(2), A("h8.", 9), A("x.y.z.", 1)}}};
  auto patched = Patch(base, diffs);
  ASSERT_TRUE(patched.ok()) << patched.status();
  uint8_t query[512];
  const size_t query_size =
      WriteTransferQuery(Wire("example.net."), type::kAxfr, 7, {}, 0, nullptr, query, 512);
  Query q;
  ASSERT_EQ(ParseQuery(query, query_size, q), QueryStatus::kOk);
  TransferWriter writer(**patched, query, q, std::nullopt, {});
  ZoneTextWriter received;
  TransferReader reader(Wire("example.net."), type::kAxfr, 7, std::nullopt, nullptr,
                        [&](const TransferRecord& r) { return received.Add(r); });
  std::vector<uint8_t> out(kMaxMessageSize);
  while (const size_t size = writer.Next(out.data())) {
    ASSERT_TRUE(reader.Read(out.data(), size).ok());
  }
  ASSERT_TRUE(reader.done());
  auto copy = ParseZoneText(received.text(), "copy", "example.net.");
  ASSERT_TRUE(copy.ok()) << copy.status();
  auto rebuilt = Rebuild(*base, diffs);
  ASSERT_TRUE(rebuilt.ok());
  ExpectSameZone(**rebuilt, **copy);
}

TEST(ZonePatchTest, DeclinesWhatAnOverlayCannotHold) {
  const auto base = Load(
      "x.y 300 A 192.0.2.30\nparent 300 A 192.0.2.1\nkid.parent 300 A 192.0.2.2\n"
      "sub 300 NS ns.sub\nns.sub 300 A 192.0.2.53\n");
  const auto declined = [&](const ZoneDiff& diff) {
    auto patched = Patch(base, {diff});
    return !patched.ok() && absl::IsFailedPrecondition(patched.status());
  };
  // Deleting a name with names below it.
  EXPECT_TRUE(declined({1, 2, {Soa(1), A("parent.", 1)}, {Soa(2)}}));
  // Deleting the only child of an empty non-terminal.
  EXPECT_TRUE(declined({1, 2, {Soa(1), A("x.y.", 30)}, {Soa(2)}}));
  // A zone cut over existing names, or one that goes from over them.
  EXPECT_TRUE(declined({1, 2, {Soa(1)}, {Soa(2), Ns("parent.", "ns1")}}));
  EXPECT_TRUE(declined({1, 2, {Soa(1), Ns("sub.", "ns.sub")}, {Soa(2)}}));
  // A cut at a leaf is fine, and names added below one are glue.
  auto cut = Patch(base, {{1, 2, {Soa(1)}, {Soa(2), Ns("kid.parent.", "ns1"), A("g.sub.", 9)}}});
  ASSERT_TRUE(cut.ok()) << cut.status();
  EXPECT_TRUE((*cut)->Find(Wire("kid.parent.example.net.")).flags() & node_flag::kDelegation);
  EXPECT_TRUE((*cut)->Find(Wire("g.sub.example.net.")).flags() & node_flag::kBelowCut);
}

TEST(ZonePatchTest, FailsStepsThatDoNotApply) {
  const auto base = Load("www 300 A 192.0.2.10\n");
  EXPECT_TRUE(absl::IsDataLoss(Patch(base, {{1, 2, {Soa(1), A("no.", 1)}, {Soa(2)}}}).status()));
  EXPECT_TRUE(absl::IsDataLoss(Patch(base, {{5, 6, {Soa(5)}, {Soa(6)}}}).status()));
  // CNAME and other data: the zone's checks hold for changed names.
  const TransferRecord cname = {Wire("www.example.net."), Wire("ns1.example.net."), 300,
                                type::kCname};
  const auto broken = Patch(base, {{1, 2, {Soa(1)}, {Soa(2), cname}}});
  EXPECT_TRUE(absl::IsInvalidArgument(broken.status())) << broken.status();
}

// Random steps over a small tree of names, each applied both ways.
TEST(ZonePatchTest, RandomStepsAgreeWithRebuilds) {
  std::mt19937 random(20261128);
  const std::vector<std::string> labels = {"a.", "b.", "c.", "*."};
  std::shared_ptr<const Zone> current = Load(
      "a 300 A 192.0.2.1\nb.a 300 A 192.0.2.2\nc.b.a 300 A 192.0.2.3\n"
      "d 300 NS ns.d\nns.d 300 A 192.0.2.4\n* 300 A 192.0.2.5\n");
  int patched_steps = 0, declined_steps = 0, failed_steps = 0;
  for (uint32_t serial = 1; serial < 400; ++serial) {
    ZoneDiff diff{serial, serial + 1, {Soa(serial)}, {Soa(serial + 1)}};
    // Some of what the zone has goes; new records come, some of them at
    // names not seen before (below names that may not exist).
    std::vector<TransferRecord> have;
    current->ForEachNode([&](const NodeView& node) {
      node.ForEachRrset([&](const RrsetView& rrset) {
        if (rrset.type() == type::kSoa) return;
        const uint8_t* record = rrset.records();
        for (uint16_t i = 0; i < rrset.count(); ++i) {
          const uint16_t size = ReadU16(record);
          have.push_back({std::string(node.name()), std::string(AsChars(record + 2, size)),
                          rrset.ttl(), rrset.type()});
          record += 2 + size;
        }
      });
    });
    std::shuffle(have.begin(), have.end(), random);
    const int removals = std::uniform_int_distribution<int>(0, 2)(random);
    for (int i = 0; i < removals && i < static_cast<int>(have.size()); ++i) {
      if (have[i].type == type::kNs && have[i].owner == Wire("example.net.")) continue;
      diff.removed.push_back(have[i]);
    }
    const int additions = std::uniform_int_distribution<int>(0, 3)(random);
    for (int i = 0; i < additions; ++i) {
      std::string owner;
      const int depth = std::uniform_int_distribution<int>(1, 3)(random);
      for (int d = 0; d < depth; ++d) {
        const std::string& label =
            labels[std::uniform_int_distribution<size_t>(0, labels.size() - 1)(random)];
        if (d > 0 && label == "*.") continue;  // wildcards only as the first label
        owner = (d == 0 ? label : owner + label);
      }
      const int kind = std::uniform_int_distribution<int>(0, 19)(random);
      if (kind == 0) {
        diff.added.push_back(Ns(owner, "ns1"));
      } else if (kind == 1 && !have.empty()) {
        TransferRecord again = have.back();  // the same record, a new TTL
        again.ttl = 60;
        diff.added.push_back(again);
      } else {
        diff.added.push_back(
            A(owner, static_cast<uint8_t>(std::uniform_int_distribution<int>(0, 3)(random))));
      }
    }
    const std::vector<ZoneDiff> diffs = {diff};
    auto rebuilt = Rebuild(*current, diffs);
    auto patched = Patch(current, diffs);
    if (!rebuilt.ok()) {
      EXPECT_FALSE(patched.ok()) << "serial " << serial << ": the rebuild failed with "
                                 << rebuilt.status();
      ++failed_steps;
      continue;  // the zone in force stays
    }
    if (!patched.ok()) {
      ASSERT_TRUE(absl::IsFailedPrecondition(patched.status()))
          << "serial " << serial << ": " << patched.status();
      ++declined_steps;
      current = *std::move(rebuilt);
      continue;
    }
    SCOPED_TRACE(absl::StrCat("serial ", serial + 1));
    ExpectSameZone(**rebuilt, **patched);
    ++patched_steps;
    current = *std::move(patched);
  }
  // The walk must exercise both ways, mostly in place.
  EXPECT_GT(patched_steps, 200);
  EXPECT_GT(declined_steps, 0);
  RecordProperty("patched", patched_steps);
  RecordProperty("declined", declined_steps);
  RecordProperty("failed", failed_steps);
  std::printf("patched %d, declined %d, failed %d\n", patched_steps, declined_steps, failed_steps);
}

// A zone file read again: few changed names become an overlay over the
// zone the file gave before, and the journal's step says what changed.
class ReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/agility-reload-XXXXXX";
    dir_ = mkdtemp(pattern);
    path_ = dir_ + "/example.net.zone";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(uint32_t serial, const std::string& records) {
    std::ofstream(path_) << "$ORIGIN example.net.\n@ 300 SOA ns1 h " << serial
                         << " 3600 600 86400 60\n@ 300 NS ns1\nns1 300 A 192.0.2.1\n"
                         << records;
  }
  std::string dir_, path_;
};

TEST_F(ReloadTest, FewChangedNamesAreAppliedInPlace) {
  std::string hosts;
  for (int i = 0; i < 500; ++i)
    absl::StrAppend(&hosts, "host", i, " 300 A 10.0.", i / 256, ".", i % 256, "\n");
  Write(1, hosts + "www 300 A 192.0.2.10\nold 300 A 192.0.2.20\nx.y 300 TXT \"t\"\n");
  auto loaded = LoadZoneFile(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const std::shared_ptr<const Zone> before = *std::move(loaded);

  Write(
      2,
      hosts +
          "www 300 A 192.0.2.11\nwww 300 A 192.0.2.12\nx.y 60 TXT \"t\"\na.b.c 300 A 192.0.2.30\n");
  ZoneDiff diff;
  auto reloaded = ReloadZoneFile(path_, before, &diff);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ((*reloaded)->base(), before.get());
  auto whole = LoadZoneFile(path_);
  ASSERT_TRUE(whole.ok());
  ExpectSameZone(**whole, **reloaded);
  EXPECT_TRUE((*reloaded)->Unchanged());  // stamped as read

  // The step: SOAs first, the changed records only.
  EXPECT_EQ(diff.from_serial, 1u);
  EXPECT_EQ(diff.to_serial, 2u);
  ASSERT_FALSE(diff.removed.empty());
  ASSERT_FALSE(diff.added.empty());
  EXPECT_EQ(diff.removed[0].type, type::kSoa);
  EXPECT_EQ(diff.added[0].type, type::kSoa);
  EXPECT_EQ(diff.removed.size(), 4u);  // SOA, www A .10, old A, x.y TXT at 300
  EXPECT_EQ(diff.added.size(), 5u);    // SOA, www A .11 and .12, x.y TXT at 60, a.b.c A
  // It takes the old zone to the new one.
  auto applied = PatchZone(before, {&diff});
  ASSERT_TRUE(applied.ok()) << applied.status();
  ExpectSameZone(**whole, **applied);
}

TEST_F(ReloadTest, OtherChangesAreCompiledWhole) {
  Write(1, "parent 300 A 192.0.2.1\nkid.parent 300 A 192.0.2.2\n");
  auto loaded = LoadZoneFile(path_);
  ASSERT_TRUE(loaded.ok());
  const std::shared_ptr<const Zone> before = *std::move(loaded);
  // A zone cut over an existing name.
  Write(2, "parent 300 NS ns1\nkid.parent 300 A 192.0.2.2\n");
  ZoneDiff diff;
  auto reloaded = ReloadZoneFile(path_, before, &diff);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ((*reloaded)->base(), nullptr);
  EXPECT_TRUE((*reloaded)->Find(Wire("kid.parent.example.net.")).flags() & node_flag::kBelowCut);
  // Errors are the file's, with their lines, as a whole load gives them.
  Write(3, "parent 300 A 192.0.2.1\nparent 300 CNAME kid.parent\n");
  auto broken = ReloadZoneFile(path_, before, &diff);
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(std::string(broken.status().message()).find("example.net.zone:6:"), std::string::npos)
      << broken.status();
}

}  // namespace
}  // namespace agility::dns
