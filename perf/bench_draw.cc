// The responder's own CPU per pool answer, in process: the same A queries
// answered from zone records, from a single /20 pool, and from a weighted
// pool of four prefixes (the alias-table draw). End-to-end runs
// (perf/bench_policy.py) cannot resolve a few nanoseconds under the kernel's
// share of a query; this loop can, and the difference is then set against
// the measured server CPU per query.
//
// usage: bench_draw [ROUNDS]   (default 15; each mode 2 million queries per round)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "config/config.h"
#include "dns/responder.h"
#include "dns/wire.h"
#include "dns/zone_file.h"
#include "dns/zone_set.h"
#include "policy/random.h"
#include "policy/table.h"

namespace {

using namespace agility;

constexpr int kNames = 100000;
constexpr int kQueriesPerRound = 2000000;

std::vector<uint8_t> AQuery(const std::string& name, uint16_t id) {
  std::vector<uint8_t> q = {
      static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
  size_t start = 0;
  while (start < name.size()) {
    const size_t dot = name.find('.', start);
    const size_t end = dot == std::string::npos ? name.size() : dot;
    q.push_back(static_cast<uint8_t>(end - start));
    q.insert(q.end(), name.begin() + static_cast<std::ptrdiff_t>(start),
             name.begin() + static_cast<std::ptrdiff_t>(end));
    start = end + 1;
  }
  q.insert(q.end(), {0, 0, 1, 0, 1});
  return q;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::max(1, std::atoi(argv[1])) : 15;
  std::string text =
      "$ORIGIN example.com.\n@ 300 SOA ns h 1 2 3 4 300\n@ 300 NS ns\nns 300 A 192.0.2.1\n";
  for (int i = 0; i < kNames; ++i) {
    text += "host" + std::to_string(i) + " 300 A 10." + std::to_string((i >> 16) & 255) + "." +
            std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255) + "\n";
  }
  auto zone = dns::ParseZoneText(text, "bench.zone", "example.com.");
  if (!zone.ok()) {
    std::fprintf(stderr, "%s\n", std::string(zone.status().message()).c_str());
    return 1;
  }
  dns::ZoneSet zones;
  if (!zones.Add(std::move(*zone)).ok()) return 1;

  const std::string policy = "policies: [{name: p, match: [\"*.example.com\"], ipv4: edge}]\n";
  struct Mode {
    const char* label;
    std::string yaml;
    std::unique_ptr<policy::Table> table;
    std::vector<double> ns;
  };
  Mode modes[] = {
      {"zone records", "zones: [z]\n", nullptr, {}},
      {"single /20", "zones: [z]\npools: {edge: 127.77.0.0/20}\n" + policy, nullptr, {}},
      {"weighted, 4 prefixes",
       "zones: [z]\npools: {edge: [{prefix: 127.77.0.0/20, weight: 3}, {prefix: 127.77.16.0/22, "
       "weight: 1}, {prefix: 127.77.20.0/24, weight: 1}, {prefix: 127.77.21.0/26, weight: 0}]}\n" +
           policy,
       nullptr,
       {}},
  };
  for (Mode& mode : modes) {
    auto config = config::ParseConfig(mode.yaml, "bench.yaml");
    if (!config.ok()) {
      std::fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
      return 1;
    }
    auto table = policy::Table::Build(*config, 1);
    if (!table.ok()) return 1;
    mode.table = *std::move(table);
  }
  std::mt19937 names(3);
  std::vector<std::vector<uint8_t>> queries;
  for (int i = 0; i < 4096; ++i) {
    queries.push_back(AQuery("host" + std::to_string(names() % kNames) + ".example.com",
                             static_cast<uint16_t>(i)));
  }
  std::vector<uint8_t> out(dns::kMaxMessageSize);
  const dns::ResponderOptions options;
  policy::Rng rng = policy::SeededRng(5);
  for (int round = 0; round < rounds; ++round) {
    // Interleaved, so that frequency changes and neighbours hit every mode.
    for (Mode& mode : modes) {
      policy::PoolDrawer drawer(*mode.table, rng, 0);
      size_t answered = 0;
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < kQueriesPerRound; ++i) {
        const std::vector<uint8_t>& q = queries[static_cast<size_t>(i) & 4095];
        dns::ResponseInfo info;
        answered += dns::Respond(q.data(), q.size(), dns::Transport::kUdp, zones, drawer, options,
                                 out.data(), &info) > 0 &&
                    info.rcode == 0;
      }
      const auto end = std::chrono::steady_clock::now();
      if (answered != static_cast<size_t>(kQueriesPerRound)) {
        std::fprintf(stderr, "%s: %zu of %d answered\n", mode.label, answered, kQueriesPerRound);
        return 1;
      }
      mode.ns.push_back(std::chrono::duration<double, std::nano>(end - start).count() /
                        kQueriesPerRound);
    }
  }
  std::printf("| answers | ns per Respond() (median of %d rounds) | min |\n|---|---|---|\n",
              rounds);
  double median[3];
  for (int m = 0; m < 3; ++m) {
    std::vector<double> v = modes[m].ns;
    std::sort(v.begin(), v.end());
    median[m] = v[v.size() / 2];
    std::printf("| %s | %.1f | %.1f |\n", modes[m].label, median[m], v.front());
  }
  std::printf("weighted - single: %+.1f ns per pool answer\n", median[2] - median[1]);
  return 0;
}
