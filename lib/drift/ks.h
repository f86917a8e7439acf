// The two-sample Kolmogorov-Smirnov test, two-sided, as scipy computes it
// (scipy.stats.ks_2samp with method="auto"):
//  - statistic D = max |F1(x) - F2(x)| over the pooled sample;
//  - p-value exact when max(n1, n2) <= 10000: for n1 == n2 the
//    closed-form alternating sum of binomial ratios (Horner form), else the
//    lattice-path "inside" recursion of Hodges / Viehmann. As scipy does,
//    the exact method rounds D to the nearest multiple of 1/lcm(n1, n2) and
//    returns that rounded D;
//  - otherwise (or if the exact computation fails) the distribution of the
//    one-sample statistic D_n with n = round(n1 n2 / (n1 + n2)) (scipy's
//    kstwo.sf): Durbin's matrix (Marsaglia-Tsang-Wang) for small n*D,
//    Pelz-Good's asymptotic series, or twice the exact one-sided Smirnov
//    probability in the tail.
#ifndef CONTINUUM_LIB_DRIFT_KS_H_
#define CONTINUUM_LIB_DRIFT_KS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace continuum::drift {

struct KsResult {
  double statistic = 0.0;
  double p_value = 1.0;
  bool exact = true;  // which method gave the p-value
};

// The test of two samples (any order; copied and sorted). INVALID_ARGUMENT
// for an empty sample or a NaN.
absl::StatusOr<KsResult> KsTwoSample(absl::Span<const double> a,
                                     absl::Span<const double> b);

// The same for samples already sorted ascending (no allocation).
KsResult KsTwoSampleSorted(absl::Span<const double> a,
                           absl::Span<const double> b);

// The two-sided p-value of statistic d for sample sizes n1, n2 >= 1, as
// above; *statistic receives d as scipy reports it (rounded to a multiple of
// 1/lcm for the exact method). Returns whether the exact method was used.
bool KsTwoSidedPValue(int64_t n1, int64_t n2, double d, double* statistic,
                      double* p_value);

// P(D_n >= d) for the one-sample two-sided statistic D_n (scipy's
// kstwo.sf(d, n)).
double KolmogorovSurvival(int64_t n, double d);

// P(D_n^+ >= d), the one-sided statistic (scipy.special.smirnov(n, d)).
double SmirnovSurvival(int64_t n, double d);

}  // namespace continuum::drift

#endif  // CONTINUUM_LIB_DRIFT_KS_H_
