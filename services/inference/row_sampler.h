// Which predictions the prediction log keeps (prediction_logger.h): a
// seeded, lock-free decision per row.
#ifndef CONTINUUM_SERVICES_INFERENCE_ROW_SAMPLER_H_
#define CONTINUUM_SERVICES_INFERENCE_ROW_SAMPLER_H_

#include <atomic>
#include <cstdint>
#include <optional>

namespace continuum::inference {

// Decides, row by row, which predictions are logged: rows of a force_log
// request always; otherwise with probability sample_rate, then, when
// confidence_below > 0, only if the row has a score below it (rows without
// a score, e.g. the forecaster's, are then not logged). Draws come from a
// counter-based generator (SplitMix64) seeded at construction: the same
// seed gives the same decisions for the same sequence of calls.
//
// Thread safety: thread-safe and lock-free (one relaxed atomic counter).
// Example:
//   RowSampler sampler(/*sample_rate=*/0.1, /*confidence_below=*/0, seed);
//   if (sampler.Keep(request.force_log(), score)) ...
class RowSampler {
 public:
  // `sample_rate` is clamped to [0, 1] (NaN = 1); a confidence_below that is
  // not finite is 0 (off). `seed` 0 = a random seed.
  RowSampler(double sample_rate, double confidence_below, uint64_t seed);

  RowSampler(const RowSampler&) = delete;
  RowSampler& operator=(const RowSampler&) = delete;

  // Whether to log a row with this score (nullopt: the row has none).
  // Consumes one draw only when 0 < sample_rate < 1 and not forced.
  bool Keep(bool force_log, std::optional<float> score);

  double sample_rate() const { return sample_rate_; }
  double confidence_below() const { return confidence_below_; }

 private:
  const double sample_rate_;
  const double confidence_below_;
  const uint64_t seed_;
  std::atomic<uint64_t> draws_{0};
};

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_ROW_SAMPLER_H_
