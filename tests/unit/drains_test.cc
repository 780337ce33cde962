#include "sockets/drains.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "sockets/bindings.h"

namespace agility::sockets {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint32_t kGrace = 60;

// A pool prefix's binding, answered with TTLs up to `ttl`.
Binding Answered(const std::string& label, const char* prefix, uint16_t port, uint32_t ttl,
                 config::Protocol protocol = config::Protocol::kTcp) {
  Binding b;
  b.label = label;
  b.protocol = protocol;
  b.prefix = *policy::Prefix::Parse(prefix);
  b.port = port;
  b.source = "test";
  b.answered = true;
  b.ttl = ttl;
  return b;
}

// An explicit `bindings:` entry: never answered.
Binding Explicit(const std::string& label, const char* prefix, uint16_t port) {
  Binding b = Answered(label, prefix, port, 0);
  b.answered = false;
  return b;
}

std::vector<Binding> FromYaml(const std::string& yaml) {
  auto config = config::ParseConfig(yaml, "d.yaml");
  EXPECT_TRUE(config.ok()) << config.status();
  if (!config.ok()) return {};
  auto bindings = BindingsFromConfig(*config);
  EXPECT_TRUE(bindings.ok()) << bindings.status();
  return bindings.ok() ? *bindings : std::vector<Binding>{};
}

std::string OnePoolYaml(const char* prefix) {
  return absl::StrCat("zones: [a.zone]\npools: {v4: ", prefix,
                      "}\nservices: {edge: {}}\npolicies:\n"
                      "  - {name: p, match: [a.com], ipv4: v4, ttl: 300, service: edge,"
                      " ports: [443]}\n");
}

const Binding* Find(const std::vector<Binding>& bindings, const std::string& text) {
  for (const Binding& b : bindings) {
    if (b.ToString() == text) return &b;
  }
  return nullptr;
}

TEST(DrainsTest, PoolShrinkDrainsTheOldPrefixUntilTtlPlusGrace) {
  const std::vector<Binding> wide = FromYaml(OnePoolYaml("127.77.0.0/20"));
  const std::vector<Binding> narrow = FromYaml(OnePoolYaml("127.77.0.0/24"));
  ASSERT_EQ(wide.size(), 1u);
  ASSERT_EQ(narrow.size(), 1u);
  ASSERT_TRUE(wide[0].answered);
  ASSERT_EQ(wide[0].ttl, 300u);

  Drains drains;
  drains.Update(wide, 1000, kGrace);
  EXPECT_TRUE(drains.Draining(wide).empty());
  drains.Update(narrow, 2000, kGrace);

  const std::vector<Binding> steered = drains.Steered(narrow);
  ASSERT_EQ(steered.size(), 2u);
  const Binding* now = Find(steered, "tcp 127.77.0.0/24 port 443 -> edge");
  const Binding* old = Find(steered, "tcp 127.77.0.0/20 port 443 -> edge");
  ASSERT_NE(now, nullptr);
  ASSERT_NE(old, nullptr);
  EXPECT_FALSE(now->draining);
  EXPECT_TRUE(old->draining);
  EXPECT_EQ(old->label, "edge") << "a drain keeps steering to the same label";

  const auto draining = drains.Draining(narrow);
  ASSERT_EQ(draining.size(), 1u);
  EXPECT_EQ(draining[0].binding.prefix.ToString(), "127.77.0.0/20");
  EXPECT_EQ(draining[0].until, 2000 + 300 + kGrace);

  EXPECT_FALSE(drains.Expire(2000));
  EXPECT_FALSE(drains.Expire(2000 + 300 + kGrace - 1)) << "one second early";
  EXPECT_EQ(drains.Steered(narrow).size(), 2u);
  EXPECT_TRUE(drains.Expire(2000 + 300 + kGrace)) << "at the deadline";
  const std::vector<Binding> after = drains.Steered(narrow);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].ToString(), "tcp 127.77.0.0/24 port 443 -> edge");
  EXPECT_TRUE(drains.Draining(narrow).empty());
  EXPECT_FALSE(drains.Expire(100000)) << "nothing left to end";
}

