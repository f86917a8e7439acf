// The domain core of continuum.v1.DriftService: per model a monitor
// configuration, per (model, version) streaming detectors fed from
// observation batches, per-version error statistics, and the alerts the
// detectors and performance thresholds raise. Knows nothing of gRPC.
//
// What is implemented (see drift.proto for the contract):
// - Monitors: ConfigureMonitor (whole or by update_mask on top-level
//   fields; detectors validated through lib/drift's MakeDetector), GetMonitor,
//   ListMonitors. A model gets the default monitor (`error_adwin` on the
//   error stream, `prediction_page_hinkley` on predictions) when its first
//   observations arrive.
// - Observe: validates a whole batch before it changes anything, then feeds
//   per (model, version) the detectors on ERROR_RATE (1 wrong, 0 right),
//   ERROR_VALUE, PREDICTION (confidence, else predicted value) and FEATURE,
//   and a sliding window of outcomes per version for the performance bounds
//   `max_error_rate` and `max_mean_error_value`.
// - Alerts: detectors on error signals raise ALERT_TYPE_CONCEPT, on
//   features ALERT_TYPE_DATA, on predictions ALERT_TYPE_PREDICTION;
//   crossing a performance bound raises ALERT_TYPE_PERFORMANCE
//   (CRITICAL) once, re-armed when the window falls back under the bound.
//   Alerts get sequence numbers from 1, the last `max_alerts` are kept.
// - Canary judgement: per model, at most once per `interval`, the
//   production version (from ActionTarget::ProductionVersion) is the
//   stable arm and the most recently served other version the canary; their
//   outcomes over the common period are compared one-sided (canary worse):
//   a two-proportion z-test on error rates, Mann-Whitney U on error values.
//   A FAIL raises one ALERT_TYPE_PERFORMANCE CRITICAL alert per canary
//   version (detector `canary_judgement`), whose action is always
//   DRIFT_ACTION_ABORT_ROLLOUT (cool-down and dry_run apply); the latest
//   judgement is in GetDriftStatus.
// - Actions: after each batch, outside the lock, by the ActionPolicy.
// - Persistence (DriftMonitorOptions::store, see drift_store.h): configured
//   monitors, alerts (with their action results) and the time of each
//   model's last action are written through on every change and read back
//   by Restore, so a restart keeps them; alert sequences continue after the
//   highest stored one. Detector state, performance windows and canary
//   samples are not kept: they restart empty.
//
// Not implemented: reference tests against a bundle's statistics, the
// bound relative to the bundle's reference error rate
// (`max_error_rate_increase_points`).
//
// Thread-safe; one mutex guards all state.
#ifndef CONTINUUM_SERVICES_DRIFT_DRIFT_MONITOR_H_
#define CONTINUUM_SERVICES_DRIFT_DRIFT_MONITOR_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/drift.pb.h"
#include "lib/core/clock.h"
#include "lib/drift/streaming_detector.h"
#include "services/drift/drift_actions.h"
#include "services/drift/drift_store.h"

namespace continuum::drift_service {

class DriftMetrics;

struct DriftMonitorOptions {
  // Time of alerts and configuration changes. Not owned; must outlive.
  core::Clock* clock = core::Clock::Real();
  // Alerts kept in memory (the oldest are dropped).
  int64_t max_alerts = 10000;
  // Optional metrics. Not owned; must outlive.
  DriftMetrics* metrics = nullptr;
  // Models monitored at most (model ids come from clients): observations of
  // a new model beyond this are RESOURCE_EXHAUSTED.
  int64_t max_models = 10000;
  // Versions tracked per model; the oldest version's state is dropped when
  // a newer one arrives beyond this.
  int max_versions_per_model = 32;
  // Where actions go (registry, trainer); null: alerts only, and no canary
  // judgement (the production version is unknown). Not owned.
  ActionTarget* actions = nullptr;
  // Most recent outcomes kept per version for the canary judgement.
  int64_t max_canary_samples = 20000;
  // Where monitors, alerts and the cool-down are kept across restarts
  // (written through on every change); null: in memory only. Not owned.
  DriftStore* store = nullptr;
};

// What one Observe batch did.
struct ObserveResult {
  int64_t observations = 0;
  int64_t outcomes = 0;
  int64_t alerts = 0;
};

class DriftMonitor {
 public:
  explicit DriftMonitor(DriftMonitorOptions options = {});
  DriftMonitor(const DriftMonitor&) = delete;
  DriftMonitor& operator=(const DriftMonitor&) = delete;
  ~DriftMonitor();

