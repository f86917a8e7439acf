#include "services/inference/row_sampler.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace continuum::inference {
namespace {

// SplitMix64's output function.
uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t RandomSeed() {
  std::random_device device;
  uint64_t seed = (static_cast<uint64_t>(device()) << 32) | device();
  return seed == 0 ? 1 : seed;
}

}  // namespace

RowSampler::RowSampler(double sample_rate, double confidence_below,
                       uint64_t seed)
    : sample_rate_(std::isnan(sample_rate)
                       ? 1.0
                       : std::clamp(sample_rate, 0.0, 1.0)),
      confidence_below_(std::isfinite(confidence_below) ? confidence_below
                                                        : 0.0),
      seed_(seed != 0 ? seed : RandomSeed()) {}

bool RowSampler::Keep(bool force_log, std::optional<float> score) {
  if (force_log) return true;
  if (sample_rate_ <= 0) return false;
  if (sample_rate_ < 1) {
    const uint64_t n = draws_.fetch_add(1, std::memory_order_relaxed);
    const uint64_t bits = Mix(seed_ + (n + 1) * 0x9E3779B97F4A7C15ULL);
    const double u = static_cast<double>(bits >> 11) * 0x1.0p-53;
    if (u >= sample_rate_) return false;
  }
  if (confidence_below_ > 0) {
    // In float, like the scores: a score of 0.7f is not below 0.7.
    return score.has_value() &&
           *score < static_cast<float>(confidence_below_);
  }
  return true;
}

}  // namespace continuum::inference
