// DriftMonitor: the domain core of continuum.v1.DriftService, and the
// facade over its parts, which it holds under one mutex (as LevelDB's
// DBImpl holds its VersionSet and MemTable): per model a monitor
// configuration, per (model, version) streaming detectors fed from
// observation batches, a performance window and reference tests, per model
// a canary judgement, and the alerts they raise. Knows nothing of gRPC.
//
// The parts, each with its own header and contract:
//   monitor_config.h      defaults and validation of Monitor (pure)
//   batch_validation.h    the checks of an ObservationBatch (pure)
//   detector_set.h        a version's streaming detectors and their alerts
//   performance_window.h  a version's recent outcomes and its bound
//   canary_judge.h        a model's canary judgement
//   reference_tester.h    a version's reference tests (fetch, window, run)
//   alert_log.h           alert sequences, retention, settled watermark
//   action_dispatcher.h   the actions of alerts (policy, cool-down,
//                         rollback target); runs outside the mutex
//
// What DriftMonitor does itself (see drift.proto for the contract):
// - Monitors: ConfigureMonitor (whole or by update_mask), GetMonitor,
//   ListMonitors. A model gets the default monitor when its first
//   observations arrive. A new configuration restarts the detectors (counts
//   and performance windows stay) and, when reference_tests changed, the
//   reference windows.
// - Observe: validates a whole batch before it changes anything, then feeds
//   per (model, version) the detectors on ERROR_RATE (1 wrong, 0 right),
//   ERROR_VALUE, PREDICTION (confidence, else predicted value) and FEATURE,
//   the performance window, the canary judgement's samples (with an
//   ActionTarget, which tells the production version) and the reference
//   window (with a ReferenceSource); then judges the canary if due and runs
//   the actions of the alerts raised, outside the lock.
// - Reference work (RunReferenceWork, on a worker thread every
//   reference_poll_interval): fetches the references asked for, runs the
//   due reference tests outside the lock on a copy of the window, and the
//   actions of the alerts they raise.
// - Persistence (DriftMonitorOptions::store, drift_store.h): configured
//   monitors, alerts (with their action results) and the time of each
//   model's last action are written through on every change and read back
//   by Restore; alert sequences continue after the highest stored one.
//   Detector state, performance windows and canary samples restart empty.
// - Watchers (AlertsAfter, WaitForAlert, settled_alerts()) see an alert
//   only once its action has been decided and run; ListAlerts and GetAlert
//   show it at once, with the action `pending`.
//
// Thread-safe.
#ifndef CONTINUUM_SERVICES_DRIFT_DRIFT_MONITOR_H_
#define CONTINUUM_SERVICES_DRIFT_DRIFT_MONITOR_H_

#include <cstdint>
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
#include "lib/core/sequence_notifier.h"
#include "services/drift/action_dispatcher.h"
#include "services/drift/alert_log.h"
#include "services/drift/drift_actions.h"
#include "services/drift/drift_store.h"
#include "services/drift/reference_source.h"

namespace continuum::drift_service {

class DriftMetrics;
class PeriodicWorker;

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
  absl::Status Restore() ABSL_LOCKS_EXCLUDED(mu_);

  // The default monitor of `model` (monitor_config.h).
  static v1::Monitor DefaultMonitor(absl::string_view model);

  // --- Monitors.
  absl::StatusOr<v1::Monitor> ConfigureMonitor(
      const v1::ConfigureMonitorRequest& request) ABSL_LOCKS_EXCLUDED(mu_);
  // `name` = `models/{model}/monitor`. NOT_FOUND for an unknown model.
  absl::StatusOr<v1::Monitor> GetMonitor(absl::string_view name)
      ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<v1::ListMonitorsResponse> ListMonitors(
      const v1::ListMonitorsRequest& request) ABSL_LOCKS_EXCLUDED(mu_);

  // --- Observations. Validates the whole batch first: INVALID_ARGUMENT
  // naming the row; nothing of a rejected batch is applied.
  absl::StatusOr<ObserveResult> Observe(const v1::ObservationBatch& batch)
      ABSL_LOCKS_EXCLUDED(mu_);

  // --- Status. `name` = `models/{model}`; `version` 0 = every version.
  absl::StatusOr<v1::GetDriftStatusResponse> GetDriftStatus(
      absl::string_view name, int64_t version) ABSL_LOCKS_EXCLUDED(mu_);

