// redis::Client on epoll and io_uring (as a Proactor), against real redis-server children
// (tests/redis_server.h): the basic commands, 1000 pipelined commands answered in order, RESP3
// replies, AUTH and SELECT in the greeting, MULTI/EXEC as a command group, and each way a
// command fails: a paused server (command_timeout, no hang), a killed one (connection_lost;
// read-only commands sent again), a refused connect (never_sent), close() and destruction with
// commands outstanding. Every callback is counted: each must run exactly once. What the client
// wrote is checked from the other side too, with redis-cli.
#include <signal.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "redis_server.h"
#include "tern/redis/client.h"
#include "test_support.h"

namespace tern::test {
namespace {

using namespace std::chrono_literals;
using redis::Command;
using redis::Type;

constexpr auto kBound = 20s;  // liveness bound of every wait: a failure, not a measurement

// What a command's callback saw, copied out of the loop thread.
struct Reply {
  std::error_code error;
  bool has_value = false;
  Type type = Type::null;
  std::string text;
  int64_t integer = 0;
  double number = 0;
  std::vector<Reply> elements;
  std::string rendered;  // Value::to_string(), for failure messages
};

Reply reply_of(std::error_code error, const redis::Value* value) {
  Reply reply;
  reply.error = error;
  if (value == nullptr) return reply;
  reply.has_value = true;
  reply.type = value->type;
  reply.text = std::string(value->text);
  reply.integer = value->integer;
  reply.number = value->number;
  for (const auto& element : value->elements) reply.elements.push_back(reply_of({}, &element));
  reply.rendered = value->to_string();
  return reply;
}

std::string describe(const Reply& reply) {
  return (reply.error ? reply.error.message() + " " : std::string()) +
         (reply.has_value ? reply.rendered : "(no reply)");
}

// How many times each callback ran: exactly once is the contract.
class CallCounts {
 public:
  // A slot for one more callback.
  size_t add() {
    std::lock_guard lock(mutex_);
    counts_.push_back(0);
    return counts_.size() - 1;
  }
  // Counts a run of callback `slot`; returns how many times it has run.
  int ran(size_t slot) {
    int count;
    {
      std::lock_guard lock(mutex_);
      count = ++counts_[slot];
    }
    total_.add();
    return count;
  }
  bool wait_all(std::chrono::milliseconds limit = kBound) {
    size_t expected;
    {
      std::lock_guard lock(mutex_);
      expected = counts_.size();
    }
    return total_.wait_until_at_least(static_cast<int>(expected), limit);
  }
  // Slots whose callback did not run exactly once.
  std::vector<size_t> wrong() const {
    std::lock_guard lock(mutex_);
    std::vector<size_t> slots;
    for (size_t i = 0; i < counts_.size(); ++i) {
      if (counts_[i] != 1) slots.push_back(i);
    }
    return slots;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<int> counts_;
  EventCount total_;
};

// A redis::Client on a loop thread of the backend under test.
class RedisRig {
 public:
  RedisRig(BackendKind kind, InetAddress server, redis::ClientOptions options = {})
      : thread_(kind, [this, server, options](EventLoop& loop) {
          client = std::make_unique<redis::Client>(loop, server, options);
          client->pool().on_health_change([this](const PoolHealth&) { health_changes.add(); });
        }) {}
  ~RedisRig() {
    destroy_client();
    EXPECT_TRUE(calls.wait_all()) << "a callback never ran";
    EXPECT_TRUE(calls.wrong().empty()) << "a callback ran more than once";
  }

  redis::Client::Callback callback(std::shared_ptr<std::promise<Reply>> done) {
    size_t slot = calls.add();
    return [this, slot, done](std::error_code error, const redis::Value* value) {
      if (calls.ran(slot) == 1) done->set_value(reply_of(error, value));
    };
  }

