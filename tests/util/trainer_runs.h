// Trainer calls the end-to-end tests share: read a run, wait for it to end,
// watch it until training is under way (10 s deadlines per call; 60 s for
// the watch).
#ifndef CONTINUUM_TESTS_UTIL_TRAINER_RUNS_H_
#define CONTINUUM_TESTS_UTIL_TRAINER_RUNS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "continuum/v1/trainer.grpc.pb.h"

namespace continuum::testing {

// Whether a run in state `s` has ended (succeeded, rejected, failed,
// cancelled).
bool RunEnded(v1::RunState s);

absl::StatusOr<v1::Run> GetRun(v1::TrainerService::Stub& trainer,
                               const std::string& name);

// Polls GetRun until the run has ended: the ended run, or DEADLINE_EXCEEDED
// after `timeout` with the run as last seen in the message.
absl::StatusOr<v1::Run> WaitRunEnded(v1::TrainerService::Stub& trainer,
                                     const std::string& name,
                                     absl::Duration timeout);

// Reads WatchRun until a progress message shows training under way (phase
// TRAINING, step >= 1); false if the stream ends first.
bool WatchUntilTraining(v1::TrainerService::Stub& trainer,
                        const std::string& name);

}  // namespace continuum::testing

#endif  // CONTINUUM_TESTS_UTIL_TRAINER_RUNS_H_
