// Handing memory that will not be read again back to the kernel while the
// buffer holding it lives on: a zone load's scratch (the file's text, the
// records) shrinks as it is consumed instead of staying whole until freed.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

namespace agility {

// The whole pages inside [begin, end) become zero-filled on their next touch
// (MADV_DONTNEED), which the caller promises never comes.
inline void ReleasePages(const void* begin, const void* end) {
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t from = (reinterpret_cast<uintptr_t>(begin) + page - 1) & ~(page - 1);
  const uintptr_t to = reinterpret_cast<uintptr_t>(end) & ~(page - 1);
  if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
}

// Asks for transparent huge pages under [begin, end) (where the system leaves
// them to madvise): big tables probed at random then miss the TLB far less,
// and filling big buffers takes one page fault per 2 MiB instead of per 4 KiB.
inline void AdviseHugePages(const void* begin, const void* end) {
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t from = (reinterpret_cast<uintptr_t>(begin) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t to = reinterpret_cast<uintptr_t>(end) & ~(kHuge - 1);
  if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_HUGEPAGE);
}

}  // namespace agility
