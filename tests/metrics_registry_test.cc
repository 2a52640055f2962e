// Registry: a collect gathers every source (loop sources on their loops' threads, plain ones
// on the caller's), completes when a loop goes away with its fill queued, and skips removed
// sources. Every wait is on a future, bounded so a broken collect fails instead of hanging.
#include "tern/metrics/registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "tern/loop/event_loop.h"
#include "tern/loop/loop_group.h"

namespace tern::metrics {
namespace {

constexpr auto kBound = std::chrono::seconds(60);  // a hang bound, not a timing assertion

// Runs a collect and waits for its snapshot; fails the test if done never comes.
std::optional<Snapshot> collect_and_wait(const Registry& registry) {
  auto promise = std::make_shared<std::promise<Snapshot>>();
  auto future = promise->get_future();
  registry.collect([promise](Snapshot s) { promise->set_value(std::move(s)); });
  if (future.wait_for(kBound) != std::future_status::ready) {
    ADD_FAILURE() << "collect did not complete";
    return std::nullopt;
  }
  return future.get();
}

TEST(MetricsRegistryTest, CollectGathersEveryLoopOfAGroupOnItsOwnThread) {
  constexpr int kLoops = 3;
  LoopGroup group;
  ASSERT_FALSE(group.start(LoopGroupOptions{BackendKind::epoll, {}, kLoops, "metrics-test"}));
  Registry registry;
  std::atomic<int> off_loop_fills{0};
  for (size_t i = 0; i < group.size(); ++i) {
    const LoopHandle handle = group.handle(i);
    registry.add_loop_source(handle, [handle, i, &off_loop_fills](Snapshot& s) {
      if (!runs_here(handle)) off_loop_fills.fetch_add(1);
      s.add_counter("tern_test_fills_total", "Fills.", {{"loop", std::to_string(i)}}, 1);
      s.add_counter("tern_test_shared_total", "One series all loops add to.", {}, double(i + 1));
    });
  }
  registry.add_source([](Snapshot& s) { s.add_gauge("tern_test_plain", "Plain.", {}, 7); });

  for (int round = 1; round <= 3; ++round) {
    auto snapshot = collect_and_wait(registry);
    ASSERT_TRUE(snapshot);
    const Family* fills = snapshot->find("tern_test_fills_total");
    ASSERT_NE(fills, nullptr);
    ASSERT_EQ(fills->series.size(), size_t(kLoops));
    for (int i = 0; i < kLoops; ++i) {
      // Registration order, whichever loop answered first.
      EXPECT_EQ(fills->series[i].labels, (Labels{{"loop", std::to_string(i)}}));
      EXPECT_EQ(fills->series[i].value, 1);
    }
    EXPECT_EQ(snapshot->value("tern_test_shared_total", {}), 1 + 2 + 3);
    EXPECT_EQ(snapshot->value("tern_test_plain", {}), 7);
  }
  EXPECT_EQ(off_loop_fills.load(), 0);
  group.stop();
}

TEST(MetricsRegistryTest, WithoutLoopSourcesDoneRunsOnTheCallersThreadBeforeCollectReturns) {
  Registry registry;
  registry.add_source([](Snapshot& s) { s.add_counter("a_total", "", {}, 2); });
  std::thread::id done_thread;
  std::optional<double> value;
  registry.collect([&](Snapshot s) {
    done_thread = std::this_thread::get_id();
    value = s.value("a_total", {});
  });
  EXPECT_EQ(done_thread, std::this_thread::get_id());
  EXPECT_EQ(value, 2);

  Registry empty;
  bool called = false;
  empty.collect([&](Snapshot s) {
    called = true;
    EXPECT_TRUE(s.families().empty());
  });
  EXPECT_TRUE(called);
}

// The loop is destroyed, never having run, while the collect's fill waits in its queue: the
// queued task is destroyed unrun and the collect completes without that loop's part.
TEST(MetricsRegistryTest, ALoopDestroyedWithTheFillQueuedStillCompletesTheCollect) {
  Registry registry;
  std::atomic<int> fills{0};
  std::promise<LoopHandle> created;
  std::promise<void> posted;
  std::thread owner([&] {
    EventLoop loop(BackendKind::epoll);
    created.set_value(loop.handle());
    posted.get_future().wait();
    // ~EventLoop here, with the fill still queued.
  });
  const LoopHandle handle = created.get_future().get();
  registry.add_loop_source(handle, [&](Snapshot& s) {
    fills.fetch_add(1);
    s.add_counter("gone_total", "", {}, 1);
  });
  registry.add_source([](Snapshot& s) { s.add_counter("here_total", "", {}, 1); });

  auto promise = std::make_shared<std::promise<Snapshot>>();
  auto future = promise->get_future();
  registry.collect([promise](Snapshot s) { promise->set_value(std::move(s)); });
  // The fill is queued on a loop that does not run: the collect cannot have completed.
  EXPECT_NE(future.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  posted.set_value();
  owner.join();
  ASSERT_EQ(future.wait_for(kBound), std::future_status::ready);
  Snapshot snapshot = future.get();
  EXPECT_EQ(snapshot.find("gone_total"), nullptr);
  EXPECT_EQ(snapshot.value("here_total", {}), 1);
  EXPECT_EQ(fills.load(), 0);

  // Later collects find the loop gone at once (the post is refused) and still complete.
  auto again = collect_and_wait(registry);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->value("here_total", {}), 1);
  EXPECT_EQ(fills.load(), 0);
}

TEST(MetricsRegistryTest, RemoveStopsASource) {
  LoopGroup group;
  ASSERT_FALSE(group.start(LoopGroupOptions{BackendKind::epoll, {}, 2, "metrics-test"}));
  Registry registry;
  std::atomic<int> removed_fills{0};
  const SourceId kept = registry.add_loop_source(group.handle(0), [](Snapshot& s) {
    s.add_counter("kept_total", "", {}, 1);
  });
  const SourceId loop_removed = registry.add_loop_source(group.handle(1), [&](Snapshot& s) {
    removed_fills.fetch_add(1);
    s.add_counter("removed_total", "", {}, 1);
  });
  const SourceId plain_removed = registry.add_source([&](Snapshot& s) {
    removed_fills.fetch_add(1);
    s.add_counter("removed_total", "", {}, 1);
  });
  EXPECT_NE(kept, loop_removed);
  EXPECT_NE(loop_removed, plain_removed);

  auto before = collect_and_wait(registry);
  ASSERT_TRUE(before);
  EXPECT_EQ(before->value("removed_total", {}), 2);
  EXPECT_EQ(removed_fills.load(), 2);

  // As a server does at loop stop: removed on the source's own loop thread.
  group.run_and_wait(1, [&] { registry.remove(loop_removed); });
  registry.remove(plain_removed);
  registry.remove(plain_removed);  // a second remove, or an unknown id, is a no-op
  registry.remove(9999);
  auto after = collect_and_wait(registry);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->find("removed_total"), nullptr);
  EXPECT_EQ(after->value("kept_total", {}), 1);
  EXPECT_EQ(removed_fills.load(), 2);
  group.stop();
}

// A source removed after a collect posted its fill, before the fill ran: the fill is skipped.
TEST(MetricsRegistryTest, ASourceRemovedWhileItsFillIsQueuedIsNotFilled) {
  LoopGroup group;
  ASSERT_FALSE(group.start(LoopGroupOptions{BackendKind::epoll, {}, 1, "metrics-test"}));
  Registry registry;
  std::atomic<int> fills{0};
  const SourceId id = registry.add_loop_source(group.handle(0), [&](Snapshot& s) {
    fills.fetch_add(1);
    s.add_counter("x_total", "", {}, 1);
  });
  // Hold the loop in a task so the fill stays queued behind it.
  std::promise<void> entered;
  std::promise<void> release;
  group.post(0, [&] {
    entered.set_value();
    release.get_future().wait();
  });
  entered.get_future().wait();
  auto promise = std::make_shared<std::promise<Snapshot>>();
  auto future = promise->get_future();
  registry.collect([promise](Snapshot s) { promise->set_value(std::move(s)); });
  registry.remove(id);
  release.set_value();
  ASSERT_EQ(future.wait_for(kBound), std::future_status::ready);
  EXPECT_EQ(future.get().find("x_total"), nullptr);
  EXPECT_EQ(fills.load(), 0);
  group.stop();
}

// The registry may go before a collect it started completes: the collect owns what it needs.
TEST(MetricsRegistryTest, ACollectOutlivesItsRegistry) {
  LoopGroup group;
  ASSERT_FALSE(group.start(LoopGroupOptions{BackendKind::epoll, {}, 1, "metrics-test"}));
  std::promise<void> entered;
  std::promise<void> release;
  group.post(0, [&] {
    entered.set_value();
    release.get_future().wait();
  });
  entered.get_future().wait();
  auto promise = std::make_shared<std::promise<Snapshot>>();
  auto future = promise->get_future();
  {
    Registry registry;
    registry.add_loop_source(group.handle(0),
                             [](Snapshot& s) { s.add_counter("y_total", "", {}, 3); });
    registry.collect([promise](Snapshot s) { promise->set_value(std::move(s)); });
  }
  release.set_value();
  ASSERT_EQ(future.wait_for(kBound), std::future_status::ready);
  EXPECT_EQ(future.get().value("y_total", {}), 3);
  group.stop();
}

}  // namespace
}  // namespace tern::metrics
