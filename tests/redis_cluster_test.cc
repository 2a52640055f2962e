// The pure pieces of the Redis Cluster client: key_slot against the slots redis-server 7.0
// computes (CLUSTER KEYSLOT), the slot map from CLUSTER SLOTS replies, MOVED and ASK errors.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "tern/redis/key_slot.h"
#include "tern/redis/redirection.h"
#include "tern/redis/resp_parser.h"
#include "tern/redis/slot_map.h"

namespace tern {
// Addresses in failure messages as "127.0.0.1:7000", not as bytes.
inline void PrintTo(const InetAddress& address, std::ostream* out) { *out << address.to_string(); }
}  // namespace tern

namespace tern::redis {
namespace {

InetAddress address(const char* host, uint16_t port) {
  return InetAddress::parse(host, port).value();
}

TEST(RedisKeySlotTest, Crc16IsXmodem) {
  EXPECT_EQ(crc16("123456789"), 0x31C3);  // the check value of CRC-16/XMODEM
  EXPECT_EQ(crc16(""), 0);
}

// The slots below are what redis-server 7.0.15 answered to CLUSTER KEYSLOT.
TEST(RedisKeySlotTest, KnownSlots) {
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot("hello"), 866);
  EXPECT_EQ(key_slot("somekey"), 11058);
  EXPECT_EQ(key_slot("123456789"), 12739);  // 0x31C3 % 16384
  EXPECT_EQ(key_slot(""), 0);
}

TEST(RedisKeySlotTest, HashTags) {
  EXPECT_EQ(key_slot("{user1000}.following"), 3443);
  EXPECT_EQ(key_slot("{user1000}.followers"), 3443);
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(hash_tag("a{b}c{d}"), "b");     // the first tag only
  EXPECT_EQ(key_slot("a{b}c{d}"), 3300);
  EXPECT_EQ(key_slot("{a}{b}"), 15495);
  // No tag: "{}" is empty, "x{" has no '}'; the whole key hashes.
  EXPECT_EQ(hash_tag("{}x"), "{}x");
  EXPECT_EQ(key_slot("{}x"), 10595);
  EXPECT_EQ(hash_tag("x{"), "x{");
  EXPECT_EQ(key_slot("x{"), 3596);
  EXPECT_EQ(key_slot("x{}{y}"), 14166);
  EXPECT_EQ(hash_tag("}{a}"), "a");        // a '}' before the '{' does not count
}

// Parses RESP bytes; the value lives as long as the Holder.
struct Holder {
  std::string bytes;
  RespParser parser;
  Value value;
  explicit Holder(std::string b) : bytes(std::move(b)) {
    Decoded<Value> decoded = parser.parse(bytes);
    EXPECT_EQ(decoded.status, Decoded<Value>::Status::message) << bytes;
    value = decoded.request;
  }
};

std::string entry(int first, int last, const std::string& host, int port,
                  const std::string& replica_host = "", int replica_port = 0) {
  std::string node = "*3\r\n$" + std::to_string(host.size()) + "\r\n" + host + "\r\n:" +
                     std::to_string(port) + "\r\n$4\r\nid01\r\n";
  std::string replica;
  if (!replica_host.empty()) {
    replica = "*3\r\n$" + std::to_string(replica_host.size()) + "\r\n" + replica_host + "\r\n:" +
              std::to_string(replica_port) + "\r\n$4\r\nid02\r\n";
  }
  return "*" + std::to_string(replica.empty() ? 3 : 4) + "\r\n:" + std::to_string(first) +
         "\r\n:" + std::to_string(last) + "\r\n" + node + replica;
}

std::string reply_of(const std::vector<std::string>& entries) {
  std::string out = "*" + std::to_string(entries.size()) + "\r\n";
  for (const std::string& e : entries) out += e;
  return out;
}

TEST(RedisSlotMapTest, ThreeMastersCoverEverySlot) {
  Holder reply(reply_of({entry(0, 5460, "127.0.0.1", 7000, "127.0.0.1", 7003),
                         entry(5461, 10922, "127.0.0.1", 7001),
                         entry(10923, 16383, "127.0.0.1", 7002)}));
  Result<SlotMap> map = SlotMap::from_cluster_slots(reply.value);
  ASSERT_TRUE(map.ok()) << map.error().message();
  EXPECT_TRUE(map->complete());
  EXPECT_EQ(*map->master_for(0), address("127.0.0.1", 7000));
  EXPECT_EQ(*map->master_for(5460), address("127.0.0.1", 7000));
  EXPECT_EQ(*map->master_for(5461), address("127.0.0.1", 7001));
  EXPECT_EQ(*map->master_for(12182), address("127.0.0.1", 7002));
  EXPECT_EQ(*map->master_for(16383), address("127.0.0.1", 7002));
  EXPECT_EQ(map->master_for(16384), nullptr);
  EXPECT_EQ(map->masters(), (std::vector<InetAddress>{address("127.0.0.1", 7000),
                                                      address("127.0.0.1", 7001),
                                                      address("127.0.0.1", 7002)}));
  ASSERT_EQ(map->ranges().size(), 3u);
  EXPECT_EQ(map->ranges()[1].first, 5461);
  EXPECT_EQ(map->ranges()[1].last, 10922);
}

TEST(RedisSlotMapTest, AGapLeavesTheMapIncomplete) {
  Holder reply(reply_of({entry(0, 99, "127.0.0.1", 7000), entry(200, 16383, "::1", 7001)}));
  Result<SlotMap> map = SlotMap::from_cluster_slots(reply.value);
  ASSERT_TRUE(map.ok());
  EXPECT_FALSE(map->complete());
  EXPECT_EQ(map->master_for(100), nullptr);
  EXPECT_EQ(map->master_for(199), nullptr);
  EXPECT_EQ(*map->master_for(200), address("::1", 7001));
  map->assign(100, address("127.0.0.1", 7000));
  EXPECT_EQ(*map->master_for(100), address("127.0.0.1", 7000));
  EXPECT_FALSE(map->complete());
  for (uint16_t slot = 101; slot < 200; ++slot) map->assign(slot, address("127.0.0.1", 7002));
  EXPECT_TRUE(map->complete());
}

TEST(RedisSlotMapTest, AssignMovesOneSlotAndForgetsAMasterWithNone) {
  Holder reply(reply_of({entry(0, 0, "127.0.0.1", 7000), entry(1, 16383, "127.0.0.1", 7001)}));
  Result<SlotMap> map = SlotMap::from_cluster_slots(reply.value);
  ASSERT_TRUE(map.ok());
  map->assign(0, address("127.0.0.1", 7001));
  EXPECT_EQ(*map->master_for(0), address("127.0.0.1", 7001));
  EXPECT_EQ(map->masters(), (std::vector<InetAddress>{address("127.0.0.1", 7001)}));
  EXPECT_TRUE(map->complete());
  map->assign(5, address("127.0.0.1", 7009));
  EXPECT_EQ(map->masters(), (std::vector<InetAddress>{address("127.0.0.1", 7001),
                                                      address("127.0.0.1", 7009)}));
}

TEST(RedisSlotMapTest, AnEmptyHostIsTheNodeAsked) {
  Holder reply(reply_of({entry(0, 16383, "", 7005)}));
  EXPECT_EQ(SlotMap::from_cluster_slots(reply.value).error(),
            std::make_error_code(std::errc::bad_message));
  Result<SlotMap> map = SlotMap::from_cluster_slots(reply.value, address("127.0.0.2", 1));
  ASSERT_TRUE(map.ok());
  EXPECT_EQ(*map->master_for(77), address("127.0.0.2", 7005));
}

TEST(RedisSlotMapTest, RepliesOfAnotherShapeAreRefused) {
  for (std::string bytes : {
           std::string("-ERR This instance has cluster support disabled\r\n"),
           std::string("+OK\r\n"),
           reply_of({entry(0, 16384, "127.0.0.1", 7000)}),      // slot beyond 16383
           reply_of({entry(10, 9, "127.0.0.1", 7000)}),         // first > last
           reply_of({entry(-1, 9, "127.0.0.1", 7000)}),
           reply_of({entry(0, 9, "redis.example", 7000)}),      // not a numeric address
           reply_of({entry(0, 9, "127.0.0.1", 70000)}),         // port
           std::string("*1\r\n*2\r\n:0\r\n:1\r\n"),             // no master
           std::string("*1\r\n*3\r\n:0\r\n:1\r\n*1\r\n$9\r\n127.0.0.1\r\n"),  // no port
           std::string("*1\r\n*3\r\n+0\r\n:1\r\n*2\r\n$9\r\n127.0.0.1\r\n:1\r\n"),
       }) {
    Holder reply(bytes);
    EXPECT_EQ(SlotMap::from_cluster_slots(reply.value).error(),
              std::make_error_code(std::errc::bad_message))
        << bytes;
  }
  Holder empty("*0\r\n");
  Result<SlotMap> none = SlotMap::from_cluster_slots(empty.value);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->complete());
  EXPECT_TRUE(none->masters().empty());
}

