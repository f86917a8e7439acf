// The RDP accountant of the sampled Gaussian mechanism (Mironov, Talwar and
// Zhang 2019, "Renyi Differential Privacy of the Sampled Gaussian
// Mechanism"), as Opacus (opacus/accountants/analysis/rdp.py) and
// TF-Privacy / dp_accounting compute it:
//
// - RDP of one step at order alpha, with sampling rate q and noise
//   multiplier sigma: log(A_alpha) / (alpha - 1), A_alpha by the binomial
//   expansion for integer alpha and by the two-sided series with erfc
//   terms for fractional alpha; q = 1 gives the plain Gaussian's
//   alpha / (2 sigma^2), q = 0 gives 0, sigma = 0 or alpha = inf gives inf.
// - Steps compose by adding RDP per order.
// - (epsilon, delta) from RDP with the conversion Opacus uses (Balle et al.
//   2020, "Hypothesis Testing Interpretations and Renyi Differential
//   Privacy", Theorem 21):
//     epsilon = rdp - (log(delta) + log(alpha)) / (alpha - 1)
//               + log((alpha - 1) / alpha)
//   minimised over the orders.
//
// In a federated round with DP, one step is one round: q is the share of
// the federation's sites sampled into it and sigma the noise multiplier
// (noise stddev over clip norm). Pure functions and a copyable accountant;
// not thread-safe.
#ifndef CONTINUUM_LIB_FEDERATED_RDP_ACCOUNTANT_H_
#define CONTINUUM_LIB_FEDERATED_RDP_ACCOUNTANT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace continuum::federated {

// Opacus's RDPAccountant.DEFAULT_ALPHAS: 1.1, 1.2, ..., 10.9, then 12..63.
std::vector<double> DefaultRdpOrders();

// RDP of `steps` steps of the sampled Gaussian mechanism at each order.
// INVALID_ARGUMENT for q outside [0, 1], sigma < 0, steps < 0 or an order
// <= 1.
absl::StatusOr<std::vector<double>> ComputeRdp(double sample_rate,
                                               double noise_multiplier,
                                               int64_t steps,
                                               absl::Span<const double> orders);

struct PrivacySpent {
  double epsilon = 0;
  // The order that gave the smallest epsilon.
  double order = 0;
};

// (epsilon, best order) for `delta` in (0, 1) from RDP values at `orders`
// (same length). epsilon is +inf when every order's is (or is NaN).
// INVALID_ARGUMENT for a delta out of range or mismatched lengths.
absl::StatusOr<PrivacySpent> GetPrivacySpent(absl::Span<const double> orders,
                                             absl::Span<const double> rdp,
                                             double delta);

// Accumulates steps (rounds) with possibly different (q, sigma), as Opacus's
// RDPAccountant does; its RDP vector is what a coordinator persists.
class RdpAccountant {
 public:
  explicit RdpAccountant(std::vector<double> orders = DefaultRdpOrders());

  // Adds `steps` steps at (sample_rate, noise_multiplier); INVALID_ARGUMENT
  // as ComputeRdp (the accountant is unchanged then).
  absl::Status Step(double noise_multiplier, double sample_rate,
                    int64_t steps = 1);

  absl::StatusOr<PrivacySpent> Spent(double delta) const;

  // The epsilon after `steps` more steps at (sample_rate, noise_multiplier),
  // without taking them: what a coordinator checks against max_epsilon
  // before opening a round.
  absl::StatusOr<PrivacySpent> SpentAfter(double noise_multiplier,
                                          double sample_rate, int64_t steps,
                                          double delta) const;

  const std::vector<double>& orders() const { return orders_; }
  const std::vector<double>& rdp() const { return rdp_; }
  int64_t steps() const { return steps_; }
  // INVALID_ARGUMENT unless rdp has one value per order, each >= 0 (or
  // +inf), and steps >= 0.
  absl::Status Restore(std::vector<double> rdp, int64_t steps);

 private:
  std::vector<double> orders_;
  std::vector<double> rdp_;
  int64_t steps_ = 0;
};

}  // namespace continuum::federated

#endif  // CONTINUUM_LIB_FEDERATED_RDP_ACCOUNTANT_H_
