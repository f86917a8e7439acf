#include "lib/drift/dataset_drift.h"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/drift/ks.h"

namespace continuum::drift {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

absl::Status CheckOptions(const FeatureTestOptions& options) {
  if (!(options.alpha > 0.0 && options.alpha < 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset drift: alpha=", options.alpha,
                     " is out of range; allowed: 0 < alpha < 1"));
  }
  if (!(options.drift_share > 0.0 && options.drift_share <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset drift: drift_share=", options.drift_share,
                     " is out of range; allowed: 0 < drift_share <= 1"));
  }
  for (FeatureTest test : options.numerical_tests) {
    if (test == FeatureTest::kChiSquared) {
      return absl::InvalidArgumentError(
          "dataset drift: chi-squared is the test of categorical features, "
          "not a numerical one");
    }
  }
  return absl::OkStatus();
}

// Both samples of a feature: not empty, no NaN.
absl::Status CheckFeature(int feature, absl::Span<const double> reference,
                          absl::Span<const double> current) {
  for (const auto& [sample, what] :
       {std::pair{reference, "reference"}, std::pair{current, "current"}}) {
    if (absl::Status s = CheckSample(sample, what); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("dataset drift: feature ", feature, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

// Appends the results of `test` on one feature; p-values are decided once
// corrected, distances here.
absl::Status RunTest(const FeatureSamples& f, FeatureTest test,
                     const FeatureTestOptions& options,
                     std::vector<FeatureTestResult>& out) {
  FeatureTestResult r;
  r.feature = f.feature;
  r.test = test;
  auto distance = [&](absl::StatusOr<double> value,
                      double threshold) -> absl::Status {
    if (!value.ok()) return value.status();
    r.statistic = *value;
    r.threshold = threshold;
    r.drifted = *value >= threshold;
    return absl::OkStatus();
  };
  absl::Status status;
  switch (test) {
    case FeatureTest::kKs: {
      const KsResult ks = KsTwoSampleSorted(f.reference, f.current);
      r.statistic = ks.statistic;
      r.p_value = ks.p_value;
      r.threshold = options.alpha;
      break;
    }
    case FeatureTest::kChiSquared: {
      absl::StatusOr<ChiSquaredResult> chi =
          ChiSquaredTest(f.reference, f.current);
      if (!chi.ok()) return chi.status();
      r.statistic = chi->statistic;
      r.p_value = chi->p_value;
      r.threshold = options.alpha;
      break;
    }
    case FeatureTest::kPsi:
      status = distance(
          PopulationStabilityIndex(f.reference, f.current, options.binning),
          options.psi_threshold);
      break;
    case FeatureTest::kJensenShannon:
      status = distance(
          JensenShannonDistance(f.reference, f.current, options.binning),
          options.jensen_shannon_threshold);
      break;
    case FeatureTest::kWasserstein:
      status = distance(NormalizedWassersteinDistance(f.reference, f.current),
                        options.wasserstein_threshold);
      break;
  }
  if (!status.ok()) return status;
  out.push_back(std::move(r));
  return absl::OkStatus();
}

// Corrects the p-values of `results` together and decides them.
void CorrectPValues(std::vector<FeatureTestResult>& results,
                    const FeatureTestOptions& options) {
  std::vector<double> p;
  std::vector<size_t> at;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].p_value.has_value()) {
      p.push_back(*results[i].p_value);
      at.push_back(i);
    }
  }
  const std::vector<double> adjusted = AdjustPValues(p, options.correction);
  for (size_t k = 0; k < at.size(); ++k) {
    FeatureTestResult& r = results[at[k]];
    r.adjusted_p_value = adjusted[k];
    r.drifted = adjusted[k] < options.alpha;
  }
}

const char* TestName(NumericalTest test) {
  switch (test) {
    case NumericalTest::kKs:
      return "ks";
    case NumericalTest::kPsi:
      return "psi";
    case NumericalTest::kJensenShannon:
      return "jensenshannon";
    case NumericalTest::kWasserstein:
      return "wasserstein";
  }
  return "";
}

FeatureTest FeatureTestOf(NumericalTest test) {
  switch (test) {
    case NumericalTest::kKs:
      return FeatureTest::kKs;
    case NumericalTest::kPsi:
      return FeatureTest::kPsi;
    case NumericalTest::kJensenShannon:
      return FeatureTest::kJensenShannon;
    case NumericalTest::kWasserstein:
      return FeatureTest::kWasserstein;
  }
  return FeatureTest::kKs;
}

// The threshold reported with each p-value: alpha / m for Bonferroni; for
// Benjamini-Hochberg alpha * k / m at the largest rank k that passed (or
// alpha / m when none did, as Alibi Detect reports).
double CorrectedThreshold(std::vector<double> p_values, double alpha,
                          Correction correction) {
  if (p_values.empty() || correction == Correction::kNone) return alpha;
  const double m = static_cast<double>(p_values.size());
  double corrected = alpha / m;
  if (correction == Correction::kBenjaminiHochberg) {
    std::sort(p_values.begin(), p_values.end());
    for (size_t k = 0; k < p_values.size(); ++k) {
      const double q = alpha * static_cast<double>(k + 1) / m;
      if (p_values[k] < q) corrected = q;
    }
  }
  return corrected;
}

absl::Status CheckDatasetInput(
    const std::vector<std::vector<double>>& reference,
    const std::vector<std::vector<double>>& current,
    const std::vector<FeatureKind>& kinds) {
  if (reference.empty()) {
    return absl::InvalidArgumentError("dataset drift: no features");
  }
  if (reference.size() != current.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset drift: the reference has ", reference.size(),
                     " features, the current window ", current.size()));
  }
  if (!kinds.empty() && kinds.size() != reference.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("dataset drift: ", kinds.size(), " feature kinds for ",
                     reference.size(), " features"));
  }
  return absl::OkStatus();
}

