#include "services/drift/monitor_config.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"
#include "lib/drift/streaming_detector.h"

namespace continuum::drift_service {
namespace {

// Fills the defaults of drift.proto into a canary judgement configuration.
void FillCanaryDefaults(v1::CanaryJudgementConfig& c) {
  if (c.alpha() == 0) c.set_alpha(kDefaultCanaryAlpha);
  if (c.min_outcomes() == 0) c.set_min_outcomes(kDefaultCanaryMinOutcomes);
  if (!c.has_interval()) {
    c.mutable_interval()->set_seconds(
        absl::ToInt64Seconds(kDefaultCanaryInterval));
  }
}

// Fills the defaults of drift.proto into a reference-test configuration.
void FillReferenceDefaults(v1::ReferenceTestConfig& c) {
  if (!c.has_interval() ||
      (c.interval().seconds() == 0 && c.interval().nanos() == 0)) {
    c.mutable_interval()->set_seconds(
        absl::ToInt64Seconds(kDefaultReferenceInterval));
    c.mutable_interval()->set_nanos(0);
  }
  if (c.window_size() == 0) c.set_window_size(kDefaultReferenceWindow);
  if (c.min_samples() == 0) {
    c.set_min_samples(std::min(kDefaultReferenceMinSamples, c.window_size()));
  }
  if (c.tests().empty()) {
    c.add_tests(v1::REFERENCE_TEST_KS);
    c.add_tests(v1::REFERENCE_TEST_PSI);
  }
  if (c.correction() == v1::MULTIPLE_TEST_CORRECTION_UNSPECIFIED) {
    c.set_correction(v1::MULTIPLE_TEST_CORRECTION_BONFERRONI);
  }
  if (c.p_value_threshold() == 0) c.set_p_value_threshold(0.05);
  if (c.psi_threshold() == 0) c.set_psi_threshold(0.2);
  if (c.jensen_shannon_threshold() == 0) c.set_jensen_shannon_threshold(0.1);
  if (c.wasserstein_threshold() == 0) c.set_wasserstein_threshold(0.1);
  if (c.drifted_feature_share() == 0) c.set_drifted_feature_share(0.5);
  if (c.critical_feature_share() == 0) c.set_critical_feature_share(0.75);
}

absl::Status ValidateReferenceTests(v1::ReferenceTestConfig& c) {
  auto bad = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("reference_tests.", what));
  };
  if (c.has_interval() &&
      (c.interval().seconds() < 0 || c.interval().nanos() < 0)) {
    return bad("interval must not be negative");
  }
  if (c.window_size() < 0 || c.window_size() > kMaxReferenceWindow) {
    return bad(absl::StrCat("window_size must be in [0, ", kMaxReferenceWindow,
                            "] (0 = ", kDefaultReferenceWindow, ")"));
  }
  if (c.min_samples() < 0) return bad("min_samples must be >= 0");
  std::set<int> seen;
  for (int t : c.tests()) {
    if (!v1::ReferenceTest_IsValid(t) || t == v1::REFERENCE_TEST_UNSPECIFIED) {
      return bad(absl::StrCat("tests: unknown test ", t));
    }
    if (t == v1::REFERENCE_TEST_CHI_SQUARED) {
      return bad(
          "tests: REFERENCE_TEST_CHI_SQUARED is for categorical features, "
          "which always use it; list the tests of continuous features");
    }
    if (!seen.insert(t).second) {
      return bad(absl::StrCat(
          "tests: ", v1::ReferenceTest_Name(static_cast<v1::ReferenceTest>(t)),
          " is listed twice"));
    }
  }
  if (!v1::MultipleTestCorrection_IsValid(c.correction())) {
    return bad("correction is unknown");
  }
  if (!(c.p_value_threshold() >= 0 && c.p_value_threshold() < 1)) {
    return bad("p_value_threshold must be in (0, 1) (0 = 0.05)");
  }
  if (!(c.psi_threshold() >= 0 && std::isfinite(c.psi_threshold()))) {
    return bad("psi_threshold must be finite and > 0 (0 = 0.2)");
  }
  if (!(c.jensen_shannon_threshold() >= 0 &&
        c.jensen_shannon_threshold() <= 1)) {
    return bad("jensen_shannon_threshold must be in (0, 1] (0 = 0.1)");
  }
  if (!(c.wasserstein_threshold() >= 0 &&
        std::isfinite(c.wasserstein_threshold()))) {
    return bad("wasserstein_threshold must be finite and > 0 (0 = 0.1)");
  }
  if (!(c.drifted_feature_share() >= 0 && c.drifted_feature_share() <= 1)) {
    return bad("drifted_feature_share must be in (0, 1] (0 = 0.5)");
  }
  if (!(c.critical_feature_share() >= 0 && c.critical_feature_share() <= 1)) {
    return bad("critical_feature_share must be in (0, 1] (0 = 0.75)");
  }
  FillReferenceDefaults(c);
  if (c.min_samples() > c.window_size()) {
    return bad(absl::StrCat("min_samples ", c.min_samples(),
                            " exceeds window_size ", c.window_size()));
  }
  return absl::OkStatus();
}

