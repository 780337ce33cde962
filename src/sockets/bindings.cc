#include "sockets/bindings.h"

#include <algorithm>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace agility::sockets {

void Binding::MappedAddress(uint8_t (&out)[16]) const {
  if (prefix.ipv4) {
    std::memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    std::memcpy(out + 12, prefix.bytes, 4);
  } else {
    std::memcpy(out, prefix.bytes, 16);
  }
}

std::string Binding::ToString() const {
  return absl::StrCat(config::ProtocolName(protocol), " ", prefix.ToString(), " port ",
                      port == 0 ? "any" : std::to_string(port), " -> ", label);
}

std::string Binding::Key() const {
  return absl::StrCat(config::ProtocolName(protocol), " ", prefix.ToString(), " ", port);
}

absl::StatusOr<std::vector<Binding>> BindingsFromConfig(const config::Config& config) {
  std::vector<Binding> out;
  absl::flat_hash_map<std::string, size_t> by_key;
  std::string errors;
  auto add = [&](Binding binding) {
    const auto [it, inserted] = by_key.emplace(binding.Key(), out.size());
    if (inserted) {
      out.push_back(std::move(binding));
      return;
    }
    Binding& other = out[it->second];
    if (other.label == binding.label && binding.answered) {
      other.answered = true;
      other.ttl = std::max(other.ttl, binding.ttl);
    }
    if (other.label != binding.label) {
      absl::StrAppend(&errors, errors.empty() ? "" : "\n", binding.source, ": ", binding.ToString(),
                      " conflicts with ", other.ToString(), " from ", other.source);
    }
  };
  for (const config::PolicyConfig& policy : config.policies) {
    if (policy.service.empty()) continue;
    for (const int pool : {policy.ipv4_pool, policy.ipv6_pool}) {
      if (pool < 0) continue;
      for (const config::PoolPrefix& part : config.pools[pool].prefixes) {
        for (const config::Protocol protocol : policy.protocols) {
          for (const uint16_t port : policy.ports) {
            add({policy.service, protocol, part.prefix, port,
                 absl::StrCat(config.path, ":", policy.line, " (policy ", policy.name, ")"), true,
                 policy.ttl});
          }
        }
      }
    }
  }
  for (const config::BindingConfig& b : config.bindings) {
    add({b.label, b.protocol, b.prefix, b.port, absl::StrCat(config.path, ":", b.line)});
  }
  if (!errors.empty()) return absl::InvalidArgumentError(errors);
  return out;
}

}  // namespace agility::sockets
