// The circuit breaker of a model's schedule, as pure functions over its
// stored v1::ScheduleStatus (paused, circuit_open, paused_reason,
// consecutive_failures, last_success_time, last_trained_time):
//
//            FAILED / REJECTED (count + 1)
//   closed ----------------------------------> open: paused, circuit_open
//     ^     once count >= threshold               |
//     |                                           |
//     +--------------- ResumeSchedule ------------+  (count 0, unpaused)
//
// SUCCEEDED resets the count (and records last_success_time and the end of
// the trained window) but never closes an open breaker: only
// ResumeSchedule does. CANCELLED runs, runs interrupted by a restart or
// shutdown, and candidates rejected only because they were not better than
// production on the recent window (NotBetterOnly: the loop works, the
// production version stays) are not counted. While paused (by the breaker or by
// PauseSchedule) only manual triggers are admitted.
//
// Example reason of an opened breaker:
//   circuit breaker: 3 consecutive failed or rejected runs, the latest
//   models/fraud/runs/7 RUN_STATE_REJECTED: version 9 rejected: ...
//
// Thread-safe (no state).
#ifndef CONTINUUM_SERVICES_TRAINER_CIRCUIT_BREAKER_H_
#define CONTINUUM_SERVICES_TRAINER_CIRCUIT_BREAKER_H_

#include <google/protobuf/timestamp.pb.h>

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "continuum/v1/trainer.pb.h"

namespace continuum::trainer {

// One counted outcome: a run's end, or one of an online run's candidates.
struct CountedOutcome {
  // The run's name, for the reason.
  std::string run;
  // SUCCEEDED, FAILED or REJECTED.
  v1::RunState state = v1::RUN_STATE_FAILED;
  // Why it failed (the error's message); may be empty.
  std::string detail;
  // The model's circuit_breaker_threshold; <= 0 means the default (3).
  int threshold = 0;
  // When it was counted (last_success_time).
  absl::Time now;
  // The end of the window the run trained on (last_trained_time), if any.
  std::optional<google::protobuf::Timestamp> trained_through;
  // A REJECTED candidate whose only failed gate is the adaptation gate
  // (NotBetterOnly): not counted.
  bool not_better_only = false;
};

// Whether `decision` rejected its candidate only by the gate
// `min_held_out_gain_points` (not better than production on the recent
// held-out window), every other gate passing or skipped.
bool NotBetterOnly(const v1::ValidationDecision& decision);

struct CircuitDecision {
  // This outcome opened the breaker.
  bool opened = false;
  // Whether an online run may go on: false for a failure while the breaker
  // is open (opened now or before); an approved candidate always goes on.
  bool go_on = true;
};

// Counts `outcome` into `status` (see above).
CircuitDecision CountOutcome(const CountedOutcome& outcome,
                             v1::ScheduleStatus* status);

// Whether a trigger of kind `trigger` is admitted for `model` by `status`:
// OK, or FAILED_PRECONDITION saying that the breaker is open (and how to
// close it) or that the schedule is paused. Manual triggers always pass,
// and so do a federated round's validation runs (RUN_TRIGGER_FEDERATED):
// the round was opened by an operator, or by the schedule, which the
// breaker pauses; the registry's gates still decide on each candidate.
absl::Status AdmitTrigger(absl::string_view model, v1::RunTrigger trigger,
                          const v1::ScheduleStatus& status);

// PauseSchedule: pauses with `reason` ("paused: <reason>", or "paused by
// PauseSchedule"). Returns false, changing nothing, while the breaker is
// open (its reason stays).
bool Pause(const std::string& reason, v1::ScheduleStatus* status);

// ResumeSchedule: unpaused, breaker closed, count 0. Returns whether the
// breaker was open.
bool Resume(v1::ScheduleStatus* status);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_CIRCUIT_BREAKER_H_
