// Page-Hinkley test with River's algorithm (river/drift/page_hinkley.py):
// cumulative sums of the deviations from the running mean, faded by `alpha`,
// minus (for increases) or plus (for decreases) `delta`; drift when, after
// `min_instances` observations, the sum has risen above its minimum (mode
// "up"), fallen below its maximum ("down"), or either ("both") by more than
// `threshold`.
#ifndef CONTINUUM_LIB_DRIFT_PAGE_HINKLEY_H_
#define CONTINUUM_LIB_DRIFT_PAGE_HINKLEY_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "lib/drift/streaming_detector.h"

namespace continuum::drift {

enum class PageHinkleyMode { kUp, kDown, kBoth };

struct PageHinkleyOptions {
  int64_t min_instances = 30;  // >= 0
  double delta = 0.005;        // >= 0
  double threshold = 50.0;     // > 0
  double alpha = 1 - 0.0001;   // forgetting factor, 0 < alpha <= 1
  PageHinkleyMode mode = PageHinkleyMode::kBoth;

  absl::Status Validate() const;
};

class PageHinkley final : public StreamingDetector {
 public:
  explicit PageHinkley(const PageHinkleyOptions& options = {});

  absl::string_view name() const override { return "page_hinkley"; }
  void Update(double x) override;
  bool drift_detected() const override { return drift_detected_; }
  void Reset() override;
  std::vector<DetectorStatistic> Statistics() const override;

  // Observations since the last reset and their running mean.
  double n() const { return n_; }
  double mean() const { return mean_; }
  // The faded cumulative sums and their running extremes.
  double sum_increase() const { return sum_increase_; }
  double sum_decrease() const { return sum_decrease_; }
  double min_increase() const { return min_increase_; }
  double max_decrease() const { return max_decrease_; }
  // The test statistics compared with the threshold.
  double test_increase() const { return sum_increase_ - min_increase_; }
  double test_decrease() const { return max_decrease_ - sum_decrease_; }

 private:
  PageHinkleyOptions options_;
  double n_ = 0.0;
  double mean_ = 0.0;
  double sum_increase_ = 0.0;
  double sum_decrease_ = 0.0;
  double min_increase_ = 0.0;
  double max_decrease_ = 0.0;
  bool drift_detected_ = false;
};

}  // namespace continuum::drift

#endif  // CONTINUUM_LIB_DRIFT_PAGE_HINKLEY_H_
