// HeldOperations (src/store/held_operations.h), on its own: an operation that starts may hold
// more operations before it returns, enough to grow the ring it was taken from; room() goes on
// with the others in issue order, and one that still finds no room keeps its place first; one
// past its deadline is ended, not started.
#include "store/held_operations.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <system_error>
#include <vector>

#include "tern/loop/event_loop.h"

namespace tern::store {
namespace {

// What the operations share; each captures only a pointer to it and its own short name, so the
// capture stays inside UniqueFunction's inline storage and moves with the ring's slots.
struct Scene {
  EventLoop loop{BackendKind::epoll};
  HeldOperations held{loop, std::chrono::hours(1), 100};  // no deadline passes in this test
  size_t room_left = 0;
  std::vector<std::string> started;

  // An operation that, when it starts, holds `spawn` more behind the others, then records its
  // name: read after the holds, so a reference into the ring kept across them would read a
  // moved-from name.
  HeldOperations::Operation operation(std::string name, int spawn) {
    return [this, name = std::move(name), spawn](std::error_code failed) {
      if (failed) {
        started.push_back("failed " + name);
        return true;
      }
      if (room_left == 0) return false;
      --room_left;
      for (int i = 0; i < spawn; ++i) held.hold(loop.now(), operation(name + std::to_string(i), 0));
      started.push_back(name);
      return true;
    };
  }
};

TEST(HeldOperationsTest, AnOperationHoldingMoreWhileItStartsKeepsTheOrder) {
  Scene scene;
  // Seven held: the ring's first array (8) is nearly full, so the nine that "a" holds while it
  // starts make it grow while "a" is out of it.
  scene.held.hold(scene.loop.now(), scene.operation("a", 9));
  for (const char* name : {"b", "c", "d", "e", "f", "g"}) {
    scene.held.hold(scene.loop.now(), scene.operation(name, 0));
  }
  scene.room_left = 2;
  scene.held.room();
  EXPECT_EQ(scene.started, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(scene.held.size(), 5u + 9u) << "c still first, then d..g, then a's nine";

  scene.room_left = 100;
  scene.held.room();
  EXPECT_EQ(scene.started,
            (std::vector<std::string>{"a", "b", "c", "d", "e", "f", "g", "a0", "a1", "a2", "a3",
                                      "a4", "a5", "a6", "a7", "a8"}));
  EXPECT_FALSE(scene.held.holding());
}

// room() that comes after an operation's deadline, before its timer ran, ends it with timeout
// instead of starting it (it would have none of its time left); the next one, in time, starts.
TEST(HeldOperationsTest, RoomAfterTheDeadlineEndsTheOperationInsteadOfStartingIt) {
  Scene scene;
  // Issued two hours ago with a deadline of one: due, though no loop turn has run its timer.
  scene.held.hold(scene.loop.now() - std::chrono::hours(2), scene.operation("late", 0));
  scene.held.hold(scene.loop.now(), scene.operation("b", 0));
  scene.room_left = 2;
  scene.held.room();
  EXPECT_EQ(scene.started, (std::vector<std::string>{"failed late", "b"}));
  EXPECT_EQ(scene.room_left, 1u) << "the late one took no room";
  EXPECT_FALSE(scene.held.holding());
}

// A burst grows the ring; once every operation has started it is given back, and a small hold
// afterwards keeps its few places.
TEST(HeldOperationsTest, TheRingABurstGrewIsGivenBackWhenAllHaveStarted) {
  EventLoop loop{BackendKind::epoll};
  HeldOperations held{loop, std::chrono::hours(1), 5000};
  size_t room_left = 0, started = 0;
  auto operation = [&](std::error_code failed) {
    if (failed) return true;
    if (room_left == 0) return false;
    --room_left;
    ++started;
    return true;
  };
  for (int i = 0; i < 4000; ++i) held.hold(loop.now(), operation);
  ASSERT_GE(held.places(), 4000u);

  room_left = 3999;
  held.room();
  EXPECT_EQ(held.size(), 1u);
  EXPECT_GE(held.places(), 4000u) << "kept while one is still held";

  room_left = 1;
  held.room();
  EXPECT_EQ(started, 4000u);
  EXPECT_LE(held.places(), HeldOperations::kKeptPlaces);

  for (int i = 0; i < 10; ++i) held.hold(loop.now(), operation);
  size_t small = held.places();
  room_left = 10;
  held.room();
  EXPECT_EQ(held.places(), small) << "a ring of at most kKeptPlaces stays for the next hold";
}

// The same when the burst ends at its deadline instead.
TEST(HeldOperationsTest, TheRingABurstGrewIsGivenBackWhenAllHaveExpired) {
  EventLoop loop{BackendKind::epoll};
  HeldOperations held{loop, std::chrono::milliseconds(1), 5000};
  size_t failed_count = 0;
  for (int i = 0; i < 4000; ++i) {
    held.hold(loop.now(), [&](std::error_code failed) {
      if (failed) ++failed_count;
      return static_cast<bool>(failed);  // never room: only the deadline ends them
    });
  }
  ASSERT_GE(held.places(), 4000u);
  loop.run_after(std::chrono::seconds(20), [] {});  // run_once returns even if nothing expires
  for (int i = 0; i < 100 && failed_count < 4000; ++i) loop.run_once();
  ASSERT_EQ(failed_count, 4000u);
  EXPECT_FALSE(held.holding());
  EXPECT_LE(held.places(), HeldOperations::kKeptPlaces);
}

}  // namespace
}  // namespace tern::store
