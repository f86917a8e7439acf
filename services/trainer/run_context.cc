#include "services/trainer/run_context.h"

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"

namespace continuum::trainer {

RunContext::RunContext(const TrainingExecutorOptions& options,
                       const v1::Run& run, RunControl& control)
    : options_(options),
      run_(run),
      control_(control),
      deadline_(options.clock->Now() +
                core::FromProto(run.config().resources().max_duration())) {}

absl::Status RunContext::CheckClients() const {
  if (options_.registry == nullptr) {
    return absl::FailedPreconditionError(
        "the trainer has no registry_address configured");
  }
  if (options_.collector == nullptr) {
    return absl::FailedPreconditionError(
        "the trainer has no collector_address configured");
  }
  return absl::OkStatus();
}

bool RunContext::Stop() {
  if (Now() >= deadline_) {
    timed_out_ = true;
    return true;
  }
  return control_.cancelled();
}

absl::Status RunContext::CheckStop() {
  if (Stop()) return absl::CancelledError("cancelled");
  return absl::OkStatus();
}

namespace {
constexpr absl::string_view kSkippedPayload =
    "type.googleapis.com/continuum.trainer.RunSkipped";
}  // namespace

absl::Status SkippedError(absl::string_view what) {
  absl::Status s = absl::FailedPreconditionError(what);
  s.SetPayload(kSkippedPayload, absl::Cord("skipped"));
  return s;
}

RunOutcome RunContext::Ended(const absl::Status& status) const {
  if (timed_out_) {
    return {v1::RUN_STATE_FAILED,
            absl::DeadlineExceededError(absl::StrCat(
                "the run took longer than resources.max_duration (",
                absl::FormatDuration(
                    core::FromProto(config().resources().max_duration())),
                ")"))};
  }
  if (absl::IsCancelled(status) && control_.cancelled()) {
    return {v1::RUN_STATE_CANCELLED, status};
  }
  if (status.GetPayload(kSkippedPayload).has_value()) {
    return {v1::RUN_STATE_CANCELLED,
            absl::CancelledError(absl::StrCat("skipped: ", status.message()))};
  }
  return {v1::RUN_STATE_FAILED, status};
}

}  // namespace continuum::trainer
