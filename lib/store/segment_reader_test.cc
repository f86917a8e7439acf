// Reading: window scans, cursors and ReadAt (through SegmentLog), and the
// selection of what a scan or a ReadAt reads, on a SegmentSet.
#include "lib/store/segment_reader.h"

#include <gtest/gtest.h>

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
using segment_log_testing::kHour;
using segment_log_testing::Payload;
using segment_log_testing::Payloads;
using segment_log_testing::Row;
using segment_log_testing::ScanRows;
using segment_log_testing::SegmentLogTest;

TEST_F(SegmentLogTest,
       WindowScanReturnsExactlyTheWindowAndOpensOnlyOverlappingSegments) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  for (int d = 0; d < 5; ++d) {
    std::vector<LogEntry> batch;
    for (int h = 0; h < 10; ++h)
      batch.push_back(Entry(At(d, h * kHour), Payload(d, h)));
    ASSERT_TRUE(log->Append(batch, true).ok());
  }
  ASSERT_EQ(log->Segments().size(), 5u);

  ScanStats stats;
  std::vector<Row> rows =
      ScanRows(*log, At(1, 5 * kHour), At(3, 2 * kHour), nullptr, &stats);
  std::vector<std::string> expected;
  for (int h = 5; h < 10; ++h) expected.push_back(Payload(1, h));
  for (int h = 0; h < 10; ++h) expected.push_back(Payload(2, h));
  for (int h = 0; h < 2; ++h) expected.push_back(Payload(3, h));
  EXPECT_EQ(Payloads(rows), expected);
  EXPECT_EQ(stats.segments_opened, 3);
  EXPECT_EQ(stats.records_returned, 17);
  EXPECT_EQ(stats.records_read, 30);
  EXPECT_EQ(stats.skipped_corrupt_records, 0);
  EXPECT_GT(stats.bytes_read, 0u);

  stats = ScanStats();
  rows = ScanRows(*log, At(2, 0), At(3, 0), nullptr, &stats);
  EXPECT_EQ(rows.size(), 10u);
  EXPECT_EQ(stats.segments_opened, 1);

  // The end is exclusive, the start inclusive.
  stats = ScanStats();
  rows = ScanRows(*log, At(2, 3 * kHour), At(2, 4 * kHour), nullptr, &stats);
  EXPECT_EQ(Payloads(rows), std::vector<std::string>{Payload(2, 3)});
  EXPECT_EQ(stats.segments_opened, 1);

  // No end.
  stats = ScanStats();
  rows = ScanRows(*log, At(4, 9 * kHour), 0, nullptr, &stats);
  EXPECT_EQ(Payloads(rows), std::vector<std::string>{Payload(4, 9)});
  EXPECT_EQ(stats.segments_opened, 1);

  // Nothing in the window: nothing opened.
  stats = ScanStats();
  rows = ScanRows(*log, At(7, 0), 0, nullptr, &stats);
  EXPECT_TRUE(rows.empty());
  EXPECT_EQ(stats.segments_opened, 0);
  rows = ScanRows(*log, 0, At(0, 0), nullptr, &stats);
  EXPECT_TRUE(rows.empty());
  EXPECT_EQ(stats.segments_opened, 0);
}

TEST_F(SegmentLogTest, ScanStopsWhenTheCallbackSaysSo) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  Fill(*log, 2, 10);
  int calls = 0;
  ASSERT_TRUE(log->Scan(
                     0, 0, nullptr,
                     [&](const LogPosition&, int64_t, absl::string_view) {
                       return ++calls < 3;
                     },
                     nullptr)
                  .ok());
  EXPECT_EQ(calls, 3);
}

TEST_F(SegmentLogTest, ResumeFromCursorGivesExactlyTheRest) {
  auto log = Open(DefaultFileSystem(), 600);
  ASSERT_NE(log, nullptr);
  const std::vector<Row> full = Fill(*log, 3, 30);
  ASSERT_EQ(ScanRows(*log), full);
  const int n = static_cast<int>(full.size());
  for (int k : {0, 1, 7, 29, 30, 45, n - 2, n - 1}) {
    // Stop after k + 1 records and keep the cursor of the last.
    std::string cursor;
    int seen = 0;
    ASSERT_TRUE(log->Scan(
                       0, 0, nullptr,
                       [&](const LogPosition& pos, int64_t, absl::string_view) {
                         cursor = pos.Encode();
                         return ++seen <= k;
                       },
                       nullptr)
                    .ok());
    absl::StatusOr<LogPosition> after = LogPosition::Decode(cursor);
    ASSERT_TRUE(after.ok()) << after.status();
    EXPECT_EQ(*after, full[k].pos);
    EXPECT_EQ(after->frame_bytes, full[k].pos.frame_bytes);
    ScanStats stats;
    std::vector<Row> rest = ScanRows(*log, 0, 0, &*after, &stats);
    EXPECT_EQ(rest, std::vector<Row>(full.begin() + k + 1, full.end()))
        << "k=" << k;
    if (k == n - 2) {
      EXPECT_EQ(stats.segments_opened, 1);
    }
    if (k == n - 1) {
      EXPECT_EQ(stats.segments_opened, 0);
    }
  }
  // A cursor combines with a window.
  const LogPosition after = full[5].pos;
  std::vector<Row> rows = ScanRows(*log, At(0, 0), At(1, 0), &after);
  EXPECT_EQ(rows, std::vector<Row>(full.begin() + 6, full.begin() + 30));
}

