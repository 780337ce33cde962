// What the listeners call for every query they read; implemented by the
// daemon's workers. Listeners own sockets and buffers, never DNS logic.
#pragma once

#include <sys/socket.h>
#include <cstddef>

#include <cstdint>
#include <memory>

#include "dns/responder.h"

namespace agility::sockets {

// The rest of a response that spans many TCP messages (a zone transfer),
// pulled a message at a time as the client takes them.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Writes the next message into `out` (dns::kMaxMessageSize octets) and
  // returns its size; 0 when the stream is over.
  virtual size_t Next(uint8_t* out) = 0;
};

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
  // After Handle over TCP: the rest of that response, when it has more
  // messages than the one Handle wrote (null: none). Further queries on the
  // connection wait until the stream is over.
  virtual std::unique_ptr<ResponseStream> TakeStream() { return nullptr; }
  // A UDP response the kernel did not take (send buffer full).
  virtual void CountSendDrop(size_t count) = 0;
};

}  // namespace agility::sockets
