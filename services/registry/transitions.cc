#include "services/registry/transitions.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/resource_names.h"
#include "services/registry/rollout_commands.h"
#include "services/registry/rollout_plan.h"
#include "services/registry/rollouts.h"
#include "services/registry/version_state.h"

namespace continuum::registry {
namespace {

using S = v1::VersionState;

// The plan a VALIDATED version starts on when moved to `to` (CANARY or
// SHADOW): the model's if it has that kind (an unset strategy is the
// default canary; A/B puts the candidate in CANARY too), else the default
// of the kind with the model's routing.
v1::RolloutPlan PlanFor(const v1::Model& model, S to) {
  const v1::RolloutPlan& own = model.rollout_plan();
  if (to == S::VERSION_STATE_CANARY &&
      (own.strategy_case() == v1::RolloutPlan::STRATEGY_NOT_SET ||
       own.has_canary() || own.has_ab())) {
    return own;
  }
  if (to == S::VERSION_STATE_SHADOW && own.has_shadow()) return own;
  v1::RolloutPlan plan;
  if (to == S::VERSION_STATE_CANARY) {
    plan.mutable_canary();
  } else {
    plan.mutable_shadow();
  }
  plan.set_routing(own.routing());
  return plan;
}

// VALIDATED -> CANARY | SHADOW | PRODUCTION: Promote of the version.
absl::StatusOr<v1::Deployment> StartServing(RegistryWriter& w,
                                            const VersionNumber& ref, S to,
                                            const std::string& reason) {
  v1::PromoteRequest promote;
  promote.set_name(core::ModelName(ref.model));
  promote.set_version(ref.number);
  promote.set_reason(reason);
  if (to == S::VERSION_STATE_PRODUCTION) {
    promote.set_complete(true);
  } else {
    absl::StatusOr<v1::Model> model = w.Model(ref.model);
    if (!model.ok()) return model.status();
    if (model->production_version() == 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("model ", ref.model, " has no production version for a ",
                       to == S::VERSION_STATE_CANARY ? "canary" : "shadow",
                       " to run beside: its first version goes to "
                       "VERSION_STATE_PRODUCTION directly"));
    }
    *promote.mutable_plan() = PlanFor(*model, to);
  }
  absl::StatusOr<v1::PromoteResponse> promoted =
      ApplyPromote(w, ref.model, promote);
  if (!promoted.ok()) return promoted.status();
  return promoted->deployment();
}

// SHADOW -> CANARY: the shadow phase ends and canary steps begin (the
// default ones when the plan has none).
absl::StatusOr<v1::Deployment> ShadowToCanary(RegistryWriter& w,
                                              const VersionNumber& ref,
                                              const std::string& reason) {
  absl::StatusOr<v1::Model> model = w.Model(ref.model);
  if (!model.ok()) return model.status();
  absl::StatusOr<v1::Rollout> rollout = ActiveRollout(w.tx(), ref.model);
  if (!rollout.ok()) return rollout.status();
  if (rollout->candidate_version() != ref.number) {
    return absl::FailedPreconditionError(
        absl::StrCat("the rollout's candidate is version ",
                     rollout->candidate_version(), ", not ", ref.number));
  }
  v1::ShadowRollout* shadow = rollout->mutable_plan()->mutable_shadow();
  if (shadow->then_canary().steps().empty()) {
    v1::RolloutPlan canary;
    canary.mutable_canary();
    *shadow->mutable_then_canary() = EffectivePlan(canary).canary();
  }
  return AdvanceRollout(w, &*model, &*rollout, reason);
}

// The move of a version in state `from` to `to`, both checked legal: the
// deployment it made, or nullopt.
absl::StatusOr<std::optional<v1::Deployment>> Move(RegistryWriter& w,
                                                   const VersionNumber& ref,
                                                   v1::Version& version, S to,
                                                   const std::string& reason) {
  const S from = version.state();
  const std::string model_name = core::ModelName(ref.model);
  absl::StatusOr<v1::Deployment> d;
  if (from == S::VERSION_STATE_VALIDATED && to == S::VERSION_STATE_ARCHIVED) {
    if (absl::Status s = w.Transition(ref.model, &version, to, reason);
        !s.ok()) {
      return s;
    }
    return std::nullopt;
  } else if (from == S::VERSION_STATE_VALIDATED) {
    d = StartServing(w, ref, to, reason);
  } else if (from == S::VERSION_STATE_SHADOW && to == S::VERSION_STATE_CANARY) {
    d = ShadowToCanary(w, ref, reason);
  } else if (to == S::VERSION_STATE_PRODUCTION &&
             from != S::VERSION_STATE_ARCHIVED) {  // CANARY or SHADOW
    v1::PromoteRequest promote;
    promote.set_name(model_name);
    promote.set_version(ref.number);
    promote.set_complete(true);
    promote.set_reason(reason);
    absl::StatusOr<v1::PromoteResponse> r = ApplyPromote(w, ref.model, promote);
    if (!r.ok()) return r.status();
    d = r->deployment();
  } else if (to == S::VERSION_STATE_ROLLED_BACK &&
             from != S::VERSION_STATE_PRODUCTION) {  // CANARY or SHADOW
    v1::AbortRolloutRequest abort;
    abort.set_name(model_name);
    abort.set_reason(reason);
    abort.set_expected_candidate_version(ref.number);
    absl::StatusOr<v1::AbortRolloutResponse> r =
        ApplyAbort(w, ref.model, abort);
    if (!r.ok()) return r.status();
    d = r->deployment();
  } else {  // PRODUCTION -> ROLLED_BACK, ARCHIVED -> PRODUCTION
    v1::RollbackRequest rollback;
    rollback.set_name(model_name);
    rollback.set_reason(reason);
    if (from == S::VERSION_STATE_PRODUCTION) {
      rollback.set_expected_production_version(ref.number);
    } else {
      rollback.set_to_version(ref.number);
    }
    absl::StatusOr<v1::RollbackResponse> r =
        ApplyRollback(w, ref.model, rollback);
    if (!r.ok()) return r.status();
    d = r->deployment();
  }
  if (!d.ok()) return d.status();
  return *std::move(d);
}

}  // namespace

