#include "services/collector/replay_buffer.h"

#include <gtest/gtest.h>

#include <map>

namespace continuum::collector {
namespace {

store::LogPosition Pos(uint64_t i) {
  store::LogPosition p;
  p.segment_id = 1;
  p.offset = i;
  return p;
}

TEST(ReplayBufferTest, FillsThenStaysAtCapacity) {
  ReplayBuffer buffer(100, 0, 42);
  for (uint64_t i = 0; i < 50; ++i) buffer.Offer(Pos(i), -1);
  EXPECT_EQ(buffer.size(), 50);
  for (uint64_t i = 50; i < 10000; ++i) buffer.Offer(Pos(i), -1);
  EXPECT_EQ(buffer.size(), 100);
}

TEST(ReplayBufferTest, SampleIsUniform) {
  // Each of 1000 items should be kept with probability 100/1000; over 200
  // runs the first and second halves of the stream are kept equally often.
  int64_t first_half = 0;
  int64_t second_half = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    ReplayBuffer buffer(100, 0, seed);
    for (uint64_t i = 0; i < 1000; ++i) buffer.Offer(Pos(i), -1);
    for (const store::LogPosition& p : buffer.Positions()) {
      (p.offset < 500 ? first_half : second_half)++;
    }
  }
  EXPECT_EQ(first_half + second_half, 200 * 100);
  // Expected 10000 each; the standard deviation is about 70.
  EXPECT_NEAR(first_half, 10000, 500);
}

TEST(ReplayBufferTest, PerClassReservoirsKeepRareClasses) {
  ReplayBuffer buffer(100, 4, 7);
  for (uint64_t i = 0; i < 10000; ++i) buffer.Offer(Pos(i), 0);
  for (uint64_t i = 0; i < 10; ++i) buffer.Offer(Pos(100000 + i), 3);
  buffer.Offer(Pos(200000), -1);  // Unlabelled: not taken.
  std::map<bool, int> rare;
  for (const store::LogPosition& p : buffer.Positions())
    rare[p.offset >= 100000]++;
  EXPECT_EQ(rare[true], 10);
  EXPECT_EQ(rare[false], 25);
}

TEST(ReplayBufferTest, SnapshotRoundTripAndRemoval) {
  ReplayBuffer buffer(10, 0, 3);
  for (uint64_t i = 0; i < 100; ++i) buffer.Offer(Pos(i), -1);
  internal::v1::DatasetStateSnapshot snapshot;
  buffer.SaveTo(&snapshot);
  ReplayBuffer restored(10, 0, 3);
  restored.RestoreFrom(snapshot);
  ASSERT_EQ(restored.size(), 10);
  std::vector<store::LogPosition> a = buffer.Positions();
  std::vector<store::LogPosition> b = restored.Positions();
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].offset, b[i].offset);
  EXPECT_EQ(snapshot.reservoirs(0).seen(), 100);
  restored.RemoveIf(
      [](const store::LogPosition& p) { return p.offset % 2 == 0; });
  for (const store::LogPosition& p : restored.Positions())
    EXPECT_EQ(p.offset % 2, 1u);
}

TEST(ReplayBufferTest, ZeroCapacityKeepsNothing) {
  ReplayBuffer buffer(0, 0, 1);
  buffer.Offer(Pos(1), -1);
  EXPECT_EQ(buffer.size(), 0);
}

}  // namespace
}  // namespace continuum::collector
