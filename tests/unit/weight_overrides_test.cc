#include "policy/weight_overrides.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "policy/table.h"

namespace agility::policy {
namespace {

using ::testing::HasSubstr;

constexpr char kA[] = "127.77.0.0/24";
constexpr char kB[] = "127.77.1.0/24";
constexpr char kC[] = "127.77.2.0/24";

config::Config Parse(const std::string& yaml) {
  auto config = config::ParseConfig(yaml, "w.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : config::Config{};
}

// edge4: A weight 3, B weight 1, C weight 0 (steered, never answered).
config::Config Weighted(uint32_t a = 3, uint32_t b = 1, const char* c = kC) {
  return Parse(absl::StrCat("zones: [a.zone]\npools:\n  edge4:\n", "    - {prefix: ", kA,
                            ", weight: ", a, "}\n", "    - {prefix: ", kB, ", weight: ", b, "}\n",
                            "    - {prefix: ", c, ", weight: 0}\n", "  edge6: \"fd00:77::/44\"\n"));
}

uint32_t Live(const LiveWeights& live, const char* pool, const char* prefix) {
  const auto it = live.find(WeightKey(pool, *Prefix::Parse(prefix)));
  EXPECT_NE(it, live.end()) << pool << " " << prefix;
  return it == live.end() ? 0xffffffff : it->second;
}

TEST(WeightOverridesTest, NoOverridesGivesTheYamlWeights) {
  const config::Config config = Weighted();
  const WeightOverrides none;
  const LiveWeights live = none.At(config, 0);
  EXPECT_EQ(live.size(), 4u);
  EXPECT_EQ(Live(live, "edge4", kA), 3u);
  EXPECT_EQ(Live(live, "edge4", kB), 1u);
  EXPECT_EQ(Live(live, "edge4", kC), 0u);
  EXPECT_EQ(Live(live, "edge6", "fd00:77::/44"), 1u);
  EXPECT_FALSE(none.Ramping(0));
}

TEST(WeightOverridesTest, ShiftAtOnce) {
  const config::Config config = Weighted();
  WeightOverrides overrides;
  ASSERT_TRUE(overrides.Shift(config, "edge4", kC, 5, 0, 0, 1000).ok());
  EXPECT_FALSE(overrides.Ramping(1000));
  EXPECT_FALSE(overrides.Ramping(5000));
  for (const int64_t t : {999, 1000, 5000}) {
    const LiveWeights live = overrides.At(config, t);
    EXPECT_EQ(Live(live, "edge4", kA), 3u);
    EXPECT_EQ(Live(live, "edge4", kB), 1u);
    EXPECT_EQ(Live(live, "edge4", kC), 5u) << t;
  }
  ASSERT_EQ(overrides.overrides().size(), 1u);
  const WeightOverrides::Override& o = overrides.overrides()[0];
  EXPECT_EQ(o.pool, "edge4");
  EXPECT_EQ(o.prefix.ToString(), kC);
  EXPECT_EQ(o.yaml_weight, 0u);
  EXPECT_EQ(o.from, 5u) << "`current` is ignored without a ramp";
  EXPECT_EQ(o.to, 5u);

  // A second shift of the same prefix replaces the first.
  ASSERT_TRUE(overrides.Shift(config, "edge4", kC, 9, 5, 0, 2000).ok());
  EXPECT_EQ(overrides.overrides().size(), 1u);
  EXPECT_EQ(Live(overrides.At(config, 2000), "edge4", kC), 9u);
  // The prefix may be written in any form Prefix::Parse takes.
  ASSERT_TRUE(overrides.Shift(config, "edge6", "fd00:0077:0::/44", 4, 1, 0, 2000).ok());
  EXPECT_EQ(Live(overrides.At(config, 2000), "edge6", "fd00:77::/44"), 4u);
}

TEST(WeightOverridesTest, ShiftWithARamp) {
  const config::Config config = Weighted();
  WeightOverrides overrides;
  // A from 3 (in force) to 1003 over 10 s, from t = 100000 ms.
  ASSERT_TRUE(overrides.Shift(config, "edge4", kA, 1003, 3, 10000, 100000).ok());
  EXPECT_EQ(Live(overrides.At(config, 90000), "edge4", kA), 3u) << "before the start";
  EXPECT_EQ(Live(overrides.At(config, 100000), "edge4", kA), 3u) << "start";
  EXPECT_EQ(Live(overrides.At(config, 105000), "edge4", kA), 503u) << "midpoint";
  EXPECT_EQ(Live(overrides.At(config, 110000), "edge4", kA), 1003u) << "end";
  EXPECT_EQ(Live(overrides.At(config, 999999), "edge4", kA), 1003u) << "beyond";
  EXPECT_EQ(Live(overrides.At(config, 105000), "edge4", kB), 1u) << "others untouched";

  EXPECT_TRUE(overrides.Ramping(100000));
  EXPECT_TRUE(overrides.Ramping(109999));
  EXPECT_FALSE(overrides.Ramping(110000));

  uint32_t last = 0;
  for (int64_t t = 99000; t <= 111000; ++t) {
    const uint32_t w = overrides.overrides()[0].At(t);
    ASSERT_GE(w, last) << "at " << t;
    ASSERT_GE(w, 3u);
    ASSERT_LE(w, 1003u);
    last = w;
  }
}

TEST(WeightOverridesTest, RampDownIsMonotoneToo) {
  const config::Config config = Weighted();
  WeightOverrides overrides;
  ASSERT_TRUE(overrides.Shift(config, "edge4", kA, 0, 1000000, 7, 0).ok());
  EXPECT_EQ(overrides.overrides()[0].At(0), 1000000u);
  EXPECT_EQ(overrides.overrides()[0].At(7), 0u);
  uint32_t last = 1000000;
  for (int64_t t = -1; t <= 8; ++t) {
    const uint32_t w = overrides.overrides()[0].At(t);
    EXPECT_LE(w, last) << "at " << t;
    last = w;
  }
  // Long ramps of large weights do not overflow.
  WeightOverrides long_ramp;
  const int64_t year_ms = int64_t{365} * 24 * 3600 * 1000;
  ASSERT_TRUE(long_ramp.Shift(config, "edge4", kA, 1000000, 0, year_ms, 0).ok());
  EXPECT_EQ(long_ramp.overrides()[0].At(year_ms / 2), 500000u);
  EXPECT_EQ(long_ramp.overrides()[0].At(year_ms - 1), 999999u);
}

TEST(WeightOverridesTest, BadShiftsChangeNothing) {
  const config::Config config = Weighted();
  WeightOverrides overrides;
  ASSERT_TRUE(overrides.Shift(config, "edge4", kA, 0, 3, 0, 0).ok()) << "B still above 0";
  const std::string before = overrides.Serialize();

  auto status = overrides.Shift(config, "nowhere", kA, 1, 0, 0, 10);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), HasSubstr("no pool 'nowhere'"));

