#include "lib/federated/privacy.h"

#include <cmath>

#include "absl/random/distributions.h"
#include "absl/strings/str_cat.h"
#include "lib/federated/aggregation.h"

namespace continuum::federated {

double ClipToNorm(absl::Span<float> values, double clip_norm) {
  const double norm = L2Norm(values);
  if (norm > clip_norm && norm > 0) {
    const float scale = static_cast<float>(clip_norm / norm);
    for (float& v : values) v *= scale;
  }
  return norm;
}

void AddGaussianNoise(absl::Span<float> values, double stddev,
                      absl::BitGenRef gen) {
  if (stddev <= 0) return;
  for (float& v : values) {
    v += static_cast<float>(absl::Gaussian<double>(gen, 0.0, stddev));
  }
}

absl::StatusOr<double> NextClipNorm(double clip_norm, int unclipped, int m,
                                    const AdaptiveClippingOptions& options,
                                    absl::BitGenRef gen) {
  if (!(clip_norm > 0) || std::isinf(clip_norm)) {
    return absl::InvalidArgumentError(
        absl::StrCat("clip_norm must be > 0 (got ", clip_norm, ")"));
  }
  if (m < 1 || unclipped < 0 || unclipped > m) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unclipped updates must be in [0, m] with m >= 1 (got ", unclipped,
        " of ", m, ")"));
  }
  if (!(options.target_quantile > 0 && options.target_quantile < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("target_quantile must be in (0, 1) (got ",
                     options.target_quantile, ")"));
  }
  if (!(options.learning_rate > 0) || std::isinf(options.learning_rate)) {
    return absl::InvalidArgumentError(
        absl::StrCat("clip learning_rate must be > 0 (got ",
                     options.learning_rate, ")"));
  }
  if (!(options.count_stddev >= 0) || std::isinf(options.count_stddev)) {
    return absl::InvalidArgumentError(
        absl::StrCat("count_stddev must be >= 0 (got ", options.count_stddev,
                     ")"));
  }
  const double sigma_b =
      options.count_stddev == 0 ? m / 20.0 : options.count_stddev;
  const double noisy = unclipped + absl::Gaussian<double>(gen, 0.0, sigma_b);
  const double b = noisy / m;
  return clip_norm *
         std::exp(-options.learning_rate * (b - options.target_quantile));
}

absl::StatusOr<double> AdaptiveUpdateNoiseMultiplier(double noise_multiplier,
                                                     double count_stddev) {
  if (!(noise_multiplier > 0) || std::isinf(noise_multiplier)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "noise_multiplier must be > 0 (got ", noise_multiplier, ")"));
  }
  if (!(2 * count_stddev > noise_multiplier)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "adaptive clipping's count noise (stddev ", count_stddev,
        ") is too small for noise_multiplier ", noise_multiplier,
        ": it needs 2 * count_stddev > noise_multiplier; raise count_stddev "
        "or lower the noise multiplier"));
  }
  const double inv = std::pow(noise_multiplier, -2) -
                     std::pow(2 * count_stddev, -2);
  return std::pow(inv, -0.5);
}

}  // namespace continuum::federated
