#include "tests/util/trainer_runs.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/util/subprocess.h"

namespace continuum::testing {

bool RunEnded(v1::RunState s) {
  return s == v1::RUN_STATE_SUCCEEDED || s == v1::RUN_STATE_REJECTED ||
         s == v1::RUN_STATE_FAILED || s == v1::RUN_STATE_CANCELLED;
}

absl::StatusOr<v1::Run> GetRun(v1::TrainerService::Stub& trainer,
                               const std::string& name) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::GetRunRequest request;
  request.set_name(name);
  v1::GetRunResponse response;
  grpc::Status s = trainer.GetRun(&context, request, &response);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  return response.run();
}

absl::StatusOr<v1::Run> WaitRunEnded(v1::TrainerService::Stub& trainer,
                                     const std::string& name,
                                     absl::Duration timeout) {
  v1::Run run;
  const bool ended = WaitFor(
      [&] {
        absl::StatusOr<v1::Run> r = GetRun(trainer, name);
        if (!r.ok()) return false;
        run = *r;
        return RunEnded(run.state());
      },
      timeout);
  if (!ended) {
    return absl::DeadlineExceededError(
        absl::StrCat(name, " did not end within ",
                     absl::FormatDuration(timeout), ": ", run.DebugString()));
  }
  return run;
}

bool WatchUntilTraining(v1::TrainerService::Stub& trainer,
                        const std::string& name) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  v1::WatchRunRequest request;
  request.set_name(name);
  auto reader = trainer.WatchRun(&context, request);
  v1::WatchRunResponse message;
  bool training = false;
  while (!training && reader->Read(&message)) {
    training = message.progress().phase() == v1::RUN_PHASE_TRAINING &&
               message.progress().step() >= 1;
  }
  context.TryCancel();
  (void)reader->Finish();
  return training;
}

}  // namespace continuum::testing
