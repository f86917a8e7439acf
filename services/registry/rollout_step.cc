#include "services/registry/rollout_step.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"

namespace continuum::registry {
namespace {

// What the current step asks for before it ends.
struct StepRule {
  absl::Duration hold;
  int64_t min_rows = 0;
  // A person promotes at the end of the step.
  bool manual = false;
};

StepRule RuleOf(const v1::Rollout& rollout) {
  const v1::RolloutPlan& plan = rollout.plan();
  StepRule rule;
  if (rollout.step_index() < 0) {  // Shadow phase.
    rule.hold = plan.shadow().has_duration()
                    ? core::FromProto(plan.shadow().duration())
                    : absl::Minutes(15);
    rule.min_rows = plan.shadow().min_observations();
    rule.manual =
        !plan.shadow().auto_promote() && !plan.shadow().has_then_canary();
  } else {
    const v1::CanaryStep& step = plan.canary().steps(rollout.step_index());
    rule.hold = step.has_hold_duration() ? core::FromProto(step.hold_duration())
                                         : absl::Minutes(5);
    rule.min_rows = step.hold_observations();
    rule.manual = plan.canary().manual_advance();
  }
  return rule;
}

}  // namespace

StepDecision DecideStep(const v1::Rollout& rollout, int64_t deployment_revision,
                        const std::vector<PodView>& pods, absl::Time now,
                        absl::Time registry_start) {
  using Action = StepDecision::Action;
  if (rollout.state() == v1::ROLLOUT_STATE_PAUSED ||
      rollout.state() == v1::ROLLOUT_STATE_WAITING_FOR_PROMOTE) {
    return {};
  }
  // A pod that cannot load the candidate blocks the step, at once and by
  // name (the pod keeps serving what it served before).
  for (const PodView& pod : pods) {
    auto failed = pod.failed_versions.find(rollout.candidate_version());
    if (failed == pod.failed_versions.end()) continue;
    std::string message = absl::StrCat(
        "pod ", pod.pod_id, " failed to load version ",
        rollout.candidate_version(), ": ", failed->second,
        "; the rollout waits (abort it, or fix the pod)");
    if (rollout.state() == v1::ROLLOUT_STATE_WAITING_FOR_PODS &&
        rollout.status_message() == message) {
      return {};
    }
    return {Action::kWaitForPods, std::move(message)};
  }
  const StepRule rule = RuleOf(rollout);
  if (now - core::FromProto(rollout.step_start_time()) < rule.hold) return {};
  int64_t rows = 0;
  bool all_current = true;
  for (const PodView& pod : pods) {
    all_current &= pod.revision >= deployment_revision;
    auto it = pod.rows_by_version.find(rollout.candidate_version());
    if (it != pod.rows_by_version.end()) rows += it->second;
  }
  if (rule.min_rows > 0 && rows < rule.min_rows) return {};
  // Just started: the pods have not all reported yet.
  const bool unheard = now - registry_start < kPodGraceAfterStart;
  if (!all_current || unheard) {
    if (rollout.state() == v1::ROLLOUT_STATE_WAITING_FOR_PODS) return {};
    return {Action::kWaitForPods,
            absl::StrCat("waiting for every ready pod to serve revision ",
                         deployment_revision,
                         unheard ? " (the registry just started: pods report "
                                   "again within their report interval)"
                                 : "")};
  }
  if (rule.manual) {
    return {Action::kWaitForPromote, "hold is over: waiting for Promote"};
  }
  return {Action::kAdvance, ""};
}

}  // namespace continuum::registry