  // --- Alerts.
  absl::StatusOr<v1::ListAlertsResponse> ListAlerts(
      const v1::ListAlertsRequest& request) ABSL_LOCKS_EXCLUDED(mu_);
  // `name` = `models/{model}/alerts/{sequence}`.
  absl::StatusOr<v1::Alert> GetAlert(absl::string_view name)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Kept alerts with sequence > `after` whose action is final, oldest
  // first, of `models` (empty = all) and at least `min_severity`, at most
  // `limit`; none past the first alert whose action is still pending. If
  // `scanned` is set, it receives the highest sequence looked at (a watcher
  // resumes after it without skipping or repeating alerts).
  std::vector<v1::Alert> AlertsAfter(int64_t after,
                                     const std::vector<std::string>& models,
                                     v1::AlertSeverity min_severity, int limit,
                                     int64_t* scanned = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The highest alert sequence so far (0 before the first).
  int64_t latest_sequence() const ABSL_LOCKS_EXCLUDED(mu_);
  // The highest sequence up to which every alert's action is final,
  // published after each action (and after Restore). WatchAlerts follows
  // it (core::WatchReactor).
  core::SequenceNotifier& settled_alerts() { return settled_alerts_; }
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
  struct VersionState;
  struct ModelState;

  ModelState& GetOrCreateModel(const std::string& model)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The model and version a batch goes to, made if new: RESOURCE_EXHAUSTED
  // beyond max_models, FAILED_PRECONDITION for a version older than those
  // tracked.
  absl::StatusOr<VersionState*> VersionFor(const v1::ObservationBatch& batch)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies a validated batch; appends the alerts raised (no sequence).
  void Apply(const v1::ObservationBatch& batch, ModelState& model,
             VersionState& version, ObserveResult& result,
             std::vector<v1::Alert>& alerts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Feeds the rows of a batch to the detectors, the performance window and
  // the canary judgement, in row order.
  void FeedRows(const v1::ObservationBatch& batch, ModelState& model,
                VersionState& version, std::vector<v1::Alert>& alerts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FeedOutcome(const ModelState& model, int64_t version_id,
                   VersionState& version, bool is_error_value, double value,
                   std::vector<v1::Alert>& alerts)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Numbers and keeps an alert, queues its action.
  void RaiseAlert(v1::Alert alert) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The model if it is monitored with canary judgement on, else null.
  ModelState* JudgedModel(const std::string& model_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Judges the canary of `model` if a judgement is due (asks the
  // ActionTarget for the production version outside the lock).
  void MaybeJudgeCanary(const std::string& model) ABSL_LOCKS_EXCLUDED(mu_);
  // Decides and runs the actions of the alerts raised since the last call
  // (ActionDispatcher), then settles each alert. With a store, each alert
  // is stored before its action runs and again with its result.
  void RunPendingActions() ABSL_LOCKS_EXCLUDED(mu_);
  // Where `model` at `version` would roll back to (action_dispatcher.h).
  absl::StatusOr<RollbackTarget> FindRollback(const std::string& model,
                                              int64_t version)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The parts of RunReferenceWork.
  void FetchReferences() ABSL_LOCKS_EXCLUDED(mu_);
  void RunDueReferenceTests() ABSL_LOCKS_EXCLUDED(mu_);
  // The version of `model` and `version`, if still tracked.
  VersionState* FindVersion(const std::string& model, int64_t version)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StoreAlert(const v1::Alert& alert);

  const DriftMonitorOptions options_;
  ActionDispatcher dispatcher_;
  // Published after each settled action; no lock of the monitor is held.
  core::SequenceNotifier settled_alerts_;

  mutable absl::Mutex mu_;
  // ModelState and VersionState are reached only through models_, so mu_
  // guards them too.
  std::map<std::string, std::unique_ptr<ModelState>> models_
      ABSL_GUARDED_BY(mu_);
  AlertLog alerts_ ABSL_GUARDED_BY(mu_);
  // Alerts whose action is still to be decided and run (outside mu_).
  std::vector<v1::Alert> pending_actions_ ABSL_GUARDED_BY(mu_);

  // Serialises RunReferenceWork.
  absl::Mutex reference_work_mu_;
  // Calls RunReferenceWork (when references and a poll interval are set).
  std::unique_ptr<PeriodicWorker> worker_;
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_DRIFT_MONITOR_H_
