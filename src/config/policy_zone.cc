#include "config/policy_zone.h"

#include <arpa/inet.h>

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "dns/name.h"
#include "dns/wire.h"

namespace agility::config {
namespace {

constexpr uint32_t kTtl = 60;
// Secondaries check each minute besides NOTIFY, and keep the zone two
// weeks without its primary (RFC 1912 §2.2).
constexpr char kSoaTimers[] = "60 10 1209600 60";
constexpr size_t kMaxTxtRecordBytes = 4000;
// An RRset must fit a DNS message: a policy's strings continue on nodes
// below its own (1.<i>.policies, 2.<i>.policies ...) past this many bytes.
constexpr size_t kMaxNodeBytes = 16000;
constexpr size_t kMaxErrors = 20;
constexpr uint16_t kApl = 42;

std::string PrefixLabel(const policy::Prefix& prefix) {
  std::string label = prefix.ToString();
  std::replace_if(
      label.begin(), label.end(), [](char c) { return c == '.' || c == ':' || c == '/'; }, '-');
  return label;
}

// A TXT character-string in presentation form.
void AppendCharacterString(std::string& out, absl::string_view text) {
  out += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte >= 0x7f) {
      absl::StrAppendFormat(&out, "\\%03d", byte);
    } else {
      out += c;
    }
  }
  out += '"';
}

// The TXT records of one owner: key=value strings, as many records as they
// need, and as many nodes below it.
class TxtRecords {
 public:
  TxtRecords(std::string owner, std::string what)
      : base_(owner), owner_(std::move(owner)), what_(std::move(what)) {}
  void Add(absl::string_view key, absl::string_view value) {
    const std::string text = absl::StrCat(key, "=", value);
    if (text.size() > 255) {
      if (status_.ok()) {
        status_ = absl::InvalidArgumentError(
            absl::StrCat("policy_zone: ", what_, ": '", text.substr(0, 40),
                         "...' is longer than a TXT string's 255 bytes"));
      }
      return;
    }
    if (record_bytes_ > 0 && record_bytes_ + 1 + text.size() > kMaxTxtRecordBytes) Flush();
    if (node_bytes_ + 1 + text.size() > kMaxNodeBytes) {
      Flush();
      owner_ = absl::StrCat(++continuation_, ".", base_);
      node_bytes_ = 0;
    }
    if (record_bytes_ == 0) absl::StrAppend(&records_, owner_, " ", kTtl, " TXT");
    records_ += ' ';
    AppendCharacterString(records_, text);
    record_bytes_ += 1 + text.size();
    node_bytes_ += 1 + text.size();
  }
  absl::Status WriteTo(std::string& out) {
    Flush();
    out += records_;
    return status_;
  }

 private:
  void Flush() {
    if (record_bytes_ > 0) records_ += '\n';
    record_bytes_ = 0;
  }
  const std::string base_;
  std::string owner_, what_, records_;
  size_t record_bytes_ = 0, node_bytes_ = 0;
  int continuation_ = 0;
  absl::Status status_;
};

// One node of a policy zone, read: its owner and the key=value strings of
// its TXT records.
struct ReadNode {
  std::string owner;  // presentation form
  std::vector<std::pair<std::string, std::string>> pairs;
  std::string prefix;  // a prefix node's APL item, as text
};

struct ReadPool {
  ReadNode node;
  std::vector<ReadNode> prefixes;
};

// Labels in index order ("2" before "10"), then the others by their bytes.
struct LabelOrder {
  bool operator()(const std::string& a, const std::string& b) const {
    uint64_t x = 0, y = 0;
    const bool a_number = absl::SimpleAtoi(a, &x), b_number = absl::SimpleAtoi(b, &y);
    if (a_number != b_number) return a_number;
    return a_number && x != y ? x < y : a < b;
  }
};

