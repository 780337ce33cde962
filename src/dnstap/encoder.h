// The dnstap Protocol Buffers message of one DNS message, written by hand:
// it is made for every logged query and response, and a generic encoder
// (protobuf-c walks descriptors, twice) cost as much as the rest of the
// logging together. tests/unit/dnstap_test.cc decodes what this writes
// with protobuf-c code generated from dnstap.proto.
#pragma once

#include <sys/socket.h>
#include <time.h>

#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace agility::dnstap {

// Message.type values of dnstap.proto.
enum class MessageType : uint8_t { kAuthQuery = 1, kAuthResponse = 2 };

struct Exchange {
  MessageType type;
  const sockaddr* client;  // AF_INET or AF_INET6; anything else: no address
  bool tcp;
  struct timespec time;            // the query's; the response's as well on a response
  absl::Span<const uint8_t> wire;  // the DNS message itself
};

// At least the size Encode writes for `exchange` with these strings.
size_t EncodedSizeBound(absl::string_view identity, absl::string_view version,
                        const Exchange& exchange);

// Writes the Dnstap message (type MESSAGE) into `out`; returns its size.
size_t Encode(absl::string_view identity, absl::string_view version, const Exchange& exchange,
              uint8_t* out);

}  // namespace agility::dnstap
