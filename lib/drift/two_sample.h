// Two-sample tests of whether one arm's errors are worse than another's,
// as the drift service's canary judgement runs them (canary against
// stable). Both are one-sided: H1 is "the first sample is worse" (a greater
// error rate, or error values that tend to be greater).
//
//  - TwoProportionZTest: the two-proportion z-test with the pooled
//    variance, z = (p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2)), p the pooled
//    proportion; p-value P(Z >= z). z squared is the Pearson chi-squared
//    statistic of the 2x2 table (scipy.stats.chi2_contingency with
//    correction=False), which the test checks against.
//  - MannWhitneyU: scipy.stats.mannwhitneyu(first, second,
//    alternative="greater", use_continuity=True, method="asymptotic"): the
//    statistic is the first sample's U (rank sum minus n1 (n1 + 1) / 2,
//    ties at their average rank); the p-value is the normal approximation
//    with the tie correction of the variance and the continuity correction.
//
// Degenerate inputs do not fail: without variance (every outcome the same,
// every value equal) the statistic is 0 for the z-test, U for Mann-Whitney,
// and the p-value 1. Pure functions; thread-safe.
#ifndef CONTINUUM_LIB_DRIFT_TWO_SAMPLE_H_
#define CONTINUUM_LIB_DRIFT_TWO_SAMPLE_H_

#include "absl/types/span.h"

namespace continuum::drift {

struct TwoSampleResult {
  double statistic = 0.0;
  double p_value = 1.0;
};

// P(Z >= z) for a standard normal Z.
double NormalSurvival(double z);

// `errors1` of `n1` outcomes against `errors2` of `n2` (n1, n2 >= 1).
// Example: TwoProportionZTest(40, 200, 10, 200) -> z 4.5356, p 2.87e-6.
TwoSampleResult TwoProportionZTest(double errors1, double n1, double errors2,
                                   double n2);

// `first` against `second` (either may be empty: p-value 1).
TwoSampleResult MannWhitneyU(absl::Span<const double> first,
                             absl::Span<const double> second);

}  // namespace continuum::drift

#endif  // CONTINUUM_LIB_DRIFT_TWO_SAMPLE_H_
