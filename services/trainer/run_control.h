// ActiveRunControl: the RunControl (run_executor.h) the scheduler hands an
// executing run, over the scheduler's table of active runs (RunHost).
//
// What each call does to the run's record and its watchers:
// - SetPhase: phase and message (samples_done 0), time from the clock;
//   persisted, a state change for watchers. Leaving UPLOADING makes the
//   run cancellable again.
// - Progress: the progress as given (time from the clock when unset);
//   watchers are told at most every `progress_interval` of real time,
//   except an epoch's end (holdout_loss set), which always goes out; the
//   throughput goes to the metrics with it. Not persisted.
// - Update: the edit; persisted, a state change.
// - BeginUpload: CANCELLED "the run was cancelled before its upload" once
//   the run is cancelled or the scheduler stops; else phase UPLOADING, and
//   CancelRun is refused until the next SetPhase; persisted.
// - CandidateDecided: the host counts the candidate (circuit_breaker.h).
// - cancelled: true once CancelRun asked, the scheduler stops, or the run
//   is no longer active.
//
// Thread-safe: the host serializes the edits.
#ifndef CONTINUUM_SERVICES_TRAINER_RUN_CONTROL_H_
#define CONTINUUM_SERVICES_TRAINER_RUN_CONTROL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"
#include "continuum/v1/trainer.pb.h"
#include "lib/core/clock.h"
#include "services/trainer/run_executor.h"
#include "services/trainer/trainer_metrics.h"

namespace continuum::trainer {

// A run that is not final, as the scheduler keeps it in memory.
struct ActiveRun {
  v1::Run run;
  // A worker took it (it is RUNNING).
  bool started = false;
  bool cancel_requested = false;
  std::string cancel_reason;
  // In RUN_PHASE_UPLOADING: CancelRun is refused.
  bool uploading = false;
  // The scheduler's change sequence at its latest change, and at its
  // latest change of state, phase or recorded fields (not mere progress).
  uint64_t sequence = 0;
  uint64_t state_sequence = 0;
  // Real time of the last progress passed on to watchers.
  absl::Time last_progress = absl::InfinitePast();
};

// What a run's control needs from the scheduler that holds the run.
class RunHost {
 public:
  virtual ~RunHost() = default;

  // What an edit changed.
  enum class Change {
    kNone,      // nothing watchers need to know
    kProgress,  // the progress: tell watchers
    kState,     // the record: persist it, tell watchers of a state change
  };
  using Edit = absl::FunctionRef<Change(ActiveRun& run, bool stopping)>;

  // Runs `edit` on the active run `name` under the host's lock (`stopping`:
  // the host is shutting down), then acts on what it changed. False, with
  // `edit` not called, when the run is no longer active.
  virtual bool EditRun(const std::string& name, Edit edit) = 0;

  // An online run's candidate was decided: counts it in the model's
  // schedule. Returns whether the run may go on (false too when the run is
  // no longer active).
  virtual bool CountCandidate(const std::string& name, bool approved,
                              const std::string& detail) = 0;
};

class ActiveRunControl : public RunControl {
 public:
  // `host`, `clock` and `metrics` (may be null) must outlive the control.
  ActiveRunControl(RunHost* host, std::string name, core::Clock* clock,
                   TrainerMetrics* metrics, absl::Duration progress_interval)
      : host_(host),
        name_(std::move(name)),
        clock_(clock),
        metrics_(metrics),
        progress_interval_(progress_interval) {}

  bool cancelled() override;
  void SetPhase(v1::RunPhase phase, const std::string& message) override;
  void Progress(const v1::RunProgress& progress) override;
  void Update(const std::function<void(v1::Run*)>& edit) override;
  absl::Status BeginUpload() override;
  bool CandidateDecided(bool approved, const std::string& detail) override;

 private:
  RunHost* const host_;
  const std::string name_;
  core::Clock* const clock_;
  TrainerMetrics* const metrics_;
  const absl::Duration progress_interval_;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_RUN_CONTROL_H_
