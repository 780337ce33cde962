// Room for dnstap frames between a worker and fstrm's I/O thread, without
// an allocation per frame: a byte ring the worker alone reserves from, whose
// frames the I/O thread gives back (Release) once written or discarded. The
// worker reclaims given-back frames in ring order; one the I/O thread still
// holds keeps those after it, which is the backpressure: when the ring is
// full the frame is not made, and the caller counts a drop.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace agility::dnstap {

class FrameRing {
 public:
  explicit FrameRing(size_t capacity);  // rounded up to 8 octets

  // Room for a frame of `size` octets, or null when the ring is full. The
  // frame is the caller's until it passes it to Release (from any thread).
  uint8_t* Reserve(size_t size);

  // Trims the frame Reserve gave last, still unreleased, to `size` octets
  // (at most what was reserved), so that a frame can be reserved at a bound
  // and made in one pass.
  void Shrink(uint8_t* frame, size_t size);

  // Gives a frame back; safe from any thread. `frame` is what Reserve gave.
  static void Release(uint8_t* frame);

  size_t capacity() const { return capacity_; }
  size_t used() const { return used_; }  // for tests

 private:
  // Before each frame: whether it is still held, and its extent.
  struct alignas(8) Header {
    std::atomic<uint32_t> state;
    uint32_t total;  // header and frame, rounded up to 8
  };
  enum State : uint32_t { kHeld = 1, kReleased = 2, kWrap = 3 };

  void Reclaim();
  Header* At(size_t offset) {
    return reinterpret_cast<Header*>(reinterpret_cast<uint8_t*>(storage_.get()) + offset);
  }

  size_t capacity_;
  std::unique_ptr<uint64_t[]> storage_;  // 8-aligned
  size_t head_ = 0;                      // where the next frame goes
  size_t tail_ = 0;                      // the oldest frame not reclaimed
  size_t used_ = 0;                      // octets between tail_ and head_, wrap gaps included
};

}  // namespace agility::dnstap