TEST(DrainsTest, SteeredListsDesiredFirstThenDrains) {
  const std::vector<Binding> before = {Answered("edge", "127.77.0.0/24", 443, 300),
                                       Answered("edge", "127.77.1.0/24", 443, 300)};
  const std::vector<Binding> after = {Answered("edge", "127.77.2.0/24", 443, 300)};
  Drains drains;
  drains.Update(before, 100, kGrace);
  drains.Update(after, 200, kGrace);
  const std::vector<Binding> steered = drains.Steered(after);
  ASSERT_EQ(steered.size(), 3u);
  EXPECT_EQ(steered[0].ToString(), after[0].ToString());
  EXPECT_FALSE(steered[0].draining);
  EXPECT_TRUE(steered[1].draining);
  EXPECT_TRUE(steered[2].draining);
}

TEST(DrainsTest, PrefixThatComesBackStopsDraining) {
  const std::vector<Binding> wide = {Answered("edge", "127.77.0.0/20", 443, 300)};
  const std::vector<Binding> narrow = {Answered("edge", "127.77.0.0/24", 443, 300)};
  Drains drains;
  drains.Update(wide, 1000, kGrace);
  drains.Update(narrow, 2000, kGrace);
  ASSERT_EQ(drains.Draining(narrow).size(), 1u);

  drains.Update(wide, 2100, kGrace);
  // The /20 is in force again; the /24, answered from 2000 to 2100, drains.
  const auto draining = drains.Draining(wide);
  ASSERT_EQ(draining.size(), 1u);
  EXPECT_EQ(draining[0].binding.prefix.ToString(), "127.77.0.0/24");
  EXPECT_EQ(draining[0].until, 2100 + 300 + kGrace);
  const std::vector<Binding> steered = drains.Steered(wide);
  ASSERT_EQ(steered.size(), 2u);
  EXPECT_EQ(steered[0].prefix.ToString(), "127.77.0.0/20");
  EXPECT_FALSE(steered[0].draining);
  EXPECT_TRUE(steered[1].draining);
  EXPECT_THAT(drains.Serialize(), HasSubstr("tcp 127.77.0.0/20 443 edge 300 2360 answered\n"))
      << "in force again, the earlier promise is kept";
  EXPECT_TRUE(drains.Expire(2100 + 300 + kGrace)) << "the /24 ends";
  EXPECT_FALSE(drains.Expire(5000)) << "a binding in force never expires";
  EXPECT_THAT(drains.Serialize(), HasSubstr("tcp 127.77.0.0/20 443 edge 300 2360 answered\n"));

  // Going again, it drains from the later answers.
  drains.Update(narrow, 5100, kGrace);
  const auto again = drains.Draining(narrow);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].binding.prefix.ToString(), "127.77.0.0/20");
  EXPECT_EQ(again[0].until, 5100 + 300 + kGrace);
}

TEST(DrainsTest, PrefixBackBrieflyKeepsTheFirstDeadlineWhenItWasLater) {
  const std::vector<Binding> wide = {Answered("edge", "127.77.0.0/20", 443, 3600)};
  const std::vector<Binding> short_ttl = {Answered("edge", "127.77.0.0/20", 443, 10)};
  Drains drains;
  drains.Update(wide, 1000, kGrace);
  drains.Update({}, 2000, kGrace);  // drains until 2000 + 3600 + 60 = 5660
  drains.Update(short_ttl, 2100, kGrace);
  drains.Update({}, 2200, kGrace);
  const auto draining = drains.Draining({});
  ASSERT_EQ(draining.size(), 1u);
  EXPECT_EQ(draining[0].until, 5660);
}

