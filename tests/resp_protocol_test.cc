// RespProtocol: the RESP client protocol alone (push frames aside, consumed bytes, errors),
// then under Pipeline<RespProtocol> against a real redis-server on every backend: pipelined
// commands answered in order, RESP3 with a push frame from client-side caching between
// replies.
#include "tern/redis/resp_protocol.h"

#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "redis_server.h"
#include "test_support.h"
#include "tern/protocol/pipeline.h"
#include "tern/tern.h"

namespace tern::redis {
namespace {

using namespace std::chrono_literals;
using Status = Decoded<Value>::Status;

TEST(RespProtocolTest, EncodesTheCommand) {
  RespProtocolOptions options;
  RespProtocol protocol(options);
  Output out;
  protocol.encode_request(Command::of("GET", "k"), out);
  ASSERT_EQ(out.piece_count(), 1u);
  EXPECT_EQ(out.piece(0), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
}

TEST(RespProtocolTest, PushFramesGoToOnPushAndCountInTheReplysConsumed) {
  std::vector<std::string> pushes;
  RespProtocolOptions options;
  options.on_push = [&](const Value& push) { pushes.push_back(push.to_string()); };
  RespProtocol protocol(options);
  std::string bytes = ">2\r\n+invalidate\r\n*1\r\n+a\r\n>1\r\n+b\r\n:7\r\n+next\r\n";
  Decoded<Value> decoded = protocol.decode_response(bytes);
  ASSERT_EQ(decoded.status, Status::message);
  EXPECT_EQ(decoded.request.to_string(), "(integer) 7");
  EXPECT_EQ(decoded.consumed, bytes.size() - std::string("+next\r\n").size());
  EXPECT_EQ(pushes, (std::vector<std::string>{"(push) [invalidate, [a]]", "(push) [b]"}));
  decoded = protocol.decode_response(std::string_view(bytes).substr(decoded.consumed));
  ASSERT_EQ(decoded.status, Status::message);
  EXPECT_EQ(decoded.request.to_string(), "next");
}

// A push arrives, its reply not yet: need_more. The pipeline then calls again with the same
// bytes plus more; the push must not be handed on twice.
TEST(RespProtocolTest, APushBeforeAnIncompleteReplyIsPassedOnOnce) {
  int pushes = 0;
  RespProtocolOptions options;
  options.on_push = [&](const Value&) { ++pushes; };
  RespProtocol protocol(options);
  std::string bytes = ">1\r\n+p\r\n$5\r\nhello\r\n";
  size_t cut = bytes.find('$') + 3;
  for (size_t n = 1; n < bytes.size(); ++n) {
    std::string copy = bytes.substr(0, n);  // a buffer of its own each time
    EXPECT_EQ(protocol.decode_response(copy).status, Status::need_more) << n;
    if (n == cut) {
      EXPECT_EQ(pushes, 1);
    }
  }
  std::string all = bytes;
  Decoded<Value> decoded = protocol.decode_response(all);
  ASSERT_EQ(decoded.status, Status::message);
  EXPECT_EQ(decoded.request.text, "hello");
  EXPECT_EQ(decoded.consumed, bytes.size());
  EXPECT_EQ(pushes, 1);
}

TEST(RespProtocolTest, PushesWithoutAHandlerAreDropped) {
  RespProtocolOptions options;
  RespProtocol protocol(options);
  Decoded<Value> decoded = protocol.decode_response(">1\r\n+p\r\n+OK\r\n");
  ASSERT_EQ(decoded.status, Status::message);
  EXPECT_EQ(decoded.request.text, "OK");
  EXPECT_EQ(decoded.consumed, 13u);
}

TEST(RespProtocolTest, MalformedBytesAreInvalid) {
  RespProtocolOptions options;
  options.limits.max_bulk = 10;
  RespProtocol protocol(options);
  EXPECT_EQ(protocol.decode_response("$11\r\n").error, make_error_code(resp_errc::too_large));
  RespProtocol other(options);
  EXPECT_EQ(other.decode_response("HTTP/1.1 200 OK\r\n").error,
            make_error_code(resp_errc::bad_type));
}

// Under a real pipeline, on a real server.
class RespPipelineTest : public test::BackendTest {
 protected:
  using RespPipeline = Pipeline<RespProtocol>;

  // Connects to `server` on a loop of the backend under test and runs `body(connection, done)`
  // there; waits (bounded) for `done`.
  template <class Body>
  void with_connection(const InetAddress& server, Body body) {
    std::promise<void> done;
    std::unique_ptr<TcpClient> client;
    test::LoopThread loop(GetParam(), [&](EventLoop& l) {
      client = std::make_unique<TcpClient>(l, server);
      client->on_connection([&](TcpConnection& c) { body(c, done); });
      client->on_connect_error([&](std::error_code e) {
        ADD_FAILURE() << e.message();
        done.set_value();
      });
      client->connect();
    }, backend_options());
    EXPECT_EQ(done.get_future().wait_for(60s), std::future_status::ready);
    loop.call([&](EventLoop&) {
      pipeline.reset();
      client.reset();
    });
  }

  std::unique_ptr<RespPipeline> pipeline;
};

TEST_P(RespPipelineTest, PipelinedCommandsAreAnsweredInOrder) {
  auto redis = test::RedisServer::start();
  if (!redis) return;
  constexpr int kKeys = 500;
  std::vector<std::string> got;
  with_connection(redis->address(), [&](TcpConnection& c, std::promise<void>& done) {
    pipeline = std::make_unique<RespPipeline>(c, RespProtocolOptions{},
                                              PipelineOptions{4 * kKeys, 10s});
    auto record = [&](std::error_code e, const Value* reply) {
      got.push_back(e ? "error: " + e.message() : reply->to_string());
      if (got.size() == 3 * kKeys + 1) done.set_value();
    };
    for (int i = 0; i < kKeys; ++i) {
      ASSERT_FALSE(pipeline->send(Command::of("SET", "key:" + std::to_string(i), i), record));
    }
    for (int i = 0; i < kKeys; ++i) {
      ASSERT_FALSE(pipeline->send(Command::of("INCRBY", "key:" + std::to_string(i), 1000), record));
      ASSERT_FALSE(pipeline->send(Command::of("GET", "key:" + std::to_string(i)), record));
    }
    ASSERT_FALSE(pipeline->send(Command::of("LRANGE", "key:0", 0, -1), record));
  });
  ASSERT_EQ(got.size(), size_t(3 * kKeys + 1));
  for (int i = 0; i < kKeys; ++i) {
    EXPECT_EQ(got[i], "OK");
    EXPECT_EQ(got[kKeys + 2 * i], "(integer) " + std::to_string(i + 1000));
    EXPECT_EQ(got[kKeys + 2 * i + 1], "\"" + std::to_string(i + 1000) + "\"");
  }
  EXPECT_EQ(got.back().substr(0, 18), "(error) WRONGTYPE ");
}

// RESP3 (HELLO 3) with client-side caching: the server pushes an invalidation for a key this
// connection read when the key changes. The push is handed to on_push and the replies around
// it still meet their commands.
TEST_P(RespPipelineTest, Resp3PushFramesAreSetAsideFromTheReplies) {
  auto redis = test::RedisServer::start();
  if (!redis) return;
  std::vector<std::string> got;
  std::vector<std::string> pushes;
  RespProtocolOptions options;
  options.on_push = [&](const Value& push) { pushes.push_back(push.to_string()); };
  with_connection(redis->address(), [&](TcpConnection& c, std::promise<void>& done) {
    pipeline = std::make_unique<RespPipeline>(c, options, PipelineOptions{64, 10s});
    auto record = [&](std::error_code e, const Value* reply) {
      if (e) {
        got.push_back("error: " + e.message());
      } else if (reply->type == Type::map) {
        got.push_back("map of " + std::to_string(reply->elements.size() / 2));
      } else {
        got.push_back(reply->to_string());
      }
      if (got.size() == 6) done.set_value();
    };
    for (Command command : {Command::of("HELLO", 3), Command::of("CLIENT", "TRACKING", "on"),
                            Command::of("GET", "cached"), Command::of("SET", "cached", "v"),
                            Command::of("GET", "cached"), Command::of("PING")}) {
      ASSERT_FALSE(pipeline->send(std::move(command), record));
    }
  });
  ASSERT_EQ(got.size(), 6u);
  EXPECT_EQ(got[0].substr(0, 7), "map of ");
  EXPECT_EQ(got[1], "OK");
  EXPECT_EQ(got[2], "(nil)");  // RESP3's null
  EXPECT_EQ(got[3], "OK");
  EXPECT_EQ(got[4], "\"v\"");
  EXPECT_EQ(got[5], "PONG");
  EXPECT_EQ(pushes, (std::vector<std::string>{"(push) [\"invalidate\", [\"cached\"]]"}));
}

INSTANTIATE_TEST_SUITE_P(AllBackends, RespPipelineTest, testing::ValuesIn(all_backend_kinds()),
                         test::backend_test_name);

}  // namespace
}  // namespace tern::redis