  status = overrides.Shift(config, "edge4", "127.77.9.0/24", 1, 0, 0, 10);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("pool 'edge4' has no prefix 127.77.9.0/24 (it has 127.77.0.0/24, "
                        "127.77.1.0/24, 127.77.2.0/24)"));

  status = overrides.Shift(config, "edge4", "127.77.0.0/23", 1, 0, 0, 10);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << "a covering prefix is not a part";
  status = overrides.Shift(config, "edge4", "127.77.0.1/24", 1, 0, 0, 10);
  EXPECT_FALSE(status.ok());
  status = overrides.Shift(config, "edge6", kA, 1, 0, 0, 10);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << "a prefix of another pool";

  status = overrides.Shift(config, "edge4", kC, config::kMaxWeight + 1, 0, 0, 10);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("0..1000000"));
  EXPECT_TRUE(overrides.Shift(config, "edge4", kC, config::kMaxWeight, 0, 0, 10).ok())
      << "the bound itself is fine";
  ASSERT_TRUE(overrides.Reset(config, "edge4", kC).ok());
  EXPECT_EQ(overrides.Serialize(), before);

  // B is the only weight above 0 left: taking it to 0, at once or by a ramp, is refused.
  for (const int64_t over : {int64_t{0}, int64_t{5000}}) {
    status = overrides.Shift(config, "edge4", kB, 0, 1, over, 10);
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(status.message()), HasSubstr("every weight at 0"));
  }
  // Likewise for the sole prefix of a pool.
  status = overrides.Shift(config, "edge6", "fd00:77::/44", 0, 1, 0, 10);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);

  EXPECT_EQ(overrides.Serialize(), before);
  EXPECT_EQ(Live(overrides.At(config, 10), "edge4", kA), 0u);
  EXPECT_EQ(Live(overrides.At(config, 10), "edge4", kB), 1u);
}

