// The data-set tests: TestFeatures (the drift service's loop over features
// and tests) by hand, and TestDatasetDrift (Evidently's data-set metric)
// on numpy's streams and small samples with known p-values.
#include "lib/drift/dataset_drift.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "lib/drift/ks.h"
#include "lib/drift/python_random.h"
#include "lib/drift/test_samples.h"

namespace continuum::drift {
namespace {

using ::testing::HasSubstr;

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------- features

TEST(TestFeaturesTest, EveryTestPerFeatureCorrectedTogether) {
  // Feature 0 shifted (D = 0.7, p = 0.0123), feature 1 identical.
  const std::vector<double> ref = Range(0, 10);
  const std::vector<double> shifted = Range(7, 10);
  const std::vector<FeatureSamples> features = {{0, ref, shifted},
                                                {1, ref, ref}};
  absl::StatusOr<FeatureTestRun> run = TestFeatures(
      features, {.numerical_tests = {FeatureTest::kKs, FeatureTest::kPsi}});
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->results.size(), 4u);  // KS and PSI per feature, in order.
  EXPECT_EQ(run->results[0].feature, 0);
  EXPECT_EQ(run->results[0].test, FeatureTest::kKs);
  EXPECT_EQ(run->results[1].test, FeatureTest::kPsi);
  EXPECT_EQ(run->results[2].feature, 1);
  const FeatureTestResult& ks = run->results[0];
  ExpectRelative(*ks.p_value, 0.012340600575894691, 1e-12);
  // Bonferroni over the two KS p-values: 0.0247 < 0.05.
  EXPECT_DOUBLE_EQ(*ks.adjusted_p_value, 2 * *ks.p_value);
  EXPECT_DOUBLE_EQ(ks.threshold, 0.05);
  EXPECT_TRUE(ks.drifted);
  // PSI is a distance: no p-value, its own threshold.
  const FeatureTestResult& psi = run->results[1];
  EXPECT_FALSE(psi.p_value.has_value());
  EXPECT_FALSE(psi.adjusted_p_value.has_value());
  EXPECT_DOUBLE_EQ(psi.threshold, 0.1);
  EXPECT_TRUE(psi.drifted);
  EXPECT_EQ(*PopulationStabilityIndex(ref, shifted), psi.statistic);
  EXPECT_FALSE(run->results[2].drifted);
  EXPECT_DOUBLE_EQ(*run->results[2].adjusted_p_value, 1.0);
  EXPECT_EQ(run->tested_features, 2);
  EXPECT_EQ(run->drifted_features, 1);
  EXPECT_DOUBLE_EQ(run->drifted_share, 0.5);
  EXPECT_TRUE(run->dataset_drift);
}

TEST(TestFeaturesTest, AFeatureDriftsUnderAnyOfItsTests) {
  // Three of five features shifted: Bonferroni over the five KS p-values
  // makes 0.0123 * 5 = 0.062, no drift; PSI, which no correction touches,
  // says drift for the three.
  const std::vector<double> ref = Range(0, 10);
  const std::vector<double> shifted = Range(7, 10);
  std::vector<FeatureSamples> features;
  for (int f = 0; f < 3; ++f) features.push_back({f, ref, shifted});
  for (int f = 3; f < 5; ++f) features.push_back({f, ref, ref});
  absl::StatusOr<FeatureTestRun> ks_only = TestFeatures(features, {});
  ASSERT_TRUE(ks_only.ok());
  EXPECT_EQ(ks_only->drifted_features, 0);
  absl::StatusOr<FeatureTestRun> both = TestFeatures(
      features, {.numerical_tests = {FeatureTest::kKs, FeatureTest::kPsi}});
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->drifted_features, 3);
  EXPECT_DOUBLE_EQ(both->drifted_share, 0.6);
  EXPECT_FALSE(both->results[0].drifted);  // KS, corrected.
  EXPECT_TRUE(both->results[1].drifted);   // PSI.
}

