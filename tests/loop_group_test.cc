// LoopGroup: N loops on N threads; setup and teardown on each loop's own thread; posts by
// index or by handle; a handle of a stopped loop posts nothing.
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "test_support.h"
#include "tern/loop/loop_group.h"

namespace tern {
namespace {

class LoopGroupTest : public test::BackendTest {};

TEST_P(LoopGroupTest, EachLoopRunsOnItsOwnThread) {
  constexpr int kLoops = 3;
  std::mutex mutex;
  std::set<std::thread::id> setup_threads;
  std::set<std::thread::id> teardown_threads;
  LoopGroup group;
  ASSERT_FALSE(group.start(
      LoopGroupOptions{GetParam(), backend_options(), kLoops, "test-loop"},
      [&](size_t, EventLoop& loop) {
        std::lock_guard lock(mutex);
        EXPECT_TRUE(loop.in_loop_thread());
        setup_threads.insert(std::this_thread::get_id());
        return std::error_code{};
      },
      [&](size_t, EventLoop& loop) {
        std::lock_guard lock(mutex);
        EXPECT_TRUE(loop.in_loop_thread());
        teardown_threads.insert(std::this_thread::get_id());
      }));
  ASSERT_EQ(group.size(), size_t(kLoops));
  std::set<std::thread::id> ran_on;
  for (size_t i = 0; i < group.size(); ++i) {
    group.run_and_wait(i, [&, i] {
      EXPECT_TRUE(group.loop(i).in_loop_thread());
      EXPECT_TRUE(runs_here(group.handle(i)));
      ran_on.insert(std::this_thread::get_id());
    });
  }
  EXPECT_EQ(ran_on, setup_threads);
  EXPECT_EQ(setup_threads.size(), size_t(kLoops));
  EXPECT_FALSE(runs_here(group.handle(0)));  // the test's thread is no loop's
  group.stop();
  EXPECT_EQ(teardown_threads, setup_threads);
}

// A handle kept after its loop is gone posts nothing, from any thread, and the task is
// destroyed unrun (the class of late replies after a server stopped).
TEST_P(LoopGroupTest, HandleOfAStoppedLoopPostsNothing) {
  LoopHandle kept;
  {
    LoopGroup group;
    ASSERT_FALSE(group.start(LoopGroupOptions{GetParam(), backend_options(), 1, "test-loop"}));
    kept = group.handle(0);
    std::atomic<bool> ran{false};
    group.run_and_wait(0, [&] { ran = true; });
    EXPECT_TRUE(ran);
  }
  auto owned = std::make_shared<int>(7);
  std::weak_ptr<int> watch = owned;
  EXPECT_FALSE(post_to(kept, [owned = std::move(owned)] { ADD_FAILURE() << "ran on a dead loop"; }));
  EXPECT_TRUE(watch.expired());
  // A new loop may take the same slot: the old handle still names nothing.
  LoopGroup next;
  ASSERT_FALSE(next.start(LoopGroupOptions{GetParam(), backend_options(), 1, "test-loop"}));
  EXPECT_FALSE(post_to(kept, [] { ADD_FAILURE() << "ran on the slot's next loop"; }));
  EXPECT_NE(next.handle(0), kept);
}

TEST_P(LoopGroupTest, SetupErrorStopsTheGroup) {
  LoopGroup group;
  std::atomic<int> torn_down{0};
  auto error = group.start(
      LoopGroupOptions{GetParam(), backend_options(), 3, "test-loop"},
      [](size_t i, EventLoop&) {
        return i == 1 ? std::make_error_code(std::errc::address_in_use) : std::error_code{};
      },
      [&](size_t, EventLoop&) { ++torn_down; });
  EXPECT_EQ(error, std::make_error_code(std::errc::address_in_use));
  EXPECT_EQ(group.size(), 0u);
  EXPECT_EQ(torn_down.load(), 2);  // loop 0 (started, then stopped) and loop 1 (failed)
}

INSTANTIATE_TEST_SUITE_P(AllBackends, LoopGroupTest, testing::ValuesIn(all_backend_kinds()),
                         test::backend_test_name);

}  // namespace
}  // namespace tern