TEST(DrainsTest, LaterUpdateDoesNotCutADrainShort) {
  const std::vector<Binding> wide = {Answered("edge", "127.77.0.0/20", 443, 300)};
  const std::vector<Binding> narrow = {Answered("edge", "127.77.0.0/24", 443, 300)};
  const std::vector<Binding> other = {Answered("edge", "127.77.9.0/24", 443, 5)};
  Drains drains;
  drains.Update(wide, 1000, kGrace);
  drains.Update(narrow, 2000, kGrace);  // /20 until 2360
  drains.Update(narrow, 2100, 0);       // a smaller grace does not shorten it
  drains.Update(other, 2200, 0);        // nor does a new configuration; the /24 drains too
  auto draining = drains.Draining(other);
  ASSERT_EQ(draining.size(), 2u);
  EXPECT_EQ(draining[0].binding.prefix.ToString(), "127.77.0.0/20");
  EXPECT_EQ(draining[0].until, 2360);
  EXPECT_EQ(draining[1].binding.prefix.ToString(), "127.77.0.0/24");
  EXPECT_EQ(draining[1].until, 2200 + 300);

  // Nor is it made longer by a larger grace later.
  drains.Update(other, 2300, 100000);
  draining = drains.Draining(other);
  ASSERT_EQ(draining.size(), 2u);
  EXPECT_EQ(draining[0].until, 2360);
  EXPECT_EQ(draining[1].until, 2500);
}

TEST(DrainsTest, UpdateAfterTheDeadlineDropsTheDrain) {
  const std::vector<Binding> wide = {Answered("edge", "127.77.0.0/20", 443, 300)};
  Drains drains;
  drains.Update(wide, 1000, kGrace);
  drains.Update({}, 2000, kGrace);
  ASSERT_EQ(drains.Draining({}).size(), 1u);
  drains.Update({}, 2360, kGrace);
  EXPECT_TRUE(drains.Draining({}).empty());
  EXPECT_EQ(drains.Serialize().find('\n') + 1, drains.Serialize().size()) << "header only";
}

TEST(DrainsTest, ShrunkTtlKeepsTheOldTtlsPromise) {
  Drains drains;
  drains.Update({Answered("edge", "127.77.0.0/20", 443, 300)}, 1000, kGrace);
  // Answers given until 1100 carried TTL 300: they may be used until 1460.
  drains.Update({Answered("edge", "127.77.0.0/20", 443, 30)}, 1100, kGrace);
  drains.Update({}, 1200, kGrace);
  const auto draining = drains.Draining({});
  ASSERT_EQ(draining.size(), 1u);
  EXPECT_EQ(draining[0].until, 1100 + 300 + kGrace) << "not 1200 + 30 + 60";
  EXPECT_EQ(draining[0].binding.ttl, 30u);

  // Once the old promise is past, the shrunk TTL is what counts.
  Drains later;
  later.Update({Answered("edge", "127.77.0.0/20", 443, 300)}, 1000, kGrace);
  later.Update({Answered("edge", "127.77.0.0/20", 443, 30)}, 1100, kGrace);
  later.Update({Answered("edge", "127.77.0.0/20", 443, 30)}, 5000, kGrace);
  later.Update({}, 6000, kGrace);
  ASSERT_EQ(later.Draining({}).size(), 1u);
  EXPECT_EQ(later.Draining({})[0].until, 6000 + 30 + kGrace);
}

TEST(DrainsTest, GrownTtlCountsFromItsFirstAnswers) {
  Drains drains;
  drains.Update({Answered("edge", "127.77.0.0/20", 443, 30)}, 1000, kGrace);
  drains.Update({Answered("edge", "127.77.0.0/20", 443, 300)}, 1100, kGrace);
  drains.Update({}, 1200, kGrace);
  ASSERT_EQ(drains.Draining({}).size(), 1u);
  EXPECT_EQ(drains.Draining({})[0].until, 1200 + 300 + kGrace);
}

