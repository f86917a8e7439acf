// The reference tests of one model version (drift.proto
// ReferenceTestConfig): where the fetch of its training reference stands,
// its window, its latest run and the alerts its runs raise; and the run
// itself, which works on a copy outside DriftMonitor's lock.
//
// The fetch (the registry's bundle, through a ReferenceSource, by
// DriftMonitor's reference worker, never on the Observe path):
//
//   kNone --first batch--> kNeeded --worker--> kFetching --ok--> kReady
//                             ^                   |  \--FAILED_PRECONDITION,
//                             |                   |     INVALID_ARGUMENT--> kAbsent
//                         (retry_at)  <-- kRetry <-- other errors
//
// Retries back off from 5 s, doubling to 5 min (ReferenceBackoff). A
// version whose bundle has no reference (kAbsent) keeps no window.
//
// A run is due when the reference is loaded, the window holds min_samples
// rows (and at least one), `interval` has passed since the version's last
// run and rows arrived since. A reference whose feature count differs from
// the observations' is reported in the status and not tested. The run
// tests every feature with a reference sample (lib/drift/dataset_drift.h
// TestFeatures: the configured tests, chi-squared for categorical
// features, p-values corrected together) and, with test_predictions, the
// prediction scores. A data-set verdict raises one ALERT_TYPE_DATA alert
// (detector `reference_tests`, CRITICAL from critical_feature_share, the
// five most drifted features named), re-armed when a run of the version no
// longer finds data-set drift; the prediction test likewise raises
// ALERT_TYPE_PREDICTION.
//
// VersionReference is not thread-safe: DriftMonitor holds its mutex
// around every call. RunReferenceJob is a pure function. PeriodicWorker is
// thread-safe.
#ifndef CONTINUUM_SERVICES_DRIFT_REFERENCE_TESTER_H_
#define CONTINUUM_SERVICES_DRIFT_REFERENCE_TESTER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/drift.pb.h"
#include "services/drift/reference_window.h"

namespace continuum::drift_service {

// The detector name of reference-test alerts.
inline constexpr char kReferenceDetector[] = "reference_tests";

// The wait before the next fetch after one that failed: 5 s after the
// first failure, doubling, at most 5 min. `previous` is the last wait
// (zero before the first failure).
absl::Duration ReferenceBackoff(absl::Duration previous);

// What one due run needs, copied out of the lock.
struct ReferenceJob {
  std::string model;
  int64_t version = 0;
  v1::ReferenceTestConfig config;
  std::shared_ptr<const PreparedReference> reference;
  WindowColumns window;
  int64_t observation_index = 0;  // The version's latest observation.
};

// A run's outcome.
struct ReferenceRun {
  v1::ReferenceTestRun run;
  int tested_features = 0;  // Features with a reference sample.
};

// Runs the tests of `job` (sorting its columns) at `now`. Errors of
// lib/drift's tests as they return them (INVALID_ARGUMENT).
absl::StatusOr<ReferenceRun> RunReferenceJob(ReferenceJob& job,
                                             absl::Time now);

class VersionReference {
 public:
  enum class State { kNone, kNeeded, kFetching, kRetry, kReady, kAbsent };

  // On each batch of the version (reference tests available and the
  // monitor enabled): asks for the reference on the first, and appends
  // prediction rows with features to the window (`config` not disabled),
  // at most `max_window_values` values (rows x features) in all.
  void Record(const v1::ReferenceTestConfig& config,
              const v1::ObservationBatch& batch, int64_t max_window_values,
              absl::Time now);
  // The configuration changed: the window starts over, the next run is
  // due at once and the alerts are re-armed (the reference stays).
  void Reset();

  // If a fetch is wanted at `now` (asked for, or a retry due): marks it
  // in flight and returns true.
  bool TakeFetch(absl::Time now);
  // Records the fetch's outcome; returns the new status for the log.
  const std::string& FetchDone(
      const absl::StatusOr<std::shared_ptr<const PreparedReference>>& fetched,
      absl::Time now);

  // The job of a run due at `now` under `config`, if one is (its model,
  // version and observation_index left to the caller). Marks it run.
  std::optional<ReferenceJob> TakeDueJob(const v1::ReferenceTestConfig& config,
                                         absl::Time now);
  // Keeps `run` as the latest and returns the alerts it raises (no
  // sequence yet).
  std::vector<v1::Alert> RecordRun(const ReferenceJob& job,
                                   const ReferenceRun& run);

  State state() const { return state_; }
  const PreparedReference* reference() const { return reference_.get(); }
  std::optional<double> error_rate() const;
  const std::string& status() const { return status_; }
  const std::optional<v1::ReferenceTestRun>& latest_run() const {
    return latest_run_;
  }

 private:
  State state_ = State::kNone;
  std::shared_ptr<const PreparedReference> reference_;
  std::string status_;
  absl::Time retry_at_ = absl::InfinitePast();
  absl::Duration backoff_ = absl::ZeroDuration();
  ReferenceWindow window_;
  int64_t tested_rows_total_ = -1;  // window_.rows_total() at the last run.
  absl::Time last_run_ = absl::InfinitePast();
  std::optional<v1::ReferenceTestRun> latest_run_;
  bool data_alerting_ = false;        // Data-set drift alerted, not re-armed.
  bool prediction_alerting_ = false;  // Likewise for the prediction test.
};

// Calls `work` every `interval` on a thread of its own, until destroyed
// (the destructor waits for a call in progress).
class PeriodicWorker {
 public:
  PeriodicWorker(absl::Duration interval, std::function<void()> work);
  PeriodicWorker(const PeriodicWorker&) = delete;
  PeriodicWorker& operator=(const PeriodicWorker&) = delete;
  ~PeriodicWorker();

 private:
  void Loop();

  const absl::Duration interval_;
  const std::function<void()> work_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_REFERENCE_TESTER_H_
