#include "lib/core/sequence_notifier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "absl/time/clock.h"

namespace continuum::core {
namespace {

TEST(SequenceNotifierTest, PublishRaisesOnly) {
  SequenceNotifier notifier(5);
  EXPECT_EQ(notifier.latest(), 5);
  notifier.Publish(3);
  EXPECT_EQ(notifier.latest(), 5);
  notifier.Publish(9);
  EXPECT_EQ(notifier.latest(), 9);
}

TEST(SequenceNotifierTest, WaitAboveReturnsAtOnceWhenAlreadyNewer) {
  SequenceNotifier notifier(4);
  EXPECT_EQ(notifier.WaitAbove(3, absl::InfiniteFuture()), 4);
}

TEST(SequenceNotifierTest, WaitAboveWakesOnPublish) {
  SequenceNotifier notifier;
  std::atomic<int64_t> seen{-1};
  std::thread waiter(
      [&] { seen = notifier.WaitAbove(0, absl::InfiniteFuture()); });
  // Publish only once the waiter is blocked, so the wake-up is what ends
  // the wait (the wait has no deadline).
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (notifier.waiters() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_EQ(notifier.waiters(), 1);
  EXPECT_EQ(seen, -1);
  notifier.Publish(7);
  waiter.join();
  EXPECT_EQ(seen, 7);
}

TEST(SequenceNotifierTest, WaitAboveEndsAtTheDeadlineOrOnCancel) {
  SequenceNotifier notifier(2);
  EXPECT_EQ(notifier.WaitAbove(2, absl::Now() + absl::Milliseconds(20)), 2);
  std::atomic<bool> cancel{true};
  EXPECT_EQ(notifier.WaitAbove(2, absl::InfiniteFuture(),
                               [&] { return cancel.load(); }),
            2);
}

TEST(SequenceNotifierTest, SubscribersRunOnRaisesUntilUnsubscribed) {
  SequenceNotifier notifier;
  std::vector<int64_t> a, b;
  const uint64_t ida = notifier.Subscribe([&](int64_t s) { a.push_back(s); });
  notifier.Subscribe([&](int64_t s) { b.push_back(s); });
  EXPECT_EQ(notifier.subscribers(), 2);
  notifier.Publish(1);
  notifier.Publish(1);  // not a raise: nobody runs
  notifier.Publish(3);
  notifier.Unsubscribe(ida);
  notifier.Publish(4);
  EXPECT_EQ(a, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(b, (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(notifier.subscribers(), 1);
}

TEST(SequenceNotifierTest, CallbacksRunWithoutTheNotifiersLock) {
  SequenceNotifier notifier;
  int64_t inside = -1;
  // A callback that reads the notifier and unsubscribes itself would
  // deadlock if Publish held its lock while running callbacks.
  uint64_t id = 0;
  id = notifier.Subscribe([&](int64_t) {
    inside = notifier.latest();
    notifier.Unsubscribe(id);
  });
  notifier.Publish(2);
  EXPECT_EQ(inside, 2);
  EXPECT_EQ(notifier.subscribers(), 0);
}

}  // namespace
}  // namespace continuum::core
