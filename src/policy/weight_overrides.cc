#include "policy/weight_overrides.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "util/state_file.h"

namespace agility::policy {
namespace {

constexpr char kHeader[] =
    "# agility weight overrides: pool prefix yaml_weight from to start_ms end_ms\n";

const config::PoolConfig* FindPool(const config::Config& config, absl::string_view name) {
  for (const config::PoolConfig& pool : config.pools) {
    if (pool.name == name) return &pool;
  }
  return nullptr;
}

absl::StatusOr<const config::PoolPrefix*> FindPart(const config::Config& config,
                                                   const std::string& pool_name,
                                                   const std::string& prefix_text) {
  const config::PoolConfig* pool = FindPool(config, pool_name);
  if (pool == nullptr) return absl::NotFoundError(absl::StrCat("no pool '", pool_name, "'"));
  auto prefix = Prefix::Parse(prefix_text);
  if (!prefix.ok()) return prefix.status();
  for (const config::PoolPrefix& part : pool->prefixes) {
    if (part.prefix == *prefix) return &part;
  }
  std::string listed;
  for (const config::PoolPrefix& part : pool->prefixes) {
    absl::StrAppend(&listed, listed.empty() ? "" : ", ", part.prefix.ToString());
  }
  return absl::NotFoundError(absl::StrCat("pool '", pool_name, "' has no prefix ",
                                          prefix->ToString(), " (it has ", listed, ")"));
}

}  // namespace

uint32_t WeightOverrides::Override::At(int64_t now_ms) const {
  if (now_ms >= end_ms || end_ms <= start_ms) return to;
  if (now_ms <= start_ms) return from;
  const int64_t span = end_ms - start_ms;
  const int64_t delta = static_cast<int64_t>(to) - static_cast<int64_t>(from);
  return static_cast<uint32_t>(static_cast<int64_t>(from) + delta * (now_ms - start_ms) / span);
}

uint64_t WeightOverrides::FinalTotal(const config::Config& config, const std::string& pool,
                                     const Prefix& changed, uint32_t weight) const {
  uint64_t total = 0;
  for (const config::PoolPrefix& part : FindPool(config, pool)->prefixes) {
    total += part.prefix == changed ? weight : Target(pool, part);
  }
  return total;
}

absl::Status WeightOverrides::Shift(const config::Config& config, const std::string& pool,
                                    const std::string& prefix, uint32_t weight, uint32_t current,
                                    int64_t over_ms, int64_t now_ms) {
  auto part = FindPart(config, pool, prefix);
  if (!part.ok()) return part.status();
  if (weight > config::kMaxWeight) {
    return absl::InvalidArgumentError(absl::StrCat("a weight is 0..", config::kMaxWeight));
  }
  if (FinalTotal(config, pool, (*part)->prefix, weight) == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "pool '", pool, "' would have every weight at 0; at least one must be above 0"));
  }
  Override entry{pool,
                 (*part)->prefix,
                 (*part)->weight,
                 over_ms > 0 ? current : weight,
                 weight,
                 now_ms,
                 now_ms + std::max<int64_t>(over_ms, 0)};
  for (Override& o : overrides_) {
    if (o.pool == pool && o.prefix == entry.prefix) {
      o = entry;
      return absl::OkStatus();
    }
  }
  overrides_.push_back(entry);
  return absl::OkStatus();
}

absl::Status WeightOverrides::Reset(const config::Config& config, const std::string& pool,
                                    const std::string& prefix) {
  auto part = FindPart(config, pool, prefix);
  if (!part.ok()) return part.status();
  if (FinalTotal(config, pool, (*part)->prefix, (*part)->weight) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("back at its YAML weight, ", prefix, " would leave pool '", pool,
                     "' with every weight at 0: shift another prefix above 0 first"));
  }
  std::erase_if(overrides_,
                [&](const Override& o) { return o.pool == pool && o.prefix == (*part)->prefix; });
  return absl::OkStatus();
}

