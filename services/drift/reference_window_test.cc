// A version's reference window and prepared reference.
#include "services/drift/reference_window.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace continuum::drift_service {
namespace {

// `rows` rows of 2 features: row r is (r, -r), confidence r / 10; event
// times 1000 + r unless `stamped` is false.
v1::ObservationBatch Rows(int first, int rows, bool stamped = true) {
  v1::ObservationBatch batch;
  batch.set_num_rows(rows);
  batch.set_feature_dim(2);
  for (int r = first; r < first + rows; ++r) {
    batch.add_features(static_cast<float>(r));
    batch.add_features(static_cast<float>(-r));
    batch.add_confidences(static_cast<float>(r) / 10);
    if (stamped) batch.add_event_time_unix_micros(1000 + r);
  }
  return batch;
}

std::vector<double> Sorted(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST(PreparedReferenceTest, KeepsFiniteValuesSorted) {
  v1::ReferenceStatistics stats;
  stats.set_sample_count(300);
  v1::FeatureReference* f = stats.add_features();
  f->set_name("age");
  f->set_categorical(true);
  for (float v : {3.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f,
                  std::numeric_limits<float>::infinity(), 2.0f}) {
    f->add_sample(v);
  }
  stats.mutable_predictions()->add_sample(0.9f);
  stats.mutable_predictions()->add_sample(0.5f);
  auto ref = PreparedReference::Prepare(stats);
  ASSERT_EQ(ref->features.size(), 1u);
  EXPECT_EQ(ref->features[0].sample, (std::vector<double>{1, 2, 3}));
  EXPECT_TRUE(ref->features[0].categorical);
  EXPECT_EQ(ref->features[0].name, "age");
  EXPECT_EQ(ref->predictions, (std::vector<double>{0.5f, 0.9f}));
  EXPECT_FALSE(ref->error_rate.has_value());
  EXPECT_EQ(ref->Describe(), "loaded: 1 features, 300 training rows");
  stats.set_error_rate(0.125);
  EXPECT_EQ(PreparedReference::Prepare(stats)->Describe(),
            "loaded: 1 features, 300 training rows, error rate 0.125");
}

TEST(ReferenceWindowTest, KeepsTheLastRowsAsColumns) {
  ReferenceWindow window;
  window.Append(Rows(0, 3), 4, absl::FromUnixMicros(5));
  window.Append(Rows(3, 3), 4, absl::FromUnixMicros(5));
  EXPECT_EQ(window.count(), 4);
  EXPECT_EQ(window.rows_total(), 6);
  EXPECT_EQ(window.dim(), 2);
  WindowColumns c = window.Columns();
  EXPECT_EQ(c.rows, 4);
  ASSERT_EQ(c.features.size(), 2u);
  EXPECT_EQ(Sorted(c.features[0]), (std::vector<double>{2, 3, 4, 5}));
  EXPECT_EQ(Sorted(c.features[1]), (std::vector<double>{-5, -4, -3, -2}));
  EXPECT_EQ(c.scores.size(), 4u);
  EXPECT_EQ(c.first_micros, 1002);
  EXPECT_EQ(c.last_micros, 1005);
}

TEST(ReferenceWindowTest, UnstampedRowsGetTheTimeOfReceipt) {
  ReferenceWindow window;
  window.Append(Rows(0, 2, /*stamped=*/false), 10, absl::FromUnixMicros(77));
  WindowColumns c = window.Columns();
  EXPECT_EQ(c.first_micros, 77);
  EXPECT_EQ(c.last_micros, 77);
}

TEST(ReferenceWindowTest, ScoresAreConfidencesElsePredictedValuesElseNone) {
  ReferenceWindow window;
  v1::ObservationBatch batch = Rows(0, 2);
  batch.clear_confidences();
  batch.add_predicted_values(7);
  batch.add_predicted_values(8);
  window.Append(batch, 10, absl::UnixEpoch());
  EXPECT_EQ(Sorted(window.Columns().scores), (std::vector<double>{7, 8}));
  batch.clear_predicted_values();
  window.Append(batch, 10, absl::UnixEpoch());
  EXPECT_EQ(window.Columns().scores.size(), 2u);  // No score for the new.
}

TEST(ReferenceWindowTest, ANewCapacityOrClearStartsOver) {
  ReferenceWindow window;
  window.Append(Rows(0, 3), 4, absl::UnixEpoch());
  window.Append(Rows(3, 1), 8, absl::UnixEpoch());
  EXPECT_EQ(window.count(), 1);
  EXPECT_EQ(window.rows_total(), 4);
  window.Clear();
  EXPECT_EQ(window.count(), 0);
  EXPECT_EQ(window.rows_total(), 4);
  window.Append(Rows(4, 2), 8, absl::UnixEpoch());
  EXPECT_EQ(Sorted(window.Columns().features[0]),
            (std::vector<double>{4, 5}));
}

}  // namespace
}  // namespace continuum::drift_service
