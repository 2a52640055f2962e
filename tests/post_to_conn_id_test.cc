// Server::post_to(ConnId, task) on every row of the model x pattern x backend matrix
// (test::server_matrix): a task posted to a live connection runs on that connection's thread
// and sees its requests in flight; ConnectionRef::close() lets the owed answer out, then EOF;
// a stale id (its connection closed, its slot reused by the next) runs nothing; an id of
// another server, or a server not running, is refused. Real loopback sockets, a plain POSIX
// client; every wait is on a condition, bounded by kLimit.
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "loopback_client.h"
#include "read_until.h"
#include "test_support.h"
#include "tern/tern.h"

namespace tern {
namespace {

using namespace std::chrono_literals;

constexpr auto kLimit = 60s;  // liveness bound of every wait (a failure, not a measurement)

// The replies of "hold" requests, kept unanswered until the test sends them.
class HeldReplies {
 public:
  void hold(Reply reply) {
    std::lock_guard lock(mutex_);
    replies_.push_back(std::move(reply));
    changed_.notify_all();
  }
  // The oldest held reply, once there is one; nullopt at the limit.
  std::optional<Reply> take() {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, kLimit, [&] { return !replies_.empty(); })) return std::nullopt;
    Reply reply = std::move(replies_.front());
    replies_.erase(replies_.begin());
    return reply;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Reply> replies_;
};

// What became of one posted task: whether it ran, where, and what it saw; `gone` once the task
// object is destroyed (after running, or unrun), which is what the test waits for.
struct Outcome {
  std::mutex mutex;
  std::condition_variable changed;
  bool ran = false;
  bool gone = false;
  bool on_its_thread = false;
  size_t in_flight = 0;
  ConnId seen;

  bool wait_gone() {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, kLimit, [&] { return gone; });
  }
};

// Marks its Outcome gone when the task holding it is destroyed (a moved-from one marks nothing).
struct GoneMarker {
  std::shared_ptr<Outcome> outcome;
  explicit GoneMarker(std::shared_ptr<Outcome> o) : outcome(std::move(o)) {}
  GoneMarker(GoneMarker&&) noexcept = default;
  ~GoneMarker() {
    if (!outcome) return;
    std::lock_guard lock(outcome->mutex);
    outcome->gone = true;
    outcome->changed.notify_all();
  }
};

// "id": answers the connection's ConnId as four numbers; "hold": keeps the reply for the test;
// anything else is echoed.
Handler test_handler(HeldReplies& held) {
  return Handler::async([&held](Request request, Reply reply) {
    if (request == "hold") {
      held.hold(std::move(reply));
    } else if (request == "id") {
      ConnId id = reply.connection();
      reply.send(std::to_string(id.loop.slot) + " " + std::to_string(id.loop.generation) + " " +
                 std::to_string(id.slot) + " " + std::to_string(id.generation));
    } else {
      reply.send(std::string(request));
    }
  });
}

class PostToConnIdTest : public testing::TestWithParam<test::ServerConfig> {
 protected:
  void SetUp() override {
    if (auto why = test::backend_unavailable(GetParam().backend)) GTEST_SKIP() << *why;
  }

  std::unique_ptr<Server> make_server() {
    ServerOptions options = test::server_options(GetParam());
    options.address = InetAddress::loopback_v4(0);
    options.codec = Codec(Framing::line);
    return std::make_unique<Server>(options, test_handler(held_));
  }
  void start() {
    server_ = make_server();
    auto error = server_->start();
    ASSERT_FALSE(error) << error.message() << " " << server_->error_detail();
  }
  test::LoopbackClient connect() {
    return test::LoopbackClient(server_->local_address().port(), kLimit);
  }

  // One answer line (without its '\n'), or nullopt if none came.
  static std::optional<std::string> read_line(test::LoopbackClient& client) {
    std::string line;
    bool eof = false;
    if (!test::read_until(client.fd(), line, eof, kLimit,
                          [&] { return line.find('\n') != std::string::npos; })) {
      return std::nullopt;
    }
    line.pop_back();
    return line;
  }

  // Sends "hold" on `client`: the reply its handler kept (unanswered), or nullopt.
  std::optional<Reply> hold_one(test::LoopbackClient& client) {
    if (!client.connected() || !client.send_all("hold\n")) return std::nullopt;
    return held_.take();
  }

  // The ConnId the server gave `client`'s connection, as its handler saw it.
  static std::optional<ConnId> ask_id(test::LoopbackClient& client) {
    if (!client.send_all("id\n")) return std::nullopt;
    auto line = read_line(client);
    if (!line) return std::nullopt;
    uint32_t numbers[4];
    const char* at = line->data();
    const char* end = line->data() + line->size();
    for (uint32_t& n : numbers) {
      auto [next, error] = std::from_chars(at, end, n);
      if (error != std::errc()) return std::nullopt;
      at = next + (next < end ? 1 : 0);
    }
    return ConnId{LoopHandle{numbers[0], numbers[1]}, numbers[2], numbers[3]};
  }

