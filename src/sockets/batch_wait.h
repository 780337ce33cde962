// The UDP batching setting, apart from the listener so that the config module
// can hold it without the event loop's headers.
#pragma once

#include <cstdint>

namespace agility::sockets {

// What a worker does after a batch smaller than a full one: wait for more
// queries to gather, or go back to sleep until the next one.
struct BatchWait {
  // Waits only while queries arrive faster than the worker wakes; at lower
  // rates a wait would add latency and save no CPU worth having.
  bool adaptive = true;
  uint32_t fixed_us = 0;  // when not adaptive: always wait this long (0: never)

  bool operator==(const BatchWait&) const = default;
};

// How a worker's UDP sockets reach the kernel (server.udp_io).
enum class UdpIo {
  kAuto,      // io_uring where the kernel has what it needs, else recvmmsg
  kIoUring,   // io_uring, or the server does not start
  kRecvmmsg,  // recvmmsg/sendmmsg behind the event loop's epoll
};

// The adaptive rule's numbers: a quarter of a full batch of 64 already
// queued when the worker looked, and how long it then waits.
inline constexpr int kBacklogBatch = 16;
inline constexpr uint32_t kAdaptiveWaitUs = 50;

// How long to let queries gather after a batch of `received` queries, fewer
// than a full one. Sixteen already queued mean queries arrive faster than
// the worker wakes for them: a short wait then fills the next batch while
// adding little to what they already wait in the queue. Below that, a wakeup
// per few queries costs less than the latency a wait adds.
inline uint32_t WaitAfter(const BatchWait& wait, int received) {
  if (!wait.adaptive) return wait.fixed_us;
  return received >= kBacklogBatch ? kAdaptiveWaitUs : 0;
}

}  // namespace agility::sockets