absl::Status CheckTransitionTarget(v1::VersionState to) {
  if (to == S::VERSION_STATE_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "to_state: required (the state to move the version to)");
  }
  if (!v1::VersionState_IsValid(to)) {
    return absl::InvalidArgumentError(
        absl::StrCat("to_state: ", static_cast<int>(to),
                     " is not a value of continuum.v1.VersionState"));
  }
  if (to == S::VERSION_STATE_VALIDATING || to == S::VERSION_STATE_VALIDATED ||
      to == S::VERSION_STATE_REJECTED) {
    return absl::InvalidArgumentError(
        absl::StrCat("to_state: ", v1::VersionState_Name(to),
                     " is reached only through SubmitValidation, which "
                     "applies the model's validation gates"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::TransitionVersionResponse> ApplyTransition(
    RegistryWriter& w, const VersionNumber& ref,
    const v1::TransitionVersionRequest& request) {
  const S to = request.to_state();
  if (absl::Status s = CheckTransitionTarget(to); !s.ok()) return s;
  absl::StatusOr<v1::Version> version = w.Version(ref.model, ref.number);
  if (!version.ok()) return version.status();
  const S from = version->state();
  if (request.expected_state() != S::VERSION_STATE_UNSPECIFIED &&
      request.expected_state() != from) {
    return absl::FailedPreconditionError(
        absl::StrCat(version->name(), " is ", v1::VersionState_Name(from),
                     ", not the expected ",
                     v1::VersionState_Name(request.expected_state())));
  }
  if (from == S::VERSION_STATE_PRODUCTION && to == S::VERSION_STATE_ARCHIVED) {
    return absl::FailedPreconditionError(absl::StrCat(
        version->name(),
        " is VERSION_STATE_PRODUCTION: it becomes VERSION_STATE_ARCHIVED only "
        "when another version replaces it (Promote); to withdraw it, roll it "
        "back (Rollback, or a transition to VERSION_STATE_ROLLED_BACK)"));
  }
  // ARCHIVED -> PRODUCTION is a rollback to this version.
  if (absl::Status s =
          CheckTransition(version->name(), from, to, /*rollback=*/true);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::optional<v1::Deployment>> deployment =
      Move(w, ref, *version, to, request.reason());
  if (!deployment.ok()) return deployment.status();
  absl::StatusOr<v1::Version> after = w.Version(ref.model, ref.number);
  if (!after.ok()) return after.status();
  v1::TransitionVersionResponse response;
  *response.mutable_version() = *std::move(after);
  if (deployment->has_value()) {
    *response.mutable_deployment() = **std::move(deployment);
  }
  return response;
}

}  // namespace continuum::registry