  // Posts a task that records what it sees into the returned Outcome and, if `then` is given,
  // calls it with the connection.
  std::shared_ptr<Outcome> post(ConnId id, bool& accepted,
                                void (*then)(ConnectionRef) = nullptr) {
    auto outcome = std::make_shared<Outcome>();
    bool lf = GetParam().model == Model::lf;
    accepted = server_->post_to(
        id, [marker = GoneMarker(outcome), poster = std::this_thread::get_id(), lf,
             then](ConnectionRef connection) {
          Outcome& o = *marker.outcome;
          {
            std::lock_guard lock(o.mutex);
            o.ran = true;
            o.seen = connection.id();
            o.in_flight = connection.in_flight();
            // Its loop's thread; lf has none: the posting thread, with the connection locked.
            o.on_its_thread = lf ? std::this_thread::get_id() == poster
                                 : runs_here(connection.id().loop);
          }
          if (then != nullptr) then(connection);
        });
    return outcome;
  }

  HeldReplies held_;
  std::unique_ptr<Server> server_;
};

TEST_P(PostToConnIdTest, TaskRunsOnTheConnectionsThreadAndSeesItsRequestsInFlight) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto client = connect();
  auto reply = hold_one(client);
  ASSERT_TRUE(reply);
  ConnId id = reply->connection();

  bool accepted = false;
  auto busy = post(id, accepted);
  ASSERT_TRUE(accepted);
  ASSERT_TRUE(busy->wait_gone());
  EXPECT_TRUE(busy->ran);
  EXPECT_TRUE(busy->on_its_thread);
  EXPECT_EQ(busy->seen, id);
  EXPECT_EQ(busy->in_flight, 1u);  // the held request

  reply->send("late");
  EXPECT_EQ(read_line(client), "late");  // the connection is still served after the task
  auto idle = post(id, accepted);
  ASSERT_TRUE(accepted);
  ASSERT_TRUE(idle->wait_gone());
  EXPECT_TRUE(idle->ran);
  EXPECT_EQ(idle->in_flight, 0u);  // answered: nothing owed any more
}

TEST_P(PostToConnIdTest, CloseWritesTheOwedAnswerThenEof) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto client = connect();
  auto reply = hold_one(client);
  ASSERT_TRUE(reply);

  bool accepted = false;
  auto kick = post(reply->connection(), accepted, [](ConnectionRef c) { c.close(); });
  ASSERT_TRUE(accepted);
  ASSERT_TRUE(kick->wait_gone());
  ASSERT_TRUE(kick->ran);
  EXPECT_EQ(kick->in_flight, 1u);
  // After the close: not served (it would answer "after" before the EOF).
  ASSERT_TRUE(client.send_all("after\n"));

  reply->send("owed");
  std::string got;
  EXPECT_TRUE(client.receive_to_eof(got));  // EOF, not a reset or the time limit
  EXPECT_EQ(got, "owed\n");
}

TEST_P(PostToConnIdTest, StaleIdRunsNothingEvenWhenItsSlotIsReused) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto first = connect();
  auto stale = ask_id(first);
  ASSERT_TRUE(stale);
  first.close();
  // The server has let the connection go (nothing to block on: its count is polled).
  ASSERT_TRUE(test::wait_until([&] { return server_->stats().open_connections == 0; }));

  // New connections until one is given the first one's slot on the same loop (slots are
  // reused last-freed first; round robin may place the next ones on other loops).
  std::vector<test::LoopbackClient> clients;
  std::optional<ConnId> reuser;
  for (int i = 0; i < GetParam().threads + 4 && !reuser; ++i) {
    clients.push_back(connect());
    auto id = ask_id(clients.back());
    ASSERT_TRUE(id);
    if (id->loop == stale->loop && id->slot == stale->slot) reuser = id;
  }
  ASSERT_TRUE(reuser) << "no new connection was given the closed one's slot";
  ASSERT_NE(reuser->generation, stale->generation);

  bool accepted = false;
  auto to_stale = post(*stale, accepted);
  EXPECT_TRUE(accepted);  // its loop is there; its connection is not
  ASSERT_TRUE(to_stale->wait_gone());
  EXPECT_FALSE(to_stale->ran);

  auto to_reuser = post(*reuser, accepted);
  ASSERT_TRUE(accepted);
  ASSERT_TRUE(to_reuser->wait_gone());
  EXPECT_TRUE(to_reuser->ran);
  EXPECT_EQ(to_reuser->seen, *reuser);
}

TEST_P(PostToConnIdTest, IdOfAnotherServerIsRefused) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto other = make_server();
  ASSERT_FALSE(other->start());
  test::LoopbackClient client(other->local_address().port(), kLimit);
  auto foreign = ask_id(client);
  ASSERT_TRUE(foreign);

  bool accepted = true;
  auto outcome = post(*foreign, accepted);
  EXPECT_FALSE(accepted);
  ASSERT_TRUE(outcome->wait_gone());
  EXPECT_FALSE(outcome->ran);
}

TEST_P(PostToConnIdTest, PostToIsRefusedBeforeStartAndAfterShutdown) {
  server_ = make_server();
  bool accepted = true;
  auto before = post(ConnId{}, accepted);
  EXPECT_FALSE(accepted);
  EXPECT_TRUE(before->gone);  // destroyed at once, unrun
  EXPECT_FALSE(before->ran);

  auto error = server_->start();
  ASSERT_FALSE(error) << server_->error_detail();
  auto client = connect();
  auto id = ask_id(client);
  ASSERT_TRUE(id);
  client.close();
  server_->shutdown(kLimit);

  auto after = post(*id, accepted);
  EXPECT_FALSE(accepted);
  EXPECT_TRUE(after->gone);
  EXPECT_FALSE(after->ran);
}

INSTANTIATE_TEST_SUITE_P(Models, PostToConnIdTest, testing::ValuesIn(test::server_matrix()),
                         test::server_config_name);

}  // namespace
}  // namespace tern
