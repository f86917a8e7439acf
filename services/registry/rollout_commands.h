// The operators' rollout commands inside a registry transaction: Promote,
// SetTraffic, PauseRollout, ResumeRollout, AbortRollout and Rollback. The
// Registry facade checks each request's fields first (INVALID_ARGUMENT);
// these functions check the state (FAILED_PRECONDITION naming it, NOT_FOUND
// for a missing model or version), then change it through rollouts.h and
// the RegistryWriter, audited, with a deployment revision where the
// traffic changes.
//
// Run in the caller's transaction: not thread-safe on their own (the store
// serializes transactions).
#ifndef CONTINUUM_SERVICES_REGISTRY_ROLLOUT_COMMANDS_H_
#define CONTINUUM_SERVICES_REGISTRY_ROLLOUT_COMMANDS_H_

#include <string>

#include "absl/status/statusor.h"
#include "continuum/v1/registry.pb.h"
#include "services/registry/registry_writer.h"

namespace continuum::registry {

// With a version that is not the active candidate: starts its rollout (it
// must be VALIDATED) on the request's plan or the model's (`complete`:
// immediate). Without one, or naming the candidate: moves the active
// rollout a step on, or to production with `complete` or an A/B plan.
absl::StatusOr<v1::PromoteResponse> ApplyPromote(
    RegistryWriter& w, const std::string& model,
    const v1::PromoteRequest& request);

// Pins the canary's share of the active rollout and pauses it
// (FAILED_PRECONDITION in a shadow phase).
absl::StatusOr<v1::SetTrafficResponse> ApplySetTraffic(
    RegistryWriter& w, const std::string& model,
    const v1::SetTrafficRequest& request);

absl::StatusOr<v1::PauseRolloutResponse> ApplyPause(
    RegistryWriter& w, const std::string& model,
    const v1::PauseRolloutRequest& request);

// Resumes a paused rollout: its step's hold starts again and traffic
// returns to the step's share (an A/B plan to its split, waiting for
// Promote).
absl::StatusOr<v1::ResumeRolloutResponse> ApplyResume(
    RegistryWriter& w, const std::string& model,
    const v1::ResumeRolloutRequest& request);

// Ends the active rollout: the candidate ROLLED_BACK, production alone.
absl::StatusOr<v1::AbortRolloutResponse> ApplyAbort(
    RegistryWriter& w, const std::string& model,
    const v1::AbortRolloutRequest& request);

// Withdraws production (ROLLED_BACK) for the version named, or the newest
// ARCHIVED one that served production, abandoning an active rollout.
absl::StatusOr<v1::RollbackResponse> ApplyRollback(
    RegistryWriter& w, const std::string& model,
    const v1::RollbackRequest& request);

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_ROLLOUT_COMMANDS_H_
