// The checks of an ObservationBatch, without a DriftMonitor.
#include "services/drift/batch_validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "services/drift/monitor_config.h"

namespace continuum::drift_service {
namespace {

using ::testing::HasSubstr;

// Two rows of two features, a confidence and a correct/wrong outcome each.
v1::ObservationBatch TwoRows() {
  v1::ObservationBatch batch;
  batch.set_model("m");
  batch.set_version(1);
  batch.set_num_rows(2);
  batch.set_feature_dim(2);
  for (int r = 0; r < 2; ++r) {
    batch.add_features(1.0f);
    batch.add_features(2.0f);
    batch.add_confidences(0.5f);
    v1::ObservedOutcome* o = batch.add_outcomes();
    o->set_row(r);
    o->set_correct(true);
  }
  return batch;
}

std::string Invalid(const v1::ObservationBatch& batch,
                    const KnownVersion& known = {}) {
  absl::Status s = ValidateBatch(batch, known);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  return std::string(s.message());
}

TEST(BatchValidationTest, AGoodBatchPasses) {
  EXPECT_TRUE(ValidateBatch(TwoRows(), {}).ok());
  v1::ObservationBatch outcomes_only;
  outcomes_only.set_model("m");
  outcomes_only.set_version(3);
  outcomes_only.set_kind(v1::OBSERVATION_KIND_OUTCOME);
  outcomes_only.set_num_rows(1);
  outcomes_only.add_outcomes()->set_error_value(0.5f);
  EXPECT_TRUE(ValidateBatch(outcomes_only, {}).ok());
}

TEST(BatchValidationTest, ShapeErrors) {
  v1::ObservationBatch b = TwoRows();
  b.set_model("M");
  EXPECT_THAT(Invalid(b), HasSubstr("model id"));
  b = TwoRows();
  b.set_version(0);
  EXPECT_EQ(Invalid(b), "version must be >= 1");
  b = TwoRows();
  b.set_feature_dim(0);
  EXPECT_THAT(Invalid(b), HasSubstr("feature_dim must be >= 1"));
  b = TwoRows();
  b.mutable_features()->RemoveLast();
  EXPECT_EQ(Invalid(b),
            "features holds 3 values, expected num_rows 2 * feature_dim 2 = 4");
  EXPECT_EQ(Invalid(TwoRows(), {.feature_dim = 3}),
            "feature_dim 2 differs from the 3 of earlier batches of model 'm' "
            "version 1");
  v1::Monitor monitor = DefaultMonitor("m");
  v1::DetectorConfig* d = monitor.add_detectors();
  d->set_id("feature_x");
  d->set_signal(v1::MONITORED_SIGNAL_FEATURE);
  d->set_feature_index(2);
  EXPECT_EQ(Invalid(TwoRows(), {.monitor = &monitor}),
            "feature_dim 2 has no feature 2 watched by detector 'feature_x'");
}

TEST(BatchValidationTest, ColumnErrorsNameTheRow) {
  v1::ObservationBatch b = TwoRows();
  b.set_features(3, std::nanf(""));
  EXPECT_EQ(Invalid(b), "row 1: feature 1 is nan (must be finite)");
  b = TwoRows();
  b.add_confidences(0.5f);
  EXPECT_EQ(Invalid(b),
            "confidences holds 3 entries, expected 0 or num_rows 2");
  b = TwoRows();
  b.set_confidences(1, INFINITY);
  EXPECT_EQ(Invalid(b), "row 1: confidence is inf (must be finite)");
  b = TwoRows();
  b.add_predicted_values(1);
  b.add_predicted_values(NAN);
  EXPECT_EQ(Invalid(b), "row 1: predicted value is nan (must be finite)");
}

TEST(BatchValidationTest, OutcomeErrors) {
  v1::ObservationBatch b = TwoRows();
  b.mutable_outcomes(1)->set_row(2);
  EXPECT_EQ(Invalid(b), "outcomes[1]: row 2 is outside [0, 2)");
  b = TwoRows();
  b.mutable_outcomes(1)->set_error_value(-1);
  EXPECT_EQ(Invalid(b), "row 1: error_value is -1 (must be finite and >= 0)");
  b = TwoRows();
  b.mutable_outcomes(1)->clear_result();
  EXPECT_EQ(Invalid(b), "row 1: outcome has neither correct nor error_value");
  // Mixed kinds within a batch, or against what the version reported.
  b = TwoRows();
  b.mutable_outcomes(1)->set_error_value(0.5f);
  EXPECT_EQ(Invalid(b),
            "row 1: outcome is an error value but model 'm' version 1 "
            "reports correct/wrong");
  EXPECT_EQ(Invalid(TwoRows(), {.outcome_kind = OutcomeKind::kErrorValue}),
            "row 0: outcome is correct/wrong but model 'm' version 1 reports "
            "error values");
}

}  // namespace
}  // namespace continuum::drift_service