  // Loads what the store holds (nothing without a store); call once, before
  // any other method. Stored monitors are validated as ConfigureMonitor
  // validates them: FAILED_PRECONDITION naming the model if one no longer
  // is valid (e.g. written by a build with other detectors). Alerts whose
  // action had not been recorded when the process stopped say so. Errors of
  // the store as it returns them.
  absl::Status Restore();

  // The default monitor of `model` (detectors and performance defaults).
  static v1::Monitor DefaultMonitor(absl::string_view model);

  // --- Monitors.
  absl::StatusOr<v1::Monitor> ConfigureMonitor(
      const v1::ConfigureMonitorRequest& request);
  // `name` = `models/{model}/monitor`. NOT_FOUND for an unknown model.
  absl::StatusOr<v1::Monitor> GetMonitor(absl::string_view name);
  absl::StatusOr<v1::ListMonitorsResponse> ListMonitors(
      const v1::ListMonitorsRequest& request);

  // --- Observations. Validates the whole batch first: INVALID_ARGUMENT
  // naming the row; nothing of a rejected batch is applied.
  absl::StatusOr<ObserveResult> Observe(const v1::ObservationBatch& batch);

  // --- Status. `name` = `models/{model}`; `version` 0 = every version.
  absl::StatusOr<v1::GetDriftStatusResponse> GetDriftStatus(
      absl::string_view name, int64_t version);

  // --- Alerts.
  absl::StatusOr<v1::ListAlertsResponse> ListAlerts(
      const v1::ListAlertsRequest& request);
  // `name` = `models/{model}/alerts/{sequence}`.
  absl::StatusOr<v1::Alert> GetAlert(absl::string_view name);
  // Kept alerts with sequence > `after`, oldest first, of `models` (empty =
  // all) and at least `min_severity`, at most `limit`. If `scanned` is
  // set, it receives the highest sequence looked at (a watcher resumes
  // after it without skipping or repeating alerts).
  std::vector<v1::Alert> AlertsAfter(int64_t after,
                                     const std::vector<std::string>& models,
                                     v1::AlertSeverity min_severity, int limit,
                                     int64_t* scanned = nullptr);
  // The highest alert sequence so far (0 before the first).
  int64_t latest_sequence() const;
  // Blocks until an alert with sequence > `after` exists, `deadline`
  // passes or `cancelled` returns true (checked every 100 ms); returns the
  // latest sequence.
  int64_t WaitForAlert(int64_t after, absl::Time deadline,
                       const std::function<bool()>& cancelled);

 private:
  struct DetectorInstance;
  struct VersionState;
  struct ModelState;

  // Decides and runs the actions of the alerts raised since the last call
  // (rules, cool-down, dry run), then records each result in its alert.
  // With a store, each alert is stored before its action runs and again
  // with its result.
  void RunPendingActions() ABSL_LOCKS_EXCLUDED(mu_);
  ModelState& GetOrCreateModel(const std::string& model)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ValidateBatch(const v1::ObservationBatch& batch,
                             const ModelState* model) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void EnsureDetectors(const ModelState& model, VersionState& version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Feeds `x` to the detectors of `version` on `signal` (and
  // `feature_index` for features); raises alerts.
  int FeedSignal(const ModelState& model, int64_t version_id,
                 VersionState& version, v1::MonitoredSignal signal,
                 int feature_index, double x, int64_t index)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int FeedOutcome(const ModelState& model, int64_t version_id,
                  VersionState& version, bool is_error_value, double value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RaiseAlert(v1::Alert alert) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Judges the canary of `model` if a judgement is due (asks the
  // ActionTarget for the production version outside the lock).
  void MaybeJudgeCanary(const std::string& model) ABSL_LOCKS_EXCLUDED(mu_);

  const DriftMonitorOptions options_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<ModelState>> models_
      ABSL_GUARDED_BY(mu_);
  // Alerts whose action is still to be decided and run (outside mu_).
  std::vector<v1::Alert> pending_actions_ ABSL_GUARDED_BY(mu_);
  // When the last action on each model ran (the cool-down).
  std::map<std::string, absl::Time> last_action_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::Alert> alerts_ ABSL_GUARDED_BY(mu_);
  int64_t last_sequence_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_DRIFT_MONITOR_H_
