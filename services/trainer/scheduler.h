// Scheduler: the domain core of continuum.v1.TrainerService. It decides
// which runs exist and when they run, and keeps their records; the work of
// a run is a RunExecutor's (training_executor.h). No gRPC here: the
// handlers (trainer_service.h) call these methods and convert statuses.
// The pieces it applies are pure and tested on their own: requests
// (run_requests.h), effective configurations (training_config.h), the
// circuit breaker (circuit_breaker.h), run records (run_records.h),
// cadences (schedule.h); each model's configuration and schedule state
// are a ModelSchedules (model_schedules.h); a running run reaches the
// scheduler through its ActiveRunControl (run_control.h).
//
// - Runs. A trigger (manual, drift, the schedule) creates a run in state
//   QUEUED. At most one run per model is active (waiting for a worker or
//   running); a trigger arriving while one is active creates the model's
//   one queued run, and later triggers coalesce into it
//   (`coalesced_triggers`, TriggerRunResponse.coalesced). A trigger that
//   arrives while the active run still waits for a worker coalesces into
//   that run: it has not read its data yet. Runs execute on `workers`
//   threads (default 1), FIFO across models.
// - Schedules. `RunDue()` starts the scheduled runs that are due at the
//   clock's time (schedule.h for the cadences and daylight-saving rules);
//   in production a ticker thread calls it every `tick_interval`, tests
//   call it after stepping a FakeClock. A due slot is consumed when it is
//   handled: missed slots (the trainer was down) collapse into one run.
//   With `min_new_records`, the collector's GetDatasetStats counts the
//   records since the last trained window; too few and the slot is
//   recorded as a run in state CANCELLED, phase DONE, whose reason and
//   error (FAILED_PRECONDITION) say "skipped: ...".
// - Circuit breaker (circuit_breaker.h). After `circuit_breaker_threshold`
//   (default 3) consecutive FAILED or REJECTED runs the model's schedule is
//   paused with `circuit_open`; the log says so at error level and the
//   metric continuum_trainer_circuit_open{model} is 1. While paused (by
//   the breaker or PauseSchedule) only manual triggers are accepted; drift
//   triggers get FAILED_PRECONDITION and scheduled slots pass.
//   ResumeSchedule closes it and resets the count. SUCCEEDED resets the
//   count; CANCELLED runs and runs interrupted by a restart or shutdown
//   leave it as it is.
// - Data window. Unless the trigger names one, a run trains on
//   [now - window, now), starting no earlier than the end of the last
//   successful run's window for incremental runs (`last_trained_time`).
// - Cancels. A run waiting for a worker (or queued behind the active one)
//   is CANCELLED at once; a running one is asked to stop
//   (RunControl::cancelled) and CancelRun waits up to `cancel_wait` for
//   it. From the upload phase on, CancelRun is FAILED_PRECONDITION.
// - Watching. Every change of a run (created, started, phase, recorded
//   fields, progress passed on to watchers, ended) raises the scheduler's
//   change sequence, which it publishes to `changes()` after releasing its
//   lock; GetRunUpdate reads a run with the sequence of its latest change.
//   WatchRun's streams follow the notifier (trainer_service.h).
// - Stop() (the server's drain) stops the ticker, asks running runs to
//   stop and marks every unfinished run FAILED (ABORTED, "interrupted by
//   a trainer shutdown"); a crash instead leaves them to the store's
//   recovery at the next start ("interrupted by a trainer restart").
//
// Times (create/start/end, schedules) come from the injected clock; the
// throttling of progress updates and the waits of CancelRun and
// WaitForRunUpdate use real time. Thread-safe.
#ifndef CONTINUUM_SERVICES_TRAINER_SCHEDULER_H_
#define CONTINUUM_SERVICES_TRAINER_SCHEDULER_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/trainer.pb.h"
#include "lib/core/clock.h"
#include "lib/core/sequence_notifier.h"
#include "services/trainer/clients.h"
#include "services/trainer/model_schedules.h"
#include "services/trainer/run_control.h"
#include "services/trainer/run_executor.h"
#include "services/trainer/run_requests.h"
#include "services/trainer/run_store.h"
#include "services/trainer/trainer_metrics.h"