// Every statistic of one feature (the deciding one comes from TestFeatures).
absl::StatusOr<FeatureDrift> FeatureStatistics(
    size_t f, FeatureKind kind, const std::vector<double>& reference,
    const std::vector<double>& current, const DatasetDriftOptions& options) {
  FeatureDrift fd;
  fd.feature = static_cast<int>(f);
  fd.kind = kind;
  BinningOptions binning = options.binning;
  binning.categorical = kind == FeatureKind::kCategorical;
  absl::StatusOr<double> psi =
      PopulationStabilityIndex(reference, current, binning);
  absl::StatusOr<double> js = JensenShannonDistance(reference, current, binning);
  if (!psi.ok()) return psi.status();
  if (!js.ok()) return js.status();
  fd.psi = *psi;
  fd.jensen_shannon = *js;
  if (kind == FeatureKind::kCategorical) {
    absl::StatusOr<ChiSquaredResult> chi = ChiSquaredTest(reference, current);
    if (!chi.ok()) return chi.status();
    fd.chi_squared_statistic = chi->statistic;
    fd.chi_squared_p_value = chi->p_value;
    fd.ks_statistic = fd.ks_p_value = fd.wasserstein = kNan;
    fd.test = "chisquare";
    return fd;
  }
  absl::StatusOr<KsResult> ks = KsTwoSample(reference, current);
  absl::StatusOr<double> w = NormalizedWassersteinDistance(reference, current);
  if (!ks.ok()) return ks.status();
  if (!w.ok()) return w.status();
  fd.ks_statistic = ks->statistic;
  fd.ks_p_value = ks->p_value;
  fd.wasserstein = *w;
  fd.chi_squared_statistic = fd.chi_squared_p_value = kNan;
  fd.test = TestName(options.numerical_test);
  return fd;
}

}  // namespace

