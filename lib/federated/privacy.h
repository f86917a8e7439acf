// Central differential privacy of a federated aggregate, as Flower's
// DifferentialPrivacyServerSide{Fixed,Adaptive}Clipping and Opacus do it:
// each site's update is clipped to L2 norm C, the clipped updates are
// summed, Gaussian noise of standard deviation z * C is added to the sum
// (z * C / m to the average of m updates), and an RDP accountant
// (rdp_accountant.h) turns the rounds into (epsilon, delta).
//
// Adaptive clipping (Andrew et al. 2021, "Differentially Private Learning
// with Adaptive Clipping"): after each round C moves geometrically toward
// the target quantile gamma of the update norms,
//
//   b = (#updates NOT clipped + N(0, sigma_b^2)) / m
//   C <- C * exp(-eta_C * (b - gamma))
//
// and the noise on the updates is raised so that the count's noise and the
// updates' noise together cost what z alone would:
// z_updates = (z^-2 - (2 sigma_b)^-2)^-1/2.
//
// Randomness comes from the caller (absl::BitGenRef), so tests are
// deterministic; a coordinator passes a generator seeded from the OS.
#ifndef CONTINUUM_LIB_FEDERATED_PRIVACY_H_
#define CONTINUUM_LIB_FEDERATED_PRIVACY_H_

#include "absl/random/bit_gen_ref.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace continuum::federated {

// Scales `values` down to L2 norm `clip_norm` (> 0) if its norm exceeds it;
// returns the norm before clipping.
double ClipToNorm(absl::Span<float> values, double clip_norm);

// Adds independent N(0, stddev^2) noise to every value (stddev >= 0).
void AddGaussianNoise(absl::Span<float> values, double stddev,
                      absl::BitGenRef gen);

struct AdaptiveClippingOptions {
  // gamma, in (0, 1): the share of updates meant to be left unclipped.
  double target_quantile = 0.5;
  // eta_C, > 0 (the paper's 0.2).
  double learning_rate = 0.2;
  // sigma_b, > 0: noise on the count of unclipped updates. 0 = m / 20
  // (the paper's choice, m the updates per round).
  double count_stddev = 0;
};

// The next round's clip norm, from this round's: `unclipped` of `m`
// updates had a norm <= clip_norm. INVALID_ARGUMENT for options out of
// range, m < 1 or unclipped outside [0, m].
absl::StatusOr<double> NextClipNorm(double clip_norm, int unclipped, int m,
                                    const AdaptiveClippingOptions& options,
                                    absl::BitGenRef gen);

// z_updates for a target noise multiplier z (> 0) when the count's noise
// is sigma_b: FAILED_PRECONDITION if 2 sigma_b <= z (the count alone would
// spend the whole budget: raise count_stddev or lower z).
absl::StatusOr<double> AdaptiveUpdateNoiseMultiplier(double noise_multiplier,
                                                     double count_stddev);

}  // namespace continuum::federated

#endif  // CONTINUUM_LIB_FEDERATED_PRIVACY_H_