// A YAML double-quoted scalar: safe for any bytes a TXT string holds.
std::string YamlQuoted(absl::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20 || byte == 0x7f) {
      absl::StrAppendFormat(&out, "\\x%02x", byte);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

bool IsListKey(absl::string_view key) {
  return key == "match" || key == "ports" || key == "protocols";
}

// {"k": "v", "list": ["a", "b"]} on one line, keys in the order first seen.
std::string YamlFlowMap(const std::vector<std::pair<std::string, std::string>>& pairs) {
  std::vector<std::pair<std::string, std::vector<std::string>>> entries;
  for (const auto& pair : pairs) {
    auto it = std::find_if(entries.begin(), entries.end(),
                           [&](const auto& entry) { return entry.first == pair.first; });
    if (it == entries.end() || !IsListKey(pair.first)) {
      entries.push_back({pair.first, {pair.second}});
    } else {
      it->second.push_back(pair.second);
    }
  }
  std::vector<std::string> parts;
  for (const auto& [key, values] : entries) {
    std::vector<std::string> quoted;
    for (const std::string& value : values) quoted.push_back(YamlQuoted(value));
    parts.push_back(absl::StrCat(
        YamlQuoted(key), ": ",
        IsListKey(key) ? absl::StrCat("[", absl::StrJoin(quoted, ", "), "]") : quoted.front()));
  }
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

// The labels of `name` below `apex` (which it ends with), leftmost first.
std::vector<std::string> LabelsBelow(absl::string_view name, absl::string_view apex) {
  std::vector<std::string> labels;
  size_t pos = 0;
  while (pos < name.size() - apex.size()) {
    const auto length = static_cast<uint8_t>(name[pos]);
    labels.emplace_back(name.substr(pos + 1, length));
    pos += 1 + length;
  }
  return labels;
}

// The one item of an APL record (RFC 3123 §4) as prefix text.
absl::StatusOr<std::string> AplPrefix(absl::string_view rdata) {
  if (rdata.size() < 4) return absl::InvalidArgumentError("an empty APL record");
  const uint16_t family = dns::ReadU16(reinterpret_cast<const uint8_t*>(rdata.data()));
  const auto length = static_cast<uint8_t>(rdata[2]);
  const bool negated = (rdata[3] & 0x80) != 0;
  const size_t afd_length = rdata[3] & 0x7f;
  if (rdata.size() != 4 + afd_length) {
    return absl::InvalidArgumentError("an APL record with other than one prefix");
  }
  if (negated) return absl::InvalidArgumentError("a negated APL prefix ('!')");
  const size_t address_size = family == 1 ? 4 : family == 2 ? 16 : 0;
  if (address_size == 0 || afd_length > address_size) {
    return absl::InvalidArgumentError(absl::StrCat("an APL family ", family, " prefix"));
  }
  uint8_t address[16] = {};
  std::copy_n(rdata.data() + 4, afd_length, address);
  char text[INET6_ADDRSTRLEN];
  inet_ntop(family == 1 ? AF_INET : AF_INET6, address, text, sizeof text);
  return absl::StrCat(text, "/", length);
}

}  // namespace

absl::StatusOr<std::string> PolicyZoneText(const Config& config, uint32_t serial) {
  if (!config.policy_zone) return absl::FailedPreconditionError("no policy_zone configured");
  const std::string origin = dns::NameToText(config.policy_zone->apex);
  const std::string dot_origin = origin == "." ? "." : absl::StrCat(".", origin);
  std::string out = absl::StrCat("$ORIGIN ", origin, "\n", "@ ", kTtl, " SOA @ hostmaster ", serial,
                                 " ", kSoaTimers, "\n", "@ ", kTtl, " NS @\n", "version ", kTtl,
                                 " TXT \"", kPolicyLayout, "\"\n");
  absl::Status status;
  for (size_t j = 0; j < config.pools.size(); ++j) {
    const PoolConfig& pool = config.pools[j];
    const std::string pool_owner = absl::StrCat(j, ".pools", dot_origin);
    TxtRecords node(pool_owner, absl::StrCat("pool '", pool.name, "'"));
    node.Add("name", pool.name);
    status.Update(node.WriteTo(out));
    for (const PoolPrefix& part : pool.prefixes) {
      const std::string owner = absl::StrCat(PrefixLabel(part.prefix), ".", pool_owner);
      absl::StrAppend(&out, owner, " ", kTtl, " APL ", part.prefix.ipv4 ? 1 : 2, ":",
                      part.prefix.ToString(), "\n");
      TxtRecords weight(owner, absl::StrCat("pool '", pool.name, "'"));
      weight.Add("weight", absl::StrCat(part.weight));
      status.Update(weight.WriteTo(out));
    }
  }
  for (size_t i = 0; i < config.policies.size(); ++i) {
    const PolicyConfig& policy = config.policies[i];
    TxtRecords node(absl::StrCat(i, ".policies", dot_origin),
                    absl::StrCat("policy '", policy.name, "'"));
    node.Add("name", policy.name);
    for (const std::string& pattern : policy.match) node.Add("match", pattern);
    if (policy.ipv4_pool >= 0) node.Add("ipv4", config.pools[policy.ipv4_pool].name);
    if (policy.ipv6_pool >= 0) node.Add("ipv6", config.pools[policy.ipv6_pool].name);
    node.Add("ttl", absl::StrCat(policy.ttl));
    // Ports and protocols mean something only with a service to steer to.
    if (!policy.service.empty()) {
      node.Add("service", policy.service);
      for (const uint16_t port : policy.ports) node.Add("ports", absl::StrCat(port));
      for (const Protocol protocol : policy.protocols)
        node.Add("protocols", ProtocolName(protocol));
    }
    status.Update(node.WriteTo(out));
  }
  if (!status.ok()) return status;
  return out;
}

absl::Status ReadPolicyZone(const dns::Zone& zone, Config& config) {
  const std::string apex(zone.apex());
  const std::string where =
      absl::StrCat("policy zone ", dns::NameToText(apex), " serial ", zone.serial());
  std::vector<std::string> errors;
  auto error = [&](absl::string_view owner, absl::string_view message) {
    if (errors.size() < kMaxErrors) errors.push_back(absl::StrCat(owner, ": ", message));
  };
  // The layout first: what follows means nothing in another one.
  const dns::NodeView version = zone.Find("\x07version" + apex);
  const dns::RrsetView version_txt =
      version.valid() ? version.Find(dns::type::kTxt) : dns::RrsetView();
  const std::string layout = absl::StrCat(std::string(1, sizeof kPolicyLayout - 1), kPolicyLayout);
  if (!version_txt.valid() || version_txt.count() != 1 ||
      dns::AsChars(version_txt.records() + 2, dns::ReadU16(version_txt.records())) != layout) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": no version.", dns::NameToText(apex), " TXT \"", kPolicyLayout,
        "\": not a policy zone of a layout this agilityd reads (", kPolicyLayout, ")"));
  }
  std::map<std::string, ReadPool, LabelOrder> pools;
  struct ReadPolicy {
    ReadNode node;
    std::map<std::string, std::vector<std::pair<std::string, std::string>>, LabelOrder> parts;
  };
  std::map<std::string, ReadPolicy, LabelOrder> policies;
  zone.ForEachNode([&](const dns::NodeView& node) {
    // A signed policy zone's NSEC3 records have owners of their own.
    bool denial_only = node.rrset_count() > 0;
    node.ForEachRrset([&](const dns::RrsetView& rrset) {
      denial_only &= rrset.type() == dns::type::kNsec3 || rrset.type() == dns::type::kRrsig;
    });
    if (denial_only) return;
    const std::string owner = dns::NameToText(node.name());
    const std::vector<std::string> labels = LabelsBelow(node.name(), apex);
    const std::string under = labels.empty() ? "" : absl::AsciiStrToLower(labels.back());
    enum { kApex, kVersion, kBranch, kPool, kPrefix, kPolicy, kPolicyPart, kStray } kind = kStray;
    if (labels.empty()) {
      kind = kApex;
    } else if (labels.size() == 1 && under == "version") {
      kind = kVersion;
    } else if (labels.size() == 1 && (under == "pools" || under == "policies")) {
      kind = kBranch;
    } else if (under == "pools" && labels.size() <= 3) {
      kind = labels.size() == 2 ? kPool : kPrefix;
    } else if (under == "policies" && labels.size() <= 3) {
      kind = labels.size() == 2 ? kPolicy : kPolicyPart;
    }
    if (kind == kStray) {
      error(owner, absl::StrCat("not a name of policy layout ", kPolicyLayout));
      return;
    }
    ReadNode read{owner, {}, {}};
    bool has_apl = false;
    node.ForEachRrset([&](const dns::RrsetView& rrset) {
      const uint16_t type = rrset.type();
      // Signatures and denial of a signed policy zone are no policy.
      if (kind == kApex || type == dns::type::kRrsig || type == dns::type::kNsec ||
          type == dns::type::kNsec3) {
        return;
      }
      const uint8_t* rr = rrset.records();
      if (type == dns::type::kTxt && kind != kVersion && kind != kBranch) {
        for (uint16_t r = 0; r < rrset.count(); ++r) {
          const uint16_t size = dns::ReadU16(rr);
          absl::string_view rdata = dns::AsChars(rr + 2, size);
          rr += 2 + size;
          while (!rdata.empty()) {
            const auto length = static_cast<uint8_t>(rdata[0]);
            const absl::string_view text = rdata.substr(1, length);
            rdata.remove_prefix(std::min<size_t>(rdata.size(), 1 + length));
            const size_t equals = text.find('=');
            if (equals == 0 || equals == absl::string_view::npos) {
              error(owner, absl::StrCat("TXT \"", text, "\" is not key=value"));
              continue;
            }
            read.pairs.emplace_back(text.substr(0, equals), text.substr(equals + 1));
          }
        }
      } else if (type == kApl && kind == kPrefix) {
        has_apl = true;
        const uint16_t size = dns::ReadU16(rr);
        auto prefix = rrset.count() == 1
                          ? AplPrefix(dns::AsChars(rr + 2, size))
                          : absl::StatusOr<std::string>(absl::InvalidArgumentError(
                                absl::StrCat(rrset.count(), " APL records, not one")));
        if (prefix.ok()) {
          read.prefix = *std::move(prefix);
        } else {
          error(owner, absl::StrCat("APL: ", prefix.status().message()));
        }
      } else if (type != dns::type::kTxt || kind != kVersion) {
        error(owner, absl::StrCat("type ", type, " is not part of policy layout ", kPolicyLayout,
                                  " here"));
      }
    });
    if (kind == kPool) {
      ReadPool& pool = pools[labels[0]];
      pool.node = std::move(read);
    } else if (kind == kPrefix) {
      if (!has_apl) {
        error(owner, "a prefix node needs its APL record");
        return;
      }
      pools[labels[1]].prefixes.push_back(std::move(read));
    } else if (kind == kPolicy) {
      policies[labels[0]].node = std::move(read);
    } else if (kind == kPolicyPart) {
      policies[labels[1]].parts[labels[0]] = std::move(read.pairs);
    }
  });
  // The YAML the configuration would hold, one record's worth per line, so
  // that the parser's line numbers lead back to owners. ForEachNode visits
  // empty non-terminals too: a pool or policy with nodes below it always has
  // its own node, and owner, if only without name=.
  std::vector<std::string> line_owners;
  std::string yaml;
  auto line = [&](const std::string& owner, absl::string_view text) {
    absl::StrAppend(&yaml, text, "\n");
    line_owners.push_back(owner);
  };
  line(absl::StrCat("pools.", dns::NameToText(apex)), pools.empty() ? "pools: {}" : "pools:");
  for (const auto& [label, pool] : pools) {
    std::string name;
    int names = 0;
    for (const auto& [key, value] : pool.node.pairs) {
      if (key != "name") {
        error(pool.node.owner, absl::StrCat("unknown key '", key, "' of a pool (allowed: name)"));
      } else if (++names > 1) {
        error(pool.node.owner, "a pool has one name");
      } else {
        name = value;
      }
    }
    if (names == 0) error(pool.node.owner, "a pool needs name=");
    line(pool.node.owner,
         absl::StrCat("  ", YamlQuoted(name), ":", pool.prefixes.empty() ? " []" : ""));
    for (const ReadNode& prefix : pool.prefixes) {
      std::vector<std::pair<std::string, std::string>> pairs = {{"prefix", prefix.prefix}};
      pairs.insert(pairs.end(), prefix.pairs.begin(), prefix.pairs.end());
      line(prefix.owner, absl::StrCat("    - ", YamlFlowMap(pairs)));
    }
  }
  line(absl::StrCat("policies.", dns::NameToText(apex)),
       policies.empty() ? "policies: []" : "policies:");
  for (auto& [label, policy] : policies) {
    for (auto& [part, pairs] : policy.parts) {
      policy.node.pairs.insert(policy.node.pairs.end(), pairs.begin(), pairs.end());
    }
    line(policy.node.owner, absl::StrCat("  - ", YamlFlowMap(policy.node.pairs)));
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ":\n", absl::StrJoin(errors, "\n")));
  }
  auto status = ParsePolicySections(
      yaml,
      [&](int n) {
        return n >= 1 && static_cast<size_t>(n) <= line_owners.size() ? line_owners[n - 1] : where;
      },
      config);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ":\n", status.message()));
  }
  return absl::OkStatus();
}

}  // namespace agility::config