  // Sends the commands in one turn of the loop, in order; each future gets its reply.
  std::vector<std::future<Reply>> send(std::vector<Command> commands) {
    return thread_.call([&](EventLoop&) {
      std::vector<std::future<Reply>> futures;
      for (auto& command : commands) {
        auto done = std::make_shared<std::promise<Reply>>();
        futures.push_back(done->get_future());
        client->command(std::move(command), callback(done));
      }
      return futures;
    });
  }
  std::future<Reply> send(Command command) {
    std::vector<Command> one;
    one.push_back(std::move(command));
    return std::move(send(std::move(one)).front());
  }
  std::future<Reply> send_group(std::vector<Command> commands) {
    return thread_.call([&](EventLoop&) {
      auto done = std::make_shared<std::promise<Reply>>();
      auto future = done->get_future();
      client->command_group(std::move(commands), callback(done));
      return future;
    });
  }
  static Reply wait(std::future<Reply>& future) {
    if (future.wait_for(kBound) != std::future_status::ready) {
      ADD_FAILURE() << "the command was never answered";
      return Reply{make_error_code(errc::not_connected)};
    }
    return future.get();
  }
  Reply run(Command command) {
    auto future = send(std::move(command));
    return wait(future);
  }
  template <class F>
  auto call(F fn) {
    return thread_.call(fn);
  }
  void destroy_client() {
    thread_.call([this](EventLoop&) { client.reset(); });
  }

  CallCounts calls;
  EventCount health_changes;
  std::unique_ptr<redis::Client> client;

