// The seam between the scheduler (which runs, when, states, persistence)
// and the work of one run (training_executor.h). The scheduler hands a
// worker thread's run to a RunExecutor with a RunControl through which the
// executor reports phases, progress and results and learns of cancels.
#ifndef CONTINUUM_SERVICES_TRAINER_RUN_EXECUTOR_H_
#define CONTINUUM_SERVICES_TRAINER_RUN_EXECUTOR_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "continuum/v1/trainer.pb.h"

namespace continuum::trainer {

// What an executor can do to its run. Thread-safe; valid during Execute.
class RunControl {
 public:
  virtual ~RunControl() = default;

  // True once CancelRun asked to stop this run, or the trainer is stopping.
  // Executors poll it between phases and before every optimizer step.
  virtual bool cancelled() = 0;

  // Enters `phase`; `message` is the progress line for humans. Watchers see
  // the run (a state change for WatchRun).
  virtual void SetPhase(v1::RunPhase phase, const std::string& message) = 0;

  // Reports progress (phase, epoch, step, loss, throughput, ETA). Watchers
  // get at most a few per second; an epoch's end (holdout_loss set) is
  // always passed on.
  virtual void Progress(const v1::RunProgress& progress) = 0;

  // Edits the run's record (parent, counts, metrics, report, ...) and
  // persists it. `edit` must not change name, state, progress or times.
  virtual void Update(const std::function<void(v1::Run*)>& edit) = 0;

  // Enters RUN_PHASE_UPLOADING unless the run was cancelled (CANCELLED).
  // From then on CancelRun answers FAILED_PRECONDITION: the upload is never
  // interrupted half-way, so nothing is ever half-registered. An online run
  // that goes on after its upload calls SetPhase, which makes it
  // cancellable again.
  virtual absl::Status BeginUpload() = 0;

  // Online runs (TRAINING_STRATEGY_ONLINE), which publish many candidates:
  // the registry decided on one. Call it after Update has set the run's
  // candidate_version, decision and data_window (its end: the end of the
  // event-time window the candidate trained on). An approved candidate
  // counts like a SUCCEEDED run (the model's consecutive-failure count is
  // reset and its last_trained_time moves to the window's end); a rejected
  // one like a REJECTED run (the count grows and the circuit breaker may
  // open). Returns false for a rejected candidate while the model's circuit
  // breaker is open: the run should stop.
  virtual bool CandidateDecided(bool approved, const std::string& detail) = 0;
};

// How a run ended.
struct RunOutcome {
  // SUCCEEDED, REJECTED, FAILED or CANCELLED.
  v1::RunState state = v1::RUN_STATE_FAILED;
  // Why it failed or was cancelled (OK otherwise).
  absl::Status error;
};

class RunExecutor {
 public:
  virtual ~RunExecutor() = default;

  // Does the work of `run` (state RUNNING, its effective config, trigger
  // and data window filled in) on the calling worker thread and says how
  // it ended. Must return soon after control.cancelled() turns true.
  virtual RunOutcome Execute(const v1::Run& run, RunControl& control) = 0;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_RUN_EXECUTOR_H_
