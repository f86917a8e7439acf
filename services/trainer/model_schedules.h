// ModelSchedules: each model's training configuration and schedule state,
// as the scheduler keeps them: the configurations ConfigureTraining stored
// (cached in memory, loaded at start) and the schedule state in the
// RunStore (pauses, the circuit breaker, the last scheduled slot, the last
// run and the last trained window).
//
// - Configure / View: ConfigureTraining and GetTrainingConfig. A changed
//   cadence (or a first one) counts from now: its first slot is one period
//   (or the next daily time) away. The view is the effective
//   configuration (training_config.h) with the stored seed (0 stays
//   "random per run"), update time and schedule status (next_run_time
//   while not paused; active_run and queued_run are the scheduler's to
//   add).
// - PauseSchedule / ResumeSchedule / Admit / Count: the circuit breaker
//   (circuit_breaker.h) over the stored status; opening it logs at error
//   level and sets continuum_trainer_circuit_open{model}, resuming clears
//   it. Slots missed while paused are not made up for.
// - TakeDue: the scheduled slots due now, consumed (missed slots collapse
//   into one).
//
// Not thread-safe: the scheduler calls it under its lock.
#ifndef CONTINUUM_SERVICES_TRAINER_MODEL_SCHEDULES_H_
#define CONTINUUM_SERVICES_TRAINER_MODEL_SCHEDULES_H_

#include <google/protobuf/timestamp.pb.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "continuum/v1/trainer.pb.h"
#include "lib/core/clock.h"
#include "services/trainer/run_store.h"
#include "services/trainer/trainer_metrics.h"

namespace continuum::trainer {

// A scheduled slot that is due.
struct DueSlot {
  std::string model;
  // The stored configuration.
  v1::TrainingConfig config;
  // The schedule state, with the slot consumed.
  ScheduleState state;

  // The data set whose new records count: the config's, or the model id.
  std::string dataset() const;
  // Where new records count: from the end of the last trained window (open
  // before the first) to `now`.
  v1::TimeWindow NewRecordsWindow(absl::Time now) const;
  // Why the slot is skipped when only `new_records` arrived in that window
  // ("skipped: only 5 new records in data set d since ... (schedule.
  // min_new_records is 100; every 1h)"), or nullopt when they are enough.
  std::optional<std::string> SkipReason(int64_t new_records) const;
};

class ModelSchedules {
 public:
  // `store`, `clock` and `metrics` (may be null) must outlive this.
  ModelSchedules(RunStore* store, core::Clock* clock, TrainerMetrics* metrics)
      : store_(store), clock_(clock), metrics_(metrics) {}

  // Loads the stored configurations and sets each model's circuit gauge.
  absl::Status Load();

  // The stored configuration of `model` (empty when none).
  v1::TrainingConfig Stored(const std::string& model) const;
  // The effective configuration of a model with a stored configuration
  // (nullopt without one, or when it no longer resolves).
  std::optional<v1::TrainingConfig> Effective(const std::string& model) const;

  // Sets `model`'s configuration from `request` (mask already checked):
  // the whole config, or the masked fields over the stored one.
  // INVALID_ARGUMENT "config.<field> ..." for a config that does not
  // resolve; the store's errors.
  absl::StatusOr<v1::TrainingConfig> Configure(
      const std::string& model, const v1::ConfigureTrainingRequest& request);
  absl::StatusOr<v1::TrainingConfig> View(const std::string& model);

  absl::StatusOr<v1::ScheduleStatus> PauseSchedule(const std::string& model,
                                                   const std::string& reason);
  absl::StatusOr<v1::ScheduleStatus> ResumeSchedule(const std::string& model,
                                                    const std::string& reason);
  // Whether the schedule state admits a trigger of kind `trigger`.
  absl::Status Admit(const std::string& model, v1::RunTrigger trigger);

  // The slots due at `now` (see above).
  std::vector<DueSlot> TakeDue(absl::Time now);

  // A run of `model` started at `now`: records last_run_time. Returns the
  // end of the last trained window, if any.
  std::optional<google::protobuf::Timestamp> RunStarted(
      const std::string& model, absl::Time now);

  // Counts `state` (SUCCEEDED, FAILED or REJECTED) of `run`, or of one of
  // an online run's candidates, into the circuit breaker (`detail`: why).
  // Returns false for a failure while the breaker is open.
  bool Count(const v1::Run& run, v1::RunState state, const std::string& detail);

 private:
  // The stored status with next_run_time.
  v1::ScheduleStatus StatusView(const std::string& model,
                                const ScheduleState& state) const;

  RunStore* const store_;
  core::Clock* const clock_;
  TrainerMetrics* const metrics_;
  std::map<std::string, v1::TrainingConfig> configs_;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_MODEL_SCHEDULES_H_
