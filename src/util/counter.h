// A statistics counter with one writing thread and any number of readers.
// The writer's increment is a relaxed load and store (no lock prefix, no
// contention); readers see a value that is at most a few increments old.
#pragma once

#include <atomic>
#include <cstdint>

namespace agility {

class Counter {
 public:
  void Add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t Get() const { return value_.load(std::memory_order_relaxed); }
  // Only once the writer is done with it (a counter slot being reused).
  void Reset() { value_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

}  // namespace agility
