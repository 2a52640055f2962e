// SmallBytes keeps short contents inline and spills longer ones to the heap, and a
// redis::Command of a usual size ("GET key", "SET key value") is copied without an allocation
// (Client::command takes its Command by value: callers that build one once copy it per call).
#include "tern/base/small_bytes.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

// Every allocation of this binary is counted, so a test can tell whether a copy allocated.
#include "counting_new.h"
#include "tern/redis/command.h"

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
  uint64_t before = test::heap_allocations.load();
  redis::Command get_copy = get;
  redis::Command set_copy = set;
  EXPECT_EQ(test::heap_allocations.load(), before);
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
