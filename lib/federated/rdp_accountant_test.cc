#include "lib/federated/rdp_accountant.h"

#include <cmath>
#include <limits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace continuum::federated {
namespace {

using ::testing::HasSubstr;

constexpr double kInf = std::numeric_limits<double>::infinity();

// Opacus, opacus/tests/accountants_test.py, test_rdp_accountant: 2250 steps
// of sigma 1.5 at q 0.04 (90 epochs), delta 1e-5, default orders:
// assertAlmostEqual(epsilon, 7.32911117143) (7 decimal places).
TEST(RdpAccountantTest, MatchesOpacusAccountantTest) {
  RdpAccountant accountant;
  for (int i = 0; i < 2250; ++i) {
    ASSERT_TRUE(accountant.Step(1.5, 0.04).ok());
  }
  const absl::StatusOr<PrivacySpent> spent = accountant.Spent(1e-5);
  ASSERT_TRUE(spent.ok()) << spent.status();
  EXPECT_NEAR(spent->epsilon, 7.32911117143, 5e-7);
  EXPECT_EQ(accountant.steps(), 2250);
  // The same in one call.
  RdpAccountant at_once;
  ASSERT_TRUE(at_once.Step(1.5, 0.04, 2250).ok());
  EXPECT_NEAR(at_once.Spent(1e-5)->epsilon, 7.32911117143, 5e-7);
}

// TF-Privacy (tensorflow/privacy, privacy/analysis/rdp_accountant_test.py),
// test_compute_rdp_sequence: 50 steps of sigma 2.5 at q 0.01,
// assertSequenceAlmostEqual(delta=1e-5). Orders 1.5 and 2.5 take the
// fractional series, 5, 50 and 100 the binomial one. (dp_accounting, its
// successor, later changed the fractional series to add the terms'
// magnitudes, an upper bound: its own test expects 6.7058e-4 at order 1.5.
// Opacus kept TF-Privacy's series, and so does this accountant.)
TEST(RdpAccountantTest, MatchesTfPrivacyRdpSequence) {
  const std::vector<double> orders = {1.5, 2.5, 5, 50, 100, kInf};
  const std::vector<double> expected = {0.00065,  0.001085,   0.00218075,
                                        0.023846, 167.416307, kInf};
  const absl::StatusOr<std::vector<double>> rdp =
      ComputeRdp(0.01, 2.5, 50, orders);
  ASSERT_TRUE(rdp.ok()) << rdp.status();
  for (size_t i = 0; i < orders.size(); ++i) {
    if (std::isinf(expected[i])) {
      EXPECT_TRUE(std::isinf((*rdp)[i]));
    } else {
      EXPECT_NEAR((*rdp)[i], expected[i], 1e-5) << "order " << orders[i];
    }
  }
  // test_compute_rdp_scalar: assertAlmostEqual(places=5).
  EXPECT_NEAR(ComputeRdp(0.1, 2, 10, std::vector<double>{5})->at(0), 0.07737,
              5e-6);
}

// TF-Privacy's epsilon tests used the classic conversion
// epsilon = min over orders of rdp - log(delta) / (alpha - 1) (Mironov
// 2017, Proposition 3), before Opacus and dp_accounting moved to Balle et
// al.'s tighter one; they check the RDP values at integer orders and the
// composition of two mechanisms through it.
double ClassicEpsilon(const std::vector<double>& orders,
                      const std::vector<double>& rdp, double delta,
                      double* best_order) {
  double best = kInf;
  for (size_t i = 0; i < orders.size(); ++i) {
    const double eps = rdp[i] - std::log(delta) / (orders[i] - 1);
    if (eps < best) {
      best = eps;
      *best_order = orders[i];
    }
  }
  return best;
}

TEST(RdpAccountantTest, MatchesTfPrivacyEpsilonTests) {
  // test_get_privacy_spent_check_target_delta: 1.258575 (places=5), order 20.
  std::vector<double> orders;
  for (int a = 2; a <= 32; ++a) orders.push_back(a);
  double order = 0;
  EXPECT_NEAR(
      ClassicEpsilon(orders, *ComputeRdp(0.01, 4, 10000, orders), 1e-5, &order),
      1.258575, 5e-6);
  EXPECT_EQ(order, 20);
  // test_check_composition: 40000 steps at (q 1e-4, sigma 0.4) then 100 at
  // (q 0.1, sigma 2): 8.509656 (places=5) at order 2.5.
  RdpAccountant accountant({1.25, 1.5, 1.75, 2., 2.5, 3., 4., 5., 6., 7., 8.,
                            10., 12., 14., 16., 20., 24., 28., 32., 64., 256.});
  ASSERT_TRUE(accountant.Step(0.4, 1e-4, 40000).ok());
  ASSERT_TRUE(accountant.Step(2, 0.1, 100).ok());
  EXPECT_NEAR(
      ClassicEpsilon(accountant.orders(), accountant.rdp(), 1e-5, &order),
      8.509656, 5e-6);
  EXPECT_EQ(order, 2.5);
}

// dp_accounting, test_compute_epsilon_delta_pure_dp: constant RDP 1.1 at
// orders 2..32 and delta 1e-5 give epsilon 1.32783806176 at order 32.
TEST(RdpAccountantTest, MatchesDpAccountingPureDpConversion) {
  std::vector<double> orders;
  for (int a = 2; a <= 32; ++a) orders.push_back(a);
  const std::vector<double> rdp(orders.size(), 1.1);
  const absl::StatusOr<PrivacySpent> spent =
      GetPrivacySpent(orders, rdp, 1e-5);
  ASSERT_TRUE(spent.ok());
  EXPECT_NEAR(spent->epsilon, 1.32783806176, 1e-10);
  EXPECT_EQ(spent->order, 32);
}

// dp_accounting, test_compute_rdp_gaussian: without sampling the RDP is
// the Gaussian mechanism's alpha / (2 sigma^2).
TEST(RdpAccountantTest, UnsampledGaussian) {
  const double alpha = 3.14159;
  const double sigma = 2.71828;
  const std::vector<double> orders = {alpha};
  EXPECT_NEAR(ComputeRdp(1.0, sigma, 1, orders)->at(0),
              alpha / (2 * sigma * sigma), 1e-12);
}

TEST(RdpAccountantTest, EdgeCases) {
  const std::vector<double> orders = DefaultRdpOrders();
  EXPECT_EQ(orders.size(), 99u + 52u);
  EXPECT_DOUBLE_EQ(orders.front(), 1.1);
  EXPECT_EQ(orders.back(), 63);
  // q = 0: nothing spent.
  RdpAccountant none;
  ASSERT_TRUE(none.Step(1.0, 0.0, 10).ok());
  EXPECT_LT(none.Spent(1e-5)->epsilon, 1.0);  // only the conversion's terms
  for (double r : none.rdp()) EXPECT_EQ(r, 0);
  // sigma = 0: no privacy.
  RdpAccountant no_noise;
  ASSERT_TRUE(no_noise.Step(0.0, 0.5).ok());
  EXPECT_TRUE(std::isinf(no_noise.Spent(1e-5)->epsilon));
  // Bad input leaves the accountant unchanged.
  RdpAccountant a;
  EXPECT_THAT(a.Step(1.0, 1.5).message(), HasSubstr("sample_rate must be in [0, 1]"));
  EXPECT_THAT(a.Step(-1.0, 0.5).message(), HasSubstr("noise_multiplier must be >= 0"));
  EXPECT_THAT(a.Step(1.0, 0.5, -1).message(), HasSubstr("steps must be >= 0"));
  EXPECT_EQ(a.steps(), 0);
  EXPECT_THAT(a.Spent(0).status().message(), HasSubstr("delta must be in (0, 1)"));
  EXPECT_THAT(ComputeRdp(0.1, 1, 1, std::vector<double>{1.0}).status().message(),
              HasSubstr("RDP orders must be > 1"));
  EXPECT_THAT(GetPrivacySpent(std::vector<double>{2, 3},
                              std::vector<double>{1}, 1e-5)
                  .status()
                  .message(),
              HasSubstr("one RDP value per order"));
}

// More rounds, or less noise, never spend less; SpentAfter looks ahead
// without spending; the state a coordinator persists restores exactly.
TEST(RdpAccountantTest, ComposesLooksAheadAndRestores) {
  RdpAccountant a;
  ASSERT_TRUE(a.Step(1.1, 0.5, 10).ok());
  const double after_10 = a.Spent(1e-5)->epsilon;
  const double ahead = a.SpentAfter(1.1, 0.5, 5, 1e-5)->epsilon;
  EXPECT_EQ(a.steps(), 10);
  EXPECT_GT(ahead, after_10);
  ASSERT_TRUE(a.Step(1.1, 0.5, 5).ok());
  EXPECT_NEAR(a.Spent(1e-5)->epsilon, ahead, 1e-12);
  RdpAccountant noisier;
  ASSERT_TRUE(noisier.Step(2.0, 0.5, 15).ok());
  EXPECT_LT(noisier.Spent(1e-5)->epsilon, a.Spent(1e-5)->epsilon);

  RdpAccountant restored;
  ASSERT_TRUE(restored.Restore(a.rdp(), a.steps()).ok());
  EXPECT_EQ(restored.Spent(1e-5)->epsilon, a.Spent(1e-5)->epsilon);
  EXPECT_THAT(restored.Restore({1.0}, 1).message(),
              HasSubstr("1 RDP values for 151 orders"));
}

}  // namespace
}  // namespace continuum::federated
