// Batch tests of a window of data against a reference (the training data's
// sample stored with the model), feature by feature, and a data-set verdict.
//
// Definitions follow Evidently's stattests (legacy/calculations/stattests)
// and scipy, which Evidently calls:
//  - KS: scipy.stats.ks_2samp, two-sided (ks.h); per-feature p-values can be
//    corrected for the number of features, Bonferroni or Benjamini-Hochberg
//    (as Alibi Detect's KSDrift does: drift when p < corrected threshold).
//  - PSI (Evidently `psi`, threshold 0.1): the two samples binned (below),
//    empty bins of each sample filled with min(non-empty share) / 10^6 if
//    that minimum is <= 0.0001, else with 0.0001; then
//    sum (ref% - cur%) * ln(ref% / cur%).
//  - Jensen-Shannon distance (Evidently `jensenshannon`, threshold 0.1): the
//    same binning without filling, scipy.spatial.distance.jensenshannon
//    (natural log): sqrt((KL(p || m) + KL(q || m)) / 2), m = (p + q) / 2.
//  - Normalised Wasserstein (Evidently `wasserstein`, threshold 0.1):
//    scipy.stats.wasserstein_distance (the L1 distance between the two
//    empirical CDFs) divided by max(std(reference), 0.001), std with ddof 0.
//  - Chi-squared (Evidently `chisquare`, for categorical features, p-value
//    threshold 0.05): expected counts = reference counts * n_cur / n_ref over
//    the union of categories; statistic sum (obs - exp)^2 / exp with k - 1
//    degrees of freedom; p = Q((k - 1) / 2, stat / 2), the regularised upper
//    incomplete gamma function.
//
// Binning (Evidently's get_binned_data): a numerical feature whose reference
// has more than 20 distinct values is cut into equal-width bins over the
// pooled range of both samples, as many as numpy's "sturges" rule gives
// (ceil(range / (range / (log2(n_ref + n_cur) + 1)))); each bin is
// [e_i, e_{i+1}), the last one closed. Otherwise (and for categorical
// features) each distinct value of either sample is a bin. Evidently's code
// takes the edges from the pooled data although its docstring says
// "reference quantiles"; the code is followed. BinningMethod::
// kReferenceQuantiles instead cuts at `bins` quantiles of the reference
// alone, for when only the reference's edges are stored.
//
// The data-set tests built on these (every feature, p-values corrected
// together, a verdict) are in dataset_drift.h.
//
// Every function rejects empty samples and NaN values with INVALID_ARGUMENT.
#ifndef CONTINUUM_LIB_DRIFT_REFERENCE_TESTS_H_
#define CONTINUUM_LIB_DRIFT_REFERENCE_TESTS_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "lib/drift/ks.h"

namespace continuum::drift {

// ---------------------------------------------------------------- maths

// P(a, x) and Q(a, x) = 1 - P(a, x), the regularised lower and upper
// incomplete gamma functions, a > 0, x >= 0 (series for x < a + 1, Lentz's
// continued fraction otherwise).
double RegularizedGammaP(double a, double x);
double RegularizedGammaQ(double a, double x);

// P(X >= x) for X chi-squared with `dof` > 0 degrees of freedom.
double ChiSquaredSurvival(double x, double dof);

// ---------------------------------------------------------------- one feature

// OK for a sample the tests accept; INVALID_ARGUMENT "<what> sample is
// empty" or "<what> sample: value <i> is NaN".
absl::Status CheckSample(absl::Span<const double> values,
                         absl::string_view what);

enum class BinningMethod {
  kEvidently,           // see above (Sturges bins on the pooled range)
  kReferenceQuantiles,  // `bins` bins at quantiles of the reference
};

struct BinningOptions {
  BinningMethod method = BinningMethod::kEvidently;
  int bins = 10;  // for kReferenceQuantiles
  // Treat the values as categories (one bin per distinct value).
  bool categorical = false;
};

// The share of each sample in each bin, in the same bin order.
struct BinnedShares {
  std::vector<double> reference;
  std::vector<double> current;
};

absl::StatusOr<BinnedShares> BinShares(absl::Span<const double> reference,
                                       absl::Span<const double> current,
                                       const BinningOptions& options = {});

// Population stability index (with Evidently's filling of empty bins).
absl::StatusOr<double> PopulationStabilityIndex(
    absl::Span<const double> reference, absl::Span<const double> current,
    const BinningOptions& options = {});

// Jensen-Shannon distance (natural log) of the two binned distributions.
absl::StatusOr<double> JensenShannonDistance(
    absl::Span<const double> reference, absl::Span<const double> current,
    const BinningOptions& options = {});

// First Wasserstein distance between the two empirical distributions.
absl::StatusOr<double> WassersteinDistance(absl::Span<const double> u,
                                           absl::Span<const double> v);

// WassersteinDistance / max(std(reference), 0.001).
absl::StatusOr<double> NormalizedWassersteinDistance(
    absl::Span<const double> reference, absl::Span<const double> current);

struct ChiSquaredResult {
  double statistic = 0.0;
  double p_value = 1.0;
  int degrees_of_freedom = 0;
};

// Evidently's chi-squared test; values are category labels.
absl::StatusOr<ChiSquaredResult> ChiSquaredTest(
    absl::Span<const double> reference, absl::Span<const double> current);

// ---------------------------------------------------------------- correction

enum class Correction { kNone, kBonferroni, kBenjaminiHochberg };

// For each p-value, whether it is significant at level `alpha` after the
// correction: kNone: p < alpha; kBonferroni: p < alpha / m; kBenjaminiHochberg:
// p <= p_(k) where k is the largest rank with p_(k) < alpha * k / m (the
// step-up procedure, as Alibi Detect's fdr()).
std::vector<bool> SignificantAfterCorrection(absl::Span<const double> p_values,
                                             double alpha,
                                             Correction correction);

// The adjusted p-values, in input order: kNone: p; kBonferroni:
// min(1, p * m); kBenjaminiHochberg: min over ranks j >= rank(p) of
// p_(j) * m / j, capped at 1 (statsmodels' fdr_bh). An adjusted p-value
// below alpha is significant exactly when SignificantAfterCorrection says so
// (up to ties at the boundary).
std::vector<double> AdjustPValues(absl::Span<const double> p_values,
                                  Correction correction);

}  // namespace continuum::drift

#endif  // CONTINUUM_LIB_DRIFT_REFERENCE_TESTS_H_
