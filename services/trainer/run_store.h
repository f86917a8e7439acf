// RunStore: the trainer's durable state in one SQLite file
// (`--data_dir/trainer.db`): runs, each model's TrainingConfig, each
// model's schedule state, and the idempotency keys of TriggerRun.
//
// WAL journal, synchronous = FULL, a `schema_version` table for
// migrations. Objects are stored as their protobuf messages beside the
// columns that queries need. Thread-safe: one connection behind a mutex.
//
// Crash recovery: Open marks every run left QUEUED or RUNNING (the process
// died or was killed while it waited or ran) FAILED with error ABORTED
// "interrupted by a trainer restart", phase DONE, end time `now`. Nothing
// else needs recovering: a run's work lives only in memory until its
// upload, which the registry makes atomic.
#ifndef CONTINUUM_SERVICES_TRAINER_RUN_STORE_H_
#define CONTINUUM_SERVICES_TRAINER_RUN_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/trainer.pb.h"

struct sqlite3;

namespace continuum::trainer {

// The message of runs failed by recovery.
inline constexpr char kInterruptedReason[] =
    "interrupted by a trainer restart";

// A model's schedule state as stored.
struct ScheduleState {
  // paused, circuit_open, paused_reason, consecutive_failures,
  // last_run_time, last_success_time, last_trained_time. (next_run_time,
  // active_run and queued_run are derived when read, not stored.)
  v1::ScheduleStatus status;
  // The previous scheduled slot, or when the cadence was set; the next
  // slot is computed from it. InfinitePast = never set.
  absl::Time last_slot = absl::InfinitePast();
};

class RunStore {
 public:
  // The schema version this build writes.
  static constexpr int kSchemaVersion = 1;

  // Opens (creating if needed) the database at `path`, migrates it, and
  // fails the runs a crash interrupted (see above) with end time `now`.
  // INTERNAL for SQLite errors; FAILED_PRECONDITION for a database written
  // by a newer build.
  static absl::StatusOr<std::unique_ptr<RunStore>> Open(const std::string& path,
                                                        absl::Time now);
  ~RunStore();
  RunStore(const RunStore&) = delete;
  RunStore& operator=(const RunStore&) = delete;

  // Runs Open marked FAILED.
  int recovered_runs() const { return recovered_runs_; }

  // Stores a new run of `run.model()`, numbering it (1, 2, ... per model)
  // and setting its name `models/{model}/runs/{n}`. Returns the run.
  absl::StatusOr<v1::Run> CreateRun(v1::Run run);
  // Replaces a stored run (by name). NOT_FOUND if it was never created.
  absl::Status PutRun(const v1::Run& run);
  absl::StatusOr<std::optional<v1::Run>> GetRun(const std::string& name);

  // Runs of `model` (every model if empty), newest first, created before
  // the run with sequence `before` (0 = from the newest), at most `limit`.
  // Each comes with its sequence, the cursor of the next page.
  absl::StatusOr<std::vector<std::pair<int64_t, v1::Run>>> ListRuns(
      const std::string& model, int64_t before, int limit);

  // Idempotency keys of TriggerRun: the run a (model, request id) pair
  // gave, if recorded at or after `not_before`.
  absl::StatusOr<std::optional<std::string>> FindTrigger(
      const std::string& model, const std::string& request_id,
      absl::Time not_before);
  absl::Status PutTrigger(const std::string& model,
                          const std::string& request_id,
                          const std::string& run_name, absl::Time now);

  // Training configurations, as set by ConfigureTraining (not resolved).
  absl::StatusOr<std::optional<v1::TrainingConfig>> GetConfig(
      const std::string& model);
  absl::Status PutConfig(const std::string& model,
                         const v1::TrainingConfig& config);
  // Every model with a stored configuration, by id.
  absl::StatusOr<std::vector<std::pair<std::string, v1::TrainingConfig>>>
  ListConfigs();

  // A model's schedule state (the default state if never stored).
  absl::StatusOr<ScheduleState> GetSchedule(const std::string& model);
  absl::Status PutSchedule(const std::string& model,
                           const ScheduleState& state);

 private:
  explicit RunStore(sqlite3* db) : db_(db) {}
  absl::Status Migrate() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<int> RecoverInterrupted(absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  sqlite3* const db_ ABSL_PT_GUARDED_BY(mu_);
  int recovered_runs_ = 0;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_RUN_STORE_H_
