// What the listeners call for every query they read; implemented by the
// daemon's workers. Listeners own sockets and buffers, never DNS logic.
#pragma once

#include <sys/socket.h>
#include <cstddef>

#include <cstdint>

#include "dns/responder.h"

namespace agility::sockets {

class PacketHandler {
 public:
  virtual ~PacketHandler() = default;
  // Called before each batch of queries: the point where a worker may move to
  // a newer snapshot.
  virtual void BeginBatch() = 0;
  // Writes the response to `query` into `out` and returns its size; 0 means
  // no response (drop). `out` holds dns::kMaxMessageSize bytes for TCP and
  // the configured maximum UDP size for UDP.
  // `client` is the peer: who sent the query.
  virtual size_t Handle(const uint8_t* query, size_t size, dns::Transport transport,
                        const sockaddr* client, uint8_t* out) = 0;
  // A UDP response the kernel did not take (send buffer full).
  virtual void CountSendDrop(size_t count) = 0;
};

}  // namespace agility::sockets
