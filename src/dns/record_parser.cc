#include "dns/record_parser.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "dns/wire.h"

namespace agility::dns {
namespace {

constexpr int kMaxTokens = 32;

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

// Whitespace-separated tokens; a quoted token keeps its quotes. Escapes are
// for ldns.
int Tokenize(absl::string_view entry, absl::string_view* tokens) {
  int count = 0;
  size_t i = 0;
  while (i < entry.size()) {
    while (i < entry.size() && IsBlank(entry[i])) ++i;
    if (i == entry.size()) break;
    if (count == kMaxTokens) return -1;
    const size_t start = i;
    if (entry[i] == '"') {
      const size_t close = entry.find('"', i + 1);
      if (close == absl::string_view::npos) return -1;
      i = close + 1;
      if (i < entry.size() && !IsBlank(entry[i])) return -1;
    } else {
      while (i < entry.size() && !IsBlank(entry[i])) {
        if (entry[i] == '"') return -1;
        ++i;
      }
    }
    tokens[count++] = entry.substr(start, i - start);
  }
  return count;
}

// Appends the wire form of `text` (relative names get `origin`).
bool AppendName(absl::string_view text, absl::string_view origin, bool lower, std::string& out) {
  if (text == "@") {
    out.append(origin.data(), origin.size());
    return true;
  }
  if (text.find('\\') != absl::string_view::npos) return false;
  const size_t start = out.size();
  if (text == ".") {
    out += '\0';
    return true;
  }
  const bool absolute = text.back() == '.';
  if (absolute) text.remove_suffix(1);
  size_t pos = 0;
  while (true) {
    size_t dot = text.find('.', pos);
    if (dot == absl::string_view::npos) dot = text.size();
    const size_t length = dot - pos;
    if (length == 0 || length > kMaxLabelLength) return false;
    out += static_cast<char>(length);
    for (size_t i = pos; i < dot; ++i) {
      const uint8_t c = static_cast<uint8_t>(text[i]);
      out += static_cast<char>(lower ? AsciiLower(c) : c);
    }
    if (dot == text.size()) break;
    pos = dot + 1;
  }
  if (absolute) {
    out += '\0';
  } else {
    out.append(origin.data(), origin.size());
  }
  return out.size() - start <= kMaxNameLength;
}

bool ParseNumber(absl::string_view token, uint64_t max, uint64_t& value) {
  if (token.empty() || token.size() > 10) return false;
  value = 0;
  for (char c : token) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value <= max;
}

bool ParseAddress(absl::string_view token, int family, std::string& out) {
  char text[64];
  if (token.size() >= sizeof(text)) return false;
  std::memcpy(text, token.data(), token.size());
  text[token.size()] = '\0';
  uint8_t bytes[16];
  if (inet_pton(family, text, bytes) != 1) return false;
  out.append(reinterpret_cast<const char*>(bytes), family == AF_INET ? 4 : 16);
  return true;
}

uint16_t CommonType(absl::string_view token) {
  static constexpr struct {
    const char* name;
    uint16_t type;
  } kTypes[] = {{"A", type::kA},         {"AAAA", type::kAaaa}, {"NS", type::kNs},
                {"CNAME", type::kCname}, {"PTR", type::kPtr},   {"MX", type::kMx},
                {"TXT", type::kTxt}};
  for (const auto& t : kTypes) {
    if (absl::EqualsIgnoreCase(token, t.name)) return t.type;
  }
  return 0;
}

bool IsClass(absl::string_view token) {
  for (const char* name : {"IN", "CH", "CS", "HS"}) {
    if (absl::EqualsIgnoreCase(token, name)) return true;
  }
  return token.size() > 5 && absl::StartsWithIgnoreCase(token, "CLASS");
}

}  // namespace

absl::StatusOr<uint32_t> ParseTtl(absl::string_view token) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat("bad TTL '", token, "'"));
  };
  if (token.empty() || token.size() > 32) return bad();
  uint64_t total = 0;
  uint64_t number = 0;
  bool digits = false;
  bool units = false;
  for (const char c : token) {
    if (c >= '0' && c <= '9') {
      number = number * 10 + static_cast<uint64_t>(c - '0');
      if (number > 0xffffffff) return bad();
      digits = true;
      continue;
    }
    uint64_t seconds = 0;
    switch (absl::ascii_tolower(static_cast<unsigned char>(c))) {
      case 's':
        seconds = 1;
        break;
      case 'm':
        seconds = 60;
        break;
      case 'h':
        seconds = 3600;
        break;
      case 'd':
        seconds = 86400;
        break;
      case 'w':
        seconds = 604800;
        break;
      default:
        return bad();
    }
    if (!digits) return bad();  // a unit needs a number before it
    total += number * seconds;
    if (total > 0xffffffff) return bad();
    number = 0;
    digits = false;
    units = true;
  }
  if (digits) {
    total += number;
  } else if (!units) {
    return bad();
  }
  if (total > 0x7fffffff) {
    return absl::InvalidArgumentError(
        absl::StrCat("TTL above 2147483647 (RFC 2181 section 8): '", token, "'"));
  }
  return static_cast<uint32_t>(total);
}

