#include "services/collector/dataset_aggregates.h"

#include <gtest/gtest.h>

#include <vector>

#include "lib/core/proto_time.h"
#include "services/collector/collector_testing.h"

namespace continuum::collector {
namespace {

// 2026-11-20T00:00:00Z.
constexpr int64_t kDay0Seconds = 1'795'132'800;

v1::Record Rec(int64_t seconds, std::vector<float> features) {
  v1::Record r;
  r.mutable_event_time()->set_seconds(seconds);
  for (float f : features) r.add_features(f);
  return r;
}

TEST(DatasetAggregatesTest, EmptyFillsZerosAndNoTimes) {
  DatasetAggregates aggregates;
  v1::DatasetStats stats;
  aggregates.FillStats(&stats);
  EXPECT_EQ(stats.record_count(), 0);
  EXPECT_EQ(stats.labeled_fraction(), 0.0);
  EXPECT_FALSE(stats.has_first_event_time());
  EXPECT_EQ(stats.daily_counts_size(), 0);
  EXPECT_EQ(stats.feature_means_size(), 0);
}

TEST(DatasetAggregatesTest, CountsDaysTimesMeansAndVariances) {
  DatasetAggregates aggregates;
  const v1::Label one = ClassLabel(1);
  aggregates.AddRecord(Rec(kDay0Seconds + 10, {1, 10}), &one);
  aggregates.AddRecord(Rec(kDay0Seconds + 86400 + 5, {3, 10}), nullptr);
  aggregates.AddRecord(Rec(kDay0Seconds + 20, {5, 10}), nullptr);
  v1::DatasetStats stats;
  aggregates.FillStats(&stats);
  EXPECT_EQ(stats.record_count(), 3);
  EXPECT_EQ(stats.labeled_count(), 1);
  EXPECT_DOUBLE_EQ(stats.labeled_fraction(), 1.0 / 3);
  EXPECT_EQ(core::ToUnixMicros(stats.first_event_time()),
            (kDay0Seconds + 10) * 1'000'000);
  EXPECT_EQ(core::ToUnixMicros(stats.last_event_time()),
            (kDay0Seconds + 86400 + 5) * 1'000'000);
  ASSERT_EQ(stats.daily_counts_size(), 2);
  EXPECT_EQ(stats.daily_counts(0).date(), "2026-11-20");
  EXPECT_EQ(stats.daily_counts(0).records(), 2);
  EXPECT_EQ(stats.daily_counts(0).labeled_records(), 1);
  EXPECT_EQ(stats.daily_counts(1).date(), "2026-11-21");
  ASSERT_EQ(stats.feature_means_size(), 2);
  EXPECT_DOUBLE_EQ(stats.feature_means(0), 3.0);
  EXPECT_DOUBLE_EQ(stats.feature_variances(0), 8.0 / 3);
  EXPECT_DOUBLE_EQ(stats.feature_variances(1), 0.0);
  EXPECT_EQ(stats.class_counts().at(1), 1);
}

TEST(DatasetAggregatesTest, EventsBeforeTheEpochFallOnTheirDay) {
  DatasetAggregates aggregates;
  aggregates.AddRecord(Rec(-1, {0}), nullptr);
  v1::DatasetStats stats;
  aggregates.FillStats(&stats);
  ASSERT_EQ(stats.daily_counts_size(), 1);
  EXPECT_EQ(stats.daily_counts(0).date(), "1969-12-31");
}

TEST(DatasetAggregatesTest, LateLabelsAndReplacementsMoveClassCounts) {
  DatasetAggregates aggregates;
  aggregates.AddRecord(Rec(kDay0Seconds, {0}), nullptr);
  aggregates.AddLabel(kDay0Seconds * 1'000'000, ClassLabel(2));
  aggregates.ReplaceLabel(ClassLabel(2), ClassLabel(0));
  v1::DatasetStats stats;
  aggregates.FillStats(&stats);
  EXPECT_EQ(stats.labeled_count(), 1);
  EXPECT_EQ(stats.daily_counts(0).labeled_records(), 1);
  EXPECT_FALSE(stats.class_counts().contains(2));  // Zero counts are left out.
  EXPECT_EQ(stats.class_counts().at(0), 1);
  v1::Label value;
  value.set_target_value(0.5);
  aggregates.ReplaceLabel(ClassLabel(0), value);
  stats.Clear();
  aggregates.FillStats(&stats);
  EXPECT_TRUE(stats.class_counts().empty());
}

}  // namespace
}  // namespace continuum::collector
