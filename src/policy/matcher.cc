#include "policy/matcher.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace agility::policy {
namespace {

struct ParsedPattern {
  bool below = false;
  std::string name;
};

absl::StatusOr<ParsedPattern> ParsePattern(absl::string_view pattern) {
  ParsedPattern parsed;
  if (absl::StartsWith(pattern, "*.")) {
    parsed.below = true;
    pattern.remove_prefix(2);
  } else if (pattern == "*") {
    return absl::InvalidArgumentError("pattern '*' would match every name; name a suffix");
  }
  if (pattern.find('*') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "'*' may appear only as the first label of a pattern ('*.example.com')");
  }
  auto name = dns::NameFromText(pattern);
  if (!name.ok()) return name.status();
  parsed.name = *std::move(name);
  return parsed;
}

}  // namespace

absl::Status Matcher::Add(absl::string_view pattern, uint32_t policy) {
  auto parsed = ParsePattern(pattern);
  if (!parsed.ok()) return parsed.status();
  auto& table = parsed->below ? below_ : exact_;
  const auto [it, inserted] = table.emplace(parsed->name, policy);
  if (!inserted) {
    return absl::AlreadyExistsError(absl::StrCat("pattern '", pattern, "' is already used"));
  }
  return absl::OkStatus();
}

uint32_t Matcher::Owner(absl::string_view pattern) const {
  auto parsed = ParsePattern(pattern);
  if (!parsed.ok()) return kNoMatch;
  const auto& table = parsed->below ? below_ : exact_;
  const auto it = table.find(parsed->name);
  return it == table.end() ? kNoMatch : it->second;
}

}  // namespace agility::policy