TEST(DrainsTest, ExplicitBindingsNeverDrain) {
  const std::vector<Binding> explicit_only = {Explicit("special", "127.88.0.1/32", 443)};
  Drains drains;
  drains.Update(explicit_only, 1000, kGrace);
  EXPECT_EQ(drains.Steered(explicit_only).size(), 1u);
  drains.Update({}, 1100, kGrace);
  EXPECT_TRUE(drains.Draining({}).empty());
  EXPECT_TRUE(drains.Steered({}).empty());
  EXPECT_FALSE(drains.Expire(1100));

  // From a configuration, too: the `bindings:` entry goes at once, the pool drains.
  const std::string yaml =
      "zones: [a.zone]\npools: {v4: 127.77.0.0/24}\nservices: {edge: {}, special: {}}\n"
      "policies:\n  - {name: p, match: [a.com], ipv4: v4, ttl: 60, service: edge, ports: [443]}\n"
      "bindings:\n  - {label: special, protocol: udp, prefix: 127.88.0.1/32, port: 53}\n";
  const std::vector<Binding> both = FromYaml(yaml);
  ASSERT_EQ(both.size(), 2u);
  Drains from_config;
  from_config.Update(both, 1000, kGrace);
  from_config.Update({}, 1100, kGrace);
  const auto draining = from_config.Draining({});
  ASSERT_EQ(draining.size(), 1u);
  EXPECT_EQ(draining[0].binding.ToString(), "tcp 127.77.0.0/24 port 443 -> edge");
}

TEST(DrainsTest, AnsweredTurnedExplicitDrainsOnlyOnceTheExplicitOneGoes) {
  Drains drains;
  drains.Update({Answered("edge", "127.77.0.0/24", 443, 300)}, 1000, kGrace);
  const std::vector<Binding> explicit_now = {Explicit("edge", "127.77.0.0/24", 443)};
  drains.Update(explicit_now, 1100, kGrace);
  EXPECT_TRUE(drains.Draining(explicit_now).empty()) << "hidden behind the explicit binding";
  const std::vector<Binding> steered = drains.Steered(explicit_now);
  ASSERT_EQ(steered.size(), 1u);
  EXPECT_FALSE(steered[0].draining);
  drains.Update({}, 1200, kGrace);
  const auto draining = drains.Draining({});
  ASSERT_EQ(draining.size(), 1u);
  EXPECT_EQ(draining[0].until, 1100 + 300 + kGrace);
}

TEST(DrainsTest, LabelChangeOnTheSameKeyDoesNotDrain) {
  const std::vector<Binding> before = {Answered("edge", "127.77.0.0/20", 443, 300)};
  const std::vector<Binding> after = {Answered("other", "127.77.0.0/20", 443, 300)};
  Drains drains;
  drains.Update(before, 1000, kGrace);
  drains.Update(after, 1100, kGrace);
  EXPECT_TRUE(drains.Draining(after).empty());
  const std::vector<Binding> steered = drains.Steered(after);
  ASSERT_EQ(steered.size(), 1u);
  EXPECT_EQ(steered[0].label, "other") << "the new label wins";
  EXPECT_FALSE(steered[0].draining);

  // Nor does a draining binding survive its key being taken by another label.
  Drains taken;
  taken.Update(before, 1000, kGrace);
  taken.Update({}, 1100, kGrace);
  ASSERT_EQ(taken.Draining({}).size(), 1u);
  const std::vector<Binding> explicit_other = {Explicit("other", "127.77.0.0/20", 443)};
  taken.Update(explicit_other, 1200, kGrace);
  EXPECT_TRUE(taken.Draining(explicit_other).empty());
  taken.Update({}, 1300, kGrace);
  EXPECT_TRUE(taken.Draining({}).empty()) << "the old label's drain is gone for good";
}