bool IsDetectorId(absl::string_view id) {
  if (id.empty() || id.size() > 63) return false;
  if (id[0] < 'a' || id[0] > 'z') return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

// One detector's configuration (its id checked by the caller); `where`
// names it in errors.
absl::Status ValidateDetector(v1::DetectorConfig& d, const std::string& where) {
  std::map<std::string, std::string> params(d.params().begin(),
                                            d.params().end());
  absl::StatusOr<std::unique_ptr<drift::StreamingDetector>> made =
      drift::MakeDetector(d.detector(), params);
  if (!made.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " (", d.id(), "): ", made.status().message()));
  }
  if (d.signal() == v1::MONITORED_SIGNAL_UNSPECIFIED ||
      !v1::MonitoredSignal_IsValid(d.signal())) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " (", d.id(),
                     "): signal must be one of ERROR_RATE, "
                     "ERROR_VALUE, PREDICTION, FEATURE"));
  }
  if (d.signal() == v1::MONITORED_SIGNAL_FEATURE && d.feature_index() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " (", d.id(), "): feature_index must be >= 0"));
  }
  if (d.signal() != v1::MONITORED_SIGNAL_FEATURE && d.feature_index() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, " (", d.id(),
        "): feature_index is only for MONITORED_SIGNAL_FEATURE"));
  }
  if (!v1::AlertSeverity_IsValid(d.drift_severity())) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " (", d.id(), "): unknown drift_severity"));
  }
  if (d.drift_severity() == v1::ALERT_SEVERITY_UNSPECIFIED) {
    d.set_drift_severity(v1::ALERT_SEVERITY_WARNING);
  }
  return absl::OkStatus();
}

