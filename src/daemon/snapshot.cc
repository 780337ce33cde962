#include "daemon/snapshot.h"

#include <sys/random.h>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "config/policy_zone.h"
#include "daemon/log.h"
#include "dns/catalog.h"
#include "dns/name.h"
#include "dns/transfer.h"
#include "dns/zone_file.h"

namespace agility::daemon {
namespace {

// A zone entry is a file, or a directory whose *.zone files are all loaded.
absl::StatusOr<std::vector<std::string>> ExpandZoneSource(const config::ZoneSource& source,
                                                          const std::string& config_path) {
  std::error_code error;
  if (!std::filesystem::is_directory(source.path, error)) return std::vector{source.path};
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(source.path, error)) {
    if (entry.path().extension() == ".zone") files.push_back(entry.path().string());
  }
  if (error) {
    return absl::NotFoundError(absl::StrCat(config_path, ":", source.line, ": cannot list ",
                                            source.path, ": ", error.message()));
  }
  if (files.empty()) {
    return absl::NotFoundError(
        absl::StrCat(config_path, ":", source.line, ": no *.zone files in ", source.path));
  }
  std::sort(files.begin(), files.end());
  return files;
}

// A pool address is drawn per query, so a policy's answers cannot carry the
// signatures of a zone signed ahead, and validating resolvers would throw
// them away: unless the zone has keys to sign them online, such a
// configuration is refused, naming the policy and the zone.
void CheckPoliciesOutsideSignedZones(const config::Config& config, const dns::ZoneSet& zones,
                                     std::vector<std::string>& errors) {
  for (const auto& zone : zones.zones()) {
    // Keys configured are keys loaded, or LoadKeys says why not.
    const bool keyed =
        std::any_of(config.dnssec.begin(), config.dnssec.end(),
                    [&](const config::DnssecZone& entry) { return entry.apex == zone->apex(); });
    if (!zone->is_signed() || keyed) continue;
    for (const config::PolicyConfig& policy : config.policies) {
      for (const std::string& pattern : policy.match) {
        absl::string_view base = pattern;
        while (absl::ConsumePrefix(&base, "*.")) {
        }
        const auto name = dns::NameFromText(base == "*" ? "." : base);
        if (!name.ok()) continue;
        if (!dns::IsAtOrBelow(*name, zone->apex()) && !dns::IsAtOrBelow(zone->apex(), *name)) {
          continue;
        }
        errors.push_back(absl::StrCat(
            config.path, ":", policy.line, ": policy '", policy.name, "' answers names ('", pattern,
            "') in the signed zone '", dns::NameToText(zone->apex()), "' (", zone->source(),
            "): a pool address drawn per query cannot carry the zone's signatures, and "
            "validating resolvers would reject it. Sign them online with the zone's keys: add "
            "'dnssec: {",
            dns::NameToText(zone->apex()), ": {keys: DIRECTORY}}' (see README, DNSSEC)"));
        break;
      }
    }
  }
}

// Serves the secondary zones' copies (or placeholders) and their journals.
void AddSecondaries(const std::vector<SecondaryCopy>& secondaries, Snapshot& snapshot,
                    std::vector<std::string>& errors) {
  for (const SecondaryCopy& copy : secondaries) {
    if (auto status = snapshot.zones.Add(copy.zone, copy.state.get()); !status.ok()) {
      if (!copy.from_catalog) {
        errors.emplace_back(status.message());
      } else {
        Log(LogLevel::kWarning, absl::StrCat("catalog member left out: ", status.message()));
      }
      continue;
    }
    snapshot.secondary_states.push_back(copy.state);
    if (copy.journal != nullptr) {
      snapshot.journals[std::string(copy.zone->apex())] = copy.journal;
    } else {
      snapshot.journals.erase(copy.zone->apex());
    }
  }
}

// The copy `secondaries` serve for `apex`, or nullptr.
const dns::Zone* SecondaryCopyOf(const std::vector<SecondaryCopy>& secondaries,
                                 absl::string_view apex) {
  for (const SecondaryCopy& copy : secondaries) {
    if (copy.zone->apex() == apex) return copy.zone.get();
  }
  return nullptr;
}

// Reads the keys of each zone `dnssec:` names. A zone signed ahead keeps
// its own signatures and signs only pool answers with them, so its DNSKEY
// RRset must hold every key that signs.
void LoadKeys(const config::Config& config, dns::ZoneSet& zones, std::vector<std::string>& errors) {
  for (const config::DnssecZone& entry : config.dnssec) {
    const std::string where = absl::StrCat(" (", config.path, ":", entry.line, ": dnssec.",
                                           dns::NameToText(entry.apex), ")");
    dns::LabelOffsets labels;
    dns::ComputeLabelOffsets(entry.apex, labels);
    const dns::ServedZone* served = zones.FindBest(entry.apex, labels);
    const dns::Zone* zone = served != nullptr ? served->zone : nullptr;
    if (zone == nullptr || zone->apex() != entry.apex) {
      errors.push_back(absl::StrCat(config.path, ":", entry.line, ": dnssec: no zone '",
                                    dns::NameToText(entry.apex), "' is served"));
      continue;
    }
    const dns::RrsetView soa = zone->apex_node().Find(dns::type::kSoa);
    auto keys = dns::ZoneKeys::Load(entry.apex, entry.keys, soa.ttl());
    if (!keys.ok()) {
      errors.push_back(absl::StrCat(keys.status().message(), where));
      continue;
    }
    if (zone->is_signed()) {
      const dns::RrsetView published = zone->apex_node().Find(dns::type::kDnskey);
      for (const dns::SigningKey& key : (*keys)->keys()) {
        if (key.private_key == nullptr) continue;
        bool found = false;
        const uint8_t* rr = published.records();
        for (uint16_t i = 0; i < published.count() && !found; ++i) {
          const uint16_t size = dns::ReadU16(rr);
          found = dns::AsChars(rr + 2, size) == key.dnskey_rdata;
          rr += 2 + size;
        }
        if (!found) {
          errors.push_back(absl::StrCat(
              key.file, ":1: key ", key.tag, " signs pool answers of the zone '",
              dns::NameToText(entry.apex), "', signed ahead, whose DNSKEY RRset (", zone->source(),
              ") lacks it: validators would find no key for its signatures", where));
        }
      }
    }
    if (auto status = zones.SetKeys(*std::move(keys)); !status.ok()) {
      errors.push_back(absl::StrCat(config.path, ":", entry.line, ": ", status.message()));
    }
  }
}

// The next serial of a zone agilityd writes: the time, as Knot's unixtime
// serial policy, or one past the last when the time is not newer.
uint32_t NextSerial(uint32_t last) {
  const auto now = static_cast<uint32_t>(absl::ToUnixSeconds(absl::Now()));
  return dns::SerialNewer(now, last) ? now : last + 1;
}

// Adds to `snapshot` the zone at `apex` that agilityd writes (WrittenZone),
// `text(serial)` compiled: `before` (the zone published so far, may be null)
// again when nothing but the serial would change, else the zone with the
// next serial, and what changed appended to `journal` for IXFR.
absl::Status AddWrittenZone(const config::Config& config, const config::WrittenZone& written,
                            absl::string_view key,
                            const std::function<absl::StatusOr<std::string>(uint32_t)>& text,
                            std::shared_ptr<const dns::Zone> before,
                            std::shared_ptr<const dns::Journal> journal, Snapshot& snapshot) {
  const std::string& apex = written.apex;
  if (before != nullptr && before->apex() != apex) before = nullptr;
  auto zone_text = text(NextSerial(before != nullptr ? before->serial() : 0));
  if (!zone_text.ok()) return zone_text.status();
  auto zone = dns::ParseZoneText(
      *zone_text, absl::StrCat(config.path, ":", written.line, ": ", key), dns::NameToText(apex));
  if (!zone.ok()) return zone.status();
  std::shared_ptr<const dns::Zone> served = *std::move(zone);
  if (before != nullptr) {
    dns::ZoneDiff diff = dns::DiffZones(*before, *served);
    if (diff.removed.size() <= 1 && diff.added.size() <= 1) {
      served = before;  // the SOA alone: nothing to announce
    } else if (!config.transfer.allow.empty()) {
      journal = dns::Journal::Append(journal.get(),
                                     std::make_shared<const dns::ZoneDiff>(std::move(diff)),
                                     size_t{config.transfer.journal_mb} << 20);
    } else {
      journal = nullptr;
    }
  } else {
    journal = nullptr;
  }
  if (journal != nullptr) {
    snapshot.journals[apex] = std::move(journal);
  } else {
    snapshot.journals.erase(apex);
  }
  return snapshot.zones.Add(std::move(served));
}

// The journal `snapshot` (may be null) keeps for `apex`, or null.
std::shared_ptr<const dns::Journal> JournalOf(const Snapshot* snapshot, const std::string& apex) {
  if (snapshot == nullptr) return nullptr;
  const auto it = snapshot->journals.find(apex);
  return it != snapshot->journals.end() ? it->second : nullptr;
}

// The policy zone of `config` (policy_zone:), with the weights `table`
// serves, after `previous`'s.
absl::Status AddPolicyZone(const config::Config& config, const policy::Table& table,
                           const Snapshot* previous, Snapshot& snapshot) {
  config::Config published;
  published.path = config.path;
  published.policy_zone = config.policy_zone;
  published.pools = config.pools;
  published.policies = config.policies;
  const policy::LiveWeights weights = TableWeights(table);
  for (config::PoolConfig& pool : published.pools) {
    for (config::PoolPrefix& part : pool.prefixes) {
      const auto it = weights.find(policy::WeightKey(pool.name, part.prefix));
      if (it != weights.end()) part.weight = it->second;
    }
  }
  const std::string& apex = config.policy_zone->apex;
  return AddWrittenZone(
      config, *config.policy_zone, "policy_zone",
      [&](uint32_t serial) { return config::PolicyZoneText(published, serial); },
      previous != nullptr ? ZoneAt(previous->zones, apex) : nullptr, JournalOf(previous, apex),
      snapshot);
}

// The catalog of `config` (catalog_zone:): every zone `snapshot` serves from
// a file, after `previous`'s catalog.
absl::Status AddCatalogZone(const config::Config& config, const Snapshot* previous,
                            Snapshot& snapshot) {
  const std::vector<std::string> written = config::WrittenZones(config);
  std::vector<std::string> members;
  for (size_t i = 0; i < snapshot.zones.zones().size(); ++i) {
    const std::string apex(snapshot.zones.zones()[i]->apex());
    if (snapshot.zones.served(i).secondary != nullptr ||
        std::find(written.begin(), written.end(), apex) != written.end()) {
      continue;
    }
    members.push_back(apex);
  }
  const std::string& apex = config.catalog_zone->apex;
  return AddWrittenZone(
      config, *config.catalog_zone, "catalog_zone",
      [&](uint32_t serial) -> absl::StatusOr<std::string> {
        return dns::CatalogZoneText(apex, members, serial);
      },
      previous != nullptr ? ZoneAt(previous->zones, apex) : nullptr, JournalOf(previous, apex),
      snapshot);
}

// Reads `config`'s pools and policies from the copy of the policy_from zone
// that `zones` serves. A copy refused, or none yet, leaves the policy of
// `previous` (when it came from the same zone); `source` says which. A copy
// refused before is read again only with `again` (a reload: local settings
// it was checked against may have changed).
void ApplyPolicyFrom(config::Config& config, const dns::ZoneSet& zones, const Snapshot* previous,
                     PolicySource& source, bool again) {
  const bool same_source =
      previous != nullptr && previous->config.policy_from == config.policy_from;
  source = same_source ? previous->policy_source : PolicySource();
  auto keep_previous = [&] {
    if (same_source && source.serial != 0) {
      config.pools = previous->config.pools;
      config.policies = previous->config.policies;
    }
  };
  const auto copy = ZoneAt(zones, config.policy_from);
  if (copy == nullptr || copy->serial() == 0) {  // awaiting its first transfer
    keep_previous();
    return;
  }
  if (same_source && copy->serial() == source.rejected_serial && !again) {
    keep_previous();
    return;
  }
  if (auto status = config::ReadPolicyZone(*copy, config); !status.ok()) {
    source.rejected_serial = copy->serial();
    source.rejected_why = std::string(status.message());
    ++source.rejected;
    Log(LogLevel::kWarning,
        absl::StrCat("policy zone refused; ",
                     source.serial != 0 ? absl::StrCat("serial ", source.serial, " stays in force")
                                        : std::string("no pools or policies yet"),
                     ":\n", status.message()));
    keep_previous();
    return;
  }
  source.serial = copy->serial();
  source.applied_at = absl::Now();
}

// What would keep a policy read from the policy zone from being served, as a
// reload of the same YAML would be refused: its table, its bindings, pool
// answers in a zone signed ahead without keys.
std::vector<std::string> PolicyErrors(const config::Config& config, const dns::ZoneSet& zones,
                                      int workers, const policy::Table* previous) {
  std::vector<std::string> errors;
  if (auto table = policy::Table::Build(config, workers, previous); !table.ok()) {
    errors.emplace_back(table.status().message());
  }
  if (auto bindings = sockets::BindingsFromConfig(config); !bindings.ok()) {
    errors.emplace_back(bindings.status().message());
  }
  CheckPoliciesOutsideSignedZones(config, zones, errors);
  return errors;
}

// Refuses the copy just read into `config` for `errors`: the policy of
// `previous` (from the same zone), or none, stays.
void RefusePolicy(config::Config& config, const Snapshot* previous, PolicySource& source,
                  const std::vector<std::string>& errors) {
  const bool same_source =
      previous != nullptr && previous->config.policy_from == config.policy_from;
  source.rejected_serial = source.serial;
  source.rejected_why = absl::StrJoin(errors, "\n");
  ++source.rejected;
  source.serial = same_source ? previous->policy_source.serial : 0;
  source.applied_at = same_source ? previous->policy_source.applied_at : absl::InfinitePast();
  config.pools = same_source ? previous->config.pools : std::vector<config::PoolConfig>();
  config.policies = same_source ? previous->config.policies : std::vector<config::PolicyConfig>();
  Log(LogLevel::kWarning, absl::StrCat("policy zone serial ", source.rejected_serial, " refused:\n",
                                       source.rejected_why));
}

// The cookie secrets in force; unchanged settings keep the previous ones,
// so a reload keeps clients' cookies valid. Without configured secrets, one
// random secret serves for the life of the process.
std::shared_ptr<const dns::CookieSecrets> CookieSecretsFor(const config::CookieSettings& settings,
                                                           const Snapshot* previous) {
  if (!settings.enabled) return nullptr;
  if (previous != nullptr && previous->cookies != nullptr && previous->config.cookies == settings) {
    return previous->cookies;
  }
  auto secrets = std::make_shared<dns::CookieSecrets>();
  secrets->secrets = settings.secrets;
  if (secrets->secrets.empty()) {
    static const dns::CookieSecret random = [] {
      dns::CookieSecret secret{};
      // From the kernel's pool; it cannot fall short for 16 octets (getrandom(2)).
      if (getrandom(secret.data(), secret.size(), 0) != static_cast<ssize_t>(secret.size())) {
        Log(LogLevel::kError, "getrandom failed: cookies have a weak secret");
      }
      return secret;
    }();
    secrets->secrets.push_back(random);
  }
  return secrets;
}

}  // namespace

