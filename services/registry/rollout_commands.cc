#include "services/registry/rollout_commands.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "services/registry/rollout_plan.h"
#include "services/registry/rollouts.h"

namespace continuum::registry {
namespace {

using S = v1::VersionState;

// Promote naming a version that is not the active candidate: starts its
// rollout.
absl::StatusOr<v1::PromoteResponse> PromoteVersion(
    RegistryWriter& w, v1::Model* model, const std::string& id,
    const v1::PromoteRequest& request, const std::string& reason) {
  absl::StatusOr<v1::Version> version = w.Version(id, request.version());
  if (!version.ok()) return version.status();
  if (version->state() != S::VERSION_STATE_VALIDATED) {
    return absl::FailedPreconditionError(absl::StrCat(
        version->name(), " is ", v1::VersionState_Name(version->state()),
        ": only a VERSION_STATE_VALIDATED version can start a rollout"));
  }
  v1::RolloutPlan plan =
      request.has_plan() ? request.plan() : model->rollout_plan();
  if (request.complete()) plan.mutable_immediate();
  absl::StatusOr<StartedRollout> started =
      StartRollout(w, model, &*version, plan, reason);
  if (!started.ok()) return started.status();
  v1::PromoteResponse response;
  *response.mutable_rollout() = std::move(started->rollout);
  *response.mutable_deployment() = std::move(started->deployment);
  return response;
}

// Promote of the active rollout: a step on, or to production.
absl::StatusOr<v1::PromoteResponse> PromoteActive(
    RegistryWriter& w, v1::Model* model, const std::string& id,
    v1::Rollout rollout, bool complete, const std::string& reason) {
  absl::StatusOr<v1::Deployment> d;
  if (complete || rollout.plan().has_ab()) {
    absl::StatusOr<v1::Version> candidate =
        w.Version(id, rollout.candidate_version());
    if (!candidate.ok()) return candidate.status();
    d = FinishRollout(w, model, &rollout, &*candidate, reason);
  } else {
    d = AdvanceRollout(w, model, &rollout, reason);
  }
  if (!d.ok()) return d.status();
  v1::PromoteResponse response;
  *response.mutable_rollout() = std::move(rollout);
  *response.mutable_deployment() = *std::move(d);
  return response;
}

// The version a Rollback restores: the one named, or the newest ARCHIVED
// version that served as production (one archived straight from VALIDATED
// never did).
absl::StatusOr<int64_t> RollbackTarget(RegistryTx& tx, const std::string& id,
                                       const v1::RollbackRequest& request) {
  if (request.to_version() != 0) return request.to_version();
  absl::StatusOr<std::vector<v1::Version>> archived =
      tx.ListVersions(id, S::VERSION_STATE_ARCHIVED, 0, 1 << 20);
  if (!archived.ok()) return archived.status();
  for (const v1::Version& v : *archived) {  // Newest first.
    for (const v1::StateChange& c : v.state_history()) {
      if (c.to_state() == S::VERSION_STATE_PRODUCTION) return v.version();
    }
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "model ", id,
      " has no archived version that served production to roll back to"));
}

// A rollout in progress when production is rolled back is abandoned: its
// candidate ROLLED_BACK, the rollout ABORTED.
absl::Status AbandonActiveRollout(RegistryWriter& w, const std::string& id,
                                  const std::string& reason) {
  absl::StatusOr<std::optional<v1::Rollout>> active =
      FindActiveRollout(w.tx(), id);
  if (!active.ok()) return active.status();
  if (!active->has_value()) return absl::OkStatus();
  v1::Rollout rollout = **active;
  absl::StatusOr<v1::Version> candidate =
      w.Version(id, rollout.candidate_version());
  if (!candidate.ok()) return candidate.status();
  if (absl::Status s =
          w.Transition(id, &*candidate, S::VERSION_STATE_ROLLED_BACK,
                       absl::StrCat("rollback: ", reason));
      !s.ok()) {
    return s;
  }
  rollout.set_state(v1::ROLLOUT_STATE_ABORTED);
  *rollout.mutable_end_time() = core::ToProto(w.now());
  rollout.set_status_message("aborted by a rollback");
  return w.tx().PutRollout(rollout);
}

// The checks of a Rollback against the model's state.
absl::Status CheckRollback(const v1::Model& model, const std::string& id,
                           const v1::RollbackRequest& request) {
  if (model.production_version() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("model ", id, " has no production version to roll back"));
  }
  if (request.expected_production_version() != 0 &&
      request.expected_production_version() != model.production_version()) {
    return absl::FailedPreconditionError(
        absl::StrCat("production is version ", model.production_version(),
                     ", not ", request.expected_production_version()));
  }
  return absl::OkStatus();
}

// A model and its active rollout.
struct ModelRollout {
  v1::Model model;
  v1::Rollout rollout;
};