namespace continuum::trainer {

struct SchedulerOptions {
  // Required; not owned, must outlive the scheduler.
  RunStore* store = nullptr;
  RunExecutor* executor = nullptr;
  // Tells whether a model is registered. Null: every trigger and
  // configuration call is FAILED_PRECONDITION (no registry configured).
  RegistryClient* registry = nullptr;
  // Counts new records for `min_new_records`. Null: the check is skipped.
  CollectorClient* collector = nullptr;
  core::Clock* clock = core::Clock::Real();
  // Optional.
  TrainerMetrics* metrics = nullptr;
  // Worker threads (runs of different models at once). >= 1.
  int workers = 1;
  // How often the ticker calls RunDue. Zero = no ticker thread (tests).
  absl::Duration tick_interval = absl::Seconds(1);
  // Least real time between two progress updates sent to watchers.
  absl::Duration progress_interval = absl::Milliseconds(250);
  // How long CancelRun waits for a running run to stop.
  absl::Duration cancel_wait = absl::Seconds(5);
  // Offered each due schedule slot before it becomes a run; returns true
  // when it took the slot itself (the federated coordinator opens a round
  // of the model instead). Null: every slot is a run.
  std::function<bool(const std::string& model, const std::string& reason)>
      take_scheduled_slot;
};

// A run as a watcher sees it.
struct RunUpdate {
  v1::Run run;
  // The change sequence at the run's latest change; a watcher passes the
  // last one it saw to WaitForRunUpdate. For a run that has ended, the
  // sequence at the time of reading.
  uint64_t sequence = 0;
  // The sequence of the latest change of state, phase or recorded fields
  // (not mere progress).
  uint64_t state_sequence = 0;
  // The run has reached a final state.
  bool final = false;
};

class Scheduler : private RunHost {
 public:
  explicit Scheduler(SchedulerOptions options);
  // Stops if Start was called.
  ~Scheduler() override;
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Loads the stored configurations and starts the workers and the ticker.
  absl::Status Start();
  // See above. Idempotent; returns once the threads have ended.
  void Stop();

  // The methods of TrainerService. Each request has passed
  // core::CheckFieldRules (the handlers check it); these check what the
  // field options cannot state (run_requests.h, training_config.h,
  // federated_settings.h) and the state.
  absl::StatusOr<v1::TriggerRunResponse> TriggerRun(
      const v1::TriggerRunRequest& request, const std::string& actor);
  absl::StatusOr<v1::Run> GetRun(absl::string_view name);
  absl::StatusOr<v1::ListRunsResponse> ListRuns(
      const v1::ListRunsRequest& request);
  absl::StatusOr<v1::Run> CancelRun(const v1::CancelRunRequest& request);
  absl::StatusOr<v1::TrainingConfig> ConfigureTraining(
      const v1::ConfigureTrainingRequest& request);
  absl::StatusOr<v1::TrainingConfig> GetTrainingConfig(absl::string_view name);
  absl::StatusOr<v1::ScheduleStatus> PauseSchedule(absl::string_view name,
                                                   const std::string& reason);
  absl::StatusOr<v1::ScheduleStatus> ResumeSchedule(absl::string_view name,
                                                    const std::string& reason);

  // A federated run (RUN_TRIGGER_FEDERATED, federated_run.h) of `model`
  // for `round`: the coordinator's, which applies the round's aggregate,
  // or a site's local training. `overrides` and `mask` as TriggerRun's
  // (checked the same way). The window is the configured one ending now,
  // never only what is new since the last run. Idempotent per round (the
  // round's name is the request id). A round's run never coalesces into
  // another: FAILED_PRECONDITION when the model already has a run waiting.
  absl::StatusOr<v1::Run> TriggerFederatedRun(
      const std::string& model, const std::string& round,
      const std::string& reason, const v1::TrainingConfig& overrides,
      const google::protobuf::FieldMask& mask);

  // The change sequence (see "Watching" above). Not owned by the caller.
  core::SequenceNotifier* changes() { return &changes_; }

  // The run `name` as it is now. NOT_FOUND for an unknown run,
  // INVALID_ARGUMENT for a name that is not a run's. Never blocks on
  // other runs' work (a short lock and, for an ended run, a store read).
  absl::StatusOr<RunUpdate> GetRunUpdate(absl::string_view name);