policy::LiveWeights TableWeights(const policy::Table& table) {
  policy::LiveWeights weights;
  for (const policy::Pool& pool : table.pools()) {
    for (const policy::SubPrefix& part : pool.parts()) {
      weights[policy::WeightKey(pool.name(), part.prefix)] = part.weight;
    }
  }
  return weights;
}

std::shared_ptr<const dns::Zone> ZoneAt(const dns::ZoneSet& zones, absl::string_view apex) {
  for (const auto& zone : zones.zones()) {
    if (zone->apex() == apex) return zone;
  }
  return nullptr;
}

absl::StatusOr<std::shared_ptr<const dns::TsigKeyring>> BuildKeyring(const config::Config& config) {
  std::vector<dns::TsigKeySpec> specs;
  for (const config::TsigKey& key : config.keys) {
    specs.push_back({key.name, key.algorithm, key.secret});
  }
  return dns::TsigKeyring::Build(specs);
}

absl::StatusOr<std::shared_ptr<Snapshot>> LoadSnapshot(
    config::Config config, uint64_t generation, int workers, const Snapshot* previous,
    const policy::LiveWeights* live, const std::vector<SecondaryCopy>& secondaries) {
  const absl::Time start = absl::Now();
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->generation = generation;
  absl::flat_hash_map<std::string, std::shared_ptr<const dns::Zone>> loaded;
  if (previous != nullptr) {
    for (const auto& zone : previous->zones.zones()) loaded[zone->source()] = zone;
  }
  std::vector<std::string> errors;
  for (const config::ZoneSource& source : config.zones) {
    auto files = ExpandZoneSource(source, config.path);
    if (!files.ok()) {
      errors.emplace_back(files.status().message());
      continue;
    }
    for (const std::string& file : *files) {
      const auto it = loaded.find(file);
      if (it != loaded.end() && it->second->Unchanged()) {
        if (const auto journal = previous->journals.find(it->second->apex());
            journal != previous->journals.end()) {
          snapshot->journals.insert(*journal);
        }
        if (auto status = snapshot->zones.Add(it->second); !status.ok()) {
          errors.emplace_back(status.message());
        }
        ++snapshot->zones_reused;
        continue;
      }
      const absl::Time zone_start = absl::Now();
      dns::ZoneFileLimits limits;
      limits.progress = [&file](size_t records, double seconds) {
        Log(absl::StrCat("loading ", file, ": ", records, " records in ", static_cast<int>(seconds),
                         " s (", static_cast<int64_t>(static_cast<double>(records) / seconds),
                         " records/s)"));
      };
      // A zone read before is changed in place when few names differ.
      dns::ZoneDiff changes;
      auto zone = it != loaded.end() ? dns::ReloadZoneFile(file, it->second, &changes, limits)
                                     : dns::LoadZoneFile(file, limits);
      if (!zone.ok()) {
        errors.emplace_back(zone.status().message());
        continue;
      }
      (*zone)->set_load_seconds(absl::ToDoubleSeconds(absl::Now() - zone_start));
      const bool in_place = (*zone)->base() != nullptr && it != loaded.end();
      if (in_place) {
        Log(absl::StrCat(file, ": ", changes.removed.size(), " records removed and ",
                         changes.added.size(), " added (SOA included), applied in place in ",
                         absl::StrFormat("%.1f", (*zone)->load_seconds() * 1000), " ms"));
      }
      // The file's serial is the truth: secondaries see a change only by it.
      if (it != loaded.end() && !dns::SerialNewer((*zone)->serial(), it->second->serial())) {
        Log(LogLevel::kWarning,
            absl::StrCat(file, " changed but its serial ", (*zone)->serial(), " is not newer than ",
                         it->second->serial(), ": secondaries will not transfer the change"));
      } else if (it != loaded.end() && !config.transfer.allow.empty() &&
                 (*zone)->apex() == it->second->apex()) {
        // What changed, for secondaries that ask by IXFR.
        const auto journal = previous->journals.find(it->second->apex());
        snapshot->journals[std::string((*zone)->apex())] = dns::Journal::Append(
            journal != previous->journals.end() ? journal->second.get() : nullptr,
            std::make_shared<const dns::ZoneDiff>(in_place ? std::move(changes)
                                                           : dns::DiffZones(*it->second, **zone)),
            size_t{config.transfer.journal_mb} << 20);
      }
      // Served all the same, as Knot serves with its semantic checks off;
      // `agilityd --check` fails on the errors.
      for (const std::string& error : (*zone)->dnssec_errors())
        Log(LogLevel::kWarning, "DNSSEC: " + error);
      for (const std::string& warning : (*zone)->dnssec_warnings())
        Log(LogLevel::kWarning, "DNSSEC: " + warning);
      if (auto status = snapshot->zones.Add(std::move(*zone)); !status.ok()) {
        errors.emplace_back(status.message());
      }
    }
  }
  AddSecondaries(secondaries, *snapshot, errors);
  if (!config.policy_from.empty()) {
    PolicySource& source = snapshot->policy_source;
    ApplyPolicyFrom(config, snapshot->zones, previous, source, /*again=*/true);
    const bool read_now =
        source.serial != 0 &&
        (previous == nullptr || previous->config.policy_from != config.policy_from ||
         previous->policy_source.serial != source.serial);
    if (read_now) {
      const auto errors = PolicyErrors(config, snapshot->zones, workers,
                                       previous != nullptr ? previous->table.get() : nullptr);
      if (!errors.empty()) RefusePolicy(config, previous, source, errors);
    }
  }
  auto table = policy::Table::Build(config, workers,
                                    previous != nullptr ? previous->table.get() : nullptr, live);
  if (!table.ok()) errors.emplace_back(table.status().message());
  if (table.ok() && config.policy_zone) {
    if (auto status = AddPolicyZone(config, **table, previous, *snapshot); !status.ok()) {
      errors.emplace_back(status.message());
    }
  }
  if (config.catalog_zone) {
    if (auto status = AddCatalogZone(config, previous, *snapshot); !status.ok()) {
      errors.emplace_back(status.message());
    }
  }
  LoadKeys(config, snapshot->zones, errors);
  CheckPoliciesOutsideSignedZones(config, snapshot->zones, errors);
  auto bindings = sockets::BindingsFromConfig(config);
  if (!bindings.ok()) errors.emplace_back(bindings.status().message());
  auto keyring = BuildKeyring(config);
  if (!keyring.ok()) errors.push_back(absl::StrCat(config.path, ": ", keyring.status().message()));
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  snapshot->table = std::move(*table);
  snapshot->bindings = std::move(*bindings);
  snapshot->keyring = std::move(*keyring);
  snapshot->cookies = CookieSecretsFor(config.cookies, previous);
  snapshot->config = std::move(config);
  snapshot->loaded_at = absl::Now();
  snapshot->load_duration = snapshot->loaded_at - start;
  return snapshot;
}

