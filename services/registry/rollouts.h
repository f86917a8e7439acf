// Rollouts inside a registry transaction: starting a VALIDATED candidate on
// its plan, moving it a step on, finishing it (the candidate PRODUCTION, the
// old production version ARCHIVED), and the automatic work of one model at
// a tick. Each change stores the rollout, audits it and, where the traffic
// changes, makes a deployment revision (RegistryWriter::Deploy).
//
//   plan       first phase                        then
//   immediate  PRODUCTION at once                 -
//   canary     CANARY at steps[0] %, IN_PROGRESS  each step after its hold
//   ab         CANARY at the A/B share,           Promote finishes it
//              WAITING_FOR_PROMOTE
//   shadow     SHADOW (copies, no answers),       then_canary's steps, or
//              IN_PROGRESS, step_index -1         Promote / auto_promote
// A model without a production version skips to PRODUCTION whatever its
// plan: there is nothing to compare a canary or a shadow with.
//
// Run in the caller's transaction through its RegistryWriter: not
// thread-safe on their own (the store serializes transactions).
#ifndef CONTINUUM_SERVICES_REGISTRY_ROLLOUTS_H_
#define CONTINUUM_SERVICES_REGISTRY_ROLLOUTS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "continuum/v1/registry.pb.h"
#include "services/registry/registry_store.h"
#include "services/registry/registry_writer.h"
#include "services/registry/rollout_step.h"

namespace continuum::registry {

// Whether `rollout` is still running (not SUCCEEDED, ABORTED or unset).
bool RolloutActive(const v1::Rollout& rollout);

// The rollout of `model` if one is active, else nullopt.
absl::StatusOr<std::optional<v1::Rollout>> FindActiveRollout(
    RegistryTx& tx, const std::string& model);

// The active rollout of `model`; FAILED_PRECONDITION "model x has no
// rollout in progress" when none is.
absl::StatusOr<v1::Rollout> ActiveRollout(RegistryTx& tx,
                                          const std::string& model);

struct StartedRollout {
  v1::Rollout rollout;
  v1::Deployment deployment;
};

// Starts `requested` (its defaults filled in) for the VALIDATED `candidate`
// of `model`. FAILED_PRECONDITION when another candidate's rollout is
// active.
absl::StatusOr<StartedRollout> StartRollout(RegistryWriter& w, v1::Model* model,
                                            v1::Version* candidate,
                                            const v1::RolloutPlan& requested,
                                            const std::string& reason);

// Moves an active rollout one step on: from the shadow phase to the first
// canary step of then_canary, to the next canary step below 100 %, or, at
// the end, to production (FinishRollout).
absl::StatusOr<v1::Deployment> AdvanceRollout(RegistryWriter& w,
                                              v1::Model* model,
                                              v1::Rollout* rollout,
                                              const std::string& reason);

// Makes `candidate` PRODUCTION (the old production version ARCHIVED), marks
// the rollout SUCCEEDED and deploys the candidate alone.
absl::StatusOr<v1::Deployment> FinishRollout(RegistryWriter& w,
                                             v1::Model* model,
                                             v1::Rollout* rollout,
                                             v1::Version* candidate,
                                             const std::string& reason);

// The automatic work on one model at a tick at `now`: applies DecideStep
// to its active rollout (`pods`: the model's ready pods; `registry_start`:
// when this registry started), or, without one, starts the newest version
// validated while another rollout ran (unless the plan says manual_start).
absl::Status TickRollout(RegistryWriter& w, v1::Model* model,
                         const std::vector<PodView>& pods, absl::Time now,
                         absl::Time registry_start);

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_ROLLOUTS_H_
