#include "dns/message_writer.h"

#include <cstring>

#include "dns/name.h"
#include "dns/wire.h"

namespace agility::dns {
namespace {
constexpr size_t kMaxPointerTarget = 0x3fff;
}

bool MessageWriter::Append(const uint8_t* bytes, size_t n) {
  if (size_ + n > limit_) return false;
  std::memcpy(buffer_ + size_, bytes, n);
  size_ += n;
  return true;
}

bool MessageWriter::AppendU16(uint16_t v) {
  if (size_ + 2 > limit_) return false;
  WriteU16(buffer_ + size_, v);
  size_ += 2;
  return true;
}

bool MessageWriter::AppendU32(uint32_t v) {
  if (size_ + 4 > limit_) return false;
  WriteU32(buffer_ + size_, v);
  size_ += 4;
  return true;
}

void MessageWriter::RememberName(size_t pos) {
  while (pos <= kMaxPointerTarget && pos < size_ && target_count_ < kMaxTargets) {
    const uint8_t len = buffer_[pos];
    if (len == 0 || (len & 0xc0) != 0) return;
    targets_[target_count_++] = static_cast<uint16_t>(pos);
    pos += 1 + len;
  }
}

void MessageWriter::Truncate(size_t size) {
  size_ = size;
  while (target_count_ > 0 && targets_[target_count_ - 1] >= size) --target_count_;
}

bool MessageWriter::NameAtEquals(size_t pos, absl::string_view name) const {
  size_t i = 0;
  // Every hop of a pointer we wrote goes backwards, so this terminates; the
  // hop bound guards against anything else.
  for (int hops = 0; hops < 128; ++hops) {
    uint8_t len = buffer_[pos];
    if ((len & 0xc0) == 0xc0) {
      pos = ReadU16(buffer_ + pos) & 0x3fff;
      continue;
    }
    if (i >= name.size() || static_cast<uint8_t>(name[i]) != len) return false;
    if (len == 0) return true;
    for (size_t k = 1; k <= len; ++k) {
      if (AsciiLower(buffer_[pos + k]) != AsciiLower(static_cast<uint8_t>(name[i + k]))) {
        return false;
      }
    }
    pos += 1 + len;
    i += 1 + len;
  }
  return false;
}

size_t MessageWriter::FindName(absl::string_view name) const {
  for (int t = 0; t < target_count_; ++t) {
    if (NameAtEquals(targets_[t], name)) return targets_[t];
  }
  return 0;
}

bool MessageWriter::AppendName(absl::string_view name) {
  const size_t start = size_;
  size_t pos = 0;
  while (pos < name.size() && name[pos] != 0) {
    const absl::string_view rest = name.substr(pos);
    if (const size_t target = FindName(rest); target != 0) {
      if (!AppendU16(static_cast<uint16_t>(0xc000 | target))) break;
      RememberName(start);
      return true;
    }
    const size_t label = 1 + static_cast<uint8_t>(name[pos]);
    if (!Append(AsBytes(name) + pos, label)) break;
    pos += label;
  }
  if (pos < name.size() && name[pos] == 0 && Append(AsBytes(name) + pos, 1)) {
    RememberName(start);
    return true;
  }
  Truncate(start);
  return false;
}

size_t MessageWriter::AppendRecord(size_t owner_pos, absl::string_view owner, uint16_t type,
                                   uint32_t ttl, const uint8_t* rdata, size_t rdata_size) {
  const size_t start = size_;
  const bool owner_ok = owner_pos != kNoOwner ? AppendU16(static_cast<uint16_t>(0xc000 | owner_pos))
                                              : AppendName(owner);
  if (!owner_ok || !AppendU16(type) || !AppendU16(rr_class::kIn) || !AppendU32(ttl) ||
      !AppendU16(0)) {
    Truncate(start);
    return 0;
  }
  const size_t rdata_start = size_;
  bool ok = true;
  // Which leading fixed bytes precede a compressible name, and how many names.
  size_t fixed = 0;
  int names = 0;
  switch (type) {
    case type::kNs:
    case type::kCname:
    case type::kPtr:
      names = 1;
      break;
    case type::kMx:
      fixed = 2;
      names = 1;
      break;
    case type::kSoa:
      names = 2;
      break;
    default:
      break;
  }
  if (names == 0) {
    ok = Append(rdata, rdata_size);
  } else {
    size_t pos = 0;
    ok = Append(rdata, fixed);
    pos = fixed;
    for (int n = 0; ok && n < names; ++n) {
      const size_t len = WireNameLength(rdata + pos);
      ok = AppendName(AsChars(rdata + pos, len));
      pos += len;
    }
    ok = ok && Append(rdata + pos, rdata_size - pos);
  }
  if (!ok) {
    Truncate(start);
    return 0;
  }
  WriteU16(buffer_ + rdata_start - 2, static_cast<uint16_t>(size_ - rdata_start));
  return rdata_start;
}

}  // namespace agility::dns
