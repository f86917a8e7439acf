// Test-only helpers shared by the SegmentLog tests (segment_log_test.cc and
// the tests of its parts): event times on fixed days, entries, scanning into
// rows, raw file surgery, and a fixture that opens a log in a fresh
// temporary directory. Part of the library continuum_store_log_testing.
#ifndef CONTINUUM_LIB_STORE_SEGMENT_LOG_TEST_UTIL_H_
#define CONTINUUM_LIB_STORE_SEGMENT_LOG_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "lib/store/file_system.h"
#include "lib/store/segment_log.h"

namespace continuum::store::segment_log_testing {

inline constexpr int64_t kDay = int64_t{86'400} * 1'000'000;
inline constexpr int64_t kHour = int64_t{3'600} * 1'000'000;
inline constexpr int64_t kBaseDay = 20'000;  // 2024-10-04.

// An event time `micros` into day `day` after kBaseDay.
inline int64_t At(int day, int64_t micros) {
  return (kBaseDay + day) * kDay + micros;
}

// A recognisable payload of 20 to 32 filler bytes for record i of day `day`.
std::string Payload(int day, int i);

LogEntry Entry(int64_t time, std::string payload);

// n entries of day `day` with times first..first+n-1 (microseconds into the
// day) and payloads "rec<i>-" followed by payload_bytes 'z's.
std::vector<LogEntry> Batch(int day, int first, int n,
                            size_t payload_bytes = 30);

// A record as a scan gives it.
struct Row {
  LogPosition pos;
  int64_t time = 0;
  std::string payload;
  bool operator==(const Row& o) const {
    return pos == o.pos && pos.frame_bytes == o.pos.frame_bytes &&
           time == o.time && payload == o.payload;
  }
};

std::ostream& operator<<(std::ostream& os, const Row& r);

// The rows of log.Scan(start, end, after, ..., stats); expects it OK.
std::vector<Row> ScanRows(SegmentLog& log, int64_t start = 0, int64_t end = 0,
                          const LogPosition* after = nullptr,
                          ScanStats* stats = nullptr);

std::vector<std::string> Payloads(const std::vector<Row>& rows);

// Appends `data` to the file at `path` behind the log's back.
void AppendRaw(const std::string& path, absl::string_view data);

// Flips a bit of the byte at `offset` of the file at `path`.
void FlipByte(const std::string& path, uint64_t offset);

// A fresh path under the test temporary directory, named after the test.
std::string UniqueTempDir();

// Path of the sidecar of the segment file `log_path` (<id>.log -> <id>.idx).
std::string IndexPathOf(const std::string& log_path);

// A fixture with a fresh log directory dir_, deleted after the test.
class SegmentLogTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Opens the log in dir_; expects it to open (null if it does not).
  std::unique_ptr<SegmentLog> Open(FileSystem* fs = DefaultFileSystem(),
                                   uint64_t max_segment_bytes = 64 << 20,
                                   RecoveryReport* report = nullptr);

  // Appends `n` records to each of days 0..days-1, interleaving the days,
  // and returns the rows a full scan must give (day by day, in order).
  std::vector<Row> Fill(SegmentLog& log, int days, int n);

  std::string dir_;
};

}  // namespace continuum::store::segment_log_testing

#endif  // CONTINUUM_LIB_STORE_SEGMENT_LOG_TEST_UTIL_H_
