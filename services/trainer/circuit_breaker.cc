#include "services/trainer/circuit_breaker.h"

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "services/trainer/training_config.h"

namespace continuum::trainer {

bool NotBetterOnly(const v1::ValidationDecision& decision) {
  if (decision.approved()) return false;
  bool gain_failed = false;
  for (const v1::GateResult& g : decision.gates()) {
    if (g.passed()) continue;
    if (g.gate() != "min_held_out_gain_points") return false;
    gain_failed = true;
  }
  return gain_failed;
}

CircuitDecision CountOutcome(const CountedOutcome& outcome,
                             v1::ScheduleStatus* status) {
  CircuitDecision decision;
  if (outcome.state == v1::RUN_STATE_REJECTED && outcome.not_better_only) {
    // Production stays, and it is at least as good: not a failure.
    decision.go_on = !status->circuit_open();
    return decision;
  }
  if (outcome.state == v1::RUN_STATE_SUCCEEDED) {
    status->set_consecutive_failures(0);
    *status->mutable_last_success_time() = core::ToProto(outcome.now);
    if (outcome.trained_through.has_value()) {
      *status->mutable_last_trained_time() = *outcome.trained_through;
    }
    return decision;  // An approved candidate goes on, open or not.
  }
  status->set_consecutive_failures(status->consecutive_failures() + 1);
  const int threshold = outcome.threshold > 0 ? outcome.threshold
                                              : kDefaultCircuitBreakerThreshold;
  if (!status->circuit_open() && status->consecutive_failures() >= threshold) {
    status->set_circuit_open(true);
    status->set_paused(true);
    status->set_paused_reason(absl::StrCat(
        "circuit breaker: ", status->consecutive_failures(),
        " consecutive failed or rejected runs, the latest ", outcome.run, " ",
        v1::RunState_Name(outcome.state),
        outcome.detail.empty() ? std::string()
                               : absl::StrCat(": ", outcome.detail)));
    decision.opened = true;
  }
  decision.go_on = !status->circuit_open();
  return decision;
}

absl::Status AdmitTrigger(absl::string_view model, v1::RunTrigger trigger,
                          const v1::ScheduleStatus& status) {
  if (trigger == v1::RUN_TRIGGER_MANUAL ||
      trigger == v1::RUN_TRIGGER_FEDERATED || !status.paused()) {
    return absl::OkStatus();
  }
  if (status.circuit_open()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the circuit breaker of model ", model, " is open (",
        status.paused_reason(),
        "); only manual triggers are accepted until ResumeSchedule "
        "(continuumctl trainer resume ",
        model, ")"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "the schedule of model ", model, " is paused (", status.paused_reason(),
      "); only manual triggers are accepted until ResumeSchedule"));
}

bool Pause(const std::string& reason, v1::ScheduleStatus* status) {
  if (status->circuit_open()) return false;
  status->set_paused(true);
  // The operator's reason as given: it is shown as "paused (REASON)", so a
  // prefix here read "paused (paused: upgrade)".
  status->set_paused_reason(reason.empty() ? "paused by PauseSchedule"
                                           : reason);
  return true;
}

bool Resume(v1::ScheduleStatus* status) {
  const bool was_open = status->circuit_open();
  status->set_paused(false);
  status->set_circuit_open(false);
  status->set_paused_reason("");
  status->set_consecutive_failures(0);
  return was_open;
}

}  // namespace continuum::trainer
