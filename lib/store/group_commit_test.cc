// Group commit: injected write, fsync and undo failures and the batching of
// concurrent appends (through SegmentLog::Append), and GroupCommit's plan,
// write, undo and publish steps on their own.
#include "lib/store/group_commit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "lib/store/fault_injection_file_system.h"
#include "lib/store/log_format.h"
#include "lib/store/segment_files.h"
#include "lib/store/segment_log.h"
#include "lib/store/segment_log_test_util.h"
#include "lib/store/segment_set.h"

namespace continuum::store {
namespace {

using ::testing::HasSubstr;
using segment_log_testing::At;
using segment_log_testing::Batch;
using segment_log_testing::Entry;
using segment_log_testing::kBaseDay;
using segment_log_testing::Payloads;
using segment_log_testing::Row;
using segment_log_testing::ScanRows;
using segment_log_testing::SegmentLogTest;

// Injected faults.

class SegmentLogFaultTest : public SegmentLogTest {
 protected:
  FaultInjectionFileSystem fs_{DefaultFileSystem()};
};

TEST_F(SegmentLogFaultTest, FsyncErrorFailsTheAppendAndLeavesNothingVisible) {
  auto log = Open(&fs_);
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Append(Batch(0, 0, 5), true).ok());
  const std::vector<Row> a = ScanRows(*log);

  fs_.FailSyncs(
      absl::UnavailableError("fdatasync: Input/output error (injected)"));
  auto failed = log->Append(Batch(0, 100, 5), true);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(failed.status().message()),
              HasSubstr("Input/output error"));
  std::vector<LogEntry> b = Batch(0, 150, 5);
  for (LogEntry& e : Batch(1, 100, 3)) b.push_back(e);  // A new day: new file.
  failed = log->Append(b, true);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ScanRows(*log), a);
  EXPECT_EQ(log->TotalRecords(), 5);
  EXPECT_EQ(log->Segments().size(), 1u);
  EXPECT_TRUE(log->Health().ok());

  fs_.Clear();
  auto c = log->Append(Batch(0, 200, 2), true);
  ASSERT_TRUE(c.ok()) << c.status();
  std::vector<Row> expected = ScanRows(*log);
  ASSERT_EQ(expected.size(), 7u);
  log.reset();

  RecoveryReport report;
  log = Open(DefaultFileSystem(), 64 << 20, &report);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(report.truncated_tail_bytes, 0);
  EXPECT_EQ(report.skipped_corrupt_records, 0);
  EXPECT_EQ(ScanRows(*log), expected);
  for (const std::string& p : Payloads(ScanRows(*log))) {
    EXPECT_FALSE(absl::StartsWith(p, "rec10") || absl::StartsWith(p, "rec15"))
        << p;
  }
}

TEST_F(SegmentLogFaultTest, ShortWriteLeavesNoHalfRecord) {
  auto log = Open(&fs_, 400);
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Append(Batch(0, 0, 4), true).ok());
  const std::vector<Row> a = ScanRows(*log);
  const std::vector<SegmentInfo> segments = log->Segments();
  const uint64_t size = *fs_.GetFileSize(segments.back().path);

  // The group fills the active segment and rotates into a new one; the
  // write to the first file is cut in the middle of a frame.
  fs_.FailWritesAfter(30, absl::UnavailableError("injected short write"));
  auto failed = log->Append(Batch(0, 100, 8, 60), true);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(*fs_.GetFileSize(segments.back().path), size);
  EXPECT_EQ(ScanRows(*log), a);
  EXPECT_EQ(log->Segments().size(), segments.size());
  fs_.Clear();

  // A short write into the new segment of a rotation.
  fs_.FailWritesAfter(450, absl::UnavailableError("injected short write"));
  failed = log->Append(Batch(0, 100, 8, 60), true);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ScanRows(*log), a);
  EXPECT_EQ(log->Segments().size(), segments.size());
  fs_.Clear();
  log.reset();

  RecoveryReport report;
  log = Open(DefaultFileSystem(), 400, &report);
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(report.truncated_tail_bytes, 0);
  EXPECT_EQ(report.skipped_corrupt_records, 0);
  EXPECT_EQ(report.segments, static_cast<int64_t>(segments.size()));
  EXPECT_EQ(ScanRows(*log), a);
  ASSERT_TRUE(log->Append(Batch(0, 300, 8, 60), true).ok());
  EXPECT_EQ(log->TotalRecords(), 12);
}

