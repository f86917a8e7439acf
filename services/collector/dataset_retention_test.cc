#include "services/collector/dataset_retention.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "services/collector/collector_testing.h"
#include "tests/util/subprocess.h"

namespace continuum::collector {
namespace {

constexpr int64_t kDayMicros = int64_t{86400} * 1'000'000;
constexpr int64_t kDay0 = kTestDay0Micros;

std::unique_ptr<store::SegmentLog> OpenLog(const std::string& dir) {
  store::SegmentLogOptions options;
  options.dir = dir;
  auto log = store::SegmentLog::Open(options, nullptr);
  EXPECT_TRUE(log.ok()) << log.status();
  return log.ok() ? *std::move(log) : nullptr;
}

void AppendAt(store::SegmentLog& log, int64_t micros) {
  store::LogEntry entry;
  entry.event_time_micros = micros;
  entry.payload = std::string(100, 'x');
  ASSERT_TRUE(log.Append({entry}, false).ok());
}

TEST(DatasetRetentionTest, LimitsFromSettings) {
  v1::Dataset d;
  RetentionLimits limits = RetentionLimitsOf(d, 100 * kDayMicros);
  EXPECT_EQ(limits.cutoff_micros, 40 * kDayMicros);  // 60 days by default.
  EXPECT_EQ(limits.max_bytes, 0u);
  d.mutable_retention()->mutable_max_age()->set_seconds(86400);
  d.mutable_retention()->set_max_bytes(1000);
  limits = RetentionLimitsOf(d, 100 * kDayMicros);
  EXPECT_EQ(limits.cutoff_micros, 99 * kDayMicros);
  EXPECT_EQ(limits.max_bytes, 1000u);
  d.mutable_retention()->set_max_bytes(-5);
  EXPECT_EQ(RetentionLimitsOf(d, 0).max_bytes, 0u);
}

TEST(DatasetRetentionTest, DueWhenASegmentIsTooOldOrTheLogTooLarge) {
  const std::string dir = testing::MakeTempDir("dataset_retention_");
  auto records = OpenLog(dir + "/records");
  auto outcomes = OpenLog(dir + "/outcomes");
  ASSERT_NE(records, nullptr);
  ASSERT_NE(outcomes, nullptr);
  AppendAt(*records, kDay0);
  AppendAt(*records, kDay0 + kDayMicros);
  RetentionLimits limits{.cutoff_micros = kDay0, .max_bytes = 0};
  EXPECT_FALSE(RetentionDue(limits, *records, *outcomes));
  limits.max_bytes = records->TotalBytes();
  EXPECT_FALSE(RetentionDue(limits, *records, *outcomes));
  limits.max_bytes = records->TotalBytes() - 1;
  EXPECT_TRUE(RetentionDue(limits, *records, *outcomes));
  limits = {.cutoff_micros = kDay0 + 1, .max_bytes = 0};
  EXPECT_TRUE(RetentionDue(limits, *records, *outcomes));

  // An old outcome alone makes retention due.
  limits = {.cutoff_micros = kDay0 - kDayMicros + 1, .max_bytes = 0};
  EXPECT_FALSE(RetentionDue(limits, *records, *outcomes));
  AppendAt(*outcomes, kDay0 - kDayMicros);
  EXPECT_TRUE(RetentionDue(limits, *records, *outcomes));

  absl::flat_hash_set<int64_t> ids = SegmentIds(*records);
  EXPECT_EQ(ids.size(), 2u);
  for (const store::SegmentInfo& info : records->Segments()) {
    EXPECT_TRUE(ids.contains(info.id));
  }
}

}  // namespace
}  // namespace continuum::collector
