// RingQueue: FIFO order across wrap-around and growth, push_front at a wrapped head, both-end
// pops, moves that leave the source empty, every element destroyed once, and no growth while a
// window slides.
#include "tern/base/ring_queue.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
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

// push_front from a head at slot 0 wraps to the array's last slot; pushes at both ends then
// fill the array so it grows with the head mid-array; the order must survive both.
TEST(RingQueueTest, PushFrontWrapsAroundAndGrowsKeepingOrder) {
  RingQueue<std::string> queue;
  queue.push_back("0");
  queue.push_front("-1");  // the head was slot 0: this one goes in the last slot
  ASSERT_EQ(queue.front(), "-1");
  ASSERT_EQ(queue.back(), "0");
  size_t first_capacity = queue.capacity();
  int lowest = -1;
  int highest = 0;
  // Alternate ends past the first capacity, so the growth finds the head wrapped.
  while (queue.size() < first_capacity * 2 + 3) {
    if (queue.size() % 2 == 0) queue.push_front(std::to_string(--lowest));
    else queue.push_back(std::to_string(++highest));
  }
  EXPECT_GT(queue.capacity(), first_capacity);
  std::vector<std::string> order;
  for (const std::string& value : queue) order.push_back(value);
  ASSERT_EQ(order.size(), size_t(highest - lowest + 1));
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], std::to_string(lowest + int(i)));
  for (int expected = lowest; expected <= highest; ++expected) {
    ASSERT_EQ(queue.front(), std::to_string(expected));
    queue.pop_front();
  }
  EXPECT_TRUE(queue.empty());
}

// HeldOperations' use: the front is taken out, more are pushed at the back meanwhile (enough
// to grow the array), then the taken one goes back first, and nothing is lost or destroyed twice.
TEST(RingQueueTest, ATakenFrontGoesBackFirstAfterTheBackGrew) {
  auto alive = std::make_shared<int>(0);
  {
    RingQueue<std::pair<int, std::shared_ptr<int>>> queue;
    for (int i = 0; i < 5; ++i) queue.push_back({i, alive});
    for (int round = 0; round < 3; ++round) {  // slide the head off slot 0
      auto taken = std::move(queue.front());
      queue.pop_front();
      queue.push_back({taken.first + 5, std::move(taken.second)});
    }
    auto taken = std::move(queue.front());
    queue.pop_front();
    for (int i = 8; i < 20; ++i) queue.push_back({i, alive});  // grows while the front is out
    queue.push_front(std::move(taken));
    EXPECT_EQ(alive.use_count(), 1 + 17);
    int expected = 3;
    for (const auto& element : queue) EXPECT_EQ(element.first, expected++);
    EXPECT_EQ(expected, 20);
  }
  EXPECT_EQ(alive.use_count(), 1);
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