absl::Status ValidateDetectors(v1::Monitor& monitor) {
  std::set<std::string> ids;
  for (int i = 0; i < monitor.detectors_size(); ++i) {
    v1::DetectorConfig& d = *monitor.mutable_detectors(i);
    const std::string where = absl::StrCat("detectors[", i, "]");
    if (!IsDetectorId(d.id())) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": id '", d.id(), "' must match [a-z][a-z0-9_]{0,62}"));
    }
    if (!ids.insert(d.id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": id '", d.id(), "' is used twice"));
    }
    if (absl::Status s = ValidateDetector(d, where); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ValidatePerformance(v1::PerformanceThresholds& p) {
  if (p.has_max_error_rate() &&
      !(p.max_error_rate() >= 0 && p.max_error_rate() <= 1)) {
    return absl::InvalidArgumentError(
        "performance.max_error_rate must be in [0, 1]");
  }
  if (p.has_max_mean_error_value() &&
      !(p.max_mean_error_value() >= 0 &&
        std::isfinite(p.max_mean_error_value()))) {
    return absl::InvalidArgumentError(
        "performance.max_mean_error_value must be finite and >= 0");
  }
  if (p.has_max_error_rate_increase_points() &&
      !(p.max_error_rate_increase_points() >= 0 &&
        std::isfinite(p.max_error_rate_increase_points()))) {
    return absl::InvalidArgumentError(
        "performance.max_error_rate_increase_points must be finite and >= 0");
  }
  if (p.window_size() < 0 || p.window_size() > 1'000'000) {
    return absl::InvalidArgumentError(
        "performance.window_size must be in [0, 1000000]");
  }
  if (p.min_outcomes() < 0) {
    return absl::InvalidArgumentError("performance.min_outcomes must be >= 0");
  }
  if (p.window_size() == 0) p.set_window_size(kDefaultPerformanceWindow);
  if (p.min_outcomes() == 0) p.set_min_outcomes(kDefaultMinOutcomes);
  if (p.min_outcomes() > p.window_size()) {
    return absl::InvalidArgumentError(
        "performance.min_outcomes must not exceed performance.window_size");
  }
  return absl::OkStatus();
}

absl::Status ValidateCanary(v1::CanaryJudgementConfig& c) {
  if (!(c.alpha() >= 0 && c.alpha() < 1)) {
    return absl::InvalidArgumentError(
        "canary_judgement.alpha must be in (0, 1) (0 = 0.05)");
  }
  if (c.min_outcomes() < 0) {
    return absl::InvalidArgumentError(
        "canary_judgement.min_outcomes must be >= 0 (0 = 200)");
  }
  if (c.has_interval() &&
      (c.interval().seconds() < 0 || c.interval().nanos() < 0)) {
    return absl::InvalidArgumentError(
        "canary_judgement.interval must not be negative");
  }
  if (!(c.min_effect_points() >= 0 && c.min_effect_points() <= 100)) {
    return absl::InvalidArgumentError(
        "canary_judgement.min_effect_points must be in [0, 100]");
  }
  FillCanaryDefaults(c);
  return absl::OkStatus();
}

// A Duration of the monitor at `path`: a valid google.protobuf.Duration
// (seconds within +-10000 years, nanos within +-999999999, the same sign),
// not negative.
absl::Status CheckDuration(absl::string_view path,
                           const google::protobuf::Duration& d) {
  constexpr int64_t kMaxSeconds = 315'576'000'000;
  const bool valid = d.seconds() >= -kMaxSeconds &&
                     d.seconds() <= kMaxSeconds && d.nanos() > -1'000'000'000 &&
                     d.nanos() < 1'000'000'000 &&
                     !(d.seconds() > 0 && d.nanos() < 0) &&
                     !(d.seconds() < 0 && d.nanos() > 0);
  if (!valid) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a valid google.protobuf.Duration (seconds ",
                     d.seconds(), ", nanos ", d.nanos(), ")"));
  }
  if (d.seconds() < 0 || d.nanos() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": must not be negative (got ",
                     absl::FormatDuration(core::FromProto(d)), ")"));
  }
  return absl::OkStatus();
}

// The Durations of a requested monitor (`prefix` names the monitor).
absl::Status CheckDurations(const v1::Monitor& m, absl::string_view prefix) {
  if (m.reference_tests().has_interval()) {
    if (absl::Status s =
            CheckDuration(absl::StrCat(prefix, "reference_tests.interval"),
                          m.reference_tests().interval());
        !s.ok()) {
      return s;
    }
  }
  if (m.canary_judgement().has_interval()) {
    if (absl::Status s =
            CheckDuration(absl::StrCat(prefix, "canary_judgement.interval"),
                          m.canary_judgement().interval());
        !s.ok()) {
      return s;
    }
  }
  if (m.actions().has_cooldown()) {
    return CheckDuration(absl::StrCat(prefix, "actions.cooldown"),
                         m.actions().cooldown());
  }
  return absl::OkStatus();
}

}  // namespace