absl::StatusOr<TtlField> ExplicitTtl(absl::string_view entry) {
  size_t begins[3], ends[3];
  int count = 0;
  size_t i = 0;
  while (count < 3) {
    while (i < entry.size() && IsBlank(entry[i])) ++i;
    if (i == entry.size()) break;
    begins[count] = i;
    while (i < entry.size() && !IsBlank(entry[i])) ++i;
    ends[count++] = i;
  }
  TtlField field;
  int t = entry.empty() || IsBlank(entry[0]) ? 0 : 1;  // past the owner
  for (int fields = 0; fields < 2 && t < count; ++fields, ++t) {
    const absl::string_view token = entry.substr(begins[t], ends[t] - begins[t]);
    if (token[0] >= '0' && token[0] <= '9') {
      auto ttl = ParseTtl(token);
      if (!ttl.ok()) return ttl.status();
      field.ttl = *ttl;
      field.begin = begins[t];
      field.end = ends[t];
      return field;
    }
    if (!IsClass(token)) break;
  }
  return field;
}

bool ParseCommonRecord(absl::string_view entry, absl::string_view origin,
                       absl::string_view previous_owner, uint32_t default_ttl, ParsedRecord& out) {
  absl::string_view tokens[kMaxTokens];
  const int count = Tokenize(entry, tokens);
  if (count < 2) return false;
  int t = 0;
  out.owner.clear();
  if (IsBlank(entry[0])) {
    if (previous_owner.empty()) return false;
    out.owner.assign(previous_owner.data(), previous_owner.size());
  } else if (!AppendName(tokens[t++], origin, /*lower=*/true, out.owner)) {
    return false;
  }
  out.ttl = default_ttl;
  // [TTL] [IN] or [IN] [TTL], then the type.
  for (int fields = 0; fields < 2 && t < count; ++fields) {
    uint64_t ttl = 0;
    if (ParseNumber(tokens[t], 0x7fffffff, ttl)) {
      out.ttl = static_cast<uint32_t>(ttl);
      ++t;
    } else if (absl::EqualsIgnoreCase(tokens[t], "IN")) {
      ++t;
    }
  }
  if (t >= count) return false;
  out.type = CommonType(tokens[t++]);
  if (out.type == 0) return false;
  const int rdata_tokens = count - t;
  out.rdata.clear();
  switch (out.type) {
    case type::kA:
      return rdata_tokens == 1 && ParseAddress(tokens[t], AF_INET, out.rdata);
    case type::kAaaa:
      return rdata_tokens == 1 && ParseAddress(tokens[t], AF_INET6, out.rdata);
    case type::kNs:
    case type::kCname:
    case type::kPtr:
      return rdata_tokens == 1 && AppendName(tokens[t], origin, /*lower=*/false, out.rdata);
    case type::kMx: {
      uint64_t preference = 0;
      if (rdata_tokens != 2 || !ParseNumber(tokens[t], 0xffff, preference)) return false;
      out.rdata += static_cast<char>(preference >> 8);
      out.rdata += static_cast<char>(preference & 0xff);
      return AppendName(tokens[t + 1], origin, /*lower=*/false, out.rdata);
    }
    case type::kTxt:
      if (rdata_tokens < 1) return false;
      for (int i = t; i < count; ++i) {
        absl::string_view text = tokens[i];
        if (text.front() == '"') text = text.substr(1, text.size() - 2);
        if (text.size() > 255 || text.find('\\') != absl::string_view::npos) return false;
        out.rdata += static_cast<char>(text.size());
        out.rdata.append(text.data(), text.size());
      }
      return true;
    default:
      return false;
  }
}

namespace {

// Length of the uncompressed name at `pos`, 0 when malformed or cut short.
size_t NameLengthAt(absl::string_view data, size_t pos) {
  const size_t start = pos;
  while (pos < data.size()) {
    const uint8_t length = static_cast<uint8_t>(data[pos]);
    if (length > kMaxLabelLength) return 0;
    pos += 1 + length;
    if (pos - start > kMaxNameLength) return 0;
    if (length == 0) return pos - start;
  }
  return 0;
}

// `fixed` bytes, then `names` names, then `tail` bytes, exactly.
bool Layout(absl::string_view rdata, size_t fixed, int names, size_t tail) {
  size_t pos = fixed;
  if (pos > rdata.size()) return false;
  for (int i = 0; i < names; ++i) {
    const size_t length = NameLengthAt(rdata, pos);
    if (length == 0) return false;
    pos += length;
  }
  return pos + tail == rdata.size();
}

}  // namespace

bool IsWellFormedRdata(uint16_t rr_type, absl::string_view rdata) {
  switch (rr_type) {
    case type::kA:
      return rdata.size() == 4;
    case type::kAaaa:
      return rdata.size() == 16;
    case type::kNs:
    case type::kCname:
    case type::kPtr:
    case type::kDname:
      return Layout(rdata, 0, 1, 0);
    case type::kMx:
      return Layout(rdata, 2, 1, 0);
    case type::kSrv:
      return Layout(rdata, 6, 1, 0);
    case type::kSoa:
      return Layout(rdata, 0, 2, 20);
    case type::kTxt: {
      if (rdata.empty()) return false;
      size_t pos = 0;
      while (pos < rdata.size()) pos += 1 + static_cast<uint8_t>(rdata[pos]);
      return pos == rdata.size();
    }
    default:
      return true;
  }
}

}  // namespace agility::dns
