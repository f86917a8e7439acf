// The performance of one model version over its most recent outcomes: a
// sliding window of outcomes (1 wrong / 0 right for classifiers, the error
// value for regressors), its mean (the error rate or the mean error
// value), and the bound whose crossing raises ALERT_TYPE_PERFORMANCE
// (drift.proto PerformanceThresholds):
//   - error values: max_mean_error_value;
//   - error rates: max_error_rate and, once the version's training
//     reference is loaded, its error rate + max_error_rate_increase_points
//     (default 10) / 100; the lower of the two counts.
// The alert (CRITICAL, detector "performance") is raised once, when the
// window of at least min_outcomes outcomes first goes over the bound, and
// re-armed when it falls back under it.
//
// Not thread-safe: DriftMonitor holds its mutex around every call.
#ifndef CONTINUUM_SERVICES_DRIFT_PERFORMANCE_WINDOW_H_
#define CONTINUUM_SERVICES_DRIFT_PERFORMANCE_WINDOW_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "continuum/v1/drift.pb.h"
#include "lib/core/clock.h"

namespace continuum::drift_service {

// What a version's outcomes are; fixed by its first outcome (an
// ObservationBatch mixing them is rejected).
enum class OutcomeKind {
  kUnknown,     // No outcome yet.
  kCorrect,     // ObservedOutcome.correct: 1 wrong, 0 right.
  kErrorValue,  // ObservedOutcome.error_value.
};

// "correct/wrong" or "error values" (for error messages).
absl::string_view OutcomeKindName(OutcomeKind kind);

// The bound a version's window is held to, and how to name it in an alert.
struct PerformanceBound {
  double value = 0;
  std::string name;  // e.g. "max_error_rate 0.2"
};

// The bound for outcomes of `kind` under `p`, given the version's
// reference error rate if known; nullopt when none applies.
std::optional<PerformanceBound> PerformanceBoundOf(
    const v1::PerformanceThresholds& p, OutcomeKind kind,
    std::optional<double> reference_error_rate);

class PerformanceWindow {
 public:
  // Adds outcome number `index` (0, 1, ... per version), keeping the last
  // `window_size`.
  void Add(double value, size_t window_size, int64_t index);

  size_t size() const { return window_.size(); }
  bool empty() const { return window_.empty(); }
  // The error rate or mean error value (not empty).
  double Mean() const;

  // After an Add: the alert (without sequence) when the window of at
  // least `min_outcomes` outcomes first crosses `bound`.
  struct Context {
    absl::string_view model;
    int64_t version = 0;
    OutcomeKind kind = OutcomeKind::kUnknown;
    int64_t index = 0;               // The outcome just added.
    core::Clock* clock = nullptr;    // The alert's create_time.
  };
  std::optional<v1::Alert> Check(const std::optional<PerformanceBound>& bound,
                                 int64_t min_outcomes, const Context& context);

  // Forgets a crossing (the configuration changed): the next one alerts.
  void Rearm() { alerting_ = false; }

 private:
  std::deque<double> window_;
  double sum_ = 0;
  bool alerting_ = false;  // Bound crossed, not yet back under.
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_PERFORMANCE_WINDOW_H_