TEST(WeightOverridesTest, ZeroAllowedWhenARampTargetIsAbove0) {
  // A ramp under way counts by its target: C on its way up lets A and B go to 0.
  const config::Config config = Weighted();
  WeightOverrides overrides;
  ASSERT_TRUE(overrides.Shift(config, "edge4", kC, 10, 0, 60000, 0).ok());
  ASSERT_TRUE(overrides.Shift(config, "edge4", kA, 0, 3, 0, 0).ok());
  ASSERT_TRUE(overrides.Shift(config, "edge4", kB, 0, 1, 0, 0).ok());
  // And C on its way down to 0 may then not be set to 0.
  EXPECT_FALSE(overrides.Shift(config, "edge4", kC, 0, 5, 1000, 30000).ok());
}

TEST(WeightOverridesTest, Reset) {
  const config::Config config = Weighted();
  WeightOverrides overrides;
  ASSERT_TRUE(overrides.Shift(config, "edge4", kC, 5, 0, 0, 0).ok());
  ASSERT_TRUE(overrides.Shift(config, "edge4", kA, 0, 3, 0, 0).ok());
  ASSERT_TRUE(overrides.Shift(config, "edge4", kB, 0, 1, 0, 0).ok());
  const std::string before = overrides.Serialize();

  // C back at its YAML 0 would leave the pool all 0.
  auto status = overrides.Reset(config, "edge4", kC);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("every weight at 0"));
  EXPECT_EQ(overrides.Serialize(), before);

  EXPECT_EQ(overrides.Reset(config, "nowhere", kC).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(overrides.Reset(config, "edge4", "127.77.9.0/24").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(overrides.Serialize(), before);

  ASSERT_TRUE(overrides.Reset(config, "edge4", kA).ok());
  EXPECT_EQ(Live(overrides.At(config, 0), "edge4", kA), 3u);
  ASSERT_TRUE(overrides.Reset(config, "edge4", kC).ok()) << "A is above 0 again";
  ASSERT_TRUE(overrides.Reset(config, "edge4", kB).ok());
  EXPECT_TRUE(overrides.overrides().empty());
  EXPECT_TRUE(overrides.Reset(config, "edge4", kB).ok()) << "nothing to reset is fine";
}

TEST(WeightOverridesTest, ReconcileClearsChangedAndGoneKeepsUnchanged) {
  WeightOverrides overrides;
  {
    const config::Config config = Weighted();
    ASSERT_TRUE(overrides.Shift(config, "edge4", kA, 7, 3, 0, 0).ok());
    ASSERT_TRUE(overrides.Shift(config, "edge4", kB, 8, 1, 0, 0).ok());
    ASSERT_TRUE(overrides.Shift(config, "edge4", kC, 9, 0, 0, 0).ok());
    ASSERT_TRUE(overrides.Shift(config, "edge6", "fd00:77::/44", 2, 1, 0, 0).ok());
    EXPECT_TRUE(overrides.Reconcile(config).empty()) << "same configuration: nothing to clear";
    EXPECT_EQ(overrides.overrides().size(), 4u);
  }
  // A keeps its YAML weight, B's changes from 1 to 2, C is replaced by another
  // /24, and edge6 is gone.
  const config::Config next = Parse(absl::StrCat(
      "zones: [a.zone]\npools:\n  edge4:\n", "    - {prefix: ", kA, ", weight: 3}\n",
      "    - {prefix: ", kB, ", weight: 2}\n", "    - {prefix: 127.77.3.0/24, weight: 0}\n"));
  const std::vector<std::string> cleared = overrides.Reconcile(next);
  ASSERT_EQ(cleared.size(), 3u);
  EXPECT_THAT(cleared[0], HasSubstr("edge4 127.77.1.0/24 cleared: its YAML weight changed from "
                                    "1 to 2"));
  EXPECT_THAT(cleared[1], HasSubstr("edge4 127.77.2.0/24 cleared: the prefix is no longer"));
  EXPECT_THAT(cleared[2], HasSubstr("edge6 fd00:77::/44 cleared"));
  ASSERT_EQ(overrides.overrides().size(), 1u);
  EXPECT_EQ(overrides.overrides()[0].prefix.ToString(), kA);
  const LiveWeights live = overrides.At(next, 0);
  EXPECT_EQ(Live(live, "edge4", kA), 7u);
  EXPECT_EQ(Live(live, "edge4", kB), 2u);
  EXPECT_EQ(Live(live, "edge4", "127.77.3.0/24"), 0u);
  EXPECT_EQ(live.size(), 3u);
}

TEST(WeightOverridesTest, AtFallsBackToRampTargetsWhenAllZeroMidRamp) {
  // duo: A weight 1, B weight 0.
  const config::Config config =
      Parse(absl::StrCat("zones: [a.zone]\npools:\n  duo:\n", "    - {prefix: ", kA,
                         ", weight: 1}\n", "    - {prefix: ", kB, ", weight: 0}\n"));
  WeightOverrides overrides;
  // B from 0 to 10 over 100 s; A to 0 at once: B's target keeps the pool above 0.
  ASSERT_TRUE(overrides.Shift(config, "duo", kB, 10, 0, 100000, 0).ok());
  ASSERT_TRUE(overrides.Shift(config, "duo", kA, 0, 1, 0, 0).ok());
  EXPECT_EQ(overrides.overrides()[1].At(0), 0u);
  EXPECT_EQ(overrides.overrides()[0].At(5000), 0u) << "B is still at 0 after 5 s";

  LiveWeights live = overrides.At(config, 5000);
  EXPECT_EQ(Live(live, "duo", kA), 0u);
  EXPECT_EQ(Live(live, "duo", kB), 10u) << "the ramp's target";
  ASSERT_TRUE(Table::Build(config, 1, nullptr, &live).ok());

  live = overrides.At(config, 50000);
  EXPECT_EQ(Live(live, "duo", kA), 0u);
  EXPECT_EQ(Live(live, "duo", kB), 5u) << "above 0 again: the ramp itself";
  live = overrides.At(config, 100000);
  EXPECT_EQ(Live(live, "duo", kB), 10u);
  EXPECT_TRUE(overrides.Ramping(99999));
  EXPECT_FALSE(overrides.Ramping(100000));

  // At every millisecond of the ramp, the weights build a table.
  for (int64_t t = 0; t <= 100000; t += 997) {
    live = overrides.At(config, t);
    ASSERT_TRUE(Table::Build(config, 1, nullptr, &live).ok()) << "at " << t;
  }
}

TEST(WeightOverridesTest, SerializeParseRoundTrip) {
  const config::Config config = Weighted();
  WeightOverrides overrides;
  ASSERT_TRUE(overrides.Shift(config, "edge4", kA, 1000000, 3, 60000, 1700000000000).ok());
  ASSERT_TRUE(overrides.Shift(config, "edge4", kC, 4, 0, 0, 1700000001000).ok());
  ASSERT_TRUE(overrides.Shift(config, "edge6", "fd00:77::/44", 2, 1, 0, 0).ok());
  const std::string text = overrides.Serialize();
  EXPECT_THAT(text, HasSubstr("edge4 127.77.0.0/24 3 3 1000000 1700000000000 1700000060000\n"));
  EXPECT_THAT(text, HasSubstr("edge4 127.77.2.0/24 0 4 4 1700000001000 1700000001000\n"));
  EXPECT_THAT(text, HasSubstr("edge6 fd00:77::/44 1 2 2 0 0\n"));

  auto parsed = WeightOverrides::Parse(text, "/var/lib/agility/weights");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Serialize(), text);
  for (const int64_t t : {int64_t{0}, int64_t{1700000030000}, int64_t{1800000000000}}) {
    EXPECT_EQ(parsed->At(config, t), overrides.At(config, t)) << t;
    EXPECT_EQ(parsed->Ramping(t), overrides.Ramping(t)) << t;
  }

  auto empty = WeightOverrides::Parse(WeightOverrides().Serialize(), "s");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->overrides().empty());
  EXPECT_TRUE(WeightOverrides::Parse("", "s").ok());
}