TEST_F(SegmentLogTest, ReadAtReturnsTheRecord) {
  auto log = Open(DefaultFileSystem(), 600);
  ASSERT_NE(log, nullptr);
  const std::vector<Row> rows = Fill(*log, 2, 30);
  std::string payload;
  int64_t time = 0;
  for (const Row& r : rows) {
    ASSERT_TRUE(log->ReadAt(r.pos, &payload, &time).ok());
    EXPECT_EQ(payload, r.payload);
    EXPECT_EQ(time, r.time);
    // Without the frame size hint (a position persisted as segment+offset).
    LogPosition bare{r.pos.segment_id, r.pos.offset};
    ASSERT_TRUE(log->ReadAt(bare, &payload).ok());
    EXPECT_EQ(payload, r.payload);
  }
  const LogPosition last = rows.back().pos;
  EXPECT_EQ(log->ReadAt(LogPosition{12345, 20}, &payload).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(log->ReadAt(LogPosition{last.segment_id, last.offset + 1}, &payload)
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(log->ReadAt(LogPosition{last.segment_id, last.offset - 1}, &payload)
                .code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(log->ReadAt(LogPosition{last.segment_id, last.offset,
                                    last.frame_bytes + 1},
                        &payload)
                .code(),
            absl::StatusCode::kDataLoss);
}

// The selections, on a SegmentSet.

constexpr int64_t kSeg0 = kBaseDay * kSegmentsPerDay;
constexpr int64_t kSeg1 = kSeg0 + 1;
constexpr int64_t kSeg2 = (kBaseDay + 1) * kSegmentsPerDay;

// Three segments: two of day 0 (hours 0-5 and 6-11), one of day 1 (hours
// 0-23, empty when `empty_day1`).
void FillSet(SegmentSet* set, bool empty_day1 = false) {
  auto add = [&](int64_t id, int day, int64_t from, int64_t to,
                 int64_t records) {
    SegmentState s;
    s.id = id;
    s.day = kBaseDay + day;
    s.path = SegmentFileName(id, "log");
    s.min_event_time_micros = At(day, from * kHour);
    s.max_event_time_micros = At(day, to * kHour);
    s.records = records;
    s.bytes = static_cast<uint64_t>(records) * 100;
    if (records > 0) s.checkpoints = {0, 50'000};
    set->Add(std::move(s));
  };
  add(kSeg0, 0, 0, 5, 6);
  add(kSeg1, 0, 6, 11, 6);
  add(kSeg2, 1, 0, 23, empty_day1 ? 0 : 24);
}

std::vector<int64_t> Ids(const std::vector<ScanTarget>& targets) {
  std::vector<int64_t> ids;
  for (const ScanTarget& t : targets) ids.push_back(t.id);
  return ids;
}

TEST(SelectScanTargetsTest, TakesTheSegmentsOverlappingTheWindow) {
  SegmentSet set;
  FillSet(&set);
  EXPECT_EQ(Ids(SelectScanTargets(set, 0, 0, nullptr)),
            (std::vector<int64_t>{kSeg0, kSeg1, kSeg2}));
  EXPECT_EQ(Ids(SelectScanTargets(set, At(0, 6 * kHour), At(1, 0), nullptr)),
            (std::vector<int64_t>{kSeg1}));
  // The end is exclusive, the start inclusive.
  EXPECT_EQ(Ids(SelectScanTargets(set, At(0, 5 * kHour), At(0, 6 * kHour),
                                  nullptr)),
            (std::vector<int64_t>{kSeg0}));
  EXPECT_TRUE(SelectScanTargets(set, At(2, 0), 0, nullptr).empty());
  const std::vector<ScanTarget> all = SelectScanTargets(set, 0, 0, nullptr);
  EXPECT_EQ(all[1].path, SegmentFileName(kSeg1, "log"));
  EXPECT_EQ(all[1].begin, 0u);
  EXPECT_EQ(all[1].limit, 600u);
}

TEST(SelectScanTargetsTest, ResumesAfterTheCursorAndSkipsEmptySegments) {
  SegmentSet set;
  FillSet(&set, /*empty_day1=*/true);
  const LogPosition mid{kSeg1, 200};
  std::vector<ScanTarget> targets = SelectScanTargets(set, 0, 0, &mid);
  ASSERT_EQ(Ids(targets), std::vector<int64_t>{kSeg1});
  EXPECT_EQ(targets[0].begin, 200u);
  EXPECT_EQ(targets[0].limit, 600u);
  const LogPosition end{kSeg1, 600};
  EXPECT_TRUE(SelectScanTargets(set, 0, 0, &end).empty());
}

TEST(LocateRecordTest, FindsTheCheckpointBeforeTheRecord) {
  SegmentSet set;
  FillSet(&set);
  absl::StatusOr<RecordLocation> at =
      LocateRecord(set, "log", LogPosition{kSeg0, 600});
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_EQ(at->path, SegmentFileName(kSeg0, "log"));
  EXPECT_EQ(at->checkpoint, 0u);
  // A record ending past the second checkpoint may start after it.
  SegmentState& big = set.segments().at(kSeg2);
  big.bytes = 60'000;
  at = LocateRecord(set, "log", LogPosition{kSeg2, 60'000});
  ASSERT_TRUE(at.ok()) << at.status();
  EXPECT_EQ(at->checkpoint, 50'000u);

  const LogPosition missing{kSeg0 + 7, 20};
  EXPECT_EQ(LocateRecord(set, "log", missing).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(LocateRecord(set, "log", LogPosition{kSeg0, 601}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(LocateRecord(set, "log", LogPosition{kSeg0, 19}).status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace continuum::store
