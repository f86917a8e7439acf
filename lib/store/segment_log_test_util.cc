#include "lib/store/segment_log_test_util.h"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"

namespace continuum::store::segment_log_testing {

std::string Payload(int day, int i) {
  return absl::StrCat("d", day, "-r", i, "-", std::string(20 + i % 13, 'x'));
}

LogEntry Entry(int64_t time, std::string payload) {
  LogEntry e;
  e.event_time_micros = time;
  e.payload = std::move(payload);
  return e;
}

std::vector<LogEntry> Batch(int day, int first, int n, size_t payload_bytes) {
  std::vector<LogEntry> batch;
  for (int i = first; i < first + n; ++i) {
    batch.push_back(
        Entry(At(day, i),
              absl::StrCat("rec", i, "-", std::string(payload_bytes, 'z'))));
  }
  return batch;
}

std::ostream& operator<<(std::ostream& os, const Row& r) {
  return os << "{" << r.pos.segment_id << ":" << r.pos.offset << " t=" << r.time
            << " " << r.payload << "}";
}

std::vector<Row> ScanRows(SegmentLog& log, int64_t start, int64_t end,
                          const LogPosition* after, ScanStats* stats) {
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

std::string IndexPathOf(const std::string& log_path) {
  return log_path.substr(0, log_path.size() - 3) + "idx";
}

void SegmentLogTest::SetUp() { dir_ = UniqueTempDir(); }

void SegmentLogTest::TearDown() {
  EXPECT_TRUE(DefaultFileSystem()->DeleteRecursively(dir_).ok());
}

std::unique_ptr<SegmentLog> SegmentLogTest::Open(FileSystem* fs,
                                                 uint64_t max_segment_bytes,
                                                 RecoveryReport* report) {
  SegmentLogOptions options;
  options.fs = fs;
  options.dir = dir_;
  options.max_segment_bytes = max_segment_bytes;
  auto log = SegmentLog::Open(options, report);
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? *std::move(log) : nullptr;
}

std::vector<Row> SegmentLogTest::Fill(SegmentLog& log, int days, int n) {
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

}  // namespace continuum::store::segment_log_testing
