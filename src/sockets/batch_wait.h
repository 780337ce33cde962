// The UDP batching setting, apart from the listener so that the config module
// can hold it without the event loop's headers.
#pragma once

#include <cstdint>

namespace agility::sockets {

// What a worker does after a batch smaller than kBatch: wait for more
// queries to gather, or return to the event loop (and sleep in epoll).
struct BatchWait {
  // Waits only while queries arrive faster than the worker wakes (see
  // UdpListener::Drain); at lower rates a wait would add latency and save no
  // CPU worth having.
  bool adaptive = true;
  uint32_t fixed_us = 0;  // when not adaptive: always wait this long (0: never)

  bool operator==(const BatchWait&) const = default;
};

}  // namespace agility::sockets
