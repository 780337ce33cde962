#include "dns/name.h"

#include <ldns/ldns.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "dns/wire.h"

namespace agility::dns {

void ComputeLabelOffsets(absl::string_view name, LabelOffsets& labels) {
  labels.count = 0;
  size_t pos = 0;
  while (pos < name.size() && name[pos] != 0) {
    labels.offset[labels.count++] = static_cast<uint8_t>(pos);
    pos += 1 + static_cast<uint8_t>(name[pos]);
  }
}

bool IsAtOrBelow(absl::string_view name, absl::string_view ancestor) {
  if (ancestor.size() > name.size() || !absl::EndsWith(name, ancestor)) return false;
  const size_t start = name.size() - ancestor.size();
  size_t pos = 0;
  while (pos < start) pos += 1 + static_cast<uint8_t>(name[pos]);
  return pos == start;
}

int CanonicalCompare(absl::string_view a, absl::string_view b) {
  LabelOffsets la, lb;
  ComputeLabelOffsets(a, la);
  ComputeLabelOffsets(b, lb);
  for (int i = 1; i <= la.count && i <= lb.count; ++i) {
    const size_t at = la.offset[la.count - i];
    const size_t bt = lb.offset[lb.count - i];
    const size_t alen = static_cast<uint8_t>(a[at]);
    const size_t blen = static_cast<uint8_t>(b[bt]);
    const int c = std::memcmp(a.data() + at + 1, b.data() + bt + 1, std::min(alen, blen));
    if (c != 0) return c;
    if (alen != blen) return alen < blen ? -1 : 1;
  }
  return la.count - lb.count;
}

absl::string_view WildcardOf(absl::string_view name, uint8_t* buffer) {
  if (name.size() + 2 > kMaxNameLength) return {};
  buffer[0] = 1;
  buffer[1] = '*';
  std::memcpy(buffer + 2, name.data(), name.size());
  return AsChars(buffer, name.size() + 2);
}

size_t WireNameLength(const uint8_t* p) {
  size_t pos = 0;
  while (p[pos] != 0) pos += 1 + p[pos];
  return pos + 1;
}

size_t ReadQuestionName(const uint8_t* packet, size_t size, size_t pos, uint8_t* lower,
                        size_t* lower_size) {
  size_t out = 0;
  while (true) {
    if (pos >= size) return 0;
    const uint8_t len = packet[pos];
    // Compression pointers (0xC0) and the reserved label types (0x40, 0x80)
    // have no place in a question: nothing precedes it to point at.
    if (len > kMaxLabelLength) return 0;
    if (out + 1 + len > kMaxNameLength || pos + 1 + len > size) return 0;
    lower[out++] = len;
    ++pos;
    if (len == 0) break;
    for (size_t i = 0; i < len; ++i) lower[out++] = AsciiLower(packet[pos + i]);
    pos += len;
  }
  *lower_size = out;
  return pos;
}

size_t SkipPacketName(const uint8_t* packet, size_t size, size_t pos) {
  while (true) {
    if (pos >= size) return 0;
    const uint8_t len = packet[pos];
    if ((len & 0xc0) == 0xc0) return pos + 2 <= size ? pos + 2 : 0;
    if (len > kMaxLabelLength) return 0;
    pos += 1 + len;
    if (len == 0) return pos <= size ? pos : 0;
  }
}

size_t ReadPacketName(const uint8_t* packet, size_t size, size_t pos, uint8_t* wire,
                      size_t* wire_size) {
  size_t out = 0;
  size_t end = 0;  // past the first pointer, where the caller goes on
  size_t segment_start = pos;
  while (true) {
    if (pos >= size) return 0;
    const uint8_t len = packet[pos];
    if ((len & 0xc0) == 0xc0) {
      if (pos + 2 > size) return 0;
      const size_t target = static_cast<size_t>(len & 0x3f) << 8 | packet[pos + 1];
      // Before the labels read since the last jump: no pointer serves twice.
      if (target >= segment_start) return 0;
      if (end == 0) end = pos + 2;
      pos = segment_start = target;
      continue;
    }
    if (len > kMaxLabelLength) return 0;
    if (out + 1 + len > kMaxNameLength || pos + 1 + len > size) return 0;
    std::memcpy(wire + out, packet + pos, 1 + len);
    out += 1 + len;
    pos += 1 + len;
    if (len == 0) break;
  }
  *wire_size = out;
  return end != 0 ? end : pos;
}

absl::StatusOr<std::string> NameFromText(absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty domain name");
  const std::string text_copy(text);
  std::unique_ptr<ldns_rdf, decltype(&ldns_rdf_deep_free)> dname(
      ldns_dname_new_frm_str(text_copy.c_str()), &ldns_rdf_deep_free);
  if (!dname) return absl::InvalidArgumentError(absl::StrCat("invalid domain name '", text, "'"));
  std::string wire(reinterpret_cast<const char*>(ldns_rdf_data(dname.get())),
                   ldns_rdf_size(dname.get()));
  if (wire.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(absl::StrCat("domain name too long '", text, "'"));
  }
  for (char& c : wire) c = static_cast<char>(AsciiLower(static_cast<uint8_t>(c)));
  return wire;
}

std::string NameToText(absl::string_view name) {
  if (name.size() <= 1) return ".";
  std::string text;
  size_t pos = 0;
  while (pos < name.size() && name[pos] != 0) {
    const size_t len = static_cast<uint8_t>(name[pos]);
    for (size_t i = 1; i <= len && pos + i < name.size(); ++i) {
      const unsigned char c = static_cast<unsigned char>(name[pos + i]);
      if (c == '.' || c == '\\') {
        text += '\\';
        text += static_cast<char>(c);
      } else if (c < 0x21 || c > 0x7e) {
        absl::StrAppend(&text, "\\", c / 100, (c / 10) % 10, c % 10);
      } else {
        text += static_cast<char>(c);
      }
    }
    text += '.';
    pos += 1 + len;
  }
  return text;
}

}  // namespace agility::dns
