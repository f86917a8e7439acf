// The reference tests against closed forms, tables, and values from scipy
// and numpy on the same inputs (numpy's legacy normal stream is rebuilt
// bit for bit by NumpyRandomState).
#include "lib/drift/reference_tests.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "lib/drift/ks.h"
#include "lib/drift/python_random.h"
#include "lib/drift/test_samples.h"

namespace continuum::drift {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

double Binomial(int n, int k) {
  double c = 1;
  for (int i = 1; i <= k; ++i) c = c * (n - k + i) / i;
  return c;
}

// ---------------------------------------------------------------- KS

// For n1 = n2 = n, P(D >= h/n) = 2 sum_k (-1)^(k+1) C(2n, n - k h) / C(2n, n);
// for h > n/2 one term. Ten values against ten shifted by j: D = j / 10.
TEST(KsTest, EqualSizesMatchTheClosedForm) {
  const std::vector<double> zeros(10, 0.0);
  for (int j = 1; j <= 10; ++j) {
    std::vector<double> shifted(10, 0.0);
    for (int i = 0; i < j; ++i) shifted[i] = 1.0;
    auto r = KsTwoSample(zeros, shifted);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->statistic, j / 10.0);
    EXPECT_TRUE(r->exact);
    double p = 0;
    for (int k = 1; k * j <= 10; ++k) {
      p += (k % 2 ? 2 : -2) * Binomial(20, 10 - k * j) / Binomial(20, 10);
    }
    if (j == 1) p = 1.0;  // the alternating sum telescopes to 1
    ExpectRelative(r->p_value, p, 1e-12);
  }
  // The table's 5 % critical value for n1 = n2 = 10 is D = 0.7.
  auto at_06 = KsTwoSample(Range(0, 10), Range(6, 10));
  auto at_07 = KsTwoSample(Range(0, 10), Range(7, 10));
  EXPECT_GT(at_06->p_value, 0.05);
  EXPECT_LT(at_07->p_value, 0.05);
  ExpectRelative(at_07->p_value, 2 * Binomial(20, 3) / Binomial(20, 10), 1e-12);
}

TEST(KsTest, UnequalSizesMatchScipy) {
  // rng = np.random.RandomState(0); ks_2samp(rng.normal(0, 1, 50),
  // rng.normal(0.5, 1, 70)): exact (inside method).
  NumpyRandomState rng(0);
  std::vector<double> a = Normals(rng, 0, 1, 50);
  std::vector<double> b = Normals(rng, 0.5, 1, 70);
  auto r = KsTwoSample(a, b);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->exact);
  EXPECT_DOUBLE_EQ(r->statistic, 0.23142857142857143);
  ExpectRelative(r->p_value, 0.07452807202507876, 1e-10);
}

TEST(KsTest, LargeSamplesUseTheAsymptoticDistributionAsScipy) {
  // RandomState(1): 20000 x 300 (n = 296, Pelz-Good).
  NumpyRandomState rng1(1);
  std::vector<double> a = Normals(rng1, 0, 1, 20000);
  std::vector<double> b = Normals(rng1, 0.1, 1, 300);
  auto r = KsTwoSample(a, b);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->exact);
  EXPECT_DOUBLE_EQ(r->statistic, 0.08395000000000008);
  ExpectRelative(r->p_value, 0.029056435621882204, 1e-7);
  // RandomState(2): 12000 x 11000 (n = 5739, the Smirnov tail).
  NumpyRandomState rng2(2);
  a = Normals(rng2, 0, 1, 12000);
  b = Normals(rng2, 0, 1, 11000);
  r = KsTwoSample(a, b);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->statistic, 0.021363636363636362);
  ExpectRelative(r->p_value, 0.0104616227954946, 1e-9);
}

TEST(KsTest, KolmogorovDistributionMatchesScipyKstwo) {
  ExpectRelative(KolmogorovSurvival(1000, 0.05), 0.013012074781090332, 1e-9);
  ExpectRelative(KolmogorovSurvival(1000, 0.02), 0.8108971656895577, 1e-7);
  ExpectRelative(KolmogorovSurvival(1000, 0.012), 0.9984464668620097, 1e-10);
  ExpectRelative(KolmogorovSurvival(100, 0.1), 0.2526927570063874, 1e-10);
  ExpectRelative(KolmogorovSurvival(50, 0.2), 0.03143877776953241, 1e-10);
  ExpectRelative(KolmogorovSurvival(200000, 0.004), 0.003314212822560255, 1e-9);
  ExpectRelative(KolmogorovSurvival(200000, 0.002), 0.39995085369038097, 1e-7);
  ExpectRelative(KolmogorovSurvival(30, 0.3), 0.006852243362913235, 1e-10);
  ExpectRelative(KolmogorovSurvival(30, 0.6), 7.392006292214292e-11, 1e-9);
  ExpectRelative(SmirnovSurvival(1000, 0.05), 0.006506037390545166, 1e-9);
  ExpectRelative(SmirnovSurvival(20, 0.3), 0.021533604376327058, 1e-10);
  // Ruben-Gambino's exact ends: P(D_n >= d) = 2 (1 - d)^n for d >= 1 - 1/n.
  ExpectRelative(KolmogorovSurvival(10, 0.95), 2 * std::pow(0.05, 10), 1e-12);
  EXPECT_EQ(KolmogorovSurvival(10, 0.04), 1.0);
}