TEST(DrainsTest, ZeroTtlAndZeroGraceDrainNothing) {
  Drains drains;
  drains.Update({Answered("edge", "127.77.0.0/20", 443, 0)}, 1000, 0);
  drains.Update({}, 1000, 0);
  EXPECT_TRUE(drains.Draining({}).empty());
  EXPECT_TRUE(drains.Steered({}).empty());

  Drains later;
  later.Update({Answered("edge", "127.77.0.0/20", 443, 0)}, 1000, 0);
  later.Update({}, 1500, 0);
  EXPECT_TRUE(later.Draining({}).empty());

  // Either alone still drains.
  Drains ttl_only;
  ttl_only.Update({Answered("edge", "127.77.0.0/20", 443, 5)}, 1000, 0);
  ttl_only.Update({}, 1000, 0);
  ASSERT_EQ(ttl_only.Draining({}).size(), 1u);
  EXPECT_EQ(ttl_only.Draining({})[0].until, 1005);
  Drains grace_only;
  grace_only.Update({Answered("edge", "127.77.0.0/20", 443, 0)}, 1000, 7);
  grace_only.Update({}, 1000, 7);
  ASSERT_EQ(grace_only.Draining({}).size(), 1u);
  EXPECT_EQ(grace_only.Draining({})[0].until, 1007);
}

Drains SomeState() {
  Drains drains;
  drains.Update(
      {Answered("edge", "127.77.0.0/20", 443, 300), Answered("edge", "127.77.0.0/20", 80, 300),
       Answered("edge", "fd00:77::/44", 0, 120, config::Protocol::kUdp),
       Answered("web", "10.1.2.3/32", 8443, 30), Explicit("special", "127.88.0.1/32", 53)},
      1000, kGrace);
  drains.Update(
      {Answered("edge", "127.77.0.0/20", 443, 300), Answered("web", "10.1.2.3/32", 8443, 10)}, 1500,
      kGrace);
  return drains;
}

TEST(DrainsTest, SerializeParseRoundTrip) {
  const Drains drains = SomeState();
  const std::string text = drains.Serialize();
  EXPECT_THAT(text, StartsWith("#"));
  EXPECT_THAT(text, HasSubstr("udp fd00:77::/44 0 edge 120 1680 draining\n"));
  EXPECT_THAT(text, HasSubstr("tcp 127.77.0.0/20 80 edge 300 1860 draining\n"));
  EXPECT_THAT(text, HasSubstr("tcp 127.77.0.0/20 443 edge 300 1860 answered\n"));
  EXPECT_THAT(text, HasSubstr("tcp 10.1.2.3/32 8443 web 10 1590 answered\n"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("special")));

  auto parsed = Drains::Parse(text, "/var/lib/agility/drains");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Serialize(), text);

  // The parsed state behaves as the original.
  const std::vector<Binding> desired = {Answered("edge", "127.77.0.0/20", 443, 300)};
  const auto a = drains.Draining(desired);
  const auto b = parsed->Draining(desired);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].binding.ToString(), b[i].binding.ToString());
    EXPECT_EQ(a[i].binding.ttl, b[i].binding.ttl);
    EXPECT_EQ(a[i].binding.draining, b[i].binding.draining);
    EXPECT_EQ(a[i].until, b[i].until);
  }
  Drains next_a = drains;
  Drains next_b = *parsed;
  next_a.Update({}, 1600, kGrace);
  next_b.Update({}, 1600, kGrace);
  EXPECT_EQ(next_a.Serialize(), next_b.Serialize());

  // Empty state, and lines the daemon adds before it (the pin comment).
  auto empty = Drains::Parse(Drains().Serialize(), "s");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->Serialize(), Drains().Serialize());
  auto with_pin = Drains::Parse("# pin /sys/fs/bpf/agility\n" + text, "s");
  ASSERT_TRUE(with_pin.ok()) << with_pin.status();
  EXPECT_EQ(with_pin->Serialize(), text);
}

struct BadState {
  const char* text;
  const char* error;  // "source:line: message" part
};

class DrainsParseErrorTest : public ::testing::TestWithParam<BadState> {};

