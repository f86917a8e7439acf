// Recovery at Open: sidecars, torn tails, corruption in the middle (through
// SegmentLog::Open), and RecoverSegment / RecoverSegments on files made by
// hand.
#include "lib/store/segment_recovery.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "lib/store/fault_injection_file_system.h"
#include "lib/store/log_format.h"
#include "lib/store/segment_files.h"
#include "lib/store/segment_log.h"
#include "lib/store/segment_log_test_util.h"

namespace continuum::store {
namespace {

using segment_log_testing::AppendRaw;
using segment_log_testing::At;
using segment_log_testing::Entry;
using segment_log_testing::FlipByte;
using segment_log_testing::IndexPathOf;
using segment_log_testing::kBaseDay;
using segment_log_testing::kDay;
using segment_log_testing::Payloads;
using segment_log_testing::Row;
using segment_log_testing::ScanRows;
using segment_log_testing::SegmentLogTest;

TEST_F(SegmentLogTest, ReopenGivesTheSameRecordsFromIndexSidecars) {
  FaultInjectionFileSystem fs(DefaultFileSystem());
  auto log = Open(&fs, 600);
  ASSERT_NE(log, nullptr);
  const std::vector<Row> rows = Fill(*log, 3, 40);
  const std::vector<SegmentInfo> before = log->Segments();
  ASSERT_TRUE(log->Close().ok());
  log.reset();
  for (const SegmentInfo& s : before) {
    EXPECT_TRUE(fs.FileExists(s.path.substr(0, s.path.size() - 3) + "idx"))
        << s.path;
  }

  fs.ResetCounters();
  RecoveryReport report;
  log = Open(&fs, 600, &report);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(fs.sequential_open_count(), 0) << "a segment was scanned";
  EXPECT_EQ(report.segments, static_cast<int64_t>(before.size()));
  EXPECT_EQ(report.records, 120);
  EXPECT_EQ(report.truncated_tail_bytes, 0);
  EXPECT_EQ(report.skipped_corrupt_records, 0);
  const std::vector<SegmentInfo> after = log->Segments();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].id, before[i].id);
    EXPECT_EQ(after[i].records, before[i].records);
    EXPECT_EQ(after[i].bytes, before[i].bytes);
    EXPECT_EQ(after[i].min_event_time_micros, before[i].min_event_time_micros);
    EXPECT_EQ(after[i].max_event_time_micros, before[i].max_event_time_micros);
    EXPECT_EQ(after[i].active, before[i].active);
  }
  EXPECT_EQ(ScanRows(*log), rows);
  std::string payload;
  for (const Row& r : rows) {
    ASSERT_TRUE(
        log->ReadAt(LogPosition{r.pos.segment_id, r.pos.offset}, &payload)
            .ok());
    EXPECT_EQ(payload, r.payload);
  }
  // Appends continue in the active segments.
  auto more = log->Append({Entry(At(0, 999'999), "late")}, true);
  ASSERT_TRUE(more.ok());
  ASSERT_TRUE(log->ReadAt((*more)[0], &payload).ok());
  EXPECT_EQ(payload, "late");
  log.reset();

  // A sidecar that no longer matches its segment's size is ignored.
  std::string frame;
  log_format::AppendFrame(At(0, 1'000'000), "appended behind the log's back",
                          &frame);
  std::string day0_active;
  for (const SegmentInfo& s : before) {
    if (s.day == kBaseDay && s.active) day0_active = s.path;
  }
  ASSERT_FALSE(day0_active.empty());
  AppendRaw(day0_active, frame);
  // And a corrupt sidecar is ignored too.
  const std::string sealed_idx =
      before[0].path.substr(0, before[0].path.size() - 3) + "idx";
  ASSERT_TRUE(fs.WriteFileAtomically(sealed_idx, "not an index").ok());
  fs.ResetCounters();
  log = Open(&fs, 600, &report);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(fs.sequential_open_count(), 2);
  EXPECT_EQ(report.records, 122);
  EXPECT_EQ(report.truncated_tail_bytes, 0);
  std::vector<std::string> payloads =
      Payloads(ScanRows(*log, At(0, 0), At(1, 0)));
  EXPECT_EQ(payloads.size(), 42u);
  EXPECT_NE(std::find(payloads.begin(), payloads.end(),
                      "appended behind the log's back"),
            payloads.end());
}

TEST_F(SegmentLogTest, TornTailIsTruncatedAndAppendsContinue) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  std::vector<Row> rows = Fill(*log, 1, 30);
  const std::string path = log->Segments().back().path;
  log.reset();
  const uint64_t size = *DefaultFileSystem()->GetFileSize(path);

  // A partial frame, as a crash in the middle of a write leaves.
  std::string frame;
  log_format::AppendFrame(At(0, 5), std::string(100, 'p'), &frame);
  AppendRaw(path, frame.substr(0, 37));

  RecoveryReport report;
  log = Open(DefaultFileSystem(), 64 << 20, &report);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(report.truncated_tail_bytes, 37);
  EXPECT_EQ(report.skipped_corrupt_records, 0);
  EXPECT_EQ(report.records, 30);
  EXPECT_EQ(*DefaultFileSystem()->GetFileSize(path), size);
  EXPECT_EQ(ScanRows(*log), rows);

  auto more = log->Append(
      {Entry(At(0, 7), "after"), Entry(At(0, 8), "recovery")}, true);
  ASSERT_TRUE(more.ok()) << more.status();
  rows.push_back(Row{(*more)[0], At(0, 7), "after"});
  rows.push_back(Row{(*more)[1], At(0, 8), "recovery"});
  EXPECT_EQ(ScanRows(*log), rows);
  log.reset();

  log = Open(DefaultFileSystem(), 64 << 20, &report);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(report.truncated_tail_bytes, 0);
  EXPECT_EQ(ScanRows(*log), rows);
  log.reset();

  // Garbage, and a whole last frame whose CRC fails, are torn tails too.
  AppendRaw(path, "garbage!");
  std::string bad;
  log_format::AppendFrame(At(0, 9), "bad crc", &bad);
  bad.back() ^= 1;
  AppendRaw(path, bad);
  log = Open(DefaultFileSystem(), 64 << 20, &report);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(report.truncated_tail_bytes, static_cast<int64_t>(8 + bad.size()));
  EXPECT_EQ(ScanRows(*log), rows);
}

TEST_F(SegmentLogTest, MidFileCorruptionIsSkippedAndCounted) {
  auto log = Open(DefaultFileSystem(), 600);
  ASSERT_NE(log, nullptr);
  const std::vector<Row> rows = Fill(*log, 1, 40);
  const std::vector<SegmentInfo> segments = log->Segments();
  ASSERT_GT(segments.size(), 2u);
  ASSERT_FALSE(segments[0].active);
  log.reset();

  // Corrupt the payload of the second record of the first (sealed) segment.
  const Row& victim = rows[1];
  ASSERT_EQ(victim.pos.segment_id, segments[0].id);
  FlipByte(segments[0].path, victim.pos.offset - victim.pos.frame_bytes + 25);

  std::vector<Row> expected = rows;
  expected.erase(expected.begin() + 1);
  RecoveryReport report;
  log = Open(DefaultFileSystem(), 600, &report);
  ASSERT_NE(log, nullptr);
  ScanStats stats;
  EXPECT_EQ(ScanRows(*log, 0, 0, nullptr, &stats), expected);
  EXPECT_EQ(stats.skipped_corrupt_records, 1);
  std::string payload;
  EXPECT_EQ(log->ReadAt(victim.pos, &payload).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_TRUE(log->ReadAt(rows[2].pos, &payload).ok());
  log.reset();

  // Without sidecars, recovery finds and reports it.
  for (const SegmentInfo& s : segments) {
    DefaultFileSystem()
        ->DeleteFile(s.path.substr(0, s.path.size() - 3) + "idx")
        .IgnoreError();
  }
  log = Open(DefaultFileSystem(), 600, &report);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(report.skipped_corrupt_records, 1);
  EXPECT_EQ(report.truncated_tail_bytes, 0);
  EXPECT_EQ(report.records, 39);
  EXPECT_EQ(ScanRows(*log), expected);
}

TEST_F(SegmentLogTest, CorruptLengthFieldResynchronisesOnNextFrame) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  const std::vector<Row> rows = Fill(*log, 1, 10);
  const std::string path = log->Segments()[0].path;
  log.reset();
  DefaultFileSystem()
      ->DeleteFile(path.substr(0, path.size() - 3) + "idx")
      .IgnoreError();
  // The length field of record 4.
  FlipByte(path, rows[4].pos.offset - rows[4].pos.frame_bytes + 5);
  RecoveryReport report;
  log = Open(DefaultFileSystem(), 64 << 20, &report);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(report.skipped_corrupt_records, 1);
  std::vector<Row> expected = rows;
  expected.erase(expected.begin() + 4);
  EXPECT_EQ(ScanRows(*log), expected);
}

// RecoverSegment and RecoverSegments on files written by hand.

class SegmentRecoveryTest : public SegmentLogTest {
 protected:
  static constexpr int64_t kId = kBaseDay * kSegmentsPerDay + 3;

  // Writes segment `id` with `n` records (times At(0, 10 * i)) and returns
  // the file's bytes.
  std::string WriteSegment(int64_t id, int n) {
    std::string data;
    for (int i = 0; i < n; ++i) {
      log_format::AppendFrame(At(0, 10 * i), std::string(100 + i, 'r'), &data);
    }
    EXPECT_TRUE(fs_.CreateDirs(DayDirPath(dir_, DayOfSegment(id))).ok());
    EXPECT_TRUE(
        fs_.WriteFileAtomically(SegmentFilePath(dir_, id, "log"), data).ok());
    return data;
  }

  FaultInjectionFileSystem fs_{DefaultFileSystem()};
};

TEST_F(SegmentRecoveryTest, ScansASegmentWithoutSidecarAndIndexesItIfSealed) {
  const std::string data = WriteSegment(kId, 5);
  for (bool newest : {true, false}) {
    RecoveryReport report;
    fs_.ResetCounters();
    absl::StatusOr<SegmentState> seg =
        RecoverSegment(&fs_, dir_, kId, newest, /*has_index=*/false, &report);
    ASSERT_TRUE(seg.ok()) << seg.status();
    EXPECT_EQ(fs_.sequential_open_count(), 1);
    EXPECT_EQ(seg->id, kId);
    EXPECT_EQ(seg->day, kBaseDay);
    EXPECT_EQ(seg->path, SegmentFilePath(dir_, kId, "log"));
    EXPECT_EQ(seg->records, 5);
    EXPECT_EQ(seg->bytes, data.size());
    EXPECT_EQ(seg->min_event_time_micros, At(0, 0));
    EXPECT_EQ(seg->max_event_time_micros, At(0, 40));
    EXPECT_EQ(seg->checkpoints, std::vector<uint64_t>{0});
    EXPECT_EQ(seg->file, nullptr);
    EXPECT_EQ(report.segments, 1);
    EXPECT_EQ(report.records, 5);
    // Only a sealed segment gets its sidecar.
    EXPECT_EQ(fs_.FileExists(SegmentFilePath(dir_, kId, "idx")), !newest);
    EXPECT_EQ(seg->index_bytes,
              newest ? -1 : static_cast<int64_t>(data.size()));
  }
}

TEST_F(SegmentRecoveryTest, TrustsAMatchingSidecarAndRescansAStaleOne) {
  const std::string data = WriteSegment(kId, 3);
  log_format::SegmentIndex index{At(0, 1), At(0, 2), 3, data.size(), {0}};
  const std::string idx = SegmentFilePath(dir_, kId, "idx");
  ASSERT_TRUE(
      fs_.WriteFileAtomically(idx, log_format::EncodeIndex(index)).ok());
  RecoveryReport report;
  fs_.ResetCounters();
  absl::StatusOr<SegmentState> seg =
      RecoverSegment(&fs_, dir_, kId, true, /*has_index=*/true, &report);
  ASSERT_TRUE(seg.ok()) << seg.status();
  EXPECT_EQ(fs_.sequential_open_count(), 0);
  // The sidecar's word, not the file's.
  EXPECT_EQ(seg->min_event_time_micros, At(0, 1));
  EXPECT_EQ(seg->max_event_time_micros, At(0, 2));
  EXPECT_EQ(seg->index_bytes, static_cast<int64_t>(data.size()));

  // A sidecar of another size, or inconsistent, is ignored.
  for (log_format::SegmentIndex bad :
       {log_format::SegmentIndex{At(0, 1), At(0, 2), 3, data.size() + 1, {0}},
        log_format::SegmentIndex{At(0, 1), At(0, 2), 3, data.size(), {}}}) {
    ASSERT_TRUE(
        fs_.WriteFileAtomically(idx, log_format::EncodeIndex(bad)).ok());
    fs_.ResetCounters();
    seg = RecoverSegment(&fs_, dir_, kId, true, true, &report);
    ASSERT_TRUE(seg.ok()) << seg.status();
    EXPECT_EQ(fs_.sequential_open_count(), 1);
    EXPECT_EQ(seg->min_event_time_micros, At(0, 0));
    EXPECT_EQ(seg->max_event_time_micros, At(0, 20));
    EXPECT_EQ(seg->index_bytes, -1);
  }
}

TEST_F(SegmentRecoveryTest, TruncatesATornTailAndCountsIt) {
  const std::string data = WriteSegment(kId, 4);
  std::string torn;
  log_format::AppendFrame(At(0, 99), "never finished", &torn);
  AppendRaw(SegmentFilePath(dir_, kId, "log"), torn.substr(0, 11));
  RecoveryReport report;
  absl::StatusOr<SegmentState> seg =
      RecoverSegment(&fs_, dir_, kId, true, false, &report);
  ASSERT_TRUE(seg.ok()) << seg.status();
  EXPECT_EQ(report.truncated_tail_bytes, 11);
  EXPECT_EQ(seg->records, 4);
  EXPECT_EQ(seg->bytes, data.size());
  EXPECT_EQ(*fs_.GetFileSize(SegmentFilePath(dir_, kId, "log")), data.size());
}

TEST_F(SegmentRecoveryTest, AnEmptySegmentSpansTheStartOfItsDay) {
  WriteSegment(kId, 0);
  RecoveryReport report;
  absl::StatusOr<SegmentState> seg =
      RecoverSegment(&fs_, dir_, kId, false, false, &report);
  ASSERT_TRUE(seg.ok()) << seg.status();
  EXPECT_EQ(seg->records, 0);
  EXPECT_EQ(seg->min_event_time_micros, kBaseDay * kDay);
  EXPECT_EQ(seg->max_event_time_micros, kBaseDay * kDay);
}

TEST_F(SegmentRecoveryTest, RecoverSegmentsFindsActiveSegmentsAndNextIds) {
  const int64_t day0 = kBaseDay * kSegmentsPerDay;
  const int64_t day1 = (kBaseDay + 1) * kSegmentsPerDay;
  WriteSegment(day0 + 0, 2);
  WriteSegment(day0 + 1, 1);
  // Day 1: segment 7 was deleted by retention, leaving its tombstone (and a
  // sidecar a crash kept); segment 2 remains.
  WriteSegment(day1 + 2, 3);
  const std::string tomb = SegmentFilePath(dir_, day1 + 7, "tomb");
  const std::string orphan = SegmentFilePath(dir_, day1 + 7, "idx");
  ASSERT_TRUE(fs_.WriteFileAtomically(tomb, "").ok());
  ASSERT_TRUE(fs_.WriteFileAtomically(orphan, "x").ok());

  SegmentSet set;
  RecoveryReport report;
  ASSERT_TRUE(RecoverSegments(&fs_, dir_, &set, &report).ok());
  EXPECT_EQ(report.segments, 3);
  EXPECT_EQ(report.records, 6);
  EXPECT_EQ(set.total_records(), 6);
  EXPECT_EQ(set.segments().size(), 3u);
  EXPECT_EQ(set.day(kBaseDay).active_id, day0 + 1);
  EXPECT_EQ(set.day(kBaseDay).next_seq, 2);
  EXPECT_EQ(set.day(kBaseDay + 1).active_id, day1 + 2);
  EXPECT_EQ(set.day(kBaseDay + 1).tomb_id, day1 + 7);
  EXPECT_EQ(set.day(kBaseDay + 1).next_seq, 8);
  EXPECT_FALSE(fs_.FileExists(orphan));
  // The sealed segment got its sidecar; the active ones did not.
  EXPECT_TRUE(fs_.FileExists(SegmentFilePath(dir_, day0, "idx")));
  EXPECT_FALSE(fs_.FileExists(SegmentFilePath(dir_, day0 + 1, "idx")));
  EXPECT_FALSE(fs_.FileExists(SegmentFilePath(dir_, day1 + 2, "idx")));
}

}  // namespace
}  // namespace continuum::store
