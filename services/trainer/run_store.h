// RunStore: where the trainer keeps its durable state: runs, each model's
// TrainingConfig, each model's schedule state, and the idempotency keys of
// TriggerRun. The interface keeps the scheduler independent of the
// database:
// - SqliteRunStore (sqlite_run_store.h): one SQLite file
//   (`--data_dir/trainer.db`), what the service runs on; it fails the runs
//   a crash interrupted when it opens;
// - InMemoryRunStore (in_memory_run_store.h): the same contract in memory,
//   for tests.
//
// Contract, for every implementation: each call is atomic; a call that
// returns OK has stored what it wrote (durably for SQLite); objects come
// back as they were stored (ScheduleState without its derived fields).
// Errors: INTERNAL for the backend's failures, DATA_LOSS for a stored
// object that cannot be read, NOT_FOUND where a method says so.
// Implementations are thread-safe.
#ifndef CONTINUUM_SERVICES_TRAINER_RUN_STORE_H_
#define CONTINUUM_SERVICES_TRAINER_RUN_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "continuum/v1/trainer.pb.h"

namespace continuum::trainer {

// The message of runs failed by recovery at start-up.
inline constexpr char kInterruptedReason[] = "interrupted by a trainer restart";

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
  virtual ~RunStore() = default;

  // Stores a new run of `run.model()`, numbering it (1, 2, ... per model,
  // after the model's highest run number) and setting its name
  // `models/{model}/runs/{n}`. Returns the run.
  virtual absl::StatusOr<v1::Run> CreateRun(v1::Run run) = 0;
  // Replaces a stored run (by name). NOT_FOUND if it was never created.
  virtual absl::Status PutRun(const v1::Run& run) = 0;
  // The run `name`, or nullopt.
  virtual absl::StatusOr<std::optional<v1::Run>> GetRun(
      const std::string& name) = 0;

  // Runs of `model` (every model if empty), newest first, created before
  // the run with sequence `before` (0 = from the newest), at most `limit`.
  // Each comes with its sequence (increasing with creation across models),
  // the cursor of the next page.
  virtual absl::StatusOr<std::vector<std::pair<int64_t, v1::Run>>> ListRuns(
      const std::string& model, int64_t before, int limit) = 0;

  // Idempotency keys of TriggerRun: the run a (model, request id) pair
  // gave, if recorded at or after `not_before`.
  virtual absl::StatusOr<std::optional<std::string>> FindTrigger(
      const std::string& model, const std::string& request_id,
      absl::Time not_before) = 0;
  // Records (or replaces) the run a (model, request id) pair gave at `now`.
  virtual absl::Status PutTrigger(const std::string& model,
                                  const std::string& request_id,
                                  const std::string& run_name,
                                  absl::Time now) = 0;

  // Training configurations, as set by ConfigureTraining (not resolved).
  virtual absl::StatusOr<std::optional<v1::TrainingConfig>> GetConfig(
      const std::string& model) = 0;
  virtual absl::Status PutConfig(const std::string& model,
                                 const v1::TrainingConfig& config) = 0;
  // Every model with a stored configuration, by id.
  virtual absl::StatusOr<
      std::vector<std::pair<std::string, v1::TrainingConfig>>>
  ListConfigs() = 0;

  // A model's schedule state (the default state if never stored).
  virtual absl::StatusOr<ScheduleState> GetSchedule(
      const std::string& model) = 0;
  // Stores it without next_run_time, active_run and queued_run.
  virtual absl::Status PutSchedule(const std::string& model,
                                   const ScheduleState& state) = 0;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_RUN_STORE_H_
