#include "services/registry/rollouts.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"
#include "services/registry/rollout_plan.h"

namespace continuum::registry {
namespace {

using S = v1::VersionState;

// The first phase of a canary, A/B or shadow plan: the candidate's state,
// the rollout's, and the deployment that serves it.
absl::StatusOr<v1::Deployment> EnterFirstPhase(RegistryWriter& w,
                                               v1::Model* model,
                                               v1::Version* candidate,
                                               v1::Rollout* rollout,
                                               const std::string& reason) {
  const std::string id(core::ModelIdOf(model->name()));
  const v1::RolloutPlan& plan = rollout->plan();
  Serving serving{.stable = model->production_version(),
                  .routing = plan.routing()};
  std::string why;
  S state = S::VERSION_STATE_CANARY;
  if (plan.has_canary()) {
    const int percent = plan.canary().steps(0).percent();
    rollout->set_state(v1::ROLLOUT_STATE_IN_PROGRESS);
    rollout->set_current_percent(percent);
    serving.canary = candidate->version();
    serving.canary_percent = percent;
    why = absl::StrCat("canary step 1: ", percent, " %");
  } else if (plan.has_ab()) {
    const int percent = AbCandidatePercent(plan);
    rollout->set_state(v1::ROLLOUT_STATE_WAITING_FOR_PROMOTE);
    rollout->set_current_percent(percent);
    serving.canary = candidate->version();
    serving.canary_percent = percent;
    why = absl::StrCat("A/B test: ", percent, " %");
  } else {  // shadow
    const int sample = ShadowSamplePercent(plan);
    state = S::VERSION_STATE_SHADOW;
    rollout->set_state(v1::ROLLOUT_STATE_IN_PROGRESS);
    rollout->set_step_index(-1);
    rollout->set_current_percent(0);
    serving.shadow = candidate->version();
    serving.shadow_percent = sample;
    why = absl::StrCat("shadow: ", sample, " % copied");
  }
  if (absl::Status s = w.Transition(id, candidate, state, reason); !s.ok()) {
    return s;
  }
  return w.Deploy(model, serving, why);
}

// Marks the rollout WAITING_FOR_PODS or WAITING_FOR_PROMOTE, or advances it,
// as `decision` says.
absl::Status ApplyStepDecision(RegistryWriter& w, v1::Model* model,
                               v1::Rollout* rollout,
                               const StepDecision& decision) {
  using Action = StepDecision::Action;
  switch (decision.action) {
    case Action::kNone:
      return absl::OkStatus();
    case Action::kWaitForPods:
      rollout->set_state(v1::ROLLOUT_STATE_WAITING_FOR_PODS);
      rollout->set_status_message(decision.status_message);
      return w.tx().PutRollout(*rollout);
    case Action::kWaitForPromote:
      rollout->set_state(v1::ROLLOUT_STATE_WAITING_FOR_PROMOTE);
      rollout->set_status_message(decision.status_message);
      return w.tx().PutRollout(*rollout);
    case Action::kAdvance:
      return AdvanceRollout(w, model, rollout, "hold is over").status();
  }
  return absl::OkStatus();
}

// Starts the newest version that was validated while another rollout ran,
// if it is newer than production.
absl::Status StartWaitingVersion(RegistryWriter& w, v1::Model* model) {
  const std::string id(core::ModelIdOf(model->name()));
  absl::StatusOr<std::vector<v1::Version>> waiting =
      w.tx().ListVersions(id, S::VERSION_STATE_VALIDATED, 0, 1);
  if (!waiting.ok()) return waiting.status();
  if (waiting->empty() ||
      waiting->front().version() <= model->production_version()) {
    return absl::OkStatus();
  }
  v1::Version candidate = waiting->front();
  return StartRollout(w, model, &candidate, model->rollout_plan(),
                      "validated while another rollout ran")
      .status();
}

}  // namespace

bool RolloutActive(const v1::Rollout& rollout) {
  return rollout.state() != v1::ROLLOUT_STATE_UNSPECIFIED &&
         rollout.state() != v1::ROLLOUT_STATE_SUCCEEDED &&
         rollout.state() != v1::ROLLOUT_STATE_ABORTED;
}

absl::StatusOr<std::optional<v1::Rollout>> FindActiveRollout(
    RegistryTx& tx, const std::string& model) {
  absl::StatusOr<std::optional<v1::Rollout>> rollout = tx.GetRollout(model);
  if (!rollout.ok()) return rollout.status();
  if (rollout->has_value() && !RolloutActive(**rollout)) return std::nullopt;
  return rollout;
}

absl::StatusOr<v1::Rollout> ActiveRollout(RegistryTx& tx,
                                          const std::string& model) {
  absl::StatusOr<std::optional<v1::Rollout>> active =
      FindActiveRollout(tx, model);
  if (!active.ok()) return active.status();
  if (!active->has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("model ", model, " has no rollout in progress"));
  }
  return **active;
}