// NOT_FOUND without the model, FAILED_PRECONDITION without an active
// rollout.
absl::StatusOr<ModelRollout> LoadActiveRollout(RegistryWriter& w,
                                               const std::string& id) {
  absl::StatusOr<v1::Model> model = w.Model(id);
  if (!model.ok()) return model.status();
  absl::StatusOr<v1::Rollout> rollout = ActiveRollout(w.tx(), id);
  if (!rollout.ok()) return rollout.status();
  return ModelRollout{*std::move(model), *std::move(rollout)};
}

}  // namespace

absl::StatusOr<v1::PromoteResponse> ApplyPromote(
    RegistryWriter& w, const std::string& id,
    const v1::PromoteRequest& request) {
  absl::StatusOr<v1::Model> model = w.Model(id);
  if (!model.ok()) return model.status();
  absl::StatusOr<std::optional<v1::Rollout>> active =
      FindActiveRollout(w.tx(), id);
  if (!active.ok()) return active.status();
  const std::string reason =
      request.reason().empty() ? "promoted" : request.reason();
  if (request.version() != 0 &&
      (!active->has_value() ||
       (*active)->candidate_version() != request.version())) {
    return PromoteVersion(w, &*model, id, request, reason);
  }
  if (!active->has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "model ", id, " has no rollout in progress: name a validated version"));
  }
  return PromoteActive(w, &*model, id, **active, request.complete(), reason);
}

absl::StatusOr<v1::SetTrafficResponse> ApplySetTraffic(
    RegistryWriter& w, const std::string& id,
    const v1::SetTrafficRequest& request) {
  absl::StatusOr<ModelRollout> active = LoadActiveRollout(w, id);
  if (!active.ok()) return active.status();
  v1::Model* model = &active->model;
  v1::Rollout* rollout = &active->rollout;
  if (rollout->step_index() < 0) {
    return absl::FailedPreconditionError(
        "the rollout is in its shadow phase: there is no canary traffic to "
        "set");
  }
  const std::string reason =
      request.reason().empty() ? "traffic set" : request.reason();
  rollout->set_current_percent(request.canary_percent());
  rollout->set_state(v1::ROLLOUT_STATE_PAUSED);
  rollout->set_status_message(absl::StrCat(
      "traffic set to ", request.canary_percent(), " %: ", reason));
  if (absl::Status s =
          w.SaveRollout(model->name(), *rollout, "traffic.set", reason);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<v1::Deployment> d =
      w.Deploy(model,
               {.stable = model->production_version(),
                .canary = rollout->candidate_version(),
                .canary_percent = request.canary_percent(),
                .routing = rollout->plan().routing()},
               absl::StrCat("traffic set to ", request.canary_percent(), " %"));
  if (!d.ok()) return d.status();
  v1::SetTrafficResponse response;
  *response.mutable_rollout() = std::move(*rollout);
  *response.mutable_deployment() = *std::move(d);
  return response;
}

absl::StatusOr<v1::PauseRolloutResponse> ApplyPause(
    RegistryWriter& w, const std::string& id,
    const v1::PauseRolloutRequest& request) {
  absl::StatusOr<ModelRollout> active = LoadActiveRollout(w, id);
  if (!active.ok()) return active.status();
  v1::Model* model = &active->model;
  v1::Rollout* rollout = &active->rollout;
  rollout->set_state(v1::ROLLOUT_STATE_PAUSED);
  rollout->set_status_message(request.reason().empty() ? "paused"
                                                       : request.reason());
  if (absl::Status s = w.SaveRollout(model->name(), *rollout, "rollout.pause",
                                     request.reason());
      !s.ok()) {
    return s;
  }
  v1::PauseRolloutResponse response;
  *response.mutable_rollout() = std::move(*rollout);
  return response;
}

absl::StatusOr<v1::ResumeRolloutResponse> ApplyResume(
    RegistryWriter& w, const std::string& id,
    const v1::ResumeRolloutRequest& request) {
  absl::StatusOr<ModelRollout> active = LoadActiveRollout(w, id);
  if (!active.ok()) return active.status();
  v1::Model* model = &active->model;
  v1::Rollout* rollout = &active->rollout;
  if (rollout->state() != v1::ROLLOUT_STATE_PAUSED) {
    return absl::FailedPreconditionError(
        absl::StrCat("the rollout is ", v1::RolloutState_Name(rollout->state()),
                     ", not paused"));
  }
  rollout->set_state(v1::ROLLOUT_STATE_IN_PROGRESS);
  *rollout->mutable_step_start_time() = core::ToProto(w.now());
  rollout->set_status_message(request.reason().empty() ? "resumed"
                                                       : request.reason());
  // A canary continues from the share it has (an operator's SetTraffic
  // included): at the last step whose share does not exceed it, keeping that
  // share for the step's hold, so that the next step is the plan's first
  // above it (40 % between steps of 25 and 50 % goes on to 50 %, not back to
  // 10 %). A share below the first step's returns to the first step.
  int percent = rollout->current_percent();
  if (rollout->step_index() >= 0 && rollout->plan().has_canary()) {
    const auto& steps = rollout->plan().canary().steps();
    int at = -1;
    for (int i = 0; i < steps.size(); ++i) {
      if (steps[i].percent() <= percent) at = i;
    }
    if (at < 0) {
      at = 0;
      percent = steps[0].percent();
    }
    rollout->set_step_index(at);
  } else if (rollout->plan().has_ab()) {
    percent = AbCandidatePercent(rollout->plan());
    rollout->set_state(v1::ROLLOUT_STATE_WAITING_FOR_PROMOTE);
  }
  rollout->set_current_percent(percent);
  if (absl::Status s = w.SaveRollout(model->name(), *rollout, "rollout.resume",
                                     request.reason());
      !s.ok()) {
    return s;
  }
  v1::ResumeRolloutResponse response;
  if (rollout->step_index() >= 0) {
    absl::StatusOr<v1::Deployment> d =
        w.Deploy(model,
                 {.stable = model->production_version(),
                  .canary = rollout->candidate_version(),
                  .canary_percent = percent,
                  .routing = rollout->plan().routing()},
                 absl::StrCat("resumed at ", percent, " %"));
    if (!d.ok()) return d.status();
    *response.mutable_deployment() = *std::move(d);
  }
  *response.mutable_rollout() = std::move(*rollout);
  return response;
}

absl::StatusOr<v1::AbortRolloutResponse> ApplyAbort(
    RegistryWriter& w, const std::string& id,
    const v1::AbortRolloutRequest& request) {
  absl::StatusOr<ModelRollout> active = LoadActiveRollout(w, id);
  if (!active.ok()) return active.status();
  v1::Model* model = &active->model;
  v1::Rollout* rollout = &active->rollout;
  if (request.expected_candidate_version() != 0 &&
      request.expected_candidate_version() != rollout->candidate_version()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the rollout's candidate is version ", rollout->candidate_version(),
        ", not ", request.expected_candidate_version()));
  }
  const std::string reason =
      request.reason().empty() ? "aborted" : request.reason();
  absl::StatusOr<v1::Version> candidate =
      w.Version(id, rollout->candidate_version());
  if (!candidate.ok()) return candidate.status();
  if (absl::Status s =
          w.Transition(id, &*candidate, S::VERSION_STATE_ROLLED_BACK, reason);
      !s.ok()) {
    return s;
  }
  rollout->set_state(v1::ROLLOUT_STATE_ABORTED);
  rollout->set_current_percent(0);
  *rollout->mutable_end_time() = core::ToProto(w.now());
  rollout->set_status_message(reason);
  if (absl::Status s =
          w.SaveRollout(model->name(), *rollout, "rollout.abort", reason);
      !s.ok()) {
    return s;
  }
  absl::StatusOr<v1::Deployment> d =
      w.Deploy(model,
               {.stable = model->production_version(),
                .routing = rollout->plan().routing()},
               absl::StrCat("rollout aborted: ", reason));
  if (!d.ok()) return d.status();
  v1::AbortRolloutResponse response;
  *response.mutable_rollout() = std::move(*rollout);
  *response.mutable_deployment() = *std::move(d);
  return response;
}

