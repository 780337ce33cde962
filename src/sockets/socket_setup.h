// Opens the listening sockets: SO_REUSEPORT so that each worker has its own,
// and packet info on UDP so replies leave from the address that was queried.
#pragma once

#include "absl/status/statusor.h"
#include "sockets/endpoint.h"

namespace agility::sockets {

absl::StatusOr<int> OpenUdpSocket(const Endpoint& endpoint);
absl::StatusOr<int> OpenTcpListener(const Endpoint& endpoint, int backlog);

}  // namespace agility::sockets
