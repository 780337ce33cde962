#include "dns/denial.h"

#include <algorithm>
#include <cstring>

namespace agility::dns {

size_t NextName(absl::string_view name, absl::string_view apex, bool at_cut, uint8_t* out) {
  const uint8_t* p = reinterpret_cast<const uint8_t*>(name.data());
  if (!at_cut && name.size() + 2 <= kMaxNameLength) {
    out[0] = 1;
    out[1] = 0;
    std::memcpy(out + 2, p, name.size());
    return name.size() + 2;
  }
  const size_t label = p[0];
  if (label > 0 && label < 63 && name.size() + 1 <= kMaxNameLength) {
    out[0] = static_cast<uint8_t>(label + 1);
    std::memcpy(out + 1, p + 1, label);
    out[1 + label] = 0;
    std::memcpy(out + 2 + label, p + 1 + label, name.size() - 1 - label);
    return name.size() + 1;
  }
  // RFC 4471 §3.1.2: the first label's last octet below 0xff goes up by one
  // (uppercase letters are skipped: they sort as lowercase), trailing 0xff
  // octets dropped; a label of nothing but 0xff gives way to its parent.
  size_t at = 0;
  while (at + apex.size() < name.size()) {
    size_t length = p[at];
    while (length > 0 && p[at + length] == 0xff) --length;
    if (length > 0) {
      uint8_t last = static_cast<uint8_t>(p[at + length] + 1);
      if (last == 'A') last = '[';
      out[0] = static_cast<uint8_t>(length);
      std::memcpy(out + 1, p + at + 1, length - 1);
      out[length] = last;
      const size_t rest = name.size() - at - 1 - p[at];
      std::memcpy(out + 1 + length, p + at + 1 + p[at], rest);
      return 1 + length + rest;
    }
    at += 1 + p[at];
  }
  std::memcpy(out, apex.data(), apex.size());
  return apex.size();
}

size_t WriteTypeBitmap(const uint16_t* types, int count, uint8_t* out) {
  uint16_t sorted[256];
  count = std::min(count, 256);
  std::copy(types, types + count, sorted);
  std::sort(sorted, sorted + count);
  size_t size = 0;
  for (int i = 0; i < count;) {
    const uint8_t window = static_cast<uint8_t>(sorted[i] >> 8);
    uint8_t bits[32] = {};
    int length = 0;
    for (; i < count && (sorted[i] >> 8) == window; ++i) {
      const uint8_t low = static_cast<uint8_t>(sorted[i]);
      bits[low / 8] |= static_cast<uint8_t>(0x80 >> (low % 8));
      length = std::max(length, low / 8 + 1);
    }
    if (size + 2 + static_cast<size_t>(length) > kMaxBitmapSize) break;
    out[size] = window;
    out[size + 1] = static_cast<uint8_t>(length);
    std::memcpy(out + size + 2, bits, static_cast<size_t>(length));
    size += 2 + static_cast<size_t>(length);
  }
  return size;
}

}  // namespace agility::dns
