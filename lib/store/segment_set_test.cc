// SegmentSet: the segments of a log in memory.
#include "lib/store/segment_set.h"

#include <gtest/gtest.h>

#include <vector>

#include "lib/store/log_format.h"
#include "lib/store/segment_files.h"

namespace continuum::store {
namespace {

constexpr int64_t kDayA = 20'000;
constexpr int64_t kDayB = 20'001;

SegmentState MakeSegment(int64_t day, int64_t seq, int64_t records,
                         uint64_t bytes) {
  SegmentState s;
  s.id = day * kSegmentsPerDay + seq;
  s.day = day;
  s.path = SegmentFileName(s.id, "log");
  s.records = records;
  s.bytes = bytes;
  s.min_event_time_micros = day * kMicrosPerDay + 10;
  s.max_event_time_micros = day * kMicrosPerDay + 20;
  return s;
}

// Day A: segments 0 (3 records) and 1 (2, active); day B: segment 0 (1,
// active). 100 bytes a record.
void AddThreeSegments(SegmentSet& set) {
  set.Add(MakeSegment(kDayA, 0, 3, 300));
  set.Add(MakeSegment(kDayA, 1, 2, 200));
  set.Add(MakeSegment(kDayB, 0, 1, 100));
  set.day(kDayA).active_id = kDayA * kSegmentsPerDay + 1;
  set.day(kDayB).active_id = kDayB * kSegmentsPerDay;
}

TEST(SegmentSetTest, AddCountsTotalsAndDescribeReportsTheActiveSegments) {
  SegmentSet set;
  AddThreeSegments(set);
  EXPECT_EQ(set.total_records(), 6);
  EXPECT_EQ(set.total_bytes(), 600u);
  const std::vector<SegmentInfo> infos = set.Describe();
  ASSERT_EQ(infos.size(), 3u);
  EXPECT_EQ(infos[0].id, kDayA * kSegmentsPerDay);
  EXPECT_FALSE(infos[0].active);
  EXPECT_TRUE(infos[1].active);
  EXPECT_TRUE(infos[2].active);
  EXPECT_EQ(infos[2].day, kDayB);
  EXPECT_EQ(infos[2].records, 1);
  EXPECT_EQ(infos[2].bytes, 100u);
  EXPECT_EQ(set.ActiveSegment(kDayA)->id, kDayA * kSegmentsPerDay + 1);
  EXPECT_EQ(set.ActiveSegment(kDayB + 1), nullptr);
  EXPECT_EQ(set.NewestActiveId(), kDayB * kSegmentsPerDay);
}

TEST(SegmentSetTest, CountAppendedWidensTheRangeAndMarksDirty) {
  SegmentSet set;
  SegmentState& empty = set.Add(MakeSegment(kDayA, 0, 0, 0));
  set.CountAppended(&empty, 2, 80, 500, 700, {0});
  EXPECT_EQ(empty.min_event_time_micros, 500);  // Set, not widened.
  EXPECT_EQ(empty.max_event_time_micros, 700);
  set.CountAppended(&empty, 1, 40, 400, 600, {});
  EXPECT_EQ(empty.min_event_time_micros, 400);
  EXPECT_EQ(empty.max_event_time_micros, 700);
  EXPECT_EQ(empty.records, 3);
  EXPECT_EQ(empty.bytes, 120u);
  EXPECT_EQ(empty.checkpoints, std::vector<uint64_t>{0});
  EXPECT_TRUE(empty.dirty);
  EXPECT_EQ(set.total_records(), 3);
  EXPECT_EQ(set.total_bytes(), 120u);
  const log_format::SegmentIndex index = empty.Index();
  EXPECT_EQ(index.records, 3);
  EXPECT_EQ(index.bytes, 120u);
  EXPECT_EQ(index.min_event_time_micros, 400);
}

TEST(SegmentSetTest, RemovingTheActiveSegmentActivatesTheDaysNewestLeft) {
  SegmentSet set;
  AddThreeSegments(set);

  set.Remove(kDayA * kSegmentsPerDay + 1);
  EXPECT_EQ(set.day(kDayA).active_id, kDayA * kSegmentsPerDay);
  EXPECT_EQ(set.total_records(), 4);
  EXPECT_EQ(set.total_bytes(), 400u);
  set.Remove(kDayA * kSegmentsPerDay);
  EXPECT_EQ(set.day(kDayA).active_id, -1);  // The next day's is not taken.
  set.Remove(kDayB * kSegmentsPerDay);
  EXPECT_EQ(set.NewestActiveId(), -1);
  EXPECT_EQ(set.total_records(), 0);
  EXPECT_EQ(set.total_bytes(), 0u);

  set.Add(MakeSegment(kDayA, 5, 1, 10));
  set.Clear();
  EXPECT_TRUE(set.segments().empty());
  EXPECT_TRUE(set.days().empty());
  EXPECT_EQ(set.total_bytes(), 0u);
}

TEST(SegmentSetTest, CheckpointsAndTimeRanges) {
  std::vector<uint64_t> checkpoints;
  MaybeAddCheckpoint(0, &checkpoints);
  MaybeAddCheckpoint(100, &checkpoints);
  MaybeAddCheckpoint(log_format::kCheckpointInterval, &checkpoints);
  MaybeAddCheckpoint(log_format::kCheckpointInterval + 1, &checkpoints);
  EXPECT_EQ(checkpoints,
            (std::vector<uint64_t>{0, log_format::kCheckpointInterval}));
  int64_t min = 0;
  int64_t max = 0;
  ExtendTimeRange(/*empty=*/true, 50, 60, &min, &max);
  EXPECT_EQ(min, 50);
  EXPECT_EQ(max, 60);
  ExtendTimeRange(/*empty=*/false, 55, 90, &min, &max);
  EXPECT_EQ(min, 50);
  EXPECT_EQ(max, 90);
}

}  // namespace
}  // namespace continuum::store