TEST(KsTest, RejectsBadSamples) {
  EXPECT_THAT(KsTwoSample({}, {1.0}).status().message(),
              HasSubstr("at least one"));
  EXPECT_THAT(KsTwoSample({1.0, kNan}, {1.0}).status().message(),
              HasSubstr("value 1 of the first sample is NaN"));
}

// ---------------------------------------------------------------- maths

TEST(GammaTest, ClosedFormsAndScipy) {
  for (double x : {0.1, 1.0, 3.0, 25.0}) {
    ExpectRelative(RegularizedGammaQ(1.0, x), std::exp(-x), 1e-13);
    ExpectRelative(RegularizedGammaQ(0.5, x), std::erfc(std::sqrt(x)), 1e-12);
    ExpectRelative(ChiSquaredSurvival(x, 2), std::exp(-x / 2), 1e-13);
    EXPECT_NEAR(RegularizedGammaP(2.5, x) + RegularizedGammaQ(2.5, x), 1.0,
                1e-14);
  }
  ExpectRelative(ChiSquaredSurvival(3.5, 4), 0.477878344488724, 1e-12);
  ExpectRelative(ChiSquaredSurvival(10.0, 3), 0.01856613546304325, 1e-12);
  ExpectRelative(RegularizedGammaQ(2.5, 1.3), 0.761365267845014, 1e-12);
  ExpectRelative(RegularizedGammaP(0.7, 4.2), 0.9929131365318705, 1e-12);
  EXPECT_TRUE(std::isnan(RegularizedGammaQ(-1, 1)));
}

// ---------------------------------------------------------------- distances

TEST(PsiTest, CategoriesByHand) {
  // 50/50 against 75/25: 0.25 ln 1.5 + 0.25 ln 2.
  auto psi = PopulationStabilityIndex({0, 0, 1, 1}, {0, 0, 0, 1});
  ASSERT_TRUE(psi.ok());
  ExpectRelative(*psi, 0.25 * std::log(1.5) + 0.25 * std::log(2.0), 1e-14);
  // An empty reference bin is filled with 0.0001 (its smallest non-empty
  // share, 1, is above 0.0001).
  psi = PopulationStabilityIndex({0, 0, 0, 0}, {0, 1});
  ExpectRelative(*psi,
                 0.5 * std::log(2.0) + (0.0001 - 0.5) * std::log(0.0001 / 0.5),
                 1e-14);
  EXPECT_EQ(*PopulationStabilityIndex({1, 2, 3}, {3, 2, 1}), 0.0);
}

TEST(PsiTest, NumericalBinningMatchesEvidently) {
  // numpy.histogram_bin_edges(pooled 0..99 and 50..149, "sturges"): 9 bins.
  auto shares = BinShares(Range(0, 100), Range(50, 100));
  ASSERT_TRUE(shares.ok());
  ASSERT_EQ(shares->reference.size(), 9u);
  // Edges 0, 16.56, 33.11, 49.67, 66.22, ...: the reference's 0..16 in the
  // first bin, the current's 50..66 in the fourth.
  EXPECT_DOUBLE_EQ(shares->reference[0], 0.17);
  EXPECT_DOUBLE_EQ(shares->current[3], 0.17);
  EXPECT_DOUBLE_EQ(shares->current[8], 0.17);  // 133..149, last bin closed

  // Evidently's psi / jensenshannon / wasserstein on
  // RandomState(3).normal(0, 1, 1000) vs .normal(0.5, 1.2, 800).
  NumpyRandomState rng(3);
  std::vector<double> ref = Normals(rng, 0, 1, 1000);
  std::vector<double> cur = Normals(rng, 0.5, 1.2, 800);
  EXPECT_EQ(BinShares(ref, cur)->reference.size(), 12u);
  ExpectRelative(*PopulationStabilityIndex(ref, cur), 0.19642748529283846,
                 1e-12);
  ExpectRelative(*JensenShannonDistance(ref, cur), 0.14973252188297104, 1e-12);
  ExpectRelative(*WassersteinDistance(ref, cur), 0.3903373881103821, 1e-12);
  ExpectRelative(*NormalizedWassersteinDistance(ref, cur), 0.38708513785785253,
                 1e-12);
}

TEST(PsiTest, ReferenceQuantileBins) {
  BinningOptions quantiles{.method = BinningMethod::kReferenceQuantiles,
                           .bins = 4};
  auto shares = BinShares(Range(0, 100), Range(500, 10), quantiles);
  ASSERT_TRUE(shares.ok());
  EXPECT_THAT(shares->reference, ElementsAre(0.25, 0.25, 0.25, 0.25));
  // Values beyond the reference's range fall into the open last bin.
  EXPECT_THAT(shares->current, ElementsAre(0, 0, 0, 1));
}