namespace {

// A snapshot sharing everything `base` holds; the callers replace a part.
std::shared_ptr<Snapshot> SharedCopy(const Snapshot& base) {
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->generation = base.generation;
  snapshot->config = base.config;
  snapshot->zones = base.zones;
  snapshot->secondary_states = base.secondary_states;
  snapshot->keyring = base.keyring;
  snapshot->cookies = base.cookies;
  snapshot->journals = base.journals;
  snapshot->table = base.table;
  snapshot->bindings = base.bindings;
  snapshot->loaded_at = base.loaded_at;
  snapshot->load_duration = base.load_duration;
  snapshot->zones_reused = base.zones_reused;
  snapshot->policy_source = base.policy_source;
  return snapshot;
}

// Adds `base`'s zones to `snapshot`, but those `left_out` names (by index);
// returns the online keys of all of them, by apex, for SetKeys once their
// replacements are in.
absl::flat_hash_map<std::string, std::shared_ptr<const dns::ZoneKeys>> CopyZones(
    const Snapshot& base, const std::function<bool(size_t)>& left_out, Snapshot& snapshot,
    std::vector<std::string>& errors) {
  absl::flat_hash_map<std::string, std::shared_ptr<const dns::ZoneKeys>> keys;
  for (size_t i = 0; i < base.zones.zones().size(); ++i) {
    const auto& zone = base.zones.zones()[i];
    if (base.zones.served(i).keys != nullptr) keys[zone->apex()] = base.zones.SharedKeysOf(*zone);
    if (left_out(i)) continue;
    if (auto status = snapshot.zones.Add(zone, base.zones.served(i).secondary); !status.ok()) {
      errors.emplace_back(status.message());
    }
  }
  return keys;
}

}  // namespace

