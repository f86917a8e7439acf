// Retention: by age and by size through SegmentLog::ApplyRetention, and the
// choice of victims on a SegmentSet.
#include "lib/store/segment_retention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "lib/store/segment_files.h"
#include "lib/store/segment_log.h"
#include "lib/store/segment_log_test_util.h"
#include "lib/store/segment_set.h"

namespace continuum::store {
namespace {

using segment_log_testing::At;
using segment_log_testing::Entry;
using segment_log_testing::kBaseDay;
using segment_log_testing::Row;
using segment_log_testing::ScanRows;
using segment_log_testing::SegmentLogTest;

TEST_F(SegmentLogTest, RetentionByAgeDeletesExactlyTheOldDays) {
  auto log = Open(DefaultFileSystem(), 600);
  ASSERT_NE(log, nullptr);
  const std::vector<Row> rows = Fill(*log, 6, 15);
  int64_t max_id_day0 = 0;
  for (const SegmentInfo& s : log->Segments()) {
    if (s.day == kBaseDay) max_id_day0 = std::max(max_id_day0, s.id);
  }
  const std::vector<SegmentInfo> before = log->Segments();

  auto result = log->ApplyRetention(At(3, 0), 0);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->deleted_records, 45);
  uint64_t deleted_bytes = 0;
  int64_t deleted_segments = 0;
  for (const SegmentInfo& s : before) {
    if (s.day < kBaseDay + 3) {
      deleted_bytes += s.bytes;
      ++deleted_segments;
      EXPECT_FALSE(DefaultFileSystem()->FileExists(s.path)) << s.path;
      EXPECT_FALSE(DefaultFileSystem()->FileExists(
          s.path.substr(0, s.path.size() - 3) + "idx"));
    } else {
      EXPECT_TRUE(DefaultFileSystem()->FileExists(s.path)) << s.path;
    }
  }
  EXPECT_EQ(result->deleted_bytes, deleted_bytes);
  EXPECT_EQ(result->deleted_segments, deleted_segments);
  for (const SegmentInfo& s : log->Segments()) EXPECT_GE(s.day, kBaseDay + 3);
  const std::vector<Row> kept(rows.begin() + 45, rows.end());
  EXPECT_EQ(ScanRows(*log), kept);
  EXPECT_EQ(log->TotalRecords(), 45);

  // Nothing more is due.
  result = log->ApplyRetention(At(3, 0), 0);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->deleted_segments, 0);
  log.reset();

  log = Open(DefaultFileSystem(), 600);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(ScanRows(*log), kept);
  // A late record for a deleted day gets a new segment id, never a reused one.
  auto late = log->Append({Entry(At(0, 1), "late")}, true);
  ASSERT_TRUE(late.ok());
  EXPECT_GT((*late)[0].segment_id, max_id_day0);
}

TEST_F(SegmentLogTest, RetentionByBytesDeletesOldestFirst) {
  auto log = Open(DefaultFileSystem(), 600);
  ASSERT_NE(log, nullptr);
  Fill(*log, 4, 20);
  const std::vector<SegmentInfo> before = log->Segments();
  const uint64_t max_bytes = log->TotalBytes() / 2;
  auto result = log->ApplyRetention(0, max_bytes);
  ASSERT_TRUE(result.ok());
  EXPECT_GT(result->deleted_segments, 0);
  EXPECT_LE(log->TotalBytes(), max_bytes);
  const std::vector<SegmentInfo> after = log->Segments();
  // The deleted segments are exactly the oldest ones, and no more than needed.
  ASSERT_EQ(after.size() + result->deleted_segments, before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].id, before[i + result->deleted_segments].id);
  }
  const SegmentInfo& last_deleted = before[result->deleted_segments - 1];
  EXPECT_GT(log->TotalBytes() + last_deleted.bytes, max_bytes);
}

