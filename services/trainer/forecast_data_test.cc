#include "services/trainer/forecast_data.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "lib/model/bundle.h"

namespace continuum::trainer {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr int64_t kHour = int64_t{3600} * 1000000;

// A batch of `times.size()` rows of one feature (the value), each row's
// series attribute from `series` (empty: no attribute).
v1::RecordBatch Batch(const std::vector<int64_t>& times,
                      const std::vector<float>& values,
                      const std::vector<std::string>& series) {
  v1::RecordBatch b;
  b.set_num_rows(static_cast<int>(times.size()));
  b.set_feature_dim(1);
  for (size_t i = 0; i < times.size(); ++i) {
    b.add_event_time_unix_micros(times[i]);
    b.add_features(values[i]);
    b.add_ids("r" + std::to_string(i));
    v1::RecordAttributes* a = b.add_attributes();
    if (!series[i].empty()) (*a->mutable_values())["series"] = series[i];
  }
  return b;
}

v1::ModelSpec Spec(int steps, std::vector<int> horizons) {
  v1::ModelSpec spec;
  spec.set_family(v1::MODEL_FAMILY_GRU_FORECASTER);
  spec.set_input_dim(1);
  spec.set_output_dim(1);
  spec.set_sequence_length(steps);
  for (int h : horizons) spec.add_horizons(h);
  return model::ResolveSpec(spec);
}

TEST(ForecastDataTest, StepsAreGroupedBySeriesAndCapped) {
  SeriesSteps steps;
  absl::StatusOr<bool> more = AppendSeriesBatch(
      Batch({1, 2, 3}, {10, 20, 30}, {"a", "b", ""}), 1, 10, &steps);
  ASSERT_TRUE(more.ok() && *more);
  EXPECT_EQ(steps.series.size(), 3u);
  EXPECT_THAT(steps.series["a"].values, ElementsAre(10));
  EXPECT_THAT(steps.series[""].times, ElementsAre(3));
  more = AppendSeriesBatch(Batch({4, 5}, {40, 50}, {"a", "a"}), 1, 4, &steps);
  ASSERT_TRUE(more.ok());
  EXPECT_FALSE(*more);
  EXPECT_EQ(steps.steps, 4);
  EXPECT_THAT(steps.series["a"].values, ElementsAre(10, 40));

  v1::RecordBatch wide = Batch({1}, {1}, {"a"});
  wide.set_feature_dim(2);
  wide.add_features(2);
  more = AppendSeriesBatch(wide, 1, 10, &steps);
  EXPECT_EQ(more.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(more.status().message()),
              HasSubstr("records have 2 features; the forecaster takes 1"));
}

TEST(ForecastDataTest, SeriesAreOrderedSplitByTimeAndJudgedAgainstNaive) {
  // Two hourly series of 4 days, read out of order, one step repeated.
  SeriesSteps steps;
  for (const char* name : {"web-1", "web-2"}) {
    std::vector<int64_t> times;
    std::vector<float> values;
    for (int t = 95; t >= 0; --t) {
      times.push_back(t * kHour);
      values.push_back(static_cast<float>(t % 24));
    }
    times.push_back(0);
    values.push_back(0.5f);  // read last: replaces the first reading
    ASSERT_TRUE(AppendSeriesBatch(Batch(times, values,
                                        std::vector<std::string>(97, name)),
                                  1, 1000, &steps)
                    .ok());
  }
  absl::StatusOr<ForecastData> data =
      BuildForecastData(std::move(steps), Spec(6, {1, 2}), 0.25);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->step, kHour);
  EXPECT_EQ(data->season, 24);
  ASSERT_EQ(data->series.size(), 2u);
  EXPECT_EQ(data->series[0].times.size(), 96u);
  EXPECT_EQ(data->series[0].values[0], 0.5f);
  EXPECT_EQ(data->series[0].values[1], 1.0f);
  // The last quarter of 96 hours is held out: targets from hour 72 on.
  EXPECT_EQ(data->cutoff, 72 * kHour);
  ASSERT_GT(data->holdout.data.size(), 0);
  for (int64_t t : data->holdout.first_target_time) {
    EXPECT_GE(t, data->cutoff);
  }
  for (int64_t t : data->train.last_target_time) {
    EXPECT_LT(t, data->cutoff);
  }
  // Windows end at hours 23 (a day back for the naive forecast) to 93.
  EXPECT_EQ(data->train.data.size() + data->holdout.data.size() + 2 * 1,
            2 * (93 - 23 + 1));
  // The series repeats every day: seasonal naive is exact.
  const std::vector<float> naive =
      SeasonalNaiveOutputs(Spec(6, {1, 2}), data->holdout);
  ASSERT_EQ(naive.size(), data->holdout.data.targets.size() * 3);
  for (size_t i = 0; i < data->holdout.data.targets.size(); ++i) {
    EXPECT_EQ(naive[3 * i], data->holdout.data.targets[i]);
    EXPECT_EQ(naive[3 * i + 2], data->holdout.data.targets[i]);
  }
}

TEST(ForecastDataTest, TooFewStepsIsAPreconditionNamingTheLayout) {
  SeriesSteps steps;
  ASSERT_TRUE(AppendSeriesBatch(Batch({5}, {1}, {"a"}), 1, 10, &steps).ok());
  absl::StatusOr<ForecastData> data =
      BuildForecastData(std::move(steps), Spec(2, {1}), 0.1);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(data.status().message()),
              HasSubstr("no series has two steps"));
}

}  // namespace
}  // namespace continuum::trainer