absl::StatusOr<std::shared_ptr<Snapshot>> WithWeights(const Snapshot& base, int workers,
                                                      const policy::LiveWeights& live) {
  auto table = base.table->Reweighted(base.config, workers, live);
  if (!table.ok()) return table.status();
  auto snapshot = SharedCopy(base);
  snapshot->table = *std::move(table);
  if (!base.config.policy_zone) return snapshot;
  // The policy zone publishes the weights in force.
  const std::string& apex = base.config.policy_zone->apex;
  snapshot->zones = dns::ZoneSet();
  std::vector<std::string> errors;
  auto keys = CopyZones(
      base, [&](size_t i) { return base.zones.zones()[i]->apex() == apex; }, *snapshot, errors);
  if (auto status = AddPolicyZone(base.config, *snapshot->table, &base, *snapshot); !status.ok()) {
    errors.emplace_back(status.message());
  }
  for (auto& [zone_apex, zone_keys] : keys) {
    if (auto status = snapshot->zones.SetKeys(zone_keys); !status.ok()) {
      errors.emplace_back(status.message());
    }
  }
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  return snapshot;
}

absl::StatusOr<std::shared_ptr<Snapshot>> WithPolicyFrom(const Snapshot& base, int workers) {
  const auto copy = ZoneAt(base.zones, base.config.policy_from);
  if (copy == nullptr || copy->serial() == 0 || copy->serial() == base.policy_source.serial ||
      copy->serial() == base.policy_source.rejected_serial) {
    return nullptr;
  }
  auto snapshot = SharedCopy(base);
  ApplyPolicyFrom(snapshot->config, snapshot->zones, &base, snapshot->policy_source,
                  /*again=*/false);
  if (snapshot->policy_source.serial != copy->serial()) return snapshot;  // refused: says why
  if (const auto errors =
          PolicyErrors(snapshot->config, snapshot->zones, workers, base.table.get());
      !errors.empty()) {
    RefusePolicy(snapshot->config, &base, snapshot->policy_source, errors);
    return snapshot;
  }
  auto table = policy::Table::Build(snapshot->config, workers, base.table.get());
  if (!table.ok()) return table.status();
  auto bindings = sockets::BindingsFromConfig(snapshot->config);
  if (!bindings.ok()) return bindings.status();
  snapshot->table = *std::move(table);
  snapshot->bindings = *std::move(bindings);
  return snapshot;
}