struct BadState {
  const char* text;
  const char* error;
};

class WeightOverridesParseErrorTest : public ::testing::TestWithParam<BadState> {};

TEST_P(WeightOverridesParseErrorTest, NamesSourceAndLine) {
  auto parsed = WeightOverrides::Parse(GetParam().text, "/state/weights");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(GetParam().error));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, WeightOverridesParseErrorTest,
    ::testing::Values(
        BadState{"# header\nedge4 127.77.0.0/24 3 3 10 0\n", "/state/weights:2: expected 7 fields"},
        BadState{"# header\nedge4 127.77.0.0/24 3 3 10 0 1 2\n",
                 "/state/weights:2: expected 7 fields"},
        BadState{"# h\nedge4 127.77.0.0/24 3 3 10 0 1000\n\nedge4 127.77.0.0/33 3 3 10 0 1\n",
                 "/state/weights:4: '127.77.0.0/33': prefix length must be 0..32"},
        BadState{"edge4 127.77.0.9/24 3 3 10 0 1000\n", "/state/weights:1: '127.77.0.9/24' has"},
        BadState{"# h\nedge4 127.77.0.0/24 three 3 10 0 1000\n", "/state/weights:2: bad number"},
        BadState{"# h\nedge4 127.77.0.0/24 3 -3 10 0 1000\n", "/state/weights:2: bad number"},
        BadState{"# h\nedge4 127.77.0.0/24 3 3 1000001 0 1000\n", "/state/weights:2: bad number"},
        BadState{"# h\nedge4 127.77.0.0/24 3 1000001 3 0 1000\n", "/state/weights:2: bad number"},
        BadState{"# h\nedge4 127.77.0.0/24 3 3 10 now 1000\n", "/state/weights:2: bad number"},
        BadState{"# h\nedge4 127.77.0.0/24 3 3 10 0 1e3\n", "/state/weights:2: bad number"}));

