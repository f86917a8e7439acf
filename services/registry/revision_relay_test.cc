#include "services/registry/revision_relay.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace continuum::registry {
namespace {

TEST(RevisionRelayTest, StartsAtTheSourcesRevisionAndFollowsIt) {
  core::SequenceNotifier source(4);
  RevisionRelay relay(&source);
  EXPECT_EQ(relay.revisions().latest(), 4);
  source.Publish(5);
  EXPECT_EQ(relay.revisions().WaitAbove(4, absl::Now() + absl::Seconds(30)), 5);
  for (int64_t r = 6; r <= 100; ++r) source.Publish(r);
  // A burst may be coalesced, never lost: the last one arrives.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (relay.revisions().latest() < 100 && absl::Now() < deadline) {
    relay.revisions().WaitAbove(relay.revisions().latest(), deadline);
  }
  EXPECT_EQ(relay.revisions().latest(), 100);
}

TEST(RevisionRelayTest, SubscribersRunOnTheRelaysThreadNotThePublishers) {
  core::SequenceNotifier source;
  RevisionRelay relay(&source);
  std::atomic<bool> on_publisher{true};
  absl::Notification ran;
  const std::thread::id publisher = std::this_thread::get_id();
  relay.revisions().Subscribe([&](int64_t) {
    on_publisher = std::this_thread::get_id() == publisher;
    ran.Notify();
  });
  source.Publish(1);
  ASSERT_TRUE(ran.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_FALSE(on_publisher.load());
}

TEST(RevisionRelayTest, StopsWhenDestroyed) {
  core::SequenceNotifier source;
  {
    RevisionRelay relay(&source);
    EXPECT_EQ(source.subscribers(), 1);
  }
  EXPECT_EQ(source.subscribers(), 0);
  source.Publish(1);  // Nothing left to call.
}

}  // namespace
}  // namespace continuum::registry