TEST_F(SegmentLogFaultTest, DiskFullFailsAppendsUntilCleared) {
  auto log = Open(&fs_);
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Append(Batch(0, 0, 3), true).ok());
  fs_.SetDiskFull(true);
  auto failed = log->Append(Batch(0, 10, 3), false);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(failed.status().message()),
              HasSubstr("No space left on device"));
  failed = log->Append(Batch(2, 10, 3), true);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(log->Health().ok());
  fs_.Clear();
  ASSERT_TRUE(log->Append(Batch(0, 20, 3), true).ok());
  ASSERT_TRUE(log->Append(Batch(2, 20, 3), true).ok());
  std::vector<Row> rows = ScanRows(*log);
  EXPECT_EQ(rows.size(), 9u);
  log.reset();
  log = Open();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(ScanRows(*log), rows);
}

TEST_F(SegmentLogFaultTest, FailedUndoPutsTheLogInAFailedState) {
  auto log = Open(&fs_);
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->Append(Batch(0, 0, 5), true).ok());
  const std::vector<Row> a = ScanRows(*log);
  fs_.FailSyncs(absl::UnavailableError("injected fsync error"));
  fs_.FailTruncates(absl::UnavailableError("injected truncate error"));
  EXPECT_EQ(log->Append(Batch(0, 100, 5), true).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(log->Health().code(), absl::StatusCode::kUnavailable);
  fs_.Clear();
  auto refused = log->Append(Batch(0, 200, 1), true);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("reopen"));
  EXPECT_EQ(log->Sync().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ScanRows(*log), a);  // Reads still work.
  log.reset();

  // The failed call's records were fully written before the fsync failed: a
  // reopen may show them, but only whole.
  RecoveryReport report;
  log = Open(DefaultFileSystem(), 64 << 20, &report);
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->Health().ok());
  EXPECT_EQ(report.truncated_tail_bytes, 0);
  EXPECT_EQ(report.skipped_corrupt_records, 0);
  std::vector<Row> rows = ScanRows(*log);
  ASSERT_EQ(rows.size(), 10u);
  EXPECT_TRUE(std::equal(a.begin(), a.end(), rows.begin()));
  ASSERT_TRUE(log->Append(Batch(0, 300, 1), true).ok());
}

TEST_F(SegmentLogFaultTest, SyncMakesUnsyncedAppendsDurable) {
  auto log = Open(&fs_);
  ASSERT_NE(log, nullptr);
  fs_.ResetCounters();
  ASSERT_TRUE(log->Append(Batch(0, 0, 3), false).ok());
  ASSERT_TRUE(log->Append(Batch(1, 0, 3), false).ok());
  EXPECT_EQ(fs_.sync_count(), 0);
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(fs_.sync_count(), 2);  // One per file written.
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(fs_.sync_count(), 2);  // Nothing new.

  ASSERT_TRUE(log->Append(Batch(0, 10, 3), false).ok());
  fs_.FailSyncs(absl::UnavailableError("injected fsync error"));
  EXPECT_EQ(log->Sync().code(), absl::StatusCode::kUnavailable);
  fs_.Clear();
  ASSERT_TRUE(log->Sync().ok());
  EXPECT_EQ(log->TotalRecords(), 9);
}

