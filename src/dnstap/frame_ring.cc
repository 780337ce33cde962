#include "dnstap/frame_ring.h"

#include <new>

namespace agility::dnstap {
namespace {

constexpr size_t RoundUp8(size_t n) { return (n + 7) & ~size_t{7}; }

}  // namespace

FrameRing::FrameRing(size_t capacity)
    : capacity_(RoundUp8(capacity)), storage_(new uint64_t[capacity_ / 8]) {}

void FrameRing::Reclaim() {
  while (used_ > 0) {
    if (tail_ == capacity_) tail_ = 0;
    Header* header = At(tail_);
    const uint32_t state = header->state.load(std::memory_order_acquire);
    if (state == kHeld) return;
    const size_t extent = state == kWrap ? capacity_ - tail_ : header->total;
    used_ -= extent;
    tail_ += extent;
  }
  head_ = tail_ = 0;  // empty: start again at the front, where there is most room
}

uint8_t* FrameRing::Reserve(size_t size) {
  const size_t total = RoundUp8(sizeof(Header) + size);
  Reclaim();
  if (total > capacity_ - used_) return nullptr;
  if (head_ >= tail_ && used_ < capacity_) {
    // Free: [head_, capacity_) and [0, tail_).
    if (capacity_ - head_ < total) {
      if (tail_ < total) return nullptr;
      // The end is too short: marked as a gap, and the frame goes first.
      if (head_ < capacity_) new (At(head_)) Header{{kWrap}, 0};
      used_ += capacity_ - head_;
      head_ = 0;
    }
  } else if (tail_ - head_ < total) {
    return nullptr;  // free: [head_, tail_) only
  }
  Header* header = new (At(head_)) Header{{kHeld}, static_cast<uint32_t>(total)};
  head_ += total;
  used_ += total;
  return reinterpret_cast<uint8_t*>(header + 1);
}

void FrameRing::Shrink(uint8_t* frame, size_t size) {
  Header* header = reinterpret_cast<Header*>(frame) - 1;
  const size_t total = RoundUp8(sizeof(Header) + size);
  if (total >= header->total) return;
  const size_t freed = header->total - total;
  header->total = static_cast<uint32_t>(total);
  head_ -= freed;
  used_ -= freed;
}

void FrameRing::Release(uint8_t* frame) {
  reinterpret_cast<Header*>(frame)[-1].state.store(kReleased, std::memory_order_release);
}

}  // namespace agility::dnstap