std::vector<std::string> WeightOverrides::Reconcile(const config::Config& config) {
  std::vector<std::string> cleared;
  std::erase_if(overrides_, [&](const Override& o) {
    auto part = FindPart(config, o.pool, o.prefix.ToString());
    if (!part.ok()) {
      cleared.push_back(absl::StrCat("weight override of ", o.pool, " ", o.prefix.ToString(),
                                     " cleared: the prefix is no longer in the pool"));
      return true;
    }
    if ((*part)->weight != o.yaml_weight) {
      cleared.push_back(absl::StrCat("weight override of ", o.pool, " ", o.prefix.ToString(),
                                     " cleared: its YAML weight changed from ", o.yaml_weight,
                                     " to ", (*part)->weight));
      return true;
    }
    return false;
  });
  // Overrides set when the pool's other weights were different may now
  // leave it with nothing to answer: the YAML wins for that pool.
  for (const config::PoolConfig& pool : config.pools) {
    const bool overridden = std::any_of(overrides_.begin(), overrides_.end(),
                                        [&](const Override& o) { return o.pool == pool.name; });
    if (!overridden || FinalTotal(config, pool.name, pool.prefixes.front().prefix,
                                  Target(pool.name, pool.prefixes.front())) > 0) {
      continue;
    }
    cleared.push_back(absl::StrCat("weight overrides of ", pool.name,
                                   " cleared: with the new YAML they left every weight at 0"));
    std::erase_if(overrides_, [&](const Override& o) { return o.pool == pool.name; });
  }
  return cleared;
}

uint32_t WeightOverrides::Target(const std::string& pool, const config::PoolPrefix& part) const {
  for (const Override& o : overrides_) {
    if (o.pool == pool && o.prefix == part.prefix) return o.to;
  }
  return part.weight;
}

LiveWeights WeightOverrides::At(const config::Config& config, int64_t now_ms) const {
  LiveWeights live;
  for (const config::PoolConfig& pool : config.pools) {
    uint64_t total = 0;
    for (const config::PoolPrefix& part : pool.prefixes) {
      uint32_t w = part.weight;
      for (const Override& o : overrides_) {
        if (o.pool == pool.name && o.prefix == part.prefix) w = o.At(now_ms);
      }
      live[WeightKey(pool.name, part.prefix)] = w;
      total += w;
    }
    if (total > 0) continue;
    for (const config::PoolPrefix& part : pool.prefixes) {
      live[WeightKey(pool.name, part.prefix)] = Target(pool.name, part);
    }
  }
  return live;
}

bool WeightOverrides::Ramping(int64_t now_ms) const {
  return std::any_of(overrides_.begin(), overrides_.end(),
                     [now_ms](const Override& o) { return o.Ramping(now_ms); });
}

std::string WeightOverrides::Serialize() const {
  std::string out = kHeader;
  for (const Override& o : overrides_) {
    absl::StrAppend(&out, o.pool, " ", o.prefix.ToString(), " ", o.yaml_weight, " ", o.from, " ",
                    o.to, " ", o.start_ms, " ", o.end_ms, "\n");
  }
  return out;
}

absl::StatusOr<WeightOverrides> WeightOverrides::Parse(const std::string& text,
                                                       const std::string& source) {
  WeightOverrides result;
  const absl::Status status = ForEachStateRecord(
      text, source, 7, [&](const std::vector<absl::string_view>& f) -> std::string {
        Override o;
        o.pool = std::string(f[0]);
        auto prefix = Prefix::Parse(f[1]);
        if (!prefix.ok()) return std::string(prefix.status().message());
        o.prefix = *prefix;
        if (!absl::SimpleAtoi(f[2], &o.yaml_weight) || !absl::SimpleAtoi(f[3], &o.from) ||
            !absl::SimpleAtoi(f[4], &o.to) || !absl::SimpleAtoi(f[5], &o.start_ms) ||
            !absl::SimpleAtoi(f[6], &o.end_ms) || o.from > config::kMaxWeight ||
            o.to > config::kMaxWeight || o.yaml_weight > config::kMaxWeight) {
          return "bad number";
        }
        result.overrides_.push_back(std::move(o));
        return "";
      });
  if (!status.ok()) return status;
  return result;
}

}  // namespace agility::policy
