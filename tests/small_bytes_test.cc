// SmallBytes keeps short contents inline and spills longer ones to the heap, and a
// redis::Command of a usual size ("GET key", "SET key value") is copied without an allocation
// (Client::command takes its Command by value: callers that build one once copy it per call).
#include "tern/base/small_bytes.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>

#include "tern/redis/command.h"

namespace {
// Allocations made by this test binary's thread of control; counted, not limited.
size_t allocations = 0;
}  // namespace

void* operator new(size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace tern {
namespace {

TEST(SmallBytesTest, KeepsShortContentsInline) {
  SmallBytes<8> bytes;
  bytes.append(std::string_view("abc"));
  bytes.append('d');
  bytes.append(std::string_view("efgh"));
  EXPECT_EQ(bytes.view(), "abcdefgh");
  EXPECT_FALSE(bytes.spilled());
  SmallBytes<8> copy = bytes;
  EXPECT_EQ(copy.view(), "abcdefgh");
}

TEST(SmallBytesTest, SpillsPastTheInlineSizeKeepingEveryByte) {
  SmallBytes<8> bytes;
  bytes.append(std::string_view("abcdef"));
  bytes.append(std::string_view("ghijkl"));
  EXPECT_TRUE(bytes.spilled());
  EXPECT_EQ(bytes.view(), "abcdefghijkl");
  bytes.append('m');
  SmallBytes<8> copy = bytes;
  EXPECT_EQ(copy.view(), "abcdefghijklm");
  EXPECT_EQ(copy.size(), 13u);
}

TEST(SmallBytesTest, ACommonCommandIsCopiedWithoutAnAllocation) {
  redis::Command get = redis::Command::of("GET", "key:tern-bench");
  redis::Command set = redis::Command::of("SET", "key:__rand_int__", "xxx");
  size_t before = allocations;
  redis::Command get_copy = get;
  redis::Command set_copy = set;
  EXPECT_EQ(allocations, before);
  EXPECT_EQ(get_copy.encoded(), "*2\r\n$3\r\nGET\r\n$14\r\nkey:tern-bench\r\n");
  EXPECT_EQ(set_copy[2], "xxx");
}

TEST(SmallBytesTest, ALongCommandKeepsItsArguments) {
  std::string value(300, 'v');
  redis::Command set = redis::Command::of("SET", "k", value);
  redis::Command copy = set;
  EXPECT_EQ(copy.size(), 3u);
  EXPECT_EQ(copy[1], "k");
  EXPECT_EQ(copy[2], value);
  EXPECT_EQ(copy.encoded(), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$300\r\n" + value + "\r\n");
}

}  // namespace
}  // namespace tern