TEST(TestFeaturesTest, CategoricalFeaturesRunChiSquaredAlone) {
  std::vector<double> ref(50, 0.0), shifted(70, 0.0);
  ref.resize(100, 1.0);
  shifted.resize(100, 1.0);
  std::sort(shifted.begin(), shifted.end());
  absl::StatusOr<FeatureTestRun> run = TestFeatures(
      std::vector<FeatureSamples>{
          {.feature = 4, .reference = ref, .current = shifted,
           .kind = FeatureKind::kCategorical}},
      {.numerical_tests = {FeatureTest::kKs, FeatureTest::kPsi}});
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(run->results.size(), 1u);
  EXPECT_EQ(run->results[0].feature, 4);
  EXPECT_EQ(run->results[0].test, FeatureTest::kChiSquared);
  EXPECT_EQ(*run->results[0].p_value, ChiSquaredTest(ref, shifted)->p_value);
  EXPECT_TRUE(run->results[0].drifted);
}

TEST(TestFeaturesTest, NoFeaturesIsAnEmptyRun) {
  absl::StatusOr<FeatureTestRun> run = TestFeatures({}, {});
  ASSERT_TRUE(run.ok());
  EXPECT_TRUE(run->results.empty());
  EXPECT_EQ(run->tested_features, 0);
  EXPECT_EQ(run->drifted_share, 0.0);
  EXPECT_FALSE(run->dataset_drift);
}

TEST(TestFeaturesTest, RejectsBadOptionsAndSamples) {
  const std::vector<double> ref = Range(0, 10);
  const std::vector<double> empty;
  const std::vector<FeatureSamples> one = {{7, ref, ref}};
  auto message = [](absl::StatusOr<FeatureTestRun> r) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(r.status().message());
  };
  EXPECT_THAT(message(TestFeatures(one, {.alpha = 1.0})), HasSubstr("alpha"));
  EXPECT_THAT(message(TestFeatures(one, {.drift_share = 0})),
              HasSubstr("drift_share"));
  EXPECT_THAT(message(TestFeatures(
                  one, {.numerical_tests = {FeatureTest::kChiSquared}})),
              HasSubstr("categorical"));
  EXPECT_THAT(message(TestFeatures(
                  std::vector<FeatureSamples>{{7, ref, empty}}, {})),
              HasSubstr("feature 7: current sample is empty"));
}

// ---------------------------------------------------------------- data set

TEST(DatasetDriftTest, IdenticalDistributionsDoNotDrift) {
  NumpyRandomState rng(5);
  std::vector<std::vector<double>> ref, cur;
  for (int f = 0; f < 4; ++f) {
    ref.push_back(Normals(rng, f, 1, 5000));
    cur.push_back(Normals(rng, f, 1, 5000));
  }
  for (NumericalTest test :
       {NumericalTest::kKs, NumericalTest::kPsi, NumericalTest::kJensenShannon,
        NumericalTest::kWasserstein}) {
    auto r = TestDatasetDrift(ref, cur, {}, {.numerical_test = test});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->drifted_features, 0);
    EXPECT_FALSE(r->dataset_drift);
  }
}

TEST(DatasetDriftTest, ShiftedMeansDrift) {
  NumpyRandomState rng(6);
  std::vector<std::vector<double>> ref, cur;
  for (int f = 0; f < 4; ++f) {
    ref.push_back(Normals(rng, 0, 1, 5000));
    cur.push_back(Normals(rng, f < 2 ? 1.0 : 0.0, 1, 5000));
  }
  for (NumericalTest test :
       {NumericalTest::kKs, NumericalTest::kPsi, NumericalTest::kJensenShannon,
        NumericalTest::kWasserstein}) {
    auto r = TestDatasetDrift(ref, cur, {}, {.numerical_test = test});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->features[0].drifted);
    EXPECT_TRUE(r->features[1].drifted);
    EXPECT_FALSE(r->features[2].drifted);
    EXPECT_FALSE(r->features[3].drifted);
    EXPECT_EQ(r->drifted_share, 0.5);
    EXPECT_TRUE(r->dataset_drift);  // 0.5 >= drift_share 0.5
  }
  // One shifted feature in four is below the share.
  cur[1] = Normals(rng, 0.0, 1, 5000);
  auto r = TestDatasetDrift(ref, cur, {}, {});
  EXPECT_EQ(r->drifted_features, 1);
  EXPECT_FALSE(r->dataset_drift);
}

