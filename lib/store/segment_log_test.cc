// SegmentLog as a whole: a round trip across days and rotation, scans
// concurrent with appends, a real crash (SIGKILL), and the API's edges. The
// parts have their own tests: segment_files_test.cc, segment_set_test.cc,
// segment_recovery_test.cc, group_commit_test.cc, segment_reader_test.cc,
// segment_retention_test.cc, log_position_test.cc.
#include "lib/store/segment_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/store/segment_log_test_util.h"

namespace continuum::store {
namespace {

using ::testing::HasSubstr;
using segment_log_testing::At;
using segment_log_testing::Entry;
using segment_log_testing::kBaseDay;
using segment_log_testing::kDay;
using segment_log_testing::Row;
using segment_log_testing::ScanRows;
using segment_log_testing::SegmentLogTest;

TEST_F(SegmentLogTest, RoundTripAcrossDaysAndSizeRotation) {
  auto log = Open(DefaultFileSystem(), /*max_segment_bytes=*/600);
  ASSERT_NE(log, nullptr);
  const std::vector<Row> expected = Fill(*log, 3, 40);
  ASSERT_EQ(expected.size(), 120u);

  EXPECT_EQ(ScanRows(*log), expected);
  EXPECT_EQ(log->TotalRecords(), 120);

  const std::vector<SegmentInfo> segments = log->Segments();
  std::map<int64_t, int> per_day;
  std::map<int64_t, int> active_per_day;
  uint64_t bytes = 0;
  int64_t records = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    const SegmentInfo& s = segments[i];
    if (i > 0) {
      EXPECT_GT(s.id, segments[i - 1].id);
      EXPECT_GE(s.day, segments[i - 1].day);
    }
    EXPECT_GE(s.day, kBaseDay);
    EXPECT_LE(s.bytes, 600u);
    EXPECT_EQ(s.id / 100000, s.day);
    EXPECT_GE(s.min_event_time_micros, s.day * kDay);
    EXPECT_LT(s.max_event_time_micros, (s.day + 1) * kDay);
    EXPECT_TRUE(absl::StrContains(s.path, "/20241004/") ||
                absl::StrContains(s.path, "/20241005/") ||
                absl::StrContains(s.path, "/20241006/"))
        << s.path;
    EXPECT_TRUE(absl::EndsWith(s.path, absl::StrFormat("/%010d.log", s.id)));
    EXPECT_TRUE(DefaultFileSystem()->FileExists(s.path));
    // Sealed segments have their sidecar.
    const std::string idx = s.path.substr(0, s.path.size() - 3) + "idx";
    EXPECT_EQ(DefaultFileSystem()->FileExists(idx), !s.active) << idx;
    ++per_day[s.day];
    if (s.active) ++active_per_day[s.day];
    bytes += s.bytes;
    records += s.records;
  }
  EXPECT_EQ(per_day.size(), 3u);
  for (const auto& [day, count] : per_day) {
    EXPECT_GT(count, 1) << "day " << day << " was not rotated";
    EXPECT_EQ(active_per_day[day], 1);
  }
  EXPECT_EQ(bytes, log->TotalBytes());
  EXPECT_EQ(records, 120);
}

TEST_F(SegmentLogTest, ConcurrentScansNeverSeeAPartialRecord) {
  auto log = Open(DefaultFileSystem(), 32 << 10);
  ASSERT_NE(log, nullptr);
  std::atomic<bool> done{false};
  std::atomic<int64_t> appended{0};
  // One scan pauses in its callback until the writer appends more, and the
  // writer waits half-way for that pause: at least one scan overlaps
  // appends, whatever the scheduling.
  std::atomic<bool> scan_paused{false};
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  std::thread writer([&] {
    for (int i = 0; i < 400; ++i) {
      if (i == 200) {
        while (!scan_paused && absl::Now() < deadline) {
          absl::SleepFor(absl::Milliseconds(1));
        }
      }
      std::vector<LogEntry> batch;
      for (int k = 0; k < 5; ++k) {
        const int n = i * 5 + k;
        batch.push_back(
            Entry(At(0, n), absl::StrCat(n, ":", std::string(n % 200, 'q'))));
      }
      EXPECT_TRUE(log->Append(batch, false).ok());
      appended += 5;
    }
    done = true;
  });
  int64_t last_count = 0;
  int overlapping = 0;
  bool pause_used = false;
  while (!done) {
    int64_t count = 0;
    const int64_t appended_before = appended;
    ASSERT_TRUE(
        log->Scan(
               0, 0, nullptr,
               [&](const LogPosition&, int64_t time, absl::string_view p) {
                 if (!pause_used) {
                   pause_used = true;
                   scan_paused = true;
                   while (appended == appended_before &&
                          absl::Now() < deadline) {
                     absl::SleepFor(absl::Milliseconds(1));
                   }
                 }
                 std::pair<absl::string_view, absl::string_view> parts =
                     absl::StrSplit(p, absl::MaxSplits(':', 1));
                 int n = -1;
                 EXPECT_TRUE(absl::SimpleAtoi(parts.first, &n)) << p;
                 EXPECT_EQ(n, count) << "records out of order or missing";
                 EXPECT_EQ(time, At(0, n));
                 EXPECT_EQ(parts.second.size(), static_cast<size_t>(n % 200));
                 ++count;
                 return true;
               },
               nullptr)
            .ok());
    if (appended > appended_before) ++overlapping;
    EXPECT_GE(count, last_count);
    last_count = count;
  }
  writer.join();
  EXPECT_GE(overlapping, 1) << "no scan ran while the writer appended";
  EXPECT_EQ(ScanRows(*log).size(), 2000u);
}

// A real crash: a child process appends from several threads with
// sync=true and reports each acknowledged record on a pipe; it is killed with
// SIGKILL mid-stream. After recovery every acknowledged record is present
// exactly once, and every record present is whole.
TEST_F(SegmentLogTest, KillNineLosesNoAcknowledgedRecord) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    SegmentLogOptions options;
    options.dir = dir_;
    options.max_segment_bytes = 16 << 10;
    auto log = SegmentLog::Open(options, nullptr);
    if (!log.ok()) ::_exit(2);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int64_t i = 0;; ++i) {
          const int64_t id = t * int64_t{1'000'000'000} + i;
          auto r = (*log)->Append(
              {Entry(At(static_cast<int>(id % 3), id % 1000),
                     absl::StrCat(id, ":", std::string(id % 300, 'k')))},
              /*sync=*/true);
          if (!r.ok()) ::_exit(3);
          if (::write(fds[1], &id, sizeof(id)) != sizeof(id)) ::_exit(4);
        }
      });
    }
    for (std::thread& t : threads) t.join();
    ::_exit(0);
  }
  ::close(fds[1]);
  std::set<int64_t> acked;
  auto read_acks = [&](int timeout_ms) {
    pollfd p{fds[0], POLLIN, 0};
    while (::poll(&p, 1, timeout_ms) > 0) {
      int64_t ids[512];
      const ssize_t n = ::read(fds[0], ids, sizeof(ids));
      if (n <= 0) return false;  // EOF: the child is gone.
      for (ssize_t k = 0; k < n / 8; ++k) acked.insert(ids[k]);
      if (timeout_ms > 0 && acked.size() >= 2000) return true;
    }
    return true;
  };
  read_acks(/*timeout_ms=*/5000);  // Until 2000 acks (or 5 s).
  ::kill(pid, SIGKILL);
  int wstatus = 0;
  ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(wstatus))
      << "child exited early: " << WEXITSTATUS(wstatus);
  while (read_acks(/*timeout_ms=*/-1)) {
  }
  ::close(fds[0]);
  ASSERT_GT(acked.size(), 100u);

  RecoveryReport report;
  auto log = Open(DefaultFileSystem(), 16 << 10, &report);
  ASSERT_NE(log, nullptr);
  std::map<int64_t, int> seen;
  ASSERT_TRUE(
      log->Scan(
             0, 0, nullptr,
             [&](const LogPosition&, int64_t time, absl::string_view p) {
               std::pair<absl::string_view, absl::string_view> parts =
                   absl::StrSplit(p, absl::MaxSplits(':', 1));
               int64_t id = -1;
               EXPECT_TRUE(absl::SimpleAtoi(parts.first, &id)) << p;
               EXPECT_EQ(parts.second.size(), static_cast<size_t>(id % 300));
               EXPECT_EQ(time, At(static_cast<int>(id % 3), id % 1000));
               ++seen[id];
               return true;
             },
             nullptr)
          .ok());
  for (int64_t id : acked) {
    ASSERT_EQ(seen[id], 1) << "acknowledged record " << id;
  }
  for (const auto& [id, count] : seen) EXPECT_EQ(count, 1) << id;
  // At most one in-flight call per thread was written but not acknowledged.
  EXPECT_LE(seen.size(), acked.size() + 4);
  EXPECT_EQ(report.skipped_corrupt_records, 0);
}

