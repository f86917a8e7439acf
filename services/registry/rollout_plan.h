// Rollout plans (registry.proto, RolloutPlan): the defaults a plan leaves
// unsaid and the checks of a plan a model or a Promote names. Pure
// functions; thread-safe.
//
// Defaults: an unset strategy is a canary; a canary without steps (also a
// shadow's then_canary) has the steps 10, 25, 50, 100 % held 5 minutes
// each (the last 0); routing is STICKY; an A/B split gives the candidate
// 50 %; a shadow copies 100 % of the requests.
#ifndef CONTINUUM_SERVICES_REGISTRY_ROLLOUT_PLAN_H_
#define CONTINUUM_SERVICES_REGISTRY_ROLLOUT_PLAN_H_

#include <cstdint>

#include "absl/status/status.h"
#include "continuum/v1/registry.pb.h"

namespace continuum::registry {

// `plan` with its defaults filled in.
v1::RolloutPlan EffectivePlan(const v1::RolloutPlan& plan);

// INVALID_ARGUMENT naming the field when canary steps do not rise strictly
// within 1..100, the A/B share is outside 0..99 or the shadow's sample
// outside 0..100. E.g. "rollout_plan.canary.steps[1].percent 5: steps must
// rise strictly within 1..100".
absl::Status ValidatePlan(const v1::RolloutPlan& plan);

// The candidate's share of an A/B plan (candidate_percent, 0 = 50).
int32_t AbCandidatePercent(const v1::RolloutPlan& plan);

// The share of requests a shadow plan copies (sample_percent, 0 = 100).
int32_t ShadowSamplePercent(const v1::RolloutPlan& plan);

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_ROLLOUT_PLAN_H_