TEST(DistanceTest, IdenticalSamplesAreAtZero) {
  NumpyRandomState rng(4);
  std::vector<double> x = Normals(rng, 0, 1, 500);
  EXPECT_EQ(*PopulationStabilityIndex(x, x), 0.0);
  EXPECT_EQ(*JensenShannonDistance(x, x), 0.0);
  EXPECT_EQ(*WassersteinDistance(x, x), 0.0);
  // W1 of two point masses is the distance between them; normalised by
  // max(std, 0.001).
  EXPECT_DOUBLE_EQ(*WassersteinDistance({0, 0}, {3}), 3.0);
  EXPECT_NEAR(*NormalizedWassersteinDistance({1, 1, 1}, {1.002}), 2.0, 1e-12);
}

TEST(ChiSquaredTest, CountsByHand) {
  // Reference 50/50, current 70/30 of 100: expected 50, 50; statistic
  // 2 * 20^2 / 50 = 16 with 1 degree of freedom: p = erfc(sqrt(8)).
  std::vector<double> ref(50, 0.0), cur(70, 0.0);
  ref.resize(100, 1.0);
  cur.resize(100, 1.0);
  auto r = ChiSquaredTest(ref, cur);
  ASSERT_TRUE(r.ok());
  EXPECT_DOUBLE_EQ(r->statistic, 16.0);
  EXPECT_EQ(r->degrees_of_freedom, 1);
  ExpectRelative(r->p_value, std::erfc(std::sqrt(8.0)), 1e-12);
  // A category the reference never saw: infinite statistic, p = 0.
  r = ChiSquaredTest({0, 1}, {0, 2});
  EXPECT_EQ(r->p_value, 0.0);
  EXPECT_EQ(ChiSquaredTest({3, 3}, {3})->p_value, 1.0);
}

// ---------------------------------------------------------------- correction

TEST(CorrectionTest, BonferroniAndBenjaminiHochberg) {
  const std::vector<double> p = {0.03, 0.001, 0.2, 0.014, 0.012};
  EXPECT_THAT(SignificantAfterCorrection(p, 0.05, Correction::kNone),
              ElementsAre(true, true, false, true, true));
  // alpha / m = 0.01.
  EXPECT_THAT(SignificantAfterCorrection(p, 0.05, Correction::kBonferroni),
              ElementsAre(false, true, false, false, false));
  // Sorted 0.001 0.012 0.014 0.03 0.2 against 0.01 0.02 0.03 0.04 0.05: the
  // fourth passes, so the four smallest are rejected.
  EXPECT_THAT(
      SignificantAfterCorrection(p, 0.05, Correction::kBenjaminiHochberg),
      ElementsAre(true, true, false, true, true));
  EXPECT_THAT(SignificantAfterCorrection({0.02, 0.04}, 0.05,
                                         Correction::kBenjaminiHochberg),
              ElementsAre(true, true));
  EXPECT_THAT(
      SignificantAfterCorrection({0.03, 0.04}, 0.05, Correction::kBonferroni),
      ElementsAre(false, false));
}

// ---------------------------------------------------------------- data set

// Evidently's distance thresholds (0.1) suit large samples (it picks them
// only for references over 1000 rows): the sampling noise of the normalised
// Wasserstein distance between two samples of 1000 and 500 is itself ~0.1.
TEST(CorrectionTest, AdjustedPValuesMatchStatsmodels) {
  // statsmodels.stats.multitest.multipletests(p, method="fdr_bh") and
  // method="bonferroni".
  const std::vector<double> p = {0.01, 0.04, 0.03, 0.005};
  EXPECT_THAT(AdjustPValues(p, Correction::kNone),
              ::testing::ElementsAre(0.01, 0.04, 0.03, 0.005));
  EXPECT_THAT(AdjustPValues(p, Correction::kBonferroni),
              ::testing::ElementsAre(::testing::DoubleEq(0.04),
                                     ::testing::DoubleEq(0.16),
                                     ::testing::DoubleEq(0.12),
                                     ::testing::DoubleEq(0.02)));
  EXPECT_THAT(AdjustPValues(p, Correction::kBenjaminiHochberg),
              ::testing::ElementsAre(::testing::DoubleEq(0.02),
                                     ::testing::DoubleEq(0.04),
                                     ::testing::DoubleEq(0.04),
                                     ::testing::DoubleEq(0.02)));
  EXPECT_THAT(AdjustPValues({0.5, 0.9}, Correction::kBonferroni),
              ::testing::ElementsAre(1.0, 1.0));
  // Below alpha exactly where the step-up procedure rejects.
  const std::vector<double> q = {0.001, 0.012, 0.014, 0.3, 0.04, 0.6};
  const std::vector<bool> significant =
      SignificantAfterCorrection(q, 0.05, Correction::kBenjaminiHochberg);
  const std::vector<double> adjusted =
      AdjustPValues(q, Correction::kBenjaminiHochberg);
  for (size_t i = 0; i < q.size(); ++i) {
    EXPECT_EQ(adjusted[i] < 0.05, significant[i]) << i;
  }
}

}  // namespace
}  // namespace continuum::drift