 private:
  LoopThread thread_;  // last: its setup fills the members above
};

class RedisClientTest : public BackendTest {};

TEST_P(RedisClientTest, SetGetIncrDel) {
  auto redis = RedisServer::start();
  if (!redis) return;
  RedisRig rig(GetParam(), redis->address());

  Reply set = rig.run(Command::of("SET", "greeting", "hello world"));
  EXPECT_FALSE(set.error) << describe(set);
  EXPECT_EQ(set.type, Type::simple_string);
  EXPECT_EQ(set.text, "OK");
  Reply get = rig.run(Command::of("GET", "greeting"));
  EXPECT_EQ(get.type, Type::bulk_string) << describe(get);
  EXPECT_EQ(get.text, "hello world");
  EXPECT_EQ(rig.run(Command::of("INCR", "hits")).integer, 1);
  EXPECT_EQ(rig.run(Command::of("INCRBY", "hits", 41)).integer, 42);
  EXPECT_EQ(redis->cli({"GET", "hits"}), "42\n");  // the server's own view
  Reply del = rig.run(Command::of("DEL", "greeting", "hits"));
  EXPECT_EQ(del.type, Type::integer);
  EXPECT_EQ(del.integer, 2);
  Reply gone = rig.run(Command::of("GET", "greeting"));
  EXPECT_FALSE(gone.error);
  EXPECT_TRUE(gone.has_value);
  EXPECT_EQ(gone.type, Type::null);
  // A reply that is an error: error_reply, with the server's text.
  Reply wrong = rig.run(Command::of("INCR", "not a", "command"));
  EXPECT_EQ(wrong.error, redis::errc::error_reply);
  EXPECT_TRUE(wrong.has_value);
  EXPECT_NE(wrong.text.find("wrong number of arguments"), std::string::npos) << wrong.text;
  EXPECT_FALSE(redis::never_sent(wrong.error));
  // The error reply left the connection usable: one connection for everything.
  Reply after = rig.run(Command::of("PING"));
  EXPECT_EQ(after.text, "PONG");
  EXPECT_EQ(rig.call([&](EventLoop&) { return rig.client->counters().connects; }), 1u);
}

// 1000 commands sent in one turn on one connection: the replies come in the order sent (each
// INCR's reply is its rank; each GET's is the value its SET wrote).
TEST_P(RedisClientTest, PipelinesAThousandCommandsInOrder) {
  auto redis = RedisServer::start();
  if (!redis) return;
  redis::ClientOptions options;
  options.pool.max_connections = 1;
  options.pipelining = 1000;
  RedisRig rig(GetParam(), redis->address(), options);

  std::vector<Command> commands;
  for (int i = 0; i < 500; ++i) commands.push_back(Command::of("INCR", "rank"));
  for (int i = 0; i < 250; ++i) {
    commands.push_back(Command::of("SET", "key:" + std::to_string(i), "value:" + std::to_string(i)));
    commands.push_back(Command::of("GET", "key:" + std::to_string(i)));
  }
  auto futures = rig.send(std::move(commands));
  ASSERT_EQ(futures.size(), 1000u);
  for (int i = 0; i < 500; ++i) {
    Reply reply = RedisRig::wait(futures[size_t(i)]);
    ASSERT_FALSE(reply.error) << i << ": " << describe(reply);
    ASSERT_EQ(reply.integer, i + 1) << "INCR " << i << " answered out of order";
  }
  for (int i = 0; i < 250; ++i) {
    Reply set = RedisRig::wait(futures[500 + 2 * size_t(i)]);
    Reply get = RedisRig::wait(futures[501 + 2 * size_t(i)]);
    ASSERT_EQ(set.text, "OK") << describe(set);
    ASSERT_EQ(get.text, "value:" + std::to_string(i)) << describe(get);
  }
  EXPECT_EQ(rig.call([&](EventLoop&) { return rig.client->counters().connects; }), 1u);
  EXPECT_EQ(redis->cli({"GET", "rank"}), "500\n");
}

// protocol = 3: HELLO 3 on the connection, replies as RESP3 types.
TEST_P(RedisClientTest, Resp3RepliesAsMapsDoublesAndBooleans) {
  auto redis = RedisServer::start();
  if (!redis) return;
  redis::ClientOptions options;
  options.protocol = 3;
  RedisRig rig(GetParam(), redis->address(), options);

  ASSERT_FALSE(rig.run(Command::of("HSET", "h", "field", "value")).error);
  Reply map = rig.run(Command::of("HGETALL", "h"));
  ASSERT_EQ(map.type, Type::map) << describe(map);
  ASSERT_EQ(map.elements.size(), 2u);
  EXPECT_EQ(map.elements[0].text, "field");
  EXPECT_EQ(map.elements[1].text, "value");

  ASSERT_FALSE(rig.run(Command::of("ZADD", "z", "1.5", "member")).error);
  Reply score = rig.run(Command::of("ZSCORE", "z", "member"));
  ASSERT_EQ(score.type, Type::double_) << describe(score);
  EXPECT_EQ(score.number, 1.5);

  // A script's true is a RESP3 boolean once the script speaks RESP3.
  Reply yes = rig.run(Command::of("EVAL", "redis.setresp(3); return true", 0));
  ASSERT_EQ(yes.type, Type::boolean) << describe(yes);
  EXPECT_EQ(yes.integer, 1);

  Reply hello = rig.run(Command::of("HELLO"));  // the connection's protocol, as the server sees it
  ASSERT_EQ(hello.type, Type::map) << describe(hello);
  bool found = false;
  for (size_t i = 0; i + 1 < hello.elements.size(); i += 2) {
    if (hello.elements[i].text == "proto") {
      found = true;
      EXPECT_EQ(hello.elements[i + 1].integer, 3);
    }
  }
  EXPECT_TRUE(found) << describe(hello);
}

// The same commands over RESP2 (the default): the types RESP3 adds do not appear.
TEST_P(RedisClientTest, Resp2RepliesWithoutHello) {
  auto redis = RedisServer::start();
  if (!redis) return;
  RedisRig rig(GetParam(), redis->address());
  ASSERT_FALSE(rig.run(Command::of("ZADD", "z", "1.5", "member")).error);
  Reply score = rig.run(Command::of("ZSCORE", "z", "member"));
  EXPECT_EQ(score.type, Type::bulk_string) << describe(score);
  EXPECT_EQ(score.text, "1.5");
}

TEST_P(RedisClientTest, AuthenticatesWithTheRightPassword) {
  auto redis = RedisServer::start({"requirepass secret"});
  if (!redis) return;
  for (int protocol : {2, 3}) {
    redis::ClientOptions options;
    options.password = "secret";
    options.protocol = protocol;
    RedisRig rig(GetParam(), redis->address(), options);
    Reply pong = rig.run(Command::of("PING"));
    EXPECT_FALSE(pong.error) << "protocol " << protocol << ": " << describe(pong);
    EXPECT_EQ(pong.text, "PONG");
  }
  // Without a password the server refuses the command itself: the greeting did the AUTH above.
  RedisRig bare(GetParam(), redis->address());
  Reply refused = bare.run(Command::of("PING"));
  EXPECT_EQ(refused.error, redis::errc::error_reply) << describe(refused);
  EXPECT_NE(refused.text.find("NOAUTH"), std::string::npos) << refused.text;
}

TEST_P(RedisClientTest, WrongPasswordFailsTheGreeting) {
  auto redis = RedisServer::start({"requirepass secret"});
  if (!redis) return;
  for (int protocol : {2, 3}) {
    redis::ClientOptions options;
    options.password = "not the secret";
    options.protocol = protocol;
    RedisRig rig(GetParam(), redis->address(), options);
    auto futures = rig.send({Command::of("SET", "k", "v"), Command::of("GET", "k")});
    for (auto& future : futures) {
      Reply reply = RedisRig::wait(future);
      EXPECT_EQ(reply.error, redis::errc::greeting_failed)
          << "protocol " << protocol << ": " << describe(reply);
      EXPECT_TRUE(redis::never_sent(reply.error));
    }
  }
  EXPECT_EQ(redis->cli({"-a", "secret", "--no-auth-warning", "EXISTS", "k"}), "0\n");
}

TEST_P(RedisClientTest, SelectsTheDatabase) {
  auto redis = RedisServer::start();
  if (!redis) return;
  redis::ClientOptions options;
  options.database = 3;
  RedisRig rig(GetParam(), redis->address(), options);
  ASSERT_FALSE(rig.run(Command::of("SET", "where", "three")).error);
  EXPECT_EQ(redis->cli({"-n", "3", "GET", "where"}), "three\n");
  EXPECT_EQ(redis->cli({"-n", "0", "EXISTS", "where"}), "0\n");

  redis::ClientOptions bad;
  bad.database = 100000;  // beyond the server's 16 databases: SELECT is refused
  RedisRig refused(GetParam(), redis->address(), bad);
  Reply reply = refused.run(Command::of("PING"));
  EXPECT_EQ(reply.error, redis::errc::greeting_failed) << describe(reply);
}

TEST_P(RedisClientTest, CommandGroupRunsMultiExecOnOneConnection) {
  auto redis = RedisServer::start();
  if (!redis) return;
  redis::ClientOptions options;
  options.pipelining = 2;  // a group larger than the pipelining still goes on one connection
  RedisRig rig(GetParam(), redis->address(), options);

  auto future = rig.send_group({Command("MULTI"), Command::of("SET", "a", "1"),
                                Command::of("INCR", "a"), Command("EXEC")});
  Reply exec = RedisRig::wait(future);
  ASSERT_FALSE(exec.error) << describe(exec);
  ASSERT_EQ(exec.type, Type::array) << describe(exec);
  ASSERT_EQ(exec.elements.size(), 2u);
  EXPECT_EQ(exec.elements[0].text, "OK");
  EXPECT_EQ(exec.elements[1].integer, 2);
  EXPECT_EQ(redis->cli({"GET", "a"}), "2\n");

  // A refused command inside the group fails it with that error reply; EXEC then aborts the
  // transaction, and the connection is clean for what follows.
  auto failing = rig.send_group({Command("MULTI"), Command::of("SET", "b"),
                                 Command::of("SET", "c", "1"), Command("EXEC")});
  Reply failed = RedisRig::wait(failing);
  EXPECT_EQ(failed.error, redis::errc::error_reply) << describe(failed);
  EXPECT_NE(failed.text.find("wrong number of arguments"), std::string::npos) << failed.text;
  EXPECT_EQ(rig.run(Command::of("EXISTS", "c")).integer, 0);  // the transaction did not run
  EXPECT_EQ(rig.run(Command::of("GET", "a")).text, "2");
}

// A paused server (SIGSTOP) answers nothing: the command fails with command_timeout, the
// client does not hang; once resumed, new commands work.
TEST_P(RedisClientTest, CommandTimeoutWhileTheServerIsPaused) {
  auto redis = RedisServer::start();
  if (!redis) return;
  redis::ClientOptions options;
  options.command_timeout = 300ms;
  RedisRig rig(GetParam(), redis->address(), options);
  ASSERT_EQ(rig.run(Command::of("SET", "k", "v")).text, "OK");

  redis->pause();
  auto futures = rig.send({Command::of("GET", "k"), Command::of("INCR", "n")});
  for (auto& future : futures) {
    Reply reply = RedisRig::wait(future);
    EXPECT_EQ(reply.error, redis::errc::command_timeout) << describe(reply);
    EXPECT_FALSE(redis::never_sent(reply.error));
  }
  redis->resume();
  Reply get = rig.run(Command::of("GET", "k"));
  EXPECT_FALSE(get.error) << describe(get);
  EXPECT_EQ(get.text, "v");
}

// The server killed with commands in flight: those that write fail with connection_lost (they
// may have run); read-only ones are sent again once, and fail cleanly: a connect the dead
// server refuses (never sent), or connection_lost when the new connection raced the server's
// exit (its listening socket can close after the connection's). Then the pool marks the server
// down (commands fail fast, never sent), and after a restart on the same port the client
// reconnects by itself.
TEST_P(RedisClientTest, ServerKilledWithCommandsInFlightThenRestarted) {
  auto redis = RedisServer::start();
  if (!redis) return;
  redis::ClientOptions options;
  options.pool.max_connections = 1;
  options.pool.down_after_failures = 1;
  options.pool.connect.initial_backoff = 20ms;
  options.pool.connect.max_backoff = 200ms;
  RedisRig rig(GetParam(), redis->address(), options);
  ASSERT_EQ(rig.run(Command::of("SET", "k", "v")).text, "OK");

  redis->pause();  // the commands below are sent and stay unanswered
  auto futures = rig.send({Command::of("INCR", "n"), Command::of("GET", "k"),
                           Command::of("SET", "k", "w"), Command::of("GET", "k")});
  redis->kill();
  for (size_t i = 0; i < futures.size(); ++i) {
    Reply reply = RedisRig::wait(futures[i]);
    bool reads = i % 2 == 1;
    if (reads) {
      EXPECT_TRUE(redis::never_sent(reply.error) || reply.error == redis::errc::connection_lost)
          << i << ": " << describe(reply);
    } else {
      EXPECT_EQ(reply.error, redis::errc::connection_lost) << i << ": " << describe(reply);
    }
  }
  // Reaped: nothing listens. The refused connect marks the server down (down_after_failures
  // 1); commands then fail fast without a connect, with an error never_sent accepts.
  Reply refused = rig.run(Command::of("GET", "k"));
  EXPECT_TRUE(redis::never_sent(refused.error)) << describe(refused);
  EXPECT_TRUE(rig.health_changes.wait_until_at_least(1, kBound)) << "never marked down";
  EXPECT_FALSE(rig.call([&](EventLoop&) { return rig.client->health().up; }));
  Reply down = rig.run(Command::of("GET", "k"));
  EXPECT_TRUE(redis::never_sent(down.error)) << describe(down);

  ASSERT_TRUE(redis->restart());
  EXPECT_TRUE(rig.health_changes.wait_until_at_least(2, kBound)) << "never came back up";
  Reply back = rig.run(Command::of("GET", "k"));
  EXPECT_FALSE(back.error) << describe(back);
  EXPECT_EQ(back.text, "v");  // the append-only file brought back what was acknowledged
}

TEST_P(RedisClientTest, ConnectRefusedFailsFastAsNeverSent) {
  uint16_t port;
  {
    auto redis = RedisServer::start();  // a port that was free, and is again
    if (!redis) return;
    port = redis->port();
  }
  RedisRig rig(GetParam(), InetAddress::loopback_v4(port));
  auto futures = rig.send({Command::of("SET", "k", "v"), Command::of("GET", "k")});
  for (auto& future : futures) {
    Reply reply = RedisRig::wait(future);
    EXPECT_EQ(reply.error, std::errc::connection_refused) << describe(reply);
    EXPECT_TRUE(redis::never_sent(reply.error));
  }
}

// close(): commands waiting for a connection fail with closed at once; those sent finish (here
// by their timeout: the server is paused), then on_closed runs. Every callback once.
TEST_P(RedisClientTest, CloseWithCommandsOutstanding) {
  auto redis = RedisServer::start();
  if (!redis) return;
  redis::ClientOptions options;
  options.pool.max_connections = 1;
  options.pipelining = 2;
  options.command_timeout = 300ms;
  RedisRig rig(GetParam(), redis->address(), options);
  ASSERT_EQ(rig.run(Command::of("PING")).text, "PONG");  // the connection is up and kept

  redis->pause();
  auto futures = rig.send({Command::of("INCR", "a"), Command::of("INCR", "b"),
                           Command::of("INCR", "c"), Command::of("INCR", "d")});
  EventCount closed;
  size_t queued = rig.call([&](EventLoop&) {
    size_t waiting = rig.client->queued();
    rig.client->close([&closed] { closed.add(); });
    return waiting;
  });
  EXPECT_EQ(queued, 2u);  // two sent (pipelining 2), two waiting
  for (size_t i = 0; i < futures.size(); ++i) {
    Reply reply = RedisRig::wait(futures[i]);
    EXPECT_EQ(reply.error, i < 2 ? make_error_code(redis::errc::command_timeout)
                                 : make_error_code(redis::errc::closed))
        << i << ": " << describe(reply);
  }
  EXPECT_TRUE(closed.wait_until_at_least(1, kBound)) << "on_closed never ran";
  Reply refused = rig.run(Command::of("PING"));
  EXPECT_EQ(refused.error, redis::errc::closed);
  EXPECT_TRUE(redis::never_sent(refused.error));
  redis->resume();
}

// Destroyed with commands outstanding: those waiting fail with closed (never sent), those sent
// with connection_lost (they may have run), inside the destructor.
TEST_P(RedisClientTest, DestroyedWithCommandsOutstanding) {
  auto redis = RedisServer::start();
  if (!redis) return;
  redis::ClientOptions options;
  options.pool.max_connections = 1;
  options.pipelining = 2;
  RedisRig rig(GetParam(), redis->address(), options);
  ASSERT_EQ(rig.run(Command::of("PING")).text, "PONG");

  redis->pause();
  auto futures = rig.send({Command::of("INCR", "a"), Command::of("INCR", "b"),
                           Command::of("INCR", "c")});
  rig.destroy_client();
  for (size_t i = 0; i < futures.size(); ++i) {
    Reply reply = RedisRig::wait(futures[i]);
    EXPECT_EQ(reply.error, i < 2 ? make_error_code(redis::errc::connection_lost)
                                 : make_error_code(redis::errc::closed))
        << i << ": " << describe(reply);
  }
  redis->resume();
}

// close() and destruction while a new connection's greeting is unanswered (the server is
// paused; the kernel completes the connect): the command waiting for that connection fails
// with closed (it was never sent), on_closed still runs, nothing waits forever.
TEST_P(RedisClientTest, CloseOrDestroyWhileGreeting) {
  auto redis = RedisServer::start({"requirepass secret"});
  if (!redis) return;
  redis::ClientOptions options;
  options.password = "secret";
  options.command_timeout = 60s;  // beyond the test's bound: only close() can end the greeting
  for (bool destroy : {false, true}) {
    RedisRig rig(GetParam(), redis->address(), options);
    redis->pause();
    auto future = rig.send(Command::of("SET", "k", "v"));
    // Wait until the greeting is out: the connection is in use and the command still queued.
    ASSERT_TRUE(wait_until([&] {
      return rig.call([&](EventLoop&) { return rig.client->connections_in_use(); }) == 1;
    }, kBound));
    EXPECT_EQ(rig.call([&](EventLoop&) { return rig.client->queued(); }), 1u);
    EventCount closed;
    if (destroy) {
      rig.destroy_client();
    } else {
      rig.call([&](EventLoop&) { rig.client->close([&closed] { closed.add(); }); });
    }
    Reply reply = RedisRig::wait(future);
    EXPECT_EQ(reply.error, redis::errc::closed) << describe(reply);
    EXPECT_TRUE(redis::never_sent(reply.error));
    if (!destroy) {
      EXPECT_TRUE(closed.wait_until_at_least(1, kBound)) << "on_closed never ran";
    }
    redis->resume();
  }
  EXPECT_EQ(redis->cli({"-a", "secret", "--no-auth-warning", "EXISTS", "k"}), "0\n");
}

// The server closes the connection with commands behind the one that closed it (CLIENT KILL
// of the connection's own id: it answers, then closes, and reads nothing more). The GET behind
// it is sent again on a new connection (read_retries 1); the INCR is not (it may have run), nor
// is the GET with read_retries 0.
TEST_P(RedisClientTest, ReadOnlyCommandIsSentAgainAfterALostConnection) {
  auto redis = RedisServer::start();
  if (!redis) return;
  for (int retries : {1, 0}) {
    redis::ClientOptions options;
    options.pool.max_connections = 1;
    options.read_retries = retries;
    RedisRig rig(GetParam(), redis->address(), options);
    ASSERT_EQ(rig.run(Command::of("SET", "k", "v")).text, "OK");
    Reply id = rig.run(Command::of("CLIENT", "ID"));
    ASSERT_EQ(id.type, Type::integer) << describe(id);

    auto futures = rig.send({Command::of("CLIENT", "KILL", "ID", id.integer, "SKIPME", "no"),
                             Command::of("GET", "k"), Command::of("INCR", "n")});
    // Its own reply may be lost with the connection: the server's close resets it, as unread
    // commands remain.
    Reply kill = RedisRig::wait(futures[0]);
    EXPECT_TRUE(kill.error == redis::errc::connection_lost || kill.integer == 1) << describe(kill);
    Reply get = RedisRig::wait(futures[1]);
    Reply incr = RedisRig::wait(futures[2]);
    if (retries == 1) {
      EXPECT_FALSE(get.error) << describe(get);
      EXPECT_EQ(get.text, "v");
      EXPECT_EQ(rig.call([&](EventLoop&) { return rig.client->counters().connects; }), 2u);
    } else {
      EXPECT_EQ(get.error, redis::errc::connection_lost) << describe(get);
    }
    EXPECT_EQ(incr.error, redis::errc::connection_lost) << describe(incr);
    EXPECT_EQ(redis->cli({"EXISTS", "n"}), "0\n");  // never ran, and was not sent again
  }
}

INSTANTIATE_TEST_SUITE_P(EpollAndUring, RedisClientTest,
                         testing::Values(BackendKind::epoll, BackendKind::uring),
                         backend_test_name);

}  // namespace
}  // namespace tern::test