absl::StatusOr<StartedRollout> StartRollout(RegistryWriter& w, v1::Model* model,
                                            v1::Version* candidate,
                                            const v1::RolloutPlan& requested,
                                            const std::string& reason) {
  const std::string id(core::ModelIdOf(model->name()));
  absl::StatusOr<std::optional<v1::Rollout>> existing =
      FindActiveRollout(w.tx(), id);
  if (!existing.ok()) return existing.status();
  if (existing->has_value() &&
      (*existing)->candidate_version() != candidate->version()) {
    return absl::FailedPreconditionError(
        absl::StrCat("model ", id, " is rolling out version ",
                     (*existing)->candidate_version(), " (",
                     v1::RolloutState_Name((*existing)->state()),
                     "): promote or abort it first"));
  }
  StartedRollout started;
  v1::Rollout& rollout = started.rollout;
  rollout.set_model(id);
  rollout.set_candidate_version(candidate->version());
  rollout.set_stable_version(model->production_version());
  *rollout.mutable_plan() = EffectivePlan(requested);
  *rollout.mutable_start_time() = core::ToProto(w.now());
  *rollout.mutable_step_start_time() = core::ToProto(w.now());
  rollout.set_step_index(0);

  // Without a production version there is nothing to compare a canary or a
  // shadow with: the first version goes straight to production.
  const bool first = model->production_version() == 0;
  absl::StatusOr<v1::Deployment> d;
  if (rollout.plan().has_immediate() || first) {
    d = FinishRollout(
        w, model, &rollout, candidate,
        first ? "first version: promoted at once" : "immediate rollout");
    if (!d.ok()) return d.status();
    started.deployment = *std::move(d);
    return started;
  }
  d = EnterFirstPhase(w, model, candidate, &rollout, reason);
  if (!d.ok()) return d.status();
  if (absl::Status s =
          w.SaveRollout(model->name(), rollout, "rollout.start", reason);
      !s.ok()) {
    return s;
  }
  started.deployment = *std::move(d);
  return started;
}

absl::StatusOr<v1::Deployment> AdvanceRollout(RegistryWriter& w,
                                              v1::Model* model,
                                              v1::Rollout* rollout,
                                              const std::string& reason) {
  const std::string id(core::ModelIdOf(model->name()));
  absl::StatusOr<v1::Version> candidate =
      w.Version(id, rollout->candidate_version());
  if (!candidate.ok()) return candidate.status();
  const v1::RolloutPlan& plan = rollout->plan();
  const int next = rollout->step_index() + 1;
  // A shadow phase continues as a canary when the plan says so.
  if (plan.has_shadow() && rollout->step_index() < 0 &&
      plan.shadow().has_then_canary() &&
      !plan.shadow().then_canary().steps().empty()) {
    v1::RolloutPlan canary_plan = plan;
    *canary_plan.mutable_canary() = plan.shadow().then_canary();
    *rollout->mutable_plan() = canary_plan;
    if (absl::Status s =
            w.Transition(id, &*candidate, S::VERSION_STATE_CANARY, reason);
        !s.ok()) {
      return s;
    }
    rollout->set_step_index(0);
  } else if (plan.has_canary() && next < plan.canary().steps_size() &&
             plan.canary().steps(next).percent() < 100) {
    rollout->set_step_index(next);
  } else {
    return FinishRollout(w, model, rollout, &*candidate, reason);
  }
  const int percent =
      rollout->plan().canary().steps(rollout->step_index()).percent();
  rollout->set_current_percent(percent);
  rollout->set_state(v1::ROLLOUT_STATE_IN_PROGRESS);
  *rollout->mutable_step_start_time() = core::ToProto(w.now());
  rollout->set_step_observations(0);
  const std::string why =
      absl::StrCat("canary step ", rollout->step_index() + 1, ": ", percent,
                   " % (", reason, ")");
  rollout->set_status_message(why);
  if (absl::Status s =
          w.SaveRollout(model->name(), *rollout, "rollout.step", why);
      !s.ok()) {
    return s;
  }
  return w.Deploy(model,
                  {.stable = model->production_version(),
                   .canary = candidate->version(),
                   .canary_percent = percent,
                   .routing = rollout->plan().routing()},
                  why);
}

absl::StatusOr<v1::Deployment> FinishRollout(RegistryWriter& w,
                                             v1::Model* model,
                                             v1::Rollout* rollout,
                                             v1::Version* candidate,
                                             const std::string& reason) {
  const std::string id(core::ModelIdOf(model->name()));
  if (model->production_version() != 0 &&
      model->production_version() != candidate->version()) {
    absl::StatusOr<v1::Version> old =
        w.Version(id, model->production_version());
    if (!old.ok()) return old.status();
    if (old->state() == S::VERSION_STATE_PRODUCTION) {
      if (absl::Status s = w.Transition(
              id, &*old, S::VERSION_STATE_ARCHIVED,
              absl::StrCat("replaced by version ", candidate->version()));
          !s.ok()) {
        return s;
      }
    }
  }
  if (absl::Status s =
          w.Transition(id, candidate, S::VERSION_STATE_PRODUCTION, reason);
      !s.ok()) {
    return s;
  }
  rollout->set_state(v1::ROLLOUT_STATE_SUCCEEDED);
  rollout->set_current_percent(100);
  *rollout->mutable_end_time() = core::ToProto(w.now());
  rollout->set_status_message(reason);
  if (absl::Status s =
          w.SaveRollout(model->name(), *rollout, "rollout.step", reason);
      !s.ok()) {
    return s;
  }
  return w.Deploy(
      model,
      {.stable = candidate->version(), .routing = rollout->plan().routing()},
      reason);
}

absl::Status TickRollout(RegistryWriter& w, v1::Model* model,
                         const std::vector<PodView>& pods, absl::Time now,
                         absl::Time registry_start) {
  const std::string id(core::ModelIdOf(model->name()));
  absl::StatusOr<std::optional<v1::Rollout>> active =
      FindActiveRollout(w.tx(), id);
  if (!active.ok()) return active.status();
  if (!active->has_value()) {
    // A version validated while another rolled out waited in VALIDATED:
    // start the newest one now (unless the plan waits for Promote).
    if (model->rollout_plan().manual_start()) return absl::OkStatus();
    return StartWaitingVersion(w, model);
  }
  v1::Rollout rollout = **active;
  StepDecision decision = DecideStep(rollout, model->deployment_revision(),
                                     pods, now, registry_start);
  return ApplyStepDecision(w, model, &rollout, decision);
}

}  // namespace continuum::registry