TEST(RedisRedirectionTest, MovedAndAsk) {
  auto moved = parse_redirection("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->kind, Redirection::Kind::moved);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->address, address("127.0.0.1", 6381));
  auto ask = parse_redirection("ASK 0 127.0.0.1:7002");
  ASSERT_TRUE(ask);
  EXPECT_EQ(ask->kind, Redirection::Kind::ask);
  EXPECT_EQ(ask->slot, 0);
  EXPECT_EQ(ask->address, address("127.0.0.1", 7002));
  auto last = parse_redirection("MOVED 16383 10.1.2.3:65535");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->slot, 16383);
}

TEST(RedisRedirectionTest, Ipv6AndUnknownHosts) {
  auto v6 = parse_redirection("MOVED 1 ::1:7000");  // redis writes IPv6 without brackets
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->address, address("::1", 7000));
  auto bracketed = parse_redirection("ASK 1 [::1]:7000");
  ASSERT_TRUE(bracketed);
  EXPECT_EQ(bracketed->address, address("::1", 7000));
  auto unknown = parse_redirection("MOVED 1 :7000");
  ASSERT_TRUE(unknown);
  EXPECT_TRUE(is_unspecified_host(unknown->address));
  EXPECT_EQ(unknown->address.port(), 7000);
  EXPECT_FALSE(is_unspecified_host(v6->address));
}

TEST(RedisRedirectionTest, OtherErrorsAreNoRedirection) {
  for (const char* text : {"ERR unknown command", "MOVED", "MOVED 1", "MOVED x 127.0.0.1:1",
                           "MOVED 16384 127.0.0.1:1", "MOVED 1 127.0.0.1", "MOVED 1 127.0.0.1:",
                           "MOVED 1 127.0.0.1:65536", "MOVED 1 host.example:1", "ASK -1 127.0.0.1:1",
                           "moved 1 127.0.0.1:1", "TRYAGAIN Multiple keys request during rehashing",
                           "CLUSTERDOWN The cluster is down", ""}) {
    EXPECT_FALSE(parse_redirection(text)) << text;
  }
}

}  // namespace
}  // namespace tern::redis
