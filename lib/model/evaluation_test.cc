#include "lib/model/evaluation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <vector>

#include "absl/status/status.h"
#include "lib/model/bundle.h"
#include "lib/model/dataset.h"
#include "lib/model/model.h"

namespace continuum::model {
namespace {

using ::testing::DoubleNear;
using ::testing::HasSubstr;

v1::ArtifactManifest Manifest(v1::ModelFamily family, int inputs, int outputs) {
  v1::ArtifactManifest m;
  m.mutable_spec()->set_family(family);
  m.mutable_spec()->set_input_dim(inputs);
  m.mutable_spec()->set_output_dim(outputs);
  m.mutable_spec()->add_hidden_sizes(4);
  *m.mutable_spec() = ResolveSpec(m.spec());
  return m;
}

// n rows of one zero feature each, with `targets`.
Dataset Rows(std::vector<float> targets, int64_t n) {
  Dataset d;
  d.input_dim = 1;
  d.features.assign(n, 0.0f);
  d.targets = std::move(targets);
  return d;
}

TEST(EvaluateOutputsTest, BinaryClassifierByHand) {
  const v1::ArtifactManifest m =
      Manifest(v1::MODEL_FAMILY_MLP_CLASSIFIER, 1, 2);
  const Dataset d = Rows({0, 0, 0, 1, 1, 1}, 6);
  // p(class 1) per row: 0.1 0.6 0.2 0.9 0.4 0.7 -> predictions 0 1 0 1 0 1:
  // TP 2 (rows 3, 5), FP 1 (row 1), FN 1 (row 4), TN 2.
  const std::vector<float> p1 = {0.1f, 0.6f, 0.2f, 0.9f, 0.4f, 0.7f};
  std::vector<float> outputs;
  for (float p : p1) {
    outputs.push_back(1 - p);
    outputs.push_back(p);
  }
  absl::StatusOr<v1::Metrics> metrics = EvaluateOutputs(m, d, outputs);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->sample_count(), 6);
  EXPECT_DOUBLE_EQ(metrics->accuracy(), 4.0 / 6);
  EXPECT_DOUBLE_EQ(metrics->precision(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(metrics->recall(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(metrics->f1(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(metrics->false_positive_rate(), 1.0 / 3);
  // Probability of the true class: 0.9 0.4 0.8 0.9 0.4 0.7.
  const double loss =
      -(std::log(0.9f) + std::log(1 - 0.6f) + std::log(1 - 0.2f) +
        std::log(0.9f) + std::log(0.4f) + std::log(0.7f)) /
      6;
  EXPECT_THAT(metrics->loss(), DoubleNear(loss, 1e-6));
  EXPECT_EQ(metrics->nan_inf_count(), 0);
  EXPECT_FLOAT_EQ(metrics->output_min(), 0.1f);
  EXPECT_FLOAT_EQ(metrics->output_max(), 0.9f);
  EXPECT_FALSE(metrics->extra().contains("macro_false_positive_rate"));

  // A decision threshold of 0.65 turns rows 1 (0.6) from 1 to 0.
  v1::ArtifactManifest strict = m;
  strict.mutable_thresholds()->set_decision_threshold(0.65f);
  metrics = EvaluateOutputs(strict, d, outputs);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_DOUBLE_EQ(metrics->accuracy(), 5.0 / 6);
  EXPECT_DOUBLE_EQ(metrics->precision(), 1.0);
  EXPECT_DOUBLE_EQ(metrics->recall(), 2.0 / 3);
  EXPECT_DOUBLE_EQ(metrics->f1(), 0.8);
  EXPECT_DOUBLE_EQ(metrics->false_positive_rate(), 0.0);
}

TEST(EvaluateOutputsTest, MultiClassMacroAveragesByHand) {
  const v1::ArtifactManifest m =
      Manifest(v1::MODEL_FAMILY_MLP_CLASSIFIER, 1, 3);
  const Dataset d = Rows({0, 0, 1, 1, 2, 2}, 6);
  // Predictions 0 1 1 1 2 0.
  const std::vector<int> predicted = {0, 1, 1, 1, 2, 0};
  std::vector<float> outputs;
  for (int c : predicted) {
    for (int k = 0; k < 3; ++k) outputs.push_back(k == c ? 0.8f : 0.1f);
  }
  absl::StatusOr<v1::Metrics> metrics = EvaluateOutputs(m, d, outputs);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_DOUBLE_EQ(metrics->accuracy(), 4.0 / 6);
  // Class 0: TP 1 FP 1 FN 1; class 1: TP 2 FP 1 FN 0; class 2: TP 1 FP 0
  // FN 1.
  EXPECT_DOUBLE_EQ(metrics->precision(), (0.5 + 2.0 / 3 + 1.0) / 3);
  EXPECT_DOUBLE_EQ(metrics->recall(), (0.5 + 1.0 + 0.5) / 3);
  EXPECT_DOUBLE_EQ(metrics->f1(), (0.5 + 0.8 + 2.0 / 3) / 3);
  // No class is benign among three: the gate's rate stays unset.
  EXPECT_FALSE(metrics->has_false_positive_rate());
  // One-vs-rest: FP 1, 1, 0 among 4 negatives each.
  EXPECT_DOUBLE_EQ(metrics->extra().at("macro_false_positive_rate"),
                   (0.25 + 0.25 + 0.0) / 3);
  EXPECT_THAT(metrics->loss(),
              DoubleNear(-(4 * std::log(0.8f) + 2 * std::log(0.1f)) / 6, 1e-6));
}

TEST(EvaluateOutputsTest, NanOutputsAreCountedAndWrong) {
  const v1::ArtifactManifest m =
      Manifest(v1::MODEL_FAMILY_MLP_CLASSIFIER, 1, 2);
  const Dataset d = Rows({0, 1}, 2);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  absl::StatusOr<v1::Metrics> metrics =
      EvaluateOutputs(m, d, {nan, nan, 0.2f, 0.8f});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->nan_inf_count(), 2);
  EXPECT_DOUBLE_EQ(metrics->accuracy(), 0.5);
  EXPECT_TRUE(std::isnan(metrics->loss()));
  EXPECT_DOUBLE_EQ(metrics->false_positive_rate(), 1.0);
  EXPECT_FLOAT_EQ(metrics->output_min(), 0.2f);
  EXPECT_FLOAT_EQ(metrics->output_max(), 0.8f);
}

TEST(EvaluateOutputsTest, Regressor) {
  const v1::ArtifactManifest m = Manifest(v1::MODEL_FAMILY_MLP_REGRESSOR, 1, 2);
  const Dataset d = Rows({1, 2, 3, 4}, 2);
  // Errors 1, -2, 0, 1: MSE 6 / 4, MAE 4 / 4.
  absl::StatusOr<v1::Metrics> metrics = EvaluateOutputs(m, d, {2, 0, 3, 5});
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_DOUBLE_EQ(metrics->loss(), 1.5);
  EXPECT_DOUBLE_EQ(metrics->mean_absolute_error(), 1.0);
  EXPECT_DOUBLE_EQ(metrics->root_mean_squared_error(), std::sqrt(1.5));
  EXPECT_FALSE(metrics->has_accuracy());
}

TEST(EvaluateOutputsTest, AutoencoderWithAndWithoutLabels) {
  v1::ArtifactManifest m = Manifest(v1::MODEL_FAMILY_AUTOENCODER, 1, 0);
  const std::vector<float> scores = {0.1f, 0.5f, 0.2f, 0.9f, 0.3f};
  // No threshold: only the loss (mean score).
  absl::StatusOr<v1::Metrics> metrics = EvaluateOutputs(m, Rows({}, 5), scores);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_NEAR(metrics->loss(), 0.4, 1e-6);
  EXPECT_FALSE(metrics->has_false_positive_rate());

  m.mutable_thresholds()->set_anomaly_threshold(0.4f);
  // Unlabelled: every row benign; 2 of 5 exceed 0.4.
  metrics = EvaluateOutputs(m, Rows({}, 5), scores);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_DOUBLE_EQ(metrics->false_positive_rate(), 0.4);
  EXPECT_FALSE(metrics->has_precision());

  // Labels 0 0 0 1 1: flagged rows 1 (benign) and 3 (anomaly); row 4 (0.3,
  // anomaly) missed. TP 1, FP 1, FN 1, TN 2.
  metrics = EvaluateOutputs(m, Rows({0, 0, 0, 1, 1}, 5), scores);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_DOUBLE_EQ(metrics->false_positive_rate(), 1.0 / 3);
  EXPECT_DOUBLE_EQ(metrics->accuracy(), 3.0 / 5);
  EXPECT_DOUBLE_EQ(metrics->precision(), 0.5);
  EXPECT_DOUBLE_EQ(metrics->recall(), 0.5);
  EXPECT_DOUBLE_EQ(metrics->f1(), 0.5);
}

TEST(EvaluateOutputsTest, RejectsMismatchedInputs) {
  const v1::ArtifactManifest m =
      Manifest(v1::MODEL_FAMILY_MLP_CLASSIFIER, 1, 2);
  EXPECT_EQ(EvaluateOutputs(m, Rows({0, 1}, 2), {0.5f, 0.5f}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status bad_class =
      EvaluateOutputs(m, Rows({0, 2}, 2), {0.5f, 0.5f, 0.5f, 0.5f}).status();
  EXPECT_EQ(bad_class.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad_class.message(), HasSubstr("class 2"));
}

TEST(CalibrateAnomalyThresholdTest, ExactOrderStatistic) {
  std::vector<float> scores(100);
  std::iota(scores.begin(), scores.end(), 1.0f);  // 1 .. 100
  // 5 % of 100: the 6th largest score, 95, leaves 5 above it.
  absl::StatusOr<float> t = CalibrateAnomalyThreshold(scores, 0.05);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(*t, 95.0f);
  t = CalibrateAnomalyThreshold(scores, 0.0);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 100.0f);
  // floor(0.055 * 100) = 5 as well.
  t = CalibrateAnomalyThreshold(scores, 0.055);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, 95.0f);

  EXPECT_EQ(CalibrateAnomalyThreshold({}, 0.01).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CalibrateAnomalyThreshold(scores, 1.0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      CalibrateAnomalyThreshold({1.0f, std::nanf("")}, 0.01).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(EvaluateTest, RunsTheModelAndChecksTheData) {
  v1::ArtifactManifest manifest =
      Manifest(v1::MODEL_FAMILY_MLP_CLASSIFIER, 3, 2);
  absl::StatusOr<internal::v1::ModelBundle> bundle =
      Model::InitBundle(manifest, 7);
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromBundle(*bundle);
  ASSERT_TRUE(model.ok()) << model.status();
  Dataset d;
  d.input_dim = 3;
  d.features = {1, 2, 3, -1, 0, 1, 0.5f, 0.5f, -2};
  d.targets = {0, 1, 1};
  std::vector<float> outputs;
  ASSERT_TRUE((*model)->Forward(d.features.data(), 3, &outputs).ok());
  absl::StatusOr<v1::Metrics> direct =
      EvaluateOutputs(bundle->manifest(), d, outputs);
  absl::StatusOr<v1::Metrics> metrics = Evaluate(**model, d);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(metrics->SerializeAsString(), direct->SerializeAsString());
  metrics = Evaluate(*bundle, d);
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(metrics->SerializeAsString(), direct->SerializeAsString());

  d.input_dim = 2;
  d.features.resize(6);
  absl::Status s = Evaluate(**model, d).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("rows have 2 features"));

  d.input_dim = 3;
  d.features = {1, 2, std::nanf(""), 0, 0, 0, 0, 0, 0};
  s = Evaluate(**model, d).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("row 0 feature 2"));
}

TEST(ReferenceStatisticsTest, SummarisesEachFeature) {
  Dataset d;
  d.input_dim = 2;
  // Feature 0: 0 .. 999; feature 1: constant 5.
  for (int i = 0; i < 1000; ++i) {
    d.features.push_back(static_cast<float>(i));
    d.features.push_back(5.0f);
  }
  v1::ReferenceStatistics ref = ComputeReferenceStatistics(d, 1);
  EXPECT_EQ(ref.sample_count(), 1000);
  ASSERT_EQ(ref.features_size(), 2);
  const v1::FeatureReference& f0 = ref.features(0);
  EXPECT_EQ(f0.index(), 0);
  EXPECT_DOUBLE_EQ(f0.mean(), 499.5);
  EXPECT_NEAR(f0.variance(), (1000.0 * 1000.0 - 1) / 12, 1e-6);
  EXPECT_EQ(f0.min(), 0.0f);
  EXPECT_EQ(f0.max(), 999.0f);
  EXPECT_EQ(f0.sample_size(), kReferenceSampleSize);
  ASSERT_EQ(f0.bin_edges_size(), kReferenceBins + 1);
  EXPECT_EQ(f0.bin_edges(0), 0.0);
  EXPECT_EQ(f0.bin_edges(kReferenceBins), 999.0);
  int64_t total = 0;
  for (int64_t c : f0.bin_counts()) {
    total += c;
    // Quantile bins of a uniform sample hold about a tenth each.
    EXPECT_NEAR(c, 100, 30);
  }
  EXPECT_EQ(total, 1000);
  const v1::FeatureReference& f1 = ref.features(1);
  EXPECT_EQ(f1.variance(), 0.0);
  ASSERT_EQ(f1.bin_edges_size(), 2);
  EXPECT_EQ(f1.bin_counts(0), 1000);

  // The same seed draws the same sample.
  EXPECT_EQ(ComputeReferenceStatistics(d, 1).SerializeAsString(),
            ref.SerializeAsString());

  // A bundle accepts it.
  v1::ArtifactManifest manifest =
      Manifest(v1::MODEL_FAMILY_MLP_CLASSIFIER, 2, 2);
  absl::StatusOr<internal::v1::ModelBundle> bundle =
      Model::InitBundle(manifest, 7);
  ASSERT_TRUE(bundle.ok());
  *bundle->mutable_reference() = ref;
  EXPECT_TRUE(ValidateBundle(*bundle).ok()) << ValidateBundle(*bundle);
}

}  // namespace
}  // namespace continuum::model
