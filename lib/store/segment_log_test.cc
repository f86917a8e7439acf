#include "lib/store/segment_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/store/fault_injection_file_system.h"
#include "lib/store/log_format.h"

namespace continuum::store {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kDay = int64_t{86'400} * 1'000'000;
constexpr int64_t kHour = int64_t{3'600} * 1'000'000;
constexpr int64_t kBaseDay = 20'000;  // 2024-10-04.

// An event time `micros` into day `day` after kBaseDay.
int64_t At(int day, int64_t micros) { return (kBaseDay + day) * kDay + micros; }

std::string Payload(int day, int i) {
  return absl::StrCat("d", day, "-r", i, "-", std::string(20 + i % 13, 'x'));
}

LogEntry Entry(int64_t time, std::string payload) {
  LogEntry e;
  e.event_time_micros = time;
  e.payload = std::move(payload);
  return e;
}

struct Row {
  LogPosition pos;
  int64_t time = 0;
  std::string payload;
  bool operator==(const Row& o) const {
    return pos == o.pos && pos.frame_bytes == o.pos.frame_bytes &&
           time == o.time && payload == o.payload;
  }
};

std::ostream& operator<<(std::ostream& os, const Row& r) {
  return os << "{" << r.pos.segment_id << ":" << r.pos.offset << " t=" << r.time
            << " " << r.payload << "}";
}

std::vector<Row> ScanRows(SegmentLog& log, int64_t start = 0, int64_t end = 0,
                          const LogPosition* after = nullptr,
                          ScanStats* stats = nullptr) {
  std::vector<Row> rows;
  absl::Status s = log.Scan(
      start, end, after,
      [&](const LogPosition& pos, int64_t time, absl::string_view payload) {
        rows.push_back(Row{pos, time, std::string(payload)});
        return true;
      },
      stats);
  EXPECT_TRUE(s.ok()) << s;
  return rows;
}

std::vector<std::string> Payloads(const std::vector<Row>& rows) {
  std::vector<std::string> out;
  for (const Row& r : rows) out.push_back(r.payload);
  return out;
}

void AppendRaw(const std::string& path, absl::string_view data) {
  auto file = DefaultFileSystem()->NewAppendableFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Append(data).ok());
  ASSERT_TRUE((*file)->Close().ok());
}

void FlipByte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << path;
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x40));
  ASSERT_TRUE(f.good());
}

std::string UniqueTempDir() {
  static std::atomic<int> counter{0};
  const ::testing::TestInfo* info =
      ::testing::UnitTest::GetInstance()->current_test_info();
  return JoinPath(::testing::TempDir(),
                  absl::StrCat("store_log_", info->name(), "_", ::getpid(), "_",
                               counter.fetch_add(1)));
}

class SegmentLogTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = UniqueTempDir(); }
  void TearDown() override {
    EXPECT_TRUE(DefaultFileSystem()->DeleteRecursively(dir_).ok());
  }

  std::unique_ptr<SegmentLog> Open(FileSystem* fs = DefaultFileSystem(),
                                   uint64_t max_segment_bytes = 64 << 20,
                                   RecoveryReport* report = nullptr) {
    SegmentLogOptions options;
    options.fs = fs;
    options.dir = dir_;
    options.max_segment_bytes = max_segment_bytes;
    auto log = SegmentLog::Open(options, report);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? *std::move(log) : nullptr;
  }

  // Appends `n` records to each of days 0..days-1, interleaving the days,
  // and returns the rows a full scan must give (day by day, in order).
  std::vector<Row> Fill(SegmentLog& log, int days, int n) {
    std::map<int, std::vector<Row>> by_day;
    for (int i = 0; i < n; ++i) {
      std::vector<LogEntry> batch;
      for (int d = days - 1; d >= 0; --d) {
        batch.push_back(Entry(At(d, i * 1000 + d), Payload(d, i)));
      }
      auto positions = log.Append(batch, /*sync=*/i % 2 == 0);
      EXPECT_TRUE(positions.ok()) << positions.status();
      if (!positions.ok()) return {};
      EXPECT_EQ(positions->size(), batch.size());
      for (size_t k = 0; k < batch.size(); ++k) {
        const int d = days - 1 - static_cast<int>(k);
        by_day[d].push_back(
            Row{(*positions)[k], batch[k].event_time_micros, batch[k].payload});
      }
    }
    std::vector<Row> all;
    for (auto& [d, rows] : by_day)
      all.insert(all.end(), rows.begin(), rows.end());
    return all;
  }

  std::string dir_;
};

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

TEST_F(SegmentLogTest, PositionEncodingRoundTripsAndRejectsGarbage) {
  LogPosition pos{2000012345, 987654321, 77};
  auto decoded = LogPosition::Decode(pos.Encode());
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->segment_id, pos.segment_id);
  EXPECT_EQ(decoded->offset, pos.offset);
  EXPECT_EQ(decoded->frame_bytes, pos.frame_bytes);
  for (absl::string_view bad : {"", "garbage", "AAAA", "!!!!!!!!", "AQ"}) {
    EXPECT_EQ(LogPosition::Decode(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  std::string truncated = pos.Encode();
  truncated.pop_back();
  truncated.pop_back();
  EXPECT_EQ(LogPosition::Decode(truncated).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Positions compare by segment, then offset.
  EXPECT_LT((LogPosition{1, 500}), (LogPosition{2, 10}));
  EXPECT_LT((LogPosition{2, 10}), (LogPosition{2, 11}));
  EXPECT_EQ((LogPosition{2, 10, 0}), (LogPosition{2, 10, 30}));
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

// Injected faults.

class SegmentLogFaultTest : public SegmentLogTest {
 protected:
  FaultInjectionFileSystem fs_{DefaultFileSystem()};
};

std::vector<LogEntry> Batch(int day, int first, int n,
                            size_t payload_bytes = 30) {
  std::vector<LogEntry> batch;
  for (int i = first; i < first + n; ++i) {
    batch.push_back(
        Entry(At(day, i),
              absl::StrCat("rec", i, "-", std::string(payload_bytes, 'z'))));
  }
  return batch;
}

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

// Retention.

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
