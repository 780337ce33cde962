// An open-addressing hash set of names kept elsewhere. Each entry is a 32-bit
// reference (an owner id while a zone is built, an arena offset once it is
// compiled) and callers say how to read the name behind a reference.
//
// Beside every reference is a one-byte tag holding 7 bits of the name's hash;
// probes scan 16 tags at a time, so a lookup rarely reads a name that does
// not match. The compiled zone keeps the very table that interned its owners,
// with the references rewritten in place: a name is hashed once per load.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "util/release_pages.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace agility::dns {

class NameTable {
 public:
  static uint64_t Hash(absl::string_view name) { return absl::Hash<absl::string_view>{}(name); }

  size_t size() const { return size_; }
  size_t capacity() const { return refs_.size(); }
  size_t memory_bytes() const { return tags_.capacity() + refs_.capacity() * sizeof(uint32_t); }

  // Room for `count` names without growing; `name_of` reads the names
  // already in the table, which move to their new slots.
  template <typename NameOf>
  void Reserve(size_t count, const NameOf& name_of) {
    size_t capacity = kGroup;
    while (capacity - capacity / 8 < count) capacity *= 2;
    if (capacity > refs_.size()) Rehash(capacity, name_of);
  }

  // Makes the home slot of `hash` likely to be in cache by the time it is
  // probed: inserting a batch of names prefetches a few names ahead.
  void Prefetch(uint64_t hash) const {
    if (refs_.empty()) return;
    const size_t home = hash & (refs_.size() - 1);
    __builtin_prefetch(tags_.data() + home);
    __builtin_prefetch(refs_.data() + home);
  }

  // The reference stored for `name` (whose hash is `hash`), or nullptr.
  template <typename NameOf>
  const uint32_t* Find(absl::string_view name, uint64_t hash, const NameOf& name_of) const {
    if (refs_.empty()) return nullptr;
    const size_t slot = Probe(name, hash, name_of);
    return tags_[slot] == kEmpty ? nullptr : &refs_[slot];
  }

  // The reference stored for `name`; when there is none, `ref` is stored and
  // returned, and `inserted` is set.
  template <typename NameOf>
  uint32_t Insert(absl::string_view name, uint64_t hash, uint32_t ref, const NameOf& name_of,
                  bool& inserted) {
    if (size_ + 1 > refs_.size() - refs_.size() / 8) Reserve(size_ + 1, name_of);
    const size_t slot = Probe(name, hash, name_of);
    inserted = tags_[slot] == kEmpty;
    if (!inserted) return refs_[slot];
    SetTag(slot, Tag(hash));
    refs_[slot] = ref;
    ++size_;
    return ref;
  }

  // Stores `ref` for `name`, in place of the reference it had, if any.
  template <typename NameOf>
  void Assign(absl::string_view name, uint64_t hash, uint32_t ref, const NameOf& name_of) {
    if (size_ + 1 > refs_.size() - refs_.size() / 8) Reserve(size_ + 1, name_of);
    const size_t slot = Probe(name, hash, name_of);
    if (tags_[slot] == kEmpty) {
      SetTag(slot, Tag(hash));
      ++size_;
    }
    refs_[slot] = ref;
  }

  // Replaces every reference r by rewrite(r). The name behind rewrite(r)
  // must be the name behind r: entries keep their slots.
  template <typename Rewrite>
  void RewriteRefs(const Rewrite& rewrite) {
    for (size_t slot = 0; slot < refs_.size(); ++slot) {
      if (tags_[slot] != kEmpty) refs_[slot] = rewrite(refs_[slot]);
    }
  }

 private:
  static constexpr size_t kGroup = 16;
  static constexpr uint8_t kEmpty = 0;
  // The top 7 bits (the slot comes from the low bits), never kEmpty.
  static uint8_t Tag(uint64_t hash) { return static_cast<uint8_t>(hash >> 57) | 0x80; }

  // Bit i set when tag i of the 16 at `tags` equals `tag`.
  static uint32_t MatchGroup(const uint8_t* tags, uint8_t tag) {
#if defined(__SSE2__)
    const __m128i group = _mm_loadu_si128(reinterpret_cast<const __m128i*>(tags));
    return static_cast<uint32_t>(
        _mm_movemask_epi8(_mm_cmpeq_epi8(group, _mm_set1_epi8(static_cast<char>(tag)))));
#else
    uint32_t mask = 0;
    for (size_t i = 0; i < kGroup; ++i) mask |= uint32_t{tags[i] == tag} << i;
    return mask;
#endif
  }

  // The slot holding `name`, or else the empty slot where it belongs.
  // Linear probing, 16 slots per step: without deletions, the first empty
  // slot after the home slot ends every search.
  template <typename NameOf>
  size_t Probe(absl::string_view name, uint64_t hash, const NameOf& name_of) const {
    const size_t mask = refs_.size() - 1;
    const uint8_t tag = Tag(hash);
    size_t start = hash & mask;
    while (true) {
      const uint8_t* group = tags_.data() + start;
      for (uint32_t match = MatchGroup(group, tag); match != 0; match &= match - 1) {
        const size_t slot = (start + static_cast<size_t>(__builtin_ctz(match))) & mask;
        if (name_of(refs_[slot]) == name) return slot;
      }
      if (const uint32_t empty = MatchGroup(group, kEmpty); empty != 0) {
        return (start + static_cast<size_t>(__builtin_ctz(empty))) & mask;
      }
      start = (start + kGroup) & mask;
    }
  }

  // The first kGroup - 1 tags are mirrored after the last, so that a group
  // read near the end sees the slots it wraps around to.
  void SetTag(size_t slot, uint8_t tag) {
    tags_[slot] = tag;
    if (slot < kGroup - 1) tags_[refs_.size() + slot] = tag;
  }

  template <typename NameOf>
  void Rehash(size_t capacity, const NameOf& name_of) {
    std::vector<uint8_t> old_tags;
    std::vector<uint32_t> old_refs;
    // Probed at random: huge pages spare a TLB miss on most probes.
    old_tags.reserve(capacity + kGroup - 1);
    old_refs.reserve(capacity);
    AdviseHugePages(old_tags.data(), old_tags.data() + old_tags.capacity());
    AdviseHugePages(old_refs.data(), old_refs.data() + old_refs.capacity());
    old_tags.assign(capacity + kGroup - 1, kEmpty);
    old_refs.assign(capacity, 0);
    old_tags.swap(tags_);
    old_refs.swap(refs_);
    for (size_t slot = 0; slot < old_refs.size(); ++slot) {
      if (old_tags[slot] == kEmpty) continue;
      const absl::string_view name = name_of(old_refs[slot]);
      const uint64_t hash = Hash(name);
      const size_t free_slot = Probe(name, hash, name_of);
      SetTag(free_slot, Tag(hash));
      refs_[free_slot] = old_refs[slot];
    }
  }

  std::vector<uint8_t> tags_;   // capacity + kGroup - 1 (mirrored head)
  std::vector<uint32_t> refs_;  // capacity, a power of two
  size_t size_ = 0;
};

}  // namespace agility::dns
