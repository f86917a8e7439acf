#include "services/drift/performance_window.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "services/drift/monitor_config.h"

namespace continuum::drift_service {

absl::string_view OutcomeKindName(OutcomeKind kind) {
  return kind == OutcomeKind::kErrorValue ? "error values" : "correct/wrong";
}

std::optional<PerformanceBound> PerformanceBoundOf(
    const v1::PerformanceThresholds& p, OutcomeKind kind,
    std::optional<double> reference_error_rate) {
  std::optional<PerformanceBound> bound;
  if (kind == OutcomeKind::kErrorValue) {
    if (p.has_max_mean_error_value()) {
      bound = PerformanceBound{
          p.max_mean_error_value(),
          absl::StrCat("max_mean_error_value ", p.max_mean_error_value())};
    }
    return bound;
  }
  if (p.has_max_error_rate()) {
    bound = PerformanceBound{
        p.max_error_rate(), absl::StrCat("max_error_rate ", p.max_error_rate())};
  }
  if (reference_error_rate.has_value()) {
    const double points = p.has_max_error_rate_increase_points()
                              ? p.max_error_rate_increase_points()
                              : kDefaultErrorRateIncreasePoints;
    const double relative = *reference_error_rate + points / 100;
    if (!bound.has_value() || relative < bound->value) {
      bound = PerformanceBound{
          relative, absl::StrCat("the reference error rate ",
                                 *reference_error_rate, " + ", points,
                                 " points")};
    }
  }
  return bound;
}

void PerformanceWindow::Add(double value, size_t window_size, int64_t index) {
  window_.push_back(value);
  sum_ += value;
  while (window_.size() > window_size) {
    sum_ -= window_.front();
    window_.pop_front();
  }
  // Recompute now and then so rounding does not accumulate.
  if (window_.size() == window_size &&
      index % static_cast<int64_t>(window_size) == 0) {
    sum_ = 0;
    for (double v : window_) sum_ += v;
  }
}

double PerformanceWindow::Mean() const {
  return sum_ / static_cast<double>(window_.size());
}

std::optional<v1::Alert> PerformanceWindow::Check(
    const std::optional<PerformanceBound>& bound, int64_t min_outcomes,
    const Context& context) {
  if (!bound.has_value() ||
      static_cast<int64_t>(window_.size()) < min_outcomes) {
    return std::nullopt;
  }
  const double mean = Mean();
  if (mean <= bound->value) {
    alerting_ = false;
    return std::nullopt;
  }
  if (alerting_) return std::nullopt;
  alerting_ = true;
  v1::Alert alert;
  alert.set_model(std::string(context.model));
  alert.set_version(context.version);
  alert.set_type(v1::ALERT_TYPE_PERFORMANCE);
  alert.set_severity(v1::ALERT_SEVERITY_CRITICAL);
  alert.set_detector("performance");
  alert.set_feature_index(-1);
  alert.set_observation_index(context.index);
  *alert.mutable_create_time() = core::ToProto(context.clock->Now());
  alert.set_statistic(mean);
  alert.set_threshold(bound->value);
  alert.set_message(absl::StrCat(
      context.kind == OutcomeKind::kErrorValue ? "mean error value "
                                               : "error rate ",
      mean, " over the last ", window_.size(), " outcomes of version ",
      context.version, " exceeds ", bound->name));
  return alert;
}

}  // namespace continuum::drift_service
