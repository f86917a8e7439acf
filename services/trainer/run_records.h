// A run's record (continuum.v1.Run) at each step of its life, as pure
// functions; the scheduler decides when, these say what the record holds:
//
//   QUEUED (phase QUEUED) --StartRun--> RUNNING (phase FETCHING_MODEL,
//   "starting") --EndRun--> SUCCEEDED | REJECTED | FAILED | CANCELLED
//   (phase DONE)
//
// plus a run a trainer shutdown interrupted (EndRunAtShutdown) and a
// scheduled slot skipped for want of new records (SkippedRun, CANCELLED
// from the start). Thread-safe (no state).
#ifndef CONTINUUM_SERVICES_TRAINER_RUN_RECORDS_H_
#define CONTINUUM_SERVICES_TRAINER_RUN_RECORDS_H_

#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "continuum/v1/common.pb.h"
#include "continuum/v1/trainer.pb.h"

namespace continuum::trainer {

// The error of runs a trainer shutdown interrupted (ABORTED).
inline constexpr char kShutdownReason[] = "interrupted by a trainer shutdown";

// SUCCEEDED, REJECTED, FAILED and CANCELLED are final.
bool IsFinal(v1::RunState state);

// `status` as a record's error.
v1::RpcStatus ToRpcStatus(const absl::Status& status);

// "models/{model}/runs/{number}".
std::string RunName(absl::string_view model, int64_t number);

// The model id of a run name "models/{model}/runs/{number}" (number >= 1).
// INVALID_ARGUMENT naming the expected form, or "name: model id ..." for
// an invalid id.
absl::StatusOr<std::string> ParseRunName(absl::string_view name);

// RUNNING at `now`: start time; the data window's end `now` unless the
// trigger set it, its start the end minus the config's window unless the
// trigger set it, no earlier than `last_trained` (the end of the last
// successful run's window) except for FULL_RETRAIN; phase FETCHING_MODEL,
// "starting".
void StartRun(absl::Time now,
              const std::optional<google::protobuf::Timestamp>& last_trained,
              v1::Run* run);

// Final: `state`, `error` (cleared when OK), end time `now`, phase DONE
// with the state's name (and the error's message) as the message.
void EndRun(v1::RunState state, const absl::Status& error, absl::Time now,
            v1::Run* run);

// FAILED at a shutdown: error ABORTED kShutdownReason, phase DONE.
void EndRunAtShutdown(absl::Time now, v1::Run* run);

// A scheduled slot of `model` skipped at `now` for `reason`: a CANCELLED
// run of trigger SCHEDULE, error FAILED_PRECONDITION `reason`, actor
// "trainer", with the model's effective configuration when known.
v1::Run SkippedRun(const std::string& model, const std::string& reason,
                   absl::Time now, const v1::TrainingConfig* effective);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_RUN_RECORDS_H_
