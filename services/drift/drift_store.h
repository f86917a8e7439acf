// DriftStore: the drift service's durable state, behind an interface so
// that DriftMonitor knows nothing of SQLite (SqliteDriftStore, in
// sqlite_drift_store.h, is the real one).
//
// What is kept: every monitor set by ConfigureMonitor (by model; default
// monitors are not stored, a model gets its default again on its next
// observations), every alert with its sequence and action result (the
// newest `max_alerts`), and per model when the last action ran (the
// cool-down). Detector state, performance windows, canary samples and
// judgements are NOT kept: they restart empty, as a River detector does
// after a reset.
//
// InMemoryDriftStore keeps them in memory (tests, and a restart of a
// DriftMonitor within one process).
#ifndef CONTINUUM_SERVICES_DRIFT_DRIFT_STORE_H_
#define CONTINUUM_SERVICES_DRIFT_DRIFT_STORE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/drift.pb.h"

namespace continuum::drift_service {

// Everything a DriftStore holds.
struct DriftState {
  // Configured monitors, by model id.
  std::map<std::string, v1::Monitor> monitors;
  // The kept alerts, oldest (lowest sequence) first.
  std::vector<v1::Alert> alerts;
  // When the last action on each model ran, by model id.
  std::map<std::string, absl::Time> last_actions;
};

class DriftStore {
 public:
  virtual ~DriftStore() = default;

  // Everything stored.
  virtual absl::StatusOr<DriftState> Load() = 0;
  // Replaces the monitor of `model`.
  virtual absl::Status PutMonitor(const std::string& model,
                                  const v1::Monitor& monitor) = 0;
  // Inserts or replaces (by sequence) an alert, then drops the oldest
  // beyond the store's `max_alerts` (the newest alert is always kept, so
  // sequences continue after a restart and names are never reused).
  virtual absl::Status PutAlert(const v1::Alert& alert) = 0;
  // Records when the last action on `model` ran.
  virtual absl::Status PutLastAction(const std::string& model,
                                     absl::Time time) = 0;
};

// In memory; thread-safe.
class InMemoryDriftStore : public DriftStore {
 public:
  // `max_alerts` < 1 counts as 1.
  explicit InMemoryDriftStore(int64_t max_alerts = 10000)
      : max_alerts_(max_alerts < 1 ? 1 : max_alerts) {}

  absl::StatusOr<DriftState> Load() override;
  absl::Status PutMonitor(const std::string& model,
                          const v1::Monitor& monitor) override;
  absl::Status PutAlert(const v1::Alert& alert) override;
  absl::Status PutLastAction(const std::string& model,
                             absl::Time time) override;

 private:
  const int64_t max_alerts_;
  absl::Mutex mu_;
  std::map<std::string, v1::Monitor> monitors_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, v1::Alert> alerts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Time> last_actions_ ABSL_GUARDED_BY(mu_);
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_DRIFT_STORE_H_