v1::Monitor DefaultMonitor(absl::string_view model) {
  v1::Monitor monitor;
  monitor.set_name(absl::StrCat(core::ModelName(model), "/monitor"));
  v1::DetectorConfig* error = monitor.add_detectors();
  error->set_id("error_adwin");
  error->set_detector("adwin");
  error->set_signal(v1::MONITORED_SIGNAL_ERROR_RATE);
  error->set_drift_severity(v1::ALERT_SEVERITY_WARNING);
  v1::DetectorConfig* prediction = monitor.add_detectors();
  prediction->set_id("prediction_page_hinkley");
  prediction->set_detector("page_hinkley");
  prediction->set_signal(v1::MONITORED_SIGNAL_PREDICTION);
  prediction->set_drift_severity(v1::ALERT_SEVERITY_WARNING);
  monitor.mutable_performance()->set_window_size(kDefaultPerformanceWindow);
  monitor.mutable_performance()->set_min_outcomes(kDefaultMinOutcomes);
  FillCanaryDefaults(*monitor.mutable_canary_judgement());
  FillReferenceDefaults(*monitor.mutable_reference_tests());
  monitor.set_is_default(true);
  return monitor;
}

absl::StatusOr<std::string> ParseMonitorName(absl::string_view name) {
  absl::StatusOr<std::vector<std::string>> parts =
      core::MatchResourceName(name, "models/{model}/monitor");
  if (!parts.ok()) return parts.status();
  return (*parts)[0];
}

absl::Status ValidateMonitor(v1::Monitor& monitor) {
  if (absl::Status s = ValidateDetectors(monitor); !s.ok()) return s;
  if (absl::Status s = ValidatePerformance(*monitor.mutable_performance());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateCanary(*monitor.mutable_canary_judgement());
      !s.ok()) {
    return s;
  }
  return ValidateReferenceTests(*monitor.mutable_reference_tests());
}

absl::StatusOr<v1::Monitor> ConfiguredMonitor(
    const v1::Monitor* current, const v1::ConfigureMonitorRequest& request,
    absl::string_view model) {
  // The Durations, which no option can state, of every field of the
  // request, named by the update mask or not.
  const v1::Monitor& in = request.monitor();
  if (absl::Status s = CheckDurations(in, "monitor."); !s.ok()) return s;
  v1::Monitor next;
  if (request.update_mask().paths().empty()) {
    next = in;
    if (next.detectors().empty()) {
      *next.mutable_detectors() = DefaultMonitor(model).detectors();
    }
  } else {
    next = current != nullptr ? *current : DefaultMonitor(model);
    for (const std::string& path : request.update_mask().paths()) {
      if (path == "detectors") {
        *next.mutable_detectors() = in.detectors().empty()
                                        ? DefaultMonitor(model).detectors()
                                        : in.detectors();
      } else if (path == "reference_tests") {
        *next.mutable_reference_tests() = in.reference_tests();
      } else if (path == "performance") {
        *next.mutable_performance() = in.performance();
      } else if (path == "canary_judgement") {
        *next.mutable_canary_judgement() = in.canary_judgement();
      } else if (path == "actions") {
        *next.mutable_actions() = in.actions();
      } else if (path == "disabled") {
        next.set_disabled(in.disabled());
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("update_mask: unknown or unchangeable field '", path,
                         "' (allowed: detectors, reference_tests, performance, "
                         "canary_judgement, actions, disabled)"));
      }
    }
  }
  next.set_name(absl::StrCat(core::ModelName(model), "/monitor"));
  next.set_is_default(false);
  if (absl::Status s = ValidateMonitor(next); !s.ok()) {
    // Named from the request, as the rules above are.
    return absl::Status(s.code(), absl::StrCat("monitor.", s.message()));
  }
  return next;
}

absl::Status ValidateStoredMonitor(absl::string_view model,
                                   v1::Monitor& monitor) {
  absl::StatusOr<std::string> named = ParseMonitorName(monitor.name());
  absl::Status valid = named.ok() ? ValidateMonitor(monitor) : named.status();
  if (valid.ok() && *named != model) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("it is named '", monitor.name(), "'"));
  }
  if (!valid.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the stored monitor of model '", model,
                     "' is no longer valid: ", valid.message()));
  }
  monitor.set_is_default(false);
  return absl::OkStatus();
}

int64_t WindowSizeOf(const v1::PerformanceThresholds& p) {
  return p.window_size() > 0 ? p.window_size() : kDefaultPerformanceWindow;
}

int64_t MinOutcomesOf(const v1::PerformanceThresholds& p) {
  return p.min_outcomes() > 0 ? p.min_outcomes() : kDefaultMinOutcomes;
}

}  // namespace continuum::drift_service
