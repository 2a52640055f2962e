// InetAddress: parsing and the text forms (host() formats IPv4 by hand: it must agree with
// inet_ntop for every address).
#include <arpa/inet.h>

#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "tern/net/inet_address.h"

namespace tern {
namespace {

InetAddress v4(uint32_t address) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(address);
  in.sin_port = htons(80);
  return InetAddress::from_sockaddr(reinterpret_cast<const sockaddr*>(&in), sizeof in);
}

std::string with_inet_ntop(uint32_t address) {
  in_addr in{htonl(address)};
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &in, text, sizeof text);
  return text;
}

TEST(InetAddress, HostOfIpv4AgreesWithInetNtop) {
  for (uint32_t address : {0x00000000u, 0x01020304u, 0x0a0000ffu, 0xc0a86409u, 0xffffffffu,
                           0x7f000001u, 0x64000a00u, 0x09630063u}) {
    EXPECT_EQ(v4(address).host(), with_inet_ntop(address)) << address;
  }
  uint32_t address = 12345;  // a fixed walk over the space: every digit count in every octet
  for (int i = 0; i < 100000; ++i) {
    address = address * 1664525u + 1013904223u;
    ASSERT_EQ(v4(address).host(), with_inet_ntop(address)) << address;
  }
}

TEST(InetAddress, TextForms) {
  EXPECT_EQ(InetAddress::loopback_v4(8080).to_string(), "127.0.0.1:8080");
  EXPECT_EQ(InetAddress::loopback_v6(8080).to_string(), "[::1]:8080");
  EXPECT_EQ(InetAddress::loopback_v6(1).host(), "::1");
  auto parsed = InetAddress::parse("10.20.30.40", 9);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value().host(), "10.20.30.40");
  EXPECT_EQ(parsed.value().port(), 9);
}

}  // namespace
}  // namespace tern
