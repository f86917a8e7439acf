// Data-set drift: every feature of a window tested against the same
// feature of the reference, the p-values of the run corrected together,
// and a verdict on the whole data set. The single loop over features and
// tests that both the drift service (TestFeatures) and the Evidently-style
// data-set test (TestDatasetDrift) run; the statistics themselves are in
// reference_tests.h and ks.h.
//
// TestFeatures runs a list of tests on each numerical feature (the drift
// service's ReferenceTestConfig.tests: KS and PSI by default) and
// chi-squared alone on each categorical one. A p-value test (KS,
// chi-squared) drifts when its adjusted p-value (AdjustPValues over every
// p-value of the call) is below `alpha`; a distance (PSI, Jensen-Shannon,
// normalised Wasserstein) when it reaches its threshold. A feature drifts
// when any of its tests does; the data set when the drifted share of the
// tested features reaches `drift_share`.
//
// TestDatasetDrift is Evidently's DatasetDriftMetric: one deciding test per
// numerical feature (KS by default), chi-squared for categorical ones,
// every statistic reported. Its verdicts are TestFeatures' with that one
// test; they equal SignificantAfterCorrection's (Alibi Detect's rule) up to
// floating-point ties at the corrected threshold.
//
// Errors: INVALID_ARGUMENT for options out of range, an empty sample or a
// NaN (naming the feature). Pure functions; thread-safe.
#ifndef CONTINUUM_LIB_DRIFT_DATASET_DRIFT_H_
#define CONTINUUM_LIB_DRIFT_DATASET_DRIFT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "lib/drift/reference_tests.h"

namespace continuum::drift {

enum class FeatureKind { kNumerical, kCategorical };

// ---------------------------------------------------------------- features

// The tests a feature can run.
enum class FeatureTest { kKs, kPsi, kJensenShannon, kWasserstein, kChiSquared };

// One feature's reference sample and current window, both sorted
// ascending.
struct FeatureSamples {
  int feature = 0;  // Reported back in its results.
  absl::Span<const double> reference;
  absl::Span<const double> current;
  FeatureKind kind = FeatureKind::kNumerical;
};

struct FeatureTestOptions {
  // The tests of every numerical feature, in this order (not
  // kChiSquared: categorical features run it, alone).
  std::vector<FeatureTest> numerical_tests = {FeatureTest::kKs};
  // A p-value test drifts when its adjusted p-value is below alpha.
  double alpha = 0.05;
  Correction correction = Correction::kBonferroni;
  double psi_threshold = 0.1;             // drift when PSI >= threshold
  double jensen_shannon_threshold = 0.1;  // drift when distance >= threshold
  double wasserstein_threshold = 0.1;     // drift when distance >= threshold
  BinningOptions binning = {};  // PSI and Jensen-Shannon of numerical ones
  double drift_share = 0.5;     // data-set drift when share drifted >= this
};

struct FeatureTestResult {
  int feature = 0;
  FeatureTest test = FeatureTest::kKs;
  double statistic = 0.0;
  // KS and chi-squared: the raw and the corrected p-value.
  std::optional<double> p_value;
  std::optional<double> adjusted_p_value;
  // `alpha` for p-value tests, else the distance's threshold.
  double threshold = 0.0;
  bool drifted = false;
};

struct FeatureTestRun {
  // Feature by feature in input order, each feature's tests in order.
  std::vector<FeatureTestResult> results;
  int tested_features = 0;
  int drifted_features = 0;    // Features with at least one drifted result.
  double drifted_share = 0.0;  // 0 when no feature was tested.
  bool dataset_drift = false;  // Some tested and drifted_share >= drift_share.
};

// Tests every feature in `features` (none: an empty run). Example: KS and
// PSI of two features, Bonferroni over the two KS p-values:
//   TestFeatures({{0, ref0, cur0}, {1, ref1, cur1}},
//                {.numerical_tests = {FeatureTest::kKs, FeatureTest::kPsi}});
absl::StatusOr<FeatureTestRun> TestFeatures(
    absl::Span<const FeatureSamples> features,
    const FeatureTestOptions& options);

// ---------------------------------------------------------------- data set

// The test that decides whether a numerical feature drifted.
enum class NumericalTest { kKs, kPsi, kJensenShannon, kWasserstein };

struct DatasetDriftOptions {
  NumericalTest numerical_test = NumericalTest::kKs;
  // KS and chi-squared: significance level, corrected over the features
  // that use a p-value test.
  double alpha = 0.05;
  Correction correction = Correction::kBonferroni;
  double psi_threshold = 0.1;             // drift when PSI >= threshold
  double jensen_shannon_threshold = 0.1;  // drift when distance >= threshold
  double wasserstein_threshold = 0.1;     // drift when distance >= threshold
  BinningOptions binning = {};            // for PSI and Jensen-Shannon
  double drift_share = 0.5;  // data-set drift when share drifted >= this
};

struct FeatureDrift {
  int feature = 0;
  FeatureKind kind = FeatureKind::kNumerical;
  std::string test;  // "ks", "psi", "jensenshannon", "wasserstein", "chisquare"
  // The deciding test's value: its p-value for ks and chisquare, else the
  // distance; and the threshold it was compared with (after correction:
  // alpha / m for Bonferroni, alpha k / m at the largest passing rank k for
  // Benjamini-Hochberg).
  double score = 0.0;
  double threshold = 0.0;
  bool drifted = false;
  // Every statistic computed for the feature (NaN where not applicable).
  double ks_statistic = 0.0;
  double ks_p_value = 0.0;
  double chi_squared_statistic = 0.0;
  double chi_squared_p_value = 0.0;
  double psi = 0.0;
  double jensen_shannon = 0.0;
  double wasserstein = 0.0;  // normalised
};

struct DatasetDrift {
  std::vector<FeatureDrift> features;
  int drifted_features = 0;
  double drifted_share = 0.0;
  bool dataset_drift = false;
};

// Tests every feature (column) of `current` against the same column of
// `reference` (any order). `kinds` gives each feature's kind (empty: all
// numerical). INVALID_ARGUMENT if the numbers of columns or kinds differ,
// or for an empty column or a NaN (naming the feature and the row).
absl::StatusOr<DatasetDrift> TestDatasetDrift(
    const std::vector<std::vector<double>>& reference,
    const std::vector<std::vector<double>>& current,
    const std::vector<FeatureKind>& kinds, const DatasetDriftOptions& options);

}  // namespace continuum::drift

#endif  // CONTINUUM_LIB_DRIFT_DATASET_DRIFT_H_
