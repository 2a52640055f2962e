// RingQueue: FIFO order across wrap-around and growth, both-end pops, moves that leave the
// source empty, every element destroyed once, and no growth while a window slides.
#include "tern/base/ring_queue.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace tern {
namespace {

TEST(RingQueueTest, KeepsOrderAcrossWrapAroundAndGrowth) {
  RingQueue<std::string> queue;
  int next_in = 0;
  int next_out = 0;
  // Slide a window of 5 so head wraps, then widen it so the array grows mid-wrap.
  for (int round = 0; round < 40; ++round) {
    int window = round < 20 ? 5 : 5 + round;
    while (int(queue.size()) < window) queue.push_back(std::to_string(next_in++));
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(queue.front(), std::to_string(next_out++));
      queue.pop_front();
    }
  }
  std::vector<std::string> rest;
  for (const std::string& value : queue) rest.push_back(value);
  ASSERT_EQ(rest.size(), queue.size());
  for (size_t i = 0; i < rest.size(); ++i) EXPECT_EQ(rest[i], std::to_string(next_out + int(i)));
  EXPECT_EQ(queue.back(), std::to_string(next_in - 1));
}

TEST(RingQueueTest, PopBackTakesTheNewest) {
  RingQueue<int> queue;
  for (int i = 0; i < 10; ++i) queue.push_back(i);
  queue.pop_back();
  EXPECT_EQ(queue.back(), 8);
  EXPECT_EQ(queue.front(), 0);
  EXPECT_EQ(queue.size(), 9u);
}

TEST(RingQueueTest, ASlidingWindowNeverGrowsTheArray) {
  RingQueue<int> queue;
  for (int i = 0; i < 16; ++i) queue.push_back(i);
  size_t capacity = queue.capacity();
  for (int i = 16; i < 100000; ++i) {
    queue.pop_front();
    queue.push_back(i);
  }
  EXPECT_EQ(queue.capacity(), capacity);
  EXPECT_EQ(queue.front(), 100000 - 16);
}

TEST(RingQueueTest, MoveLeavesTheSourceEmptyAndDestroysEachElementOnce) {
  auto alive = std::make_shared<int>(0);
  {
    RingQueue<std::shared_ptr<int>> queue;
    for (int i = 0; i < 20; ++i) queue.push_back(alive);  // grows twice
    queue.pop_front();
    EXPECT_EQ(alive.use_count(), 20);
    RingQueue<std::shared_ptr<int>> moved(std::move(queue));
    EXPECT_TRUE(queue.empty());  // NOLINT: checking the moved-from state on purpose
    EXPECT_EQ(moved.size(), 19u);
    RingQueue<std::shared_ptr<int>> assigned;
    assigned.push_back(alive);
    assigned = std::move(moved);
    EXPECT_EQ(alive.use_count(), 20);
    assigned.clear();
    EXPECT_EQ(alive.use_count(), 1);
    assigned.push_back(alive);
  }
  EXPECT_EQ(alive.use_count(), 1);
}

}  // namespace
}  // namespace tern