absl::StatusOr<FeatureTestRun> TestFeatures(
    absl::Span<const FeatureSamples> features,
    const FeatureTestOptions& options) {
  if (absl::Status s = CheckOptions(options); !s.ok()) return s;
  FeatureTestRun run;
  for (const FeatureSamples& f : features) {
    if (absl::Status s = CheckFeature(f.feature, f.reference, f.current);
        !s.ok()) {
      return s;
    }
    if (f.kind == FeatureKind::kCategorical) {
      absl::Status s =
          RunTest(f, FeatureTest::kChiSquared, options, run.results);
      if (!s.ok()) return s;
      continue;
    }
    for (FeatureTest test : options.numerical_tests) {
      if (absl::Status s = RunTest(f, test, options, run.results); !s.ok()) {
        return s;
      }
    }
  }
  CorrectPValues(run.results, options);
  std::set<int> drifted;
  for (const FeatureTestResult& r : run.results) {
    if (r.drifted) drifted.insert(r.feature);
  }
  run.tested_features = static_cast<int>(features.size());
  run.drifted_features = static_cast<int>(drifted.size());
  run.drifted_share = run.tested_features == 0
                          ? 0.0
                          : static_cast<double>(run.drifted_features) /
                                static_cast<double>(run.tested_features);
  run.dataset_drift =
      run.tested_features > 0 && run.drifted_share >= options.drift_share;
  return run;
}

absl::StatusOr<DatasetDrift> TestDatasetDrift(
    const std::vector<std::vector<double>>& reference,
    const std::vector<std::vector<double>>& current,
    const std::vector<FeatureKind>& kinds, const DatasetDriftOptions& options) {
  if (absl::Status s = CheckDatasetInput(reference, current, kinds); !s.ok()) {
    return s;
  }
  const FeatureTestOptions test_options{
      .numerical_tests = {FeatureTestOf(options.numerical_test)},
      .alpha = options.alpha,
      .correction = options.correction,
      .psi_threshold = options.psi_threshold,
      .jensen_shannon_threshold = options.jensen_shannon_threshold,
      .wasserstein_threshold = options.wasserstein_threshold,
      .binning = options.binning,
      .drift_share = options.drift_share};
  if (absl::Status s = CheckOptions(test_options); !s.ok()) return s;
  // Checked before sorting (a NaN has no place in a sort), naming the row.
  for (size_t f = 0; f < reference.size(); ++f) {
    if (absl::Status s =
            CheckFeature(static_cast<int>(f), reference[f], current[f]);
        !s.ok()) {
      return s;
    }
  }
  std::vector<std::vector<double>> sorted;  // reference, current per feature
  std::vector<FeatureSamples> samples;
  sorted.reserve(2 * reference.size());
  for (size_t f = 0; f < reference.size(); ++f) {
    for (const std::vector<double>* column : {&reference[f], &current[f]}) {
      std::vector<double>& s = sorted.emplace_back(*column);
      std::sort(s.begin(), s.end());
    }
    samples.push_back(
        {.feature = static_cast<int>(f),
         .reference = sorted[2 * f],
         .current = sorted[2 * f + 1],
         .kind = kinds.empty() ? FeatureKind::kNumerical : kinds[f]});
  }
  absl::StatusOr<FeatureTestRun> run = TestFeatures(samples, test_options);
  if (!run.ok()) return run.status();
  // One result per feature: its deciding test.
  std::vector<double> p_values;
  for (const FeatureTestResult& r : run->results) {
    if (r.p_value.has_value()) p_values.push_back(*r.p_value);
  }
  const double corrected =
      CorrectedThreshold(p_values, options.alpha, options.correction);
  DatasetDrift result;
  for (size_t f = 0; f < reference.size(); ++f) {
    absl::StatusOr<FeatureDrift> fd = FeatureStatistics(
        f, samples[f].kind, reference[f], current[f], options);
    if (!fd.ok()) return fd.status();
    const FeatureTestResult& decided = run->results[f];
    fd->score = decided.p_value.value_or(decided.statistic);
    fd->threshold =
        decided.p_value.has_value() ? corrected : decided.threshold;
    fd->drifted = decided.drifted;
    result.features.push_back(*std::move(fd));
  }
  result.drifted_features = run->drifted_features;
  result.drifted_share = run->drifted_share;
  result.dataset_drift = run->dataset_drift;
  return result;
}

}  // namespace continuum::drift
