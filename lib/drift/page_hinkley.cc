#include "lib/drift/page_hinkley.h"

#include <limits>

#include "absl/strings/str_cat.h"

namespace continuum::drift {

absl::Status PageHinkleyOptions::Validate() const {
  if (min_instances < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_hinkley: min_instances=", min_instances,
                     " is out of range; allowed: min_instances >= 0"));
  }
  if (!(delta >= 0.0) || delta == std::numeric_limits<double>::infinity()) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_hinkley: delta=", delta,
                     " is out of range; allowed: delta >= 0"));
  }
  if (!(threshold > 0.0) ||
      threshold == std::numeric_limits<double>::infinity()) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_hinkley: threshold=", threshold,
                     " is out of range; allowed: threshold > 0"));
  }
  if (!(alpha > 0.0 && alpha <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_hinkley: alpha=", alpha,
                     " is out of range; allowed: 0 < alpha <= 1"));
  }
  return absl::OkStatus();
}

PageHinkley::PageHinkley(const PageHinkleyOptions& options)
    : options_(options) {
  Reset();
}

void PageHinkley::Reset() {
  n_ = 0.0;
  mean_ = 0.0;
  sum_increase_ = 0.0;
  sum_decrease_ = 0.0;
  min_increase_ = std::numeric_limits<double>::infinity();
  // River starts the maximum at -1, not at -inf.
  max_decrease_ = -1.0;
  drift_detected_ = false;
}

void PageHinkley::Update(double x) {
  if (drift_detected_) Reset();
  // stats.Mean: n += 1; mean += (1 / n) * (x - mean).
  n_ += 1.0;
  mean_ += (1.0 / n_) * (x - mean_);
  const double dev = x - mean_;
  sum_increase_ = options_.alpha * sum_increase_ + dev - options_.delta;
  sum_decrease_ = options_.alpha * sum_decrease_ + dev + options_.delta;
  if (sum_increase_ < min_increase_) min_increase_ = sum_increase_;
  if (sum_decrease_ > max_decrease_) max_decrease_ = sum_decrease_;
  if (n_ >= static_cast<double>(options_.min_instances)) {
    const double up = test_increase();
    const double down = test_decrease();
    switch (options_.mode) {
      case PageHinkleyMode::kUp:
        drift_detected_ = up > options_.threshold;
        break;
      case PageHinkleyMode::kDown:
        drift_detected_ = down > options_.threshold;
        break;
      case PageHinkleyMode::kBoth:
        drift_detected_ = up > options_.threshold || down > options_.threshold;
        break;
    }
  }
}

std::vector<DetectorStatistic> PageHinkley::Statistics() const {
  return {{"n", n_},
          {"mean", mean_},
          {"sum_increase", sum_increase_},
          {"sum_decrease", sum_decrease_},
          {"test_increase", test_increase()},
          {"test_decrease", test_decrease()}};
}

}  // namespace continuum::drift