absl::StatusOr<v1::RollbackResponse> ApplyRollback(
    RegistryWriter& w, const std::string& id,
    const v1::RollbackRequest& request) {
  absl::StatusOr<v1::Model> model = w.Model(id);
  if (!model.ok()) return model.status();
  if (absl::Status s = CheckRollback(*model, id, request); !s.ok()) return s;
  absl::StatusOr<int64_t> target = RollbackTarget(w.tx(), id, request);
  if (!target.ok()) return target.status();
  absl::StatusOr<v1::Version> restored = w.Version(id, *target);
  if (!restored.ok()) return restored.status();
  absl::StatusOr<v1::Version> withdrawn =
      w.Version(id, model->production_version());
  if (!withdrawn.ok()) return withdrawn.status();
  if (restored->state() != S::VERSION_STATE_ARCHIVED) {
    return absl::FailedPreconditionError(absl::StrCat(
        restored->name(), " is ", v1::VersionState_Name(restored->state()),
        ": only a VERSION_STATE_ARCHIVED version can be rolled back to"));
  }
  if (absl::Status s = AbandonActiveRollout(w, id, request.reason()); !s.ok()) {
    return s;
  }
  if (absl::Status s = w.Transition(
          id, &*withdrawn, S::VERSION_STATE_ROLLED_BACK, request.reason());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = w.Transition(id, &*restored, S::VERSION_STATE_PRODUCTION,
                                    request.reason(), /*rollback=*/true);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = w.Audit("model.rollback", model->name(), &*withdrawn,
                               &*restored, request.reason());
      !s.ok()) {
    return s;
  }
  absl::StatusOr<v1::Deployment> d =
      w.Deploy(&*model,
               {.stable = restored->version(),
                .routing = model->rollout_plan().routing()},
               absl::StrCat("rollback: ", request.reason()));
  if (!d.ok()) return d.status();
  v1::RollbackResponse response;
  *response.mutable_restored() = *std::move(restored);
  *response.mutable_withdrawn() = *std::move(withdrawn);
  *response.mutable_deployment() = *std::move(d);
  return response;
}

}  // namespace continuum::registry
