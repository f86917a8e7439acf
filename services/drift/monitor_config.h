// Monitor configuration (continuum.v1.Monitor): drift.proto's defaults,
// validation, and what a ConfigureMonitorRequest makes of the monitor a
// model has. Pure functions; thread-safe.
//
// ValidateMonitor checks every field and fills the defaults in, so that a
// stored or returned monitor shows what applies:
//   detectors           ids [a-z][a-z0-9_]{0,62}, unique; detector and
//                       params as lib/drift's MakeDetector accepts them;
//                       signal set; feature_index only for FEATURE;
//                       drift_severity UNSPECIFIED -> WARNING
//   performance         window_size 0 -> 500 (at most 1000000),
//                       min_outcomes 0 -> 100 (at most window_size)
//   canary_judgement    alpha 0 -> 0.05, min_outcomes 0 -> 200,
//                       interval unset -> 1 min, min_effect_points [0, 100]
//   reference_tests     interval unset or 0 -> 10 min, window_size 0 ->
//                       1000 (at most 100000), min_samples 0 -> 200 (at
//                       most window_size), tests [] -> KS + PSI (no
//                       chi-squared, none twice), Bonferroni, p 0.05,
//                       PSI 0.2, JS 0.1, Wasserstein 0.1, drifted share
//                       0.5, critical share 0.75
// Errors are INVALID_ARGUMENT naming the field, e.g.
//   "detectors[0] (feature_x): <what lib/drift's MakeDetector says>"
//   "reference_tests.min_samples 200 exceeds window_size 100"
//   "update_mask: unknown or unchangeable field 'name' (allowed: ...)"
#ifndef CONTINUUM_SERVICES_DRIFT_MONITOR_CONFIG_H_
#define CONTINUUM_SERVICES_DRIFT_MONITOR_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "continuum/v1/drift.pb.h"

namespace continuum::drift_service {

// drift.proto's defaults.
inline constexpr int64_t kDefaultPerformanceWindow = 500;
inline constexpr int64_t kDefaultMinOutcomes = 100;
inline constexpr double kDefaultErrorRateIncreasePoints = 10;
inline constexpr double kDefaultCanaryAlpha = 0.05;
inline constexpr int64_t kDefaultCanaryMinOutcomes = 200;
inline constexpr absl::Duration kDefaultCanaryInterval = absl::Minutes(1);
inline constexpr absl::Duration kDefaultReferenceInterval = absl::Minutes(10);
inline constexpr int64_t kDefaultReferenceWindow = 1000;
inline constexpr int64_t kMaxReferenceWindow = 100000;
inline constexpr int64_t kDefaultReferenceMinSamples = 200;

// The monitor a model gets when its first observations arrive:
// `error_adwin` (adwin on ERROR_RATE) and `prediction_page_hinkley`
// (page_hinkley on PREDICTION), WARNING on drift, every default filled in,
// is_default set.
v1::Monitor DefaultMonitor(absl::string_view model);

// The model id of `name` = models/{model}/monitor.
absl::StatusOr<std::string> ParseMonitorName(absl::string_view name);

// Checks `monitor` and fills its defaults in (see above).
absl::Status ValidateMonitor(v1::Monitor& monitor);

// The monitor `request` configures for `model`: the request's monitor
// (no detectors: the default ones), or with an update_mask the fields it
// names (detectors, reference_tests, performance, canary_judgement,
// actions, disabled) over `current` (null: the default monitor). Named
// models/{model}/monitor, not default, validated; update_time is left to
// the caller.
absl::StatusOr<v1::Monitor> ConfiguredMonitor(
    const v1::Monitor* current, const v1::ConfigureMonitorRequest& request,
    absl::string_view model);

// Checks a monitor read back from the store for `model` as
// ConfigureMonitor checks a new one (its update_time stays):
// FAILED_PRECONDITION "the stored monitor of model 'm' is no longer valid:
// ..." (e.g. written by a build with other detectors).
absl::Status ValidateStoredMonitor(absl::string_view model,
                                   v1::Monitor& monitor);

// The performance window and minimum outcomes, defaults applied.
int64_t WindowSizeOf(const v1::PerformanceThresholds& p);
int64_t MinOutcomesOf(const v1::PerformanceThresholds& p);

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_MONITOR_CONFIG_H_
