// The server's admission: slots, a queue ordered by deadline, refusals.
#include "server/admission.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace adallava::server {
namespace {

using Clock = Admission::Clock;
using namespace std::chrono_literals;

TEST(Admission, WaitersGoInDeadlineOrderThenArrivalOrder) {
  Admission a(1, 8);
  Admission::Slot first;
  ASSERT_EQ(a.enter(std::nullopt, &first), Admission::Outcome::Admitted);
  std::mutex mu;
  std::vector<int> order;
  std::vector<std::thread> waiters;
  const auto now = Clock::now();
  // Arrive in the order 0..3; deadlines: none, late, none, early.
  const std::vector<std::optional<Clock::time_point>> deadlines = {std::nullopt, now + 50s, std::nullopt, now + 20s};
  for (int i = 0; i < 4; ++i) {
    waiters.emplace_back([&, i] {
      Admission::Slot s;
      ASSERT_EQ(a.enter(deadlines[size_t(i)], &s), Admission::Outcome::Admitted);
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(i);
    });
    while (a.waiting() != i + 1) std::this_thread::sleep_for(1ms);
  }
  first.release();
  for (auto& t : waiters) t.join();
  EXPECT_EQ(order, (std::vector<int>{3, 1, 0, 2}));
  EXPECT_EQ(a.running(), 0);
}

TEST(Admission, AFullQueueAPassedDeadlineAndAStopAreRefused) {
  Admission a(1, 1);
  Admission::Slot running;
  ASSERT_EQ(a.enter(std::nullopt, &running), Admission::Outcome::Admitted);
  std::thread waiter([&] {
    Admission::Slot s;
    EXPECT_EQ(a.enter(std::nullopt, &s), Admission::Outcome::ShuttingDown);
  });
  while (a.waiting() != 1) std::this_thread::sleep_for(1ms);
  Admission::Slot none;
  EXPECT_EQ(a.enter(std::nullopt, &none), Admission::Outcome::QueueFull);
  Admission b(1, 4);
  Admission::Slot busy;
  ASSERT_EQ(b.enter(std::nullopt, &busy), Admission::Outcome::Admitted);
  EXPECT_EQ(b.enter(Clock::now() + 20ms, &none), Admission::Outcome::DeadlinePassed);
  a.shut_down();
  waiter.join();
  EXPECT_EQ(a.enter(std::nullopt, &none), Admission::Outcome::ShuttingDown);
}

}  // namespace
}  // namespace adallava::server
