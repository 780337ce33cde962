// Maps a queried name to the policy whose pattern matches it most
// specifically: an exact name beats any wildcard, and "*.a.b" beats "*.b".
#pragma once

#include <cstdint>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "dns/name.h"

namespace agility::policy {

class Matcher {
 public:
  static constexpr uint32_t kNoMatch = UINT32_MAX;

  // `pattern` is "example.com" (that name) or "*.example.com" (every name
  // strictly below it). Returns the policy already holding the pattern as an
  // AlreadyExists error carrying that policy's index in its message.
  absl::Status Add(absl::string_view pattern, uint32_t policy);

  // `name` is lowercase wire; `labels` its label offsets.
  uint32_t Match(absl::string_view name, const dns::LabelOffsets& labels) const {
    if (!exact_.empty()) {
      if (const auto it = exact_.find(name); it != exact_.end()) return it->second;
    }
    if (!below_.empty()) {
      // Longest proper suffix first.
      for (int skip = 1; skip <= labels.count; ++skip) {
        const auto it = below_.find(dns::Suffix(name, labels, skip));
        if (it != below_.end()) return it->second;
      }
    }
    return kNoMatch;
  }

  // The policy that owns `pattern`, or kNoMatch.
  uint32_t Owner(absl::string_view pattern) const;

 private:
  absl::flat_hash_map<std::string, uint32_t> exact_;
  absl::flat_hash_map<std::string, uint32_t> below_;
};

}  // namespace agility::policy