// Five features; three have D = 0.7 between ten values (p = 0.0123), two
// are identical. Uncorrected, three of five drift: data-set drift. With
// Bonferroni the threshold is 0.05 / 5 = 0.01 and none does.
TEST(DatasetDriftTest, BonferroniChangesTheVerdict) {
  std::vector<std::vector<double>> ref(5, Range(0, 10));
  std::vector<std::vector<double>> cur = {
      Range(7, 10), Range(7, 10), Range(7, 10), Range(0, 10), Range(0, 10)};
  auto none = TestDatasetDrift(ref, cur, {}, {.correction = Correction::kNone});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->drifted_features, 3);
  EXPECT_TRUE(none->dataset_drift);
  ExpectRelative(none->features[0].score, 0.012340600575894691, 1e-12);

  auto bonferroni = TestDatasetDrift(ref, cur, {}, {});
  ASSERT_TRUE(bonferroni.ok());
  EXPECT_EQ(bonferroni->drifted_features, 0);
  EXPECT_FALSE(bonferroni->dataset_drift);
  EXPECT_DOUBLE_EQ(bonferroni->features[0].threshold, 0.01);

  // Benjamini-Hochberg: sorted 0.0123 x3 against 0.01, 0.02, 0.03: ranks 2
  // and 3 pass, so all three drift.
  auto bh = TestDatasetDrift(ref, cur, {},
                             {.correction = Correction::kBenjaminiHochberg});
  EXPECT_EQ(bh->drifted_features, 3);
  EXPECT_DOUBLE_EQ(bh->features[0].threshold, 0.03);
}

TEST(DatasetDriftTest, CategoricalFeaturesUseChiSquared) {
  std::vector<double> ref(50, 0.0), shifted(70, 0.0);
  ref.resize(100, 1.0);
  shifted.resize(100, 1.0);
  auto r = TestDatasetDrift(
      {ref, ref}, {shifted, ref},
      {FeatureKind::kCategorical, FeatureKind::kCategorical}, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->features[0].test, "chisquare");
  EXPECT_TRUE(r->features[0].drifted);
  EXPECT_FALSE(r->features[1].drifted);
  EXPECT_TRUE(std::isnan(r->features[0].ks_statistic));
  EXPECT_TRUE(r->dataset_drift);
}

TEST(DatasetDriftTest, RejectsBadInput) {
  auto message = [](const std::vector<std::vector<double>>& ref,
                    const std::vector<std::vector<double>>& cur,
                    const std::vector<FeatureKind>& kinds) {
    auto r = TestDatasetDrift(ref, cur, kinds, {});
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(r.status().message());
  };
  EXPECT_THAT(message({{1, 2}}, {{1}, {2}}, {}),
              HasSubstr("the reference has 1 features, the current window 2"));
  EXPECT_THAT(message({{1, 2}}, {{1, kNan}}, {}),
              HasSubstr("feature 0: current sample: value 1 is NaN"));
  EXPECT_THAT(message({{}}, {{1}}, {}), HasSubstr("reference sample is empty"));
  EXPECT_THAT(
      message({{1}}, {{1}}, {FeatureKind::kNumerical, FeatureKind::kNumerical}),
      HasSubstr("2 feature kinds for 1 features"));
  EXPECT_THAT(message({}, {}, {}), HasSubstr("no features"));
  EXPECT_FALSE(PopulationStabilityIndex({}, {1}).ok());
  EXPECT_FALSE(JensenShannonDistance({1}, {kNan}).ok());
  EXPECT_FALSE(WassersteinDistance({1}, {}).ok());
  EXPECT_FALSE(ChiSquaredTest({kNan}, {1}).ok());
}

}  // namespace
}  // namespace continuum::drift
