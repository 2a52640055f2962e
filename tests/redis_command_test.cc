// redis::Command: the bytes it encodes, its arguments read back, and the two facts the clients
// ask of it (read-only, which key it routes on).
#include "tern/redis/command.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "tern/redis/resp_parser.h"

namespace tern::redis {
namespace {

TEST(RedisCommandTest, EncodesAnArrayOfBulkStrings) {
  Command set = Command("SET").arg("key").arg("value");
  EXPECT_EQ(set.encoded(), "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
  EXPECT_EQ(Command("PING").encoded(), "*1\r\n$4\r\nPING\r\n");
  EXPECT_EQ(Command().encoded(), "*0\r\n");
}

TEST(RedisCommandTest, OfTakesStringsAndIntegers) {
  std::string key = "hits";
  std::string_view view = "x";
  Command incr = Command::of("INCRBY", key, 5);
  EXPECT_EQ(incr.encoded(), "*3\r\n$6\r\nINCRBY\r\n$4\r\nhits\r\n$1\r\n5\r\n");
  Command mixed = Command::of("CMD", view, "lit", -12, int64_t(std::numeric_limits<int64_t>::min()),
                              std::numeric_limits<uint64_t>::max(), uint16_t(7));
  ASSERT_EQ(mixed.size(), 7u);
  EXPECT_EQ(mixed[1], "x");
  EXPECT_EQ(mixed[2], "lit");
  EXPECT_EQ(mixed[3], "-12");
  EXPECT_EQ(mixed[4], "-9223372036854775808");
  EXPECT_EQ(mixed[5], "18446744073709551615");
  EXPECT_EQ(mixed[6], "7");
}

TEST(RedisCommandTest, ArgumentsAreBinarySafe) {
  std::string binary("a\r\n\0$3\r\n", 8);
  Command command = Command("SET").arg(binary).arg("");
  EXPECT_EQ(command.size(), 3u);
  EXPECT_EQ(command.name(), "SET");
  EXPECT_EQ(command[1], binary);
  EXPECT_EQ(command[2], "");
}

// What the command encodes is what a RESP parser reads back: the name and every argument as
// bulk strings, all the bytes used.
TEST(RedisCommandTest, EncodedBytesParseBackToTheArguments) {
  std::string big(100000, 'v');
  Command command = Command::of("MSET", "k1", big, "k2", std::string("\0\r\n", 3), 42);
  std::string bytes = command.encoded();
  RespParser parser;
  Decoded<Value> decoded = parser.parse(bytes);
  ASSERT_EQ(decoded.status, Decoded<Value>::Status::message);
  EXPECT_EQ(decoded.consumed, bytes.size());
  ASSERT_EQ(decoded.request.elements.size(), command.size());
  for (size_t i = 0; i < command.size(); ++i) {
    EXPECT_EQ(decoded.request.elements[i].type, Type::bulk_string);
    EXPECT_EQ(decoded.request.elements[i].text, command[i]) << i;
  }
}

TEST(RedisCommandTest, EncodeWritesOnePieceEqualToEncoded) {
  Command command = Command::of("GET", "key");
  Output out;
  command.encode(out);
  ASSERT_EQ(out.piece_count(), 1u);
  EXPECT_EQ(out.piece(0), command.encoded());
  // Encoding does not consume the command: it can be sent again (a retry, a redirection).
  command.encode(out);
  EXPECT_EQ(out.piece(0), command.encoded() + command.encoded());
}

TEST(RedisCommandTest, ReadOnlyCommands) {
  for (const char* name : {"GET", "get", "MGET", "Exists", "STRLEN", "TTL", "PTTL", "TYPE", "SCAN",
                           "KEYS", "HGET", "HGETALL", "HMGET", "LRANGE", "LLEN", "SMEMBERS",
                           "SCARD", "ZRANGE", "ZSCORE", "PING", "ECHO", "INFO"}) {
    EXPECT_TRUE(Command(name).arg("x").read_only()) << name;
  }
  for (const char* name : {"SET", "DEL", "INCR", "EXPIRE", "HSET", "LPUSH", "EVAL", "EVALSHA",
                           "MULTI", "EXEC", "FLUSHALL", "GETDEL", "GETEX", "GETSET", "XREAD"}) {
    EXPECT_FALSE(Command(name).arg("x").read_only()) << name;
  }
  EXPECT_TRUE(Command::of("CLUSTER", "SLOTS").read_only());
  EXPECT_TRUE(Command::of("cluster", "shards").read_only());
  EXPECT_TRUE(Command::of("CLUSTER", "NODES").read_only());
  EXPECT_FALSE(Command::of("CLUSTER", "SETSLOT", 1, "NODE", "x").read_only());
  EXPECT_FALSE(Command::of("CLUSTER", "FAILOVER").read_only());
  EXPECT_FALSE(Command("CLUSTER").read_only());
  EXPECT_FALSE(Command().read_only());
}

TEST(RedisCommandTest, FirstKey) {
  EXPECT_EQ(Command::of("GET", "user:1").first_key(), "user:1");
  EXPECT_EQ(Command::of("set", "k", "v").first_key(), "k");
  EXPECT_EQ(Command::of("MGET", "a", "b").first_key(), "a");
  EXPECT_EQ(Command::of("EVALSHA", "sha", 2, "k1", "k2", "arg").first_key(), "k1");
  EXPECT_EQ(Command::of("EVAL", "return 1", 0).first_key(), std::nullopt);
  EXPECT_EQ(Command::of("FCALL", "f", 1, "fk").first_key(), "fk");
  EXPECT_EQ(Command::of("XREAD", "COUNT", 2, "streams", "s1", "0").first_key(), "s1");
  EXPECT_EQ(Command::of("OBJECT", "ENCODING", "ok").first_key(), "ok");
  EXPECT_EQ(Command::of("MEMORY", "USAGE", "mk").first_key(), "mk");
  for (const Command& keyless :
       {Command("PING"), Command::of("PING", "hello"), Command::of("INFO", "server"),
        Command::of("CLUSTER", "SLOTS"), Command::of("SCAN", 0, "MATCH", "a*"), Command("MULTI"),
        Command("EXEC"), Command("ASKING"), Command::of("SELECT", 1), Command::of("AUTH", "pw"),
        Command::of("HELLO", 3), Command::of("KEYS", "*"), Command::of("ECHO", "x"),
        Command("GET"), Command()}) {
    EXPECT_EQ(keyless.first_key(), std::nullopt) << keyless.encoded();
  }
}

}  // namespace
}  // namespace tern::redis
