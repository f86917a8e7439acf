// The canary judgement's two-sample tests against SciPy 1.10.1 on the same
// inputs (the values were computed with scipy.stats and pasted here; SciPy
// is not needed to build or run the test):
//   z-test: z = sign * sqrt(chi2_contingency([[e1, n1 - e1], [e2, n2 - e2]],
//           correction=False).statistic), p = norm.sf(z)
//   Mann-Whitney: mannwhitneyu(a, b, alternative="greater",
//                 use_continuity=True, method="asymptotic")
#include "lib/drift/two_sample.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "lib/drift/test_samples.h"

namespace continuum::drift {
namespace {

TEST(NormalSurvivalTest, KnownValues) {
  EXPECT_DOUBLE_EQ(NormalSurvival(0), 0.5);
  ExpectRelative(NormalSurvival(1.959963984540054), 0.025, 1e-12);
  ExpectRelative(NormalSurvival(-1.6448536269514722), 0.95, 1e-12);
}

TEST(TwoProportionZTest, MatchesScipy) {
  TwoSampleResult r = TwoProportionZTest(40, 200, 10, 200);
  ExpectRelative(r.statistic, 4.535573676110727, 1e-12);
  ExpectRelative(r.p_value, 2.8723559595784297e-06, 1e-9);
  // The canary judgement's test case: 0.15 / sqrt(0.125 * 0.875 * 0.01).
  EXPECT_NEAR(r.statistic, 0.15 / std::sqrt(0.125 * 0.875 * 0.01), 1e-9);

  r = TwoProportionZTest(30, 1000, 25, 900);
  ExpectRelative(r.statistic, 0.28847355820958676, 1e-12);
  ExpectRelative(r.p_value, 0.38649213405338456, 1e-12);

  // The first arm better: negative z, p above one half.
  r = TwoProportionZTest(5, 50, 9, 60);
  ExpectRelative(r.statistic, -0.783478963160011, 1e-12);
  ExpectRelative(r.p_value, 0.7833270487742932, 1e-12);
}

TEST(TwoProportionZTest, NoVarianceIsNoEvidence) {
  TwoSampleResult none = TwoProportionZTest(0, 100, 0, 50);
  EXPECT_EQ(none.statistic, 0);
  EXPECT_EQ(none.p_value, 1);
  TwoSampleResult all = TwoProportionZTest(100, 100, 50, 50);
  EXPECT_EQ(all.statistic, 0);
  EXPECT_EQ(all.p_value, 1);
  // Equal rates with variance: z 0, p 0.5.
  TwoSampleResult equal = TwoProportionZTest(15, 150, 15, 150);
  EXPECT_EQ(equal.statistic, 0);
  EXPECT_DOUBLE_EQ(equal.p_value, 0.5);
}

TEST(MannWhitneyUTest, MatchesScipyWithTies) {
  const std::vector<double> a = {1.0, 2.0, 2.0, 3.5, 4.0, 4.0, 4.0, 7.0};
  const std::vector<double> b = {0.5, 1.0, 2.0, 2.5, 3.0};
  TwoSampleResult r = MannWhitneyU(a, b);
  EXPECT_DOUBLE_EQ(r.statistic, 31.5);
  ExpectRelative(r.p_value, 0.05149594781902105, 1e-12);
}

TEST(MannWhitneyUTest, MatchesScipyBothWays) {
  const std::vector<double> a = {0.1, 0.4, 0.35, 0.8, 0.9, 1.2};
  const std::vector<double> b = {0.2, 0.3, 0.5, 0.6, 0.7, 0.75, 0.25};
  TwoSampleResult r = MannWhitneyU(a, b);
  EXPECT_DOUBLE_EQ(r.statistic, 27.0);
  ExpectRelative(r.p_value, 0.21601744600250378, 1e-12);
  r = MannWhitneyU(b, a);
  EXPECT_DOUBLE_EQ(r.statistic, 15.0);
  ExpectRelative(r.p_value, 0.8234443827469973, 1e-12);
}

// The canary judgement's error-value case: 300 canary values, half high,
// against 300 stable values, a tenth high.
TEST(MannWhitneyUTest, TwoValuedSamplesMatchScipy) {
  std::vector<double> canary(150, 1.0), stable(270, 1.0);
  canary.resize(300, 2.0);
  stable.resize(300, 2.0);
  TwoSampleResult r = MannWhitneyU(canary, stable);
  EXPECT_DOUBLE_EQ(r.statistic, 63000.0);
  EXPECT_DOUBLE_EQ(r.statistic, 150 * 270 + 0.5 * (150 * 30 + 150 * 270));
  ExpectRelative(r.p_value, 6.229769697104168e-27, 1e-9);
}

TEST(MannWhitneyUTest, AllEqualOrEmptyIsNoEvidence) {
  const std::vector<double> same(20, 3.0);
  TwoSampleResult r = MannWhitneyU(same, same);
  EXPECT_EQ(r.statistic, 200);  // Every pair a tie: n1 n2 / 2.
  EXPECT_EQ(r.p_value, 1);
  EXPECT_EQ(MannWhitneyU({}, same).p_value, 1);
  EXPECT_EQ(MannWhitneyU(same, {}).p_value, 1);
}

}  // namespace
}  // namespace continuum::drift
