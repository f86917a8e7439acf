// When an automatic rollout step is due: a pure function of the rollout,
// what the pods report and the time. Registry::Tick applies the decision
// (rollouts.h, TickRollout).
//
// The current step (a canary step, or the shadow phase: step_index -1) is
// over when all of these hold:
//  - its hold has passed since step_start_time (a canary step's
//    hold_duration, default 5 min; the shadow's duration, default 15 min);
//  - the candidate answered (canary) or processed (shadow) at least the
//    step's hold_observations (shadow: min_observations) rows, summed over
//    the ready pods;
//  - every ready pod serves the model's current deployment revision, and
//    the registry has run for kPodGraceAfterStart (pod reports live in
//    memory: just after a start no pod is known, and "no pod lags behind"
//    must not pass for "every pod serves the revision").
// A ready pod that failed to load the candidate (SERVING_STATE_FAILED)
// blocks the step whatever the hold: the rollout waits for pods with a
// message naming the pod, the version and the pod's reason, until the pod
// loads it or an operator aborts the rollout.
// Then the rollout advances, unless the plan wants a person to: a canary
// with manual_advance, a shadow with neither auto_promote nor then_canary
// wait for Promote instead. PAUSED and WAITING_FOR_PROMOTE rollouts never
// step.
//
// Thread-safe (pure).
#ifndef CONTINUUM_SERVICES_REGISTRY_ROLLOUT_STEP_H_
#define CONTINUUM_SERVICES_REGISTRY_ROLLOUT_STEP_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "continuum/v1/registry.pb.h"

namespace continuum::registry {

// How long after its start the registry does not judge that every ready
// pod serves a revision: the pods' report interval (10 s) and a margin.
inline constexpr absl::Duration kPodGraceAfterStart = absl::Seconds(12);

// What one ready pod reports of one model.
struct PodView {
  // The pod's id.
  std::string pod_id;
  // The deployment revision it applied.
  int64_t revision = 0;
  // Versions the pod failed to load (SERVING_STATE_FAILED), with why.
  std::map<int64_t, std::string> failed_versions;
  // Version -> rows it served (canary) or processed (shadow) since it
  // loaded the version.
  std::map<int64_t, int64_t> rows_by_version;
};

struct StepDecision {
  enum class Action {
    // Nothing to do now.
    kNone,
    // Mark the rollout WAITING_FOR_PODS with `status_message` (returned
    // only when it is not marked so already).
    kWaitForPods,
    // Mark the rollout WAITING_FOR_PROMOTE with `status_message`.
    kWaitForPromote,
    // Move to the next step (or to production after the last).
    kAdvance,
  };
  Action action = Action::kNone;
  std::string status_message;
};

// The decision for an active `rollout` whose model's current deployment
// revision is `deployment_revision`, given the model's ready pods `pods`,
// at `now`, in a registry that started at `registry_start`.
StepDecision DecideStep(const v1::Rollout& rollout, int64_t deployment_revision,
                        const std::vector<PodView>& pods, absl::Time now,
                        absl::Time registry_start);

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_ROLLOUT_STEP_H_