  // Returns the run `name` as soon as its sequence exceeds `after` (at once
  // for after = 0, or for a finished run), else at `deadline` as it is.
  // NOT_FOUND for an unknown run.
  absl::StatusOr<RunUpdate> WaitForRunUpdate(absl::string_view name,
                                             uint64_t after,
                                             absl::Time deadline);

  // Triggers (or skips) the scheduled runs due at the clock's time.
  // Returns how many slots were handled (triggered or skipped).
  int RunDue();

  // Waits until no run is queued or running; false after `timeout`.
  bool WaitIdle(absl::Duration timeout);

 private:
  class Lock;
  struct ModelRuns {
    std::string active;  // waiting for a worker or running
    std::string queued;  // waiting for the active one to finish
  };

  // RunHost, for the ActiveRunControl of each executing run.
  bool EditRun(const std::string& name, Edit edit) override;
  bool CountCandidate(const std::string& name, bool approved,
                      const std::string& detail) override;

  absl::StatusOr<v1::TriggerRunResponse> Trigger(const TriggerSpec& spec);
  // The run a request id gave within the idempotency window, if any.
  absl::StatusOr<std::optional<v1::Run>> FindTriggeredLocked(
      const TriggerSpec& spec, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The effective configuration of a triggered run.
  absl::StatusOr<v1::TrainingConfig> RunConfigLocked(const TriggerSpec& spec)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Coalesces the trigger into the model's queued (or not yet started)
  // run, if there is one.
  std::optional<v1::TriggerRunResponse> CoalesceLocked(const TriggerSpec& spec,
                                                       const ModelRuns& runs,
                                                       absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<v1::TriggerRunResponse> CreateRunLocked(
      const TriggerSpec& spec, const v1::TrainingConfig& config,
      ModelRuns& runs, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Status CheckModel(const std::string& model);
  // Pause and Resume: checks the name and the model, then runs `edit` on
  // the model's schedule under the lock.
  using ScheduleEdit = absl::FunctionRef<absl::StatusOr<v1::ScheduleStatus>(
      const std::string& model)>;
  absl::StatusOr<v1::ScheduleStatus> EditSchedule(absl::string_view name,
                                                  ScheduleEdit edit);
  absl::StatusOr<v1::Run> GetRunLocked(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<RunUpdate> RunUpdateLocked(const std::string& name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Adds the model's active and queued runs to a schedule status.
  void AddRunsLocked(const std::string& model, v1::ScheduleStatus* status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits until `done` (called with mu_ held) holds or `deadline` passes,
  // waking at each change; returns whether it holds.
  bool AwaitChange(absl::FunctionRef<bool()> done, absl::Time deadline);

  std::vector<DueSlot> TakeDueSlots(absl::Time now);
  // Why a due slot is skipped (too few new records), or nullopt to run it.
  std::optional<std::string> SkipReason(const DueSlot& slot, absl::Time now);
  void RecordSkip(const std::string& model, const std::string& reason);
  void WorkerLoop();
  void TickerLoop();
  // Moves the run to RUNNING and fills its data window; returns the run.
  v1::Run StartRunLocked(ActiveRun& active) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records the end of run `name` and starts the model's queued run.
  void FinishLocked(const std::string& name, const RunOutcome& outcome)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After run `name` of `model` ended: the model's queued run becomes
  // active (waits for a worker).
  void AdvanceQueueLocked(const std::string& name, const std::string& model)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PersistLocked(const v1::Run& run) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Raises the change sequence for a change of `active` (Lock publishes
  // it).
  void TouchLocked(ActiveRun& active, bool state_change)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SchedulerOptions options_;
  core::SequenceNotifier changes_;

  absl::Mutex mu_;
  absl::CondVar work_cv_;  // ready_ or stopping_
  absl::CondVar tick_cv_;  // stopping_, for the ticker
  std::map<std::string, std::unique_ptr<ActiveRun>> active_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, ModelRuns> model_runs_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> ready_ ABSL_GUARDED_BY(mu_);
  ModelSchedules schedules_ ABSL_GUARDED_BY(mu_);
  uint64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_SCHEDULER_H_