TEST_P(DrainsParseErrorTest, NamesSourceAndLine) {
  auto parsed = Drains::Parse(GetParam().text, "/state/drains");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(GetParam().error));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, DrainsParseErrorTest,
    ::testing::Values(
        BadState{"# header\ntcp 127.77.0.0/20 443 edge 300 2360\n",
                 "/state/drains:2: expected 7 fields"},
        BadState{"# header\ntcp 127.77.0.0/20 443 edge 300 2360 draining extra\n",
                 "/state/drains:2: expected 7 fields"},
        BadState{"# header\n\ntcp  127.77.0.0/20 443 edge 300 2360 draining\n",
                 "/state/drains:3: expected 7 fields"},
        BadState{"# header\ntcp 127.77.0.0/20 443 edge 300 2360 draining\n"
                 "sctp 127.77.0.0/20 443 edge 300 2360 draining\n",
                 "/state/drains:3: protocol must be tcp or udp"},
        BadState{"TCP 127.77.0.0/20 443 edge 300 2360 draining\n",
                 "/state/drains:1: protocol must be tcp or udp"},
        BadState{"# h\ntcp 127.77.0.1/20 443 edge 300 2360 draining\n",
                 "/state/drains:2: '127.77.0.1/20' has host bits set"},
        BadState{"# h\ntcp example/20 443 edge 300 2360 draining\n",
                 "/state/drains:2: 'example/20' is not an IP prefix"},
        BadState{"# h\n# h\ntcp 127.77.0.0/20 65536 edge 300 2360 draining\n",
                 "/state/drains:3: bad port"},
        BadState{"# h\ntcp 127.77.0.0/20 -1 edge 300 2360 draining\n", "/state/drains:2: bad port"},
        BadState{"# h\ntcp 127.77.0.0/20 443 edge 3x 2360 draining\n",
                 "/state/drains:2: bad ttl or deadline"},
        BadState{"# h\ntcp 127.77.0.0/20 443 edge 300 soon draining\n",
                 "/state/drains:2: bad ttl or deadline"},
        BadState{"# h\ntcp 127.77.0.0/20 443  300 2360 draining\n", "/state/drains:2: empty label"},
        BadState{"# h\ntcp 127.77.0.0/20 443 edge 300 2360 drained\n",
                 "/state/drains:2: state must be answered or draining"},
        BadState{"# h\ntcp 127.77.0.0/20 443 edge 300 2360 Draining\n",
                 "/state/drains:2: state must be answered or draining"}));

TEST(DrainsTest, ParsedPortBoundsAreInclusive) {
  auto parsed = Drains::Parse("tcp 127.77.0.0/20 65535 edge 300 2360 draining\n", "s");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->Draining({}).size(), 1u);
  EXPECT_EQ(parsed->Draining({})[0].binding.port, 65535);
  EXPECT_TRUE(parsed->Draining({})[0].binding.answered);
}

// Labels are written to the state file one word each: the configuration
// accepts no label that could not be read back.
TEST(DrainsTest, LabelsThatCouldNotBeReadBackAreConfigErrors) {
  for (const char* label : {"\"my edge\"", "\"#edge\""}) {
    auto config = config::ParseConfig(
        absl::StrCat("zones: [a.zone]\npools: {v4: 127.77.0.0/24}\nservices: {", label, ": {}}\n"),
        "d.yaml");
    ASSERT_FALSE(config.ok()) << label;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr("d.yaml:3: service label"))
        << label;
  }
}

// The timer asks Due() twice a second: true exactly when Expire would end a
// drain, never for bindings in force whatever their promise.
TEST(DrainsTest, DueMatchesExpire) {
  Drains drains;
  drains.Update({Answered("edge", "127.77.0.0/20", 443, 300)}, 1000, kGrace);
  EXPECT_FALSE(drains.Due(1000000)) << "a binding in force is never due";
  drains.Update({}, 2000, kGrace);
  EXPECT_FALSE(drains.Due(2359));
  Drains copy = drains;
  EXPECT_FALSE(copy.Expire(2359));
  EXPECT_TRUE(drains.Due(2360));
  EXPECT_TRUE(drains.Expire(2360));
  EXPECT_FALSE(drains.Due(2360));
}

}  // namespace
}  // namespace agility::sockets