// API edges.

TEST_F(SegmentLogTest, RejectsBadEntriesAndWritesNothing) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  std::vector<LogEntry> batch = {
      Entry(At(0, 1), "ok"), Entry(At(0, 2), std::string((64 << 20) + 1, 'b'))};
  auto r = log->Append(batch, true);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("entry 1"));
  r = log->Append({Entry(-1, "before 1970")}, true);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log->TotalRecords(), 0);
  EXPECT_TRUE(log->Segments().empty());
  r = log->Append({}, true);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  // Exactly 64 MiB is fine.
  r = log->Append({Entry(At(0, 3), std::string(64 << 20, 'm'))}, false);
  ASSERT_TRUE(r.ok()) << r.status();
  std::string payload;
  ASSERT_TRUE(log->ReadAt((*r)[0], &payload).ok());
  EXPECT_EQ(payload.size(), size_t{64} << 20);
}

TEST_F(SegmentLogTest, OnlyOneOpenerAtATime) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  SegmentLogOptions options;
  options.dir = dir_;
  EXPECT_EQ(SegmentLog::Open(options, nullptr).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(log->Close().ok());
  EXPECT_EQ(log->Append({Entry(At(0, 1), "x")}, true).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(log->Destroy().code(), absl::StatusCode::kFailedPrecondition);
  auto again = SegmentLog::Open(options, nullptr);
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST_F(SegmentLogTest, OpenRejectsBadOptions) {
  SegmentLogOptions options;
  EXPECT_EQ(SegmentLog::Open(options, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.dir = dir_;
  options.fs = nullptr;
  EXPECT_EQ(SegmentLog::Open(options, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SegmentLogTest, DestroyDeletesEverything) {
  auto log = Open();
  ASSERT_NE(log, nullptr);
  Fill(*log, 2, 5);
  ASSERT_TRUE(log->Destroy().ok());
  EXPECT_FALSE(DefaultFileSystem()->FileExists(dir_));
  EXPECT_EQ(log->Append({Entry(At(0, 1), "x")}, true).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(log->Scan(
                   0, 0, nullptr,
                   [](const LogPosition&, int64_t, absl::string_view) {
                     return true;
                   },
                   nullptr)
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(log->Segments().empty());
  EXPECT_EQ(log->TotalBytes(), 0u);
}

}  // namespace
}  // namespace continuum::store