absl::StatusOr<std::shared_ptr<Snapshot>> WithSecondaries(
    const Snapshot& base, const std::vector<SecondaryCopy>& secondaries) {
  auto snapshot = SharedCopy(base);
  snapshot->zones = dns::ZoneSet();
  snapshot->secondary_states.clear();
  std::vector<std::string> errors;
  auto keys = CopyZones(
      base, [&](size_t i) { return base.zones.served(i).secondary != nullptr; }, *snapshot, errors);
  AddSecondaries(secondaries, *snapshot, errors);
  for (auto& [apex, zone_keys] : keys) {
    // The DNSKEY RRset takes the SOA's TTL (ZoneKeys::Load): a secondary
    // copy with another one than the copy before (the placeholder's, at
    // first) reads its keys again.
    if (const dns::Zone* now = SecondaryCopyOf(secondaries, apex); now != nullptr) {
      const dns::Zone* before = nullptr;
      for (size_t i = 0; i < base.zones.zones().size(); ++i) {
        if (base.zones.zones()[i]->apex() == apex) before = base.zones.zones()[i].get();
      }
      const uint32_t ttl = now->apex_node().Find(dns::type::kSoa).ttl();
      if (before == nullptr || before->apex_node().Find(dns::type::kSoa).ttl() != ttl) {
        for (const config::DnssecZone& entry : snapshot->config.dnssec) {
          if (entry.apex != apex) continue;
          auto reloaded = dns::ZoneKeys::Load(entry.apex, entry.keys, ttl);
          if (reloaded.ok()) {
            zone_keys = *std::move(reloaded);
          } else {
            Log(LogLevel::kWarning,
                absl::StrCat("the keys of ", dns::NameToText(apex),
                             " were not read again: ", reloaded.status().message()));
          }
        }
      }
    }
    if (auto status = snapshot->zones.SetKeys(zone_keys); !status.ok()) {
      errors.emplace_back(status.message());
    }
  }
  CheckPoliciesOutsideSignedZones(snapshot->config, snapshot->zones, errors);
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  return snapshot;
}

