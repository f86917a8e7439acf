#include "services/registry/rollout_plan.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace continuum::registry {
namespace {

absl::Status ValidateSteps(const v1::CanaryRollout& canary,
                           absl::string_view field) {
  int previous = 0;
  for (int i = 0; i < canary.steps_size(); ++i) {
    int percent = canary.steps(i).percent();
    if (percent < 1 || percent > 100 || percent <= previous) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".steps[", i, "].percent ", percent,
                       ": steps must rise strictly within 1..100"));
    }
    previous = percent;
  }
  return absl::OkStatus();
}

}  // namespace

v1::RolloutPlan EffectivePlan(const v1::RolloutPlan& plan) {
  v1::RolloutPlan p = plan;
  if (p.strategy_case() == v1::RolloutPlan::STRATEGY_NOT_SET) {
    p.mutable_canary();
  }
  if (p.has_canary() && p.canary().steps().empty()) {
    for (int percent : {10, 25, 50, 100}) {
      v1::CanaryStep* step = p.mutable_canary()->add_steps();
      step->set_percent(percent);
      step->mutable_hold_duration()->set_seconds(percent == 100 ? 0 : 300);
    }
  }
  if (p.has_shadow() && p.shadow().has_then_canary() &&
      p.shadow().then_canary().steps().empty()) {
    v1::RolloutPlan canary;
    canary.mutable_canary();
    *p.mutable_shadow()->mutable_then_canary() = EffectivePlan(canary).canary();
  }
  if (p.routing() == v1::ROUTING_MODE_UNSPECIFIED) {
    p.set_routing(v1::ROUTING_MODE_STICKY);
  }
  return p;
}

absl::Status ValidatePlan(const v1::RolloutPlan& plan) {
  if (plan.has_canary()) {
    if (absl::Status s = ValidateSteps(plan.canary(), "rollout_plan.canary");
        !s.ok()) {
      return s;
    }
  }
  if (plan.has_shadow() && plan.shadow().has_then_canary()) {
    if (absl::Status s = ValidateSteps(plan.shadow().then_canary(),
                                       "rollout_plan.shadow.then_canary");
        !s.ok()) {
      return s;
    }
  }
  if (plan.has_ab() && (plan.ab().candidate_percent() < 0 ||
                        plan.ab().candidate_percent() > 99)) {
    return absl::InvalidArgumentError(
        "rollout_plan.ab.candidate_percent must be within 1..99 (0 = 50)");
  }
  if (plan.has_shadow() && (plan.shadow().sample_percent() < 0 ||
                            plan.shadow().sample_percent() > 100)) {
    return absl::InvalidArgumentError(
        "rollout_plan.shadow.sample_percent must be within 0..100");
  }
  return absl::OkStatus();
}

int32_t AbCandidatePercent(const v1::RolloutPlan& plan) {
  return plan.ab().candidate_percent() == 0 ? 50
                                            : plan.ab().candidate_percent();
}

int32_t ShadowSamplePercent(const v1::RolloutPlan& plan) {
  return plan.shadow().sample_percent() == 0 ? 100
                                             : plan.shadow().sample_percent();
}

}  // namespace continuum::registry