TEST_F(SegmentLogTest, RetentionNeverDeletesTheNewestActiveSegment) {
  auto log = Open(DefaultFileSystem(), 600);
  ASSERT_NE(log, nullptr);
  Fill(*log, 3, 20);
  SegmentInfo newest_active;
  for (const SegmentInfo& s : log->Segments()) {
    if (s.active) newest_active = s;
  }
  auto result = log->ApplyRetention(std::numeric_limits<int64_t>::max(), 1);
  ASSERT_TRUE(result.ok());
  const std::vector<SegmentInfo> after = log->Segments();
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].id, newest_active.id);
  EXPECT_TRUE(after[0].active);
  // Appends go on, to the kept segment and to a day whose segments are gone.
  auto more =
      log->Append({Entry(At(2, 5), "new"), Entry(At(0, 5), "old day")}, true);
  ASSERT_TRUE(more.ok());
  EXPECT_GE((*more)[0].segment_id, newest_active.id);
  std::string payload;
  ASSERT_TRUE(log->ReadAt((*more)[1], &payload).ok());
  EXPECT_EQ(payload, "old day");
}

// ChooseRetentionVictims on a SegmentSet.

// Segments of 100 bytes: days 0, 0, 1, 2 (the last two active), and an
// empty one of day 3 that is its day's active one.
void FillSet(SegmentSet& set) {
  auto add = [&](int day, int64_t seq, int64_t records) {
    SegmentState s;
    s.day = kBaseDay + day;
    s.id = s.day * kSegmentsPerDay + seq;
    s.records = records;
    s.bytes = records > 0 ? 100 : 0;
    s.min_event_time_micros = At(day, 10);
    s.max_event_time_micros = At(day, 20);
    const int64_t id = s.id;
    set.Add(std::move(s));
    set.day(kBaseDay + day).active_id = id;
  };
  add(0, 0, 1);
  add(0, 1, 1);
  add(1, 0, 1);
  add(2, 0, 1);
  add(3, 0, 0);
}

int64_t Id(int day, int64_t seq) {
  return (kBaseDay + day) * kSegmentsPerDay + seq;
}

TEST(ChooseRetentionVictimsTest, ByAgeTakesSegmentsWhoseNewestRecordIsOld) {
  SegmentSet set;
  FillSet(set);
  EXPECT_EQ(ChooseRetentionVictims(set, At(0, 20), 0), std::set<int64_t>{});
  EXPECT_EQ(ChooseRetentionVictims(set, At(0, 21), 0),
            (std::set<int64_t>{Id(0, 0), Id(0, 1)}));
  EXPECT_EQ(ChooseRetentionVictims(set, At(2, 0), 0),
            (std::set<int64_t>{Id(0, 0), Id(0, 1), Id(1, 0)}));
  // Everything but the newest day's active segment (the empty one of day 3,
  // whose age is the start of its day).
  EXPECT_EQ(ChooseRetentionVictims(set, std::numeric_limits<int64_t>::max(), 0),
            (std::set<int64_t>{Id(0, 0), Id(0, 1), Id(1, 0), Id(2, 0)}));
}

TEST(ChooseRetentionVictimsTest, BySizeTakesTheOldestUntilUnderTheLimit) {
  SegmentSet set;
  FillSet(set);
  EXPECT_EQ(ChooseRetentionVictims(set, 0, 400), std::set<int64_t>{});
  EXPECT_EQ(ChooseRetentionVictims(set, 0, 399), std::set<int64_t>{Id(0, 0)});
  EXPECT_EQ(ChooseRetentionVictims(set, 0, 150),
            (std::set<int64_t>{Id(0, 0), Id(0, 1), Id(1, 0)}));
  // Age first, then size on what is left.
  EXPECT_EQ(ChooseRetentionVictims(set, At(1, 0), 150),
            (std::set<int64_t>{Id(0, 0), Id(0, 1), Id(1, 0)}));
  EXPECT_EQ(ChooseRetentionVictims(set, 0, 1),
            (std::set<int64_t>{Id(0, 0), Id(0, 1), Id(1, 0), Id(2, 0)}));
}

}  // namespace
}  // namespace continuum::store
