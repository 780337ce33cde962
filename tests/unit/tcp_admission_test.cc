#include <arpa/inet.h>
#include <gtest/gtest.h>

#include "sockets/tcp_listener.h"

namespace agility::sockets {
namespace {

TcpAdmission::Client ClientOf(const char* text) {
  sockaddr_storage peer = {};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&peer);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&peer);
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
  } else {
    EXPECT_EQ(inet_pton(AF_INET6, text, &v6->sin6_addr), 1) << text;
    v6->sin6_family = AF_INET6;
  }
  return TcpAdmission::ClientOf(peer);
}

TEST(TcpAdmissionTest, AnIpv6ClientIsItsSlash64) {
  EXPECT_EQ(ClientOf("2001:db8:1:2::1"), ClientOf("2001:db8:1:2:ffff:ffff:ffff:ffff"));
  EXPECT_NE(ClientOf("2001:db8:1:2::1"), ClientOf("2001:db8:1:3::1"));
}

TEST(TcpAdmissionTest, Ipv4ClientsStayWhole) {
  EXPECT_NE(ClientOf("192.0.2.1"), ClientOf("192.0.2.2"));
  // The same address arriving on a dual-stack socket is the same client.
  EXPECT_EQ(ClientOf("192.0.2.1"), ClientOf("::ffff:192.0.2.1"));
  EXPECT_NE(ClientOf("::ffff:192.0.2.1"), ClientOf("::ffff:192.0.2.2"));
}

TEST(TcpAdmissionTest, LimitsPerClientAndInTotal) {
  TcpAdmission admission(3, 2);
  const auto a = ClientOf("2001:db8::1");
  const auto a_other_host_bits = ClientOf("2001:db8::2");
  const auto b = ClientOf("192.0.2.1");
  EXPECT_EQ(admission.Admit(a), TcpAdmission::Verdict::kAdmitted);
  EXPECT_EQ(admission.Admit(a_other_host_bits), TcpAdmission::Verdict::kAdmitted);
  EXPECT_EQ(admission.Admit(a), TcpAdmission::Verdict::kTooManyFromClient);
  EXPECT_EQ(admission.Admit(b), TcpAdmission::Verdict::kAdmitted);
  EXPECT_EQ(admission.Admit(ClientOf("192.0.2.2")), TcpAdmission::Verdict::kTooMany);
  EXPECT_EQ(admission.open(), 3);
  admission.Release(a);
  EXPECT_EQ(admission.Admit(a_other_host_bits), TcpAdmission::Verdict::kAdmitted);
}

}  // namespace
}  // namespace agility::sockets