std::string Summary(const Snapshot& s) {
  std::string out = absl::StrCat(
      "generation ", s.generation, ": ", s.zones.zones().size(), " zones, ", s.zones.name_count(),
      " names, ", s.table->policies().size(), " policies, ", s.table->pools().size(), " pools, ",
      s.bindings.size(), " bindings, loaded in ", absl::FormatDuration(s.load_duration),
      s.zones_reused > 0 ? absl::StrCat(" (", s.zones_reused, " zones unchanged)") : "", "\n");
  for (const auto& zone : s.zones.zones()) {
    absl::StrAppend(&out, "  zone ", dns::NameToText(zone->apex()), " serial ", zone->serial(),
                    ", ", zone->name_count(), " names, ", zone->record_count(), " records (",
                    zone->source(), ")");
    if (const dns::ZoneKeys* keys = s.zones.KeysOf(*zone)) {
      absl::StrAppend(&out,
                      zone->is_signed() ? ", pool answers signed online by" : ", signed online by");
      for (const dns::SigningKey& key : keys->keys()) {
        absl::StrAppend(&out, " ", key.tag, key.sep() ? " (KSK" : " (ZSK",
                        key.private_key == nullptr ? ", published only)" : ")");
      }
    }
    absl::StrAppend(&out, "\n");
  }
  for (size_t p = 0; p < s.table->pools().size(); ++p) {
    const policy::Pool& pool = s.table->pools()[p];
    absl::StrAppend(&out, "  pool ", pool.name());
    for (const policy::SubPrefix& part : pool.parts()) {
      absl::StrAppend(&out, " ", part.prefix.ToString(),
                      pool.parts().size() > 1 ? absl::StrCat(" weight ", part.weight) : "", " (",
                      part.prefix.host_bits() >= 64
                          ? std::string("2^") + std::to_string(part.prefix.host_bits())
                          : std::to_string(part.prefix.size()),
                      " addresses)");
    }
    absl::StrAppend(&out,
                    s.table->counters().BucketsCounted(static_cast<int>(p))
                        ? ""
                        : ", no per-prefix counts: the counter store is full",
                    "\n");
  }
  const auto& pools = s.table->pools();
  for (const auto& policy : s.config.policies) {
    absl::StrAppend(&out, "  policy ", policy.name, ": ", absl::StrJoin(policy.match, ", "), " -> ",
                    policy.ipv4_pool >= 0 ? pools[policy.ipv4_pool].name() : "-", " / ",
                    policy.ipv6_pool >= 0 ? pools[policy.ipv6_pool].name() : "-", ", ttl ",
                    policy.ttl, "\n");
  }
  return out;
}

}  // namespace agility::daemon
