#include "sockets/reply_source.h"

#include <cstring>

namespace agility::sockets {

size_t ReplySource(const msghdr& received, const sockaddr_storage& bound, uint8_t* control) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&received); c != nullptr;
       c = CMSG_NXTHDR(const_cast<msghdr*>(&received), c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof(info));
      if (bound.ss_family == AF_INET &&
          reinterpret_cast<const sockaddr_in&>(bound).sin_addr.s_addr == info.ipi_addr.s_addr) {
        return 0;
      }
      in_pktinfo reply = {};
      reply.ipi_spec_dst = info.ipi_addr;
      auto* out = reinterpret_cast<cmsghdr*>(control);
      out->cmsg_level = IPPROTO_IP;
      out->cmsg_type = IP_PKTINFO;
      out->cmsg_len = CMSG_LEN(sizeof(reply));
      std::memcpy(CMSG_DATA(out), &reply, sizeof(reply));
      return CMSG_SPACE(sizeof(reply));
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof(info));
      if (bound.ss_family == AF_INET6 &&
          std::memcmp(&reinterpret_cast<const sockaddr_in6&>(bound).sin6_addr, &info.ipi6_addr,
                      sizeof(info.ipi6_addr)) == 0) {
        return 0;
      }
      auto* out = reinterpret_cast<cmsghdr*>(control);
      out->cmsg_level = IPPROTO_IPV6;
      out->cmsg_type = IPV6_PKTINFO;
      out->cmsg_len = CMSG_LEN(sizeof(info));
      std::memcpy(CMSG_DATA(out), &info, sizeof(info));
      return CMSG_SPACE(sizeof(info));
    }
  }
  return 0;
}

}  // namespace agility::sockets