TEST_F(SegmentLogFaultTest, GroupCommitBatchesConcurrentAppends) {
  auto log = Open(&fs_, 64 << 10);
  ASSERT_NE(log, nullptr);
  // A slow disk, so that callers queue behind the leader's fsync.
  fs_.DelaySyncs(absl::Milliseconds(1));
  fs_.ResetCounters();
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  std::vector<std::vector<LogPosition>> positions(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        LogEntry e =
            Entry(At(i % 2, t * 1000 + i), absl::StrCat("t", t, "-", i));
        auto pos = log->Append({e}, /*sync=*/true);
        if (!pos.ok() || pos->size() != 1) {
          failures.fetch_add(1);
          continue;
        }
        positions[t].push_back((*pos)[0]);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  const int64_t syncs = fs_.sync_count();
  EXPECT_LT(syncs, kThreads * kPerThread) << "no batching happened";
  RecordProperty("syncs", static_cast<int>(syncs));
  std::cout << "group commit: " << syncs << " file syncs for "
            << kThreads * kPerThread << " appends\n";
  EXPECT_GT(syncs, 0);

  std::vector<Row> rows = ScanRows(*log);
  ASSERT_EQ(rows.size(), static_cast<size_t>(kThreads * kPerThread));
  std::set<std::string> seen;
  for (const Row& r : rows)
    EXPECT_TRUE(seen.insert(r.payload).second) << r.payload;
  std::string payload;
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(positions[t].size(), static_cast<size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) {
      ASSERT_TRUE(log->ReadAt(positions[t][i], &payload).ok());
      EXPECT_EQ(payload, absl::StrCat("t", t, "-", i));
    }
  }
  log.reset();
  log = Open();
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(ScanRows(*log), rows);
}

// GroupCommit on its own, against a SegmentSet.

class GroupCommitTest : public SegmentLogTest {
 protected:
  static constexpr int64_t kDay0 = kBaseDay * kSegmentsPerDay;
  static constexpr int64_t kDay1 = (kBaseDay + 1) * kSegmentsPerDay;

  // Plans, writes and publishes one group of `entries`; returns positions.
  std::vector<LogPosition> Commit(const std::vector<LogEntry>& entries,
                                  uint64_t max_segment_bytes = 1 << 20) {
    GroupCommit commit(&fs_, dir_, max_segment_bytes);
    std::vector<LogPosition> positions;
    EXPECT_TRUE(commit.Plan(entries, true, &set_, &positions).ok());
    EXPECT_TRUE(commit.WriteAndSync().ok());
    std::vector<SealTask> seals = commit.Publish(&set_);
    FinishSeals(&fs_, dir_, seals);
    return positions;
  }

  FaultInjectionFileSystem fs_{DefaultFileSystem()};
  SegmentSet set_;
};

TEST_F(GroupCommitTest, PlanPlacesEntriesByDayAndRotatesWithoutWriting) {
  const uint64_t frame = log_format::FrameBytes(5);
  GroupCommit commit(&fs_, dir_, /*max_segment_bytes=*/2 * frame);
  // The entries must outlive the commit: it encodes them in WriteAndSync.
  const std::vector<LogEntry> a = {Entry(At(0, 1), "aaaaa"),
                                   Entry(At(1, 1), "bbbbb")};
  const std::vector<LogEntry> b = {Entry(At(0, 2), "ccccc"),
                                   Entry(At(0, 3), "ddddd")};
  std::vector<LogPosition> first;
  std::vector<LogPosition> second;
  ASSERT_TRUE(commit.Plan(a, false, &set_, &first).ok());
  ASSERT_TRUE(commit.Plan(b, false, &set_, &second).ok());
  ASSERT_EQ(first.size(), 2u);
  ASSERT_EQ(second.size(), 2u);
  EXPECT_EQ(first[0], (LogPosition{kDay0, frame}));
  EXPECT_EQ(first[0].frame_bytes, frame);
  EXPECT_EQ(first[1], (LogPosition{kDay1, frame}));
  EXPECT_EQ(second[0], (LogPosition{kDay0, 2 * frame}));
  // The third frame of day 0 does not fit: a new segment.
  EXPECT_EQ(second[1], (LogPosition{kDay0 + 1, frame}));
  EXPECT_EQ(set_.day(kBaseDay).next_seq, 2);
  EXPECT_EQ(set_.day(kBaseDay + 1).next_seq, 1);
  // Nothing is written or published by planning.
  EXPECT_FALSE(fs_.FileExists(dir_));
  EXPECT_TRUE(set_.segments().empty());

  ASSERT_TRUE(commit.WriteAndSync().ok());
  std::vector<SealTask> seals = commit.Publish(&set_);
  ASSERT_EQ(seals.size(), 1u);
  EXPECT_EQ(seals[0].id, kDay0);
  FinishSeals(&fs_, dir_, seals);
  EXPECT_TRUE(fs_.FileExists(SegmentFilePath(dir_, kDay0, "idx")));
  EXPECT_EQ(set_.segments().size(), 3u);
  EXPECT_EQ(set_.total_records(), 4);
  EXPECT_EQ(set_.total_bytes(), 4 * frame);
  EXPECT_EQ(set_.day(kBaseDay).active_id, kDay0 + 1);
  EXPECT_EQ(set_.day(kBaseDay + 1).active_id, kDay1);
  EXPECT_EQ(set_.segments().at(kDay0).index_bytes,
            static_cast<int64_t>(2 * frame));
  EXPECT_EQ(set_.segments().at(kDay0).file, nullptr);  // Sealed: closed.
  EXPECT_NE(set_.segments().at(kDay0 + 1).file, nullptr);
  // Written without sync: not durable yet.
  EXPECT_TRUE(set_.segments().at(kDay0 + 1).dirty);
}

