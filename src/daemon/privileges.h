// Dropping root after setup: agilityd binds its sockets, attaches BPF and
// opens its control socket as root, then continues as `server.user`, keeping
// only CAP_BPF and CAP_NET_ADMIN, which later steering updates need.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace agility::daemon {

// Switches every thread of the process to `user` (and its primary group, no
// supplementary groups), keeping CAP_BPF and CAP_NET_ADMIN. `owned` files
// (the control socket) are handed to the user first.
absl::Status DropPrivileges(const std::string& user, const std::vector<std::string>& owned);

}  // namespace agility::daemon