// An override kept because its own YAML weight is unchanged could, with the
// other prefixes' new YAML weights, leave the pool with every weight at 0:
// no table could be built, and agilityd would refuse a valid YAML. Reconcile
// gives that pool back to the YAML.
TEST(WeightOverridesTest, ReconcileNeverLeavesAPoolAllZero) {
  WeightOverrides overrides;
  // YAML: A 3, B 1. Operator: A to 0 (B still 1).
  ASSERT_TRUE(overrides.Shift(Weighted(3, 1), "edge4", kA, 0, 3, 0, 0).ok());
  // New YAML: A still 3 (its override stays), B now 0. Valid on its own.
  const config::Config next = Weighted(3, 0);
  overrides.Reconcile(next);
  const LiveWeights live = overrides.At(next, 0);
  auto table = Table::Build(next, 1, nullptr, &live);
  EXPECT_TRUE(table.ok()) << table.status();
}

// Pool names are written to the state file one word each: the configuration
// accepts no name that could not be read back.
TEST(WeightOverridesTest, PoolNamesThatCouldNotBeReadBackAreConfigErrors) {
  for (const char* name : {"\"my pool\"", "\"#x\""}) {
    auto config = config::ParseConfig(
        absl::StrCat("zones: [a.zone]\npools:\n  ", name, ": 127.77.0.0/24\n"), "w.yaml");
    ASSERT_FALSE(config.ok()) << name;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr("w.yaml:3: pool name")) << name;
  }
}

}  // namespace
}  // namespace agility::policy
