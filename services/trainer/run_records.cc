#include "services/trainer/run_records.h"

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"

namespace continuum::trainer {

bool IsFinal(v1::RunState state) {
  return state == v1::RUN_STATE_SUCCEEDED || state == v1::RUN_STATE_REJECTED ||
         state == v1::RUN_STATE_FAILED || state == v1::RUN_STATE_CANCELLED;
}

v1::RpcStatus ToRpcStatus(const absl::Status& status) {
  v1::RpcStatus out;
  out.set_code(static_cast<int>(status.code()));
  out.set_message(std::string(status.message()));
  return out;
}

std::string RunName(absl::string_view model, int64_t number) {
  return absl::StrCat(core::ModelName(model), "/runs/", number);
}

absl::StatusOr<std::string> ParseRunName(absl::string_view name) {
  constexpr absl::string_view kForm = "models/{model}/runs/{run}";
  absl::StatusOr<std::vector<std::string>> parts =
      core::MatchResourceName(name, kForm);
  if (!parts.ok()) {
    if (absl::StartsWith(parts.status().message(), "name ")) {
      return parts.status();
    }
    return absl::InvalidArgumentError(
        absl::StrCat("name: ", parts.status().message()));
  }
  int64_t number = 0;
  if (!absl::SimpleAtoi((*parts)[1], &number) || number < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("name \"", name, "\" is not of the form ", kForm,
                     " with a run number from 1"));
  }
  return (*parts)[0];
}

void StartRun(absl::Time now,
              const std::optional<google::protobuf::Timestamp>& last_trained,
              v1::Run* run) {
  run->set_state(v1::RUN_STATE_RUNNING);
  *run->mutable_start_time() = core::ToProto(now);
  v1::TimeWindow* window = run->mutable_data_window();
  if (!window->has_end_time()) {
    *window->mutable_end_time() = core::ToProto(now);
  }
  if (!window->has_start_time()) {
    absl::Time start = core::FromProto(window->end_time()) -
                       core::FromProto(run->config().window());
    // A federated run trains (or evaluates) on the whole window every
    // round, not on what is new since the last run.
    if (run->strategy() != v1::TRAINING_STRATEGY_FULL_RETRAIN &&
        run->trigger() != v1::RUN_TRIGGER_FEDERATED &&
        last_trained.has_value()) {
      start = std::max(start, core::FromProto(*last_trained));
    }
    *window->mutable_start_time() = core::ToProto(start);
  }
  run->mutable_progress()->set_phase(v1::RUN_PHASE_FETCHING_MODEL);
  run->mutable_progress()->set_message("starting");
  *run->mutable_progress()->mutable_time() = core::ToProto(now);
}

void EndRun(v1::RunState state, const absl::Status& error, absl::Time now,
            v1::Run* run) {
  run->set_state(state);
  if (!error.ok()) {
    *run->mutable_error() = ToRpcStatus(error);
  } else {
    run->clear_error();
  }
  *run->mutable_end_time() = core::ToProto(now);
  v1::RunProgress* p = run->mutable_progress();
  p->set_phase(v1::RUN_PHASE_DONE);
  p->set_message(error.ok() ? v1::RunState_Name(state)
                            : absl::StrCat(v1::RunState_Name(state), ": ",
                                           error.message()));
  *p->mutable_time() = core::ToProto(now);
}

void EndRunAtShutdown(absl::Time now, v1::Run* run) {
  run->set_state(v1::RUN_STATE_FAILED);
  *run->mutable_error() = ToRpcStatus(absl::AbortedError(kShutdownReason));
  run->mutable_progress()->set_phase(v1::RUN_PHASE_DONE);
  run->mutable_progress()->set_message(kShutdownReason);
  *run->mutable_end_time() = core::ToProto(now);
}

v1::Run SkippedRun(const std::string& model, const std::string& reason,
                   absl::Time now, const v1::TrainingConfig* effective) {
  v1::Run run;
  run.set_model(model);
  run.set_state(v1::RUN_STATE_CANCELLED);
  run.set_trigger(v1::RUN_TRIGGER_SCHEDULE);
  run.set_reason(reason);
  *run.mutable_error() = ToRpcStatus(absl::FailedPreconditionError(reason));
  run.mutable_progress()->set_phase(v1::RUN_PHASE_DONE);
  run.mutable_progress()->set_message(reason);
  *run.mutable_create_time() = core::ToProto(now);
  *run.mutable_end_time() = core::ToProto(now);
  run.set_actor("trainer");
  if (effective != nullptr) {
    run.set_strategy(effective->strategy());
    *run.mutable_config() = *effective;
  }
  return run;
}

}  // namespace continuum::trainer
