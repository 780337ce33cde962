// Replies leave from the address their query was sent to: one socket bound
// to a wildcard or steered to by sk_lookup answers for a whole prefix.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

namespace agility::sockets {

// Room for the one control message of a query or a reply: IP_PKTINFO or
// IPV6_PKTINFO.
inline constexpr size_t kPktinfoSpace = CMSG_SPACE(sizeof(in6_pktinfo)) >
                                                CMSG_SPACE(sizeof(in_pktinfo))
                                            ? CMSG_SPACE(sizeof(in6_pktinfo))
                                            : CMSG_SPACE(sizeof(in_pktinfo));

// Writes into `control` (kPktinfoSpace octets, aligned for cmsghdr) the
// control message that makes the reply to `received` leave from the address
// it was sent to, and returns its length; 0 when the query carried no
// PKTINFO or was sent to `bound`, the socket's own address, which the kernel
// uses anyway.
size_t ReplySource(const msghdr& received, const sockaddr_storage& bound, uint8_t* control);

}  // namespace agility::sockets
