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
// - Reference tests (DriftMonitorOptions::references): the first batch of
//   a (model, version) asks for the version's training reference (the
//   ReferenceStatistics in its bundle, from the registry); the fetch runs
//   on the reference worker, never on the Observe path, and is retried
//   with backoff (5 s doubling to 5 min) unless the bundle has none. Per
//   version a ring of the most recent `window_size` observations with
//   features (and their prediction scores) is kept. When the reference is
//   loaded, the window holds `min_samples` rows, `interval` has passed
//   since the version's previous run and new rows arrived, the worker
//   tests every feature against the reference's sample (KS and PSI by
//   default; lib/drift/reference_tests.h has the definitions, which follow
//   Evidently and scipy; categorical features use chi-squared), corrects
//   the p-values across features, and keeps the run (GetDriftStatus). A
//   data-set verdict raises one ALERT_TYPE_DATA alert (detector
//   `reference_tests`, CRITICAL from `critical_feature_share`), re-armed
//   when a run of that version no longer finds data-set drift; the
//   prediction test likewise raises ALERT_TYPE_PREDICTION. The tests run
//   outside the lock on a copy of the window.
// - The error-rate bound relative to the version's reference error rate
//   (`max_error_rate_increase_points`, default 10) applies once the
//   reference is loaded; with `max_error_rate` too, the lower bound counts.
// - Rollback (DRIFT_ACTION_ROLLBACK) happens only when an earlier version
//   did better on its recent outcomes: the newest earlier version with at
//   least `min_outcomes` outcomes in its performance window and a lower
//   error rate (or mean error value) is the version rolled back to
//   (RollbackRequest.to_version); otherwise the alert is alert-only and
//   says why.
// - Watchers (AlertsAfter, WaitForAlert) see an alert only once its action
//   has been decided and run (its action_result is final); ListAlerts and
//   GetAlert show it at once, with the action `pending`.
//
// Thread-safe; one mutex guards the monitors and their state.
#ifndef CONTINUUM_SERVICES_DRIFT_DRIFT_MONITOR_H_
#define CONTINUUM_SERVICES_DRIFT_DRIFT_MONITOR_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
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
#include "services/drift/reference_source.h"

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
  // Where versions' training references come from (the registry); null:
  // no reference tests and no bound relative to the reference error rate.
  // Not owned.
  ReferenceSource* references = nullptr;
  // How often the reference worker thread fetches references and runs the
  // reference tests that are due (real time; `clock` decides what is
  // due). Zero: no thread; the owner calls RunReferenceWork.
  absl::Duration reference_poll_interval = absl::Seconds(1);
  // Feature values a version's reference-test window holds at most (rows x
  // features): very wide inputs get fewer rows than `window_size`.
  int64_t max_window_values = int64_t{16} << 20;
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
  // Kept alerts with sequence > `after` whose action is final, oldest
  // first, of `models` (empty = all) and at least `min_severity`, at most
  // `limit`; none past the first alert whose action is still pending. If
  // `scanned` is set, it receives the highest sequence looked at (a watcher
  // resumes after it without skipping or repeating alerts).
  std::vector<v1::Alert> AlertsAfter(int64_t after,
                                     const std::vector<std::string>& models,
                                     v1::AlertSeverity min_severity, int limit,
                                     int64_t* scanned = nullptr);
  // The highest alert sequence so far (0 before the first).
  int64_t latest_sequence() const;
  // Blocks until an alert with sequence > `after` has its action final,
  // `deadline` passes or `cancelled` returns true (checked every 100 ms);
  // returns the highest sequence up to which every action is final.
  int64_t WaitForAlert(int64_t after, absl::Time deadline,
                       const std::function<bool()>& cancelled);

  // One pass of the reference worker: fetches the references asked for
  // (or due for a retry), then runs the reference tests that are due and
  // the actions of the alerts they raise. The worker thread calls it every
  // reference_poll_interval; tests without the thread call it themselves.
  // Calls are serialised.
  void RunReferenceWork() ABSL_LOCKS_EXCLUDED(mu_, reference_work_mu_);

 private:
  struct DetectorInstance;
  struct VersionState;
  struct ModelState;
  struct PreparedReference;
  struct ReferenceJob;

  static std::shared_ptr<const PreparedReference> PrepareReference(
      const v1::ReferenceStatistics& stats);

  // Decides and runs the actions of the alerts raised since the last call
  // (rules, cool-down, dry run), then records each result in its alert.
  // With a store, each alert is stored before its action runs and again
  // with its result.
  void RunPendingActions() ABSL_LOCKS_EXCLUDED(mu_);
  // The version to roll `version_id` back to: the newest earlier version
  // with at least min_outcomes outcomes in its window, if it did better
  // (with a sentence saying so); FAILED_PRECONDITION saying why not.
  absl::StatusOr<std::pair<int64_t, std::string>> EarlierVersionThatDidBetter(
      const std::string& model_id, int64_t version_id) ABSL_LOCKS_EXCLUDED(mu_);
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
  // Appends the batch's rows with features to the version's reference-test
  // window and asks for the version's reference if it has none yet.
  void RecordWindow(const ModelState& model, VersionState& version,
                    const v1::ObservationBatch& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fetches the references asked for; runs the due tests (RunReferenceWork).
  void FetchReferences() ABSL_LOCKS_EXCLUDED(mu_);
  void RunDueReferenceTests() ABSL_LOCKS_EXCLUDED(mu_);
  // The highest alert sequence whose action is final (every alert up to it
  // has its action_result): what watchers may see.
  int64_t SettledSequence() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void ReferenceWorkerLoop();
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
  // The latest alert per model whose action was carried out.
  std::map<std::string, v1::Alert> last_action_alert_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::Alert> alerts_ ABSL_GUARDED_BY(mu_);
  int64_t last_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  // Sequences of alerts whose action is not final yet.
  std::set<int64_t> unsettled_ ABSL_GUARDED_BY(mu_);

  // Serialises RunReferenceWork.
  absl::Mutex reference_work_mu_;
  // The reference worker (when references and a poll interval are set).
  absl::Mutex worker_mu_;
  bool stop_worker_ ABSL_GUARDED_BY(worker_mu_) = false;
  std::thread worker_;
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_DRIFT_MONITOR_H_