TEST_F(GroupCommitTest, PlanFailsWhenADayHasNoSegmentIdLeft) {
  set_.day(kBaseDay).next_seq = kSegmentsPerDay;
  GroupCommit commit(&fs_, dir_, 1 << 20);
  std::vector<LogPosition> positions;
  absl::Status s =
      commit.Plan({Entry(At(0, 1), "x")}, true, &set_, &positions);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(s.message()), HasSubstr("20241004"));
}

TEST_F(GroupCommitTest, RollbackRestoresEveryFileItTouched) {
  const std::vector<LogPosition> kept = Commit({Entry(At(0, 1), "kept")});
  const std::string path = SegmentFilePath(dir_, kDay0, "log");
  const uint64_t size = *fs_.GetFileSize(path);

  fs_.FailSyncs(absl::UnavailableError("injected"));
  GroupCommit commit(&fs_, dir_, 1 << 20);
  const std::vector<LogEntry> lost = {Entry(At(0, 2), "lost"),
                                      Entry(At(1, 2), "lost too")};
  std::vector<LogPosition> positions;
  ASSERT_TRUE(commit.Plan(lost, true, &set_, &positions).ok());
  EXPECT_EQ(commit.WriteAndSync().code(), absl::StatusCode::kUnavailable);
  fs_.Clear();
  ASSERT_TRUE(commit.Rollback().ok());
  EXPECT_EQ(*fs_.GetFileSize(path), size);
  EXPECT_FALSE(fs_.FileExists(SegmentFilePath(dir_, kDay1, "log")));
  // The touched segment's file is handed back to be closed.
  EXPECT_EQ(commit.TakeTouchedFiles().size(), 1u);
  EXPECT_EQ(set_.segments().at(kDay0).file, nullptr);
  EXPECT_EQ(set_.total_records(), 1);

  // The next group reopens the file and appends after the kept record.
  const std::vector<LogPosition> next = Commit({Entry(At(0, 3), "next")});
  EXPECT_EQ(next[0].offset, kept[0].offset + next[0].frame_bytes);
}

TEST_F(GroupCommitTest, BuffersAreRecycledBetweenGroups) {
  const std::vector<LogEntry> x = {Entry(At(0, 1), "x")};
  const std::vector<LogEntry> y = {Entry(At(0, 2), "y")};
  std::vector<std::string> spare;
  {
    GroupCommit commit(&fs_, dir_, 1 << 20);
    std::vector<LogPosition> positions;
    ASSERT_TRUE(commit.Plan(x, false, &set_, &positions).ok());
    commit.TakeBuffers(&spare);
    ASSERT_TRUE(commit.WriteAndSync().ok());
    commit.Publish(&set_);
    commit.RecycleBuffers(&spare);
  }
  ASSERT_EQ(spare.size(), 1u);
  EXPECT_TRUE(spare[0].empty());
  EXPECT_GT(spare[0].capacity(), 0u);
  GroupCommit commit(&fs_, dir_, 1 << 20);
  std::vector<LogPosition> positions;
  ASSERT_TRUE(commit.Plan(y, false, &set_, &positions).ok());
  commit.TakeBuffers(&spare);
  EXPECT_TRUE(spare.empty());
}

}  // namespace
}  // namespace continuum::store
