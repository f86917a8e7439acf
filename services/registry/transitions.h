// TransitionVersion (registry.proto): a version moved to another state by
// hand, with a reason. A move that changes what is served has the effect
// of the matching rollout command (rollout_commands.h), errors included:
//
//   from                to           effect
//   VALIDATED           PRODUCTION   Promote {version, complete}
//   VALIDATED           CANARY       Promote {version, plan}: the model's
//                                    canary or A/B plan, else the default
//                                    canary steps
//   VALIDATED           SHADOW       Promote {version, plan}: the model's
//                                    shadow plan, else the default shadow
//   SHADOW              CANARY       Promote: the plan's then_canary steps
//                                    (the default steps if it has none)
//   CANARY | SHADOW     PRODUCTION   Promote {complete}
//   CANARY | SHADOW     ROLLED_BACK  AbortRollout {expected candidate}
//   PRODUCTION          ROLLED_BACK  Rollback {expected production}
//   ARCHIVED            PRODUCTION   Rollback {to_version}
//   VALIDATED           ARCHIVED     the state change alone
//
// Refused: to VALIDATING, VALIDATED or REJECTED (INVALID_ARGUMENT: only
// SubmitValidation, which applies the gates, reaches them); PRODUCTION ->
// ARCHIVED (FAILED_PRECONDITION: only a replacement archives production);
// VALIDATED -> CANARY or SHADOW without a production version
// (FAILED_PRECONDITION: nothing to compare with); a version not in
// `expected_state` and any move version_state.h does not allow
// (FAILED_PRECONDITION naming the current state).
//
// Runs in the caller's transaction: not thread-safe on its own (the store
// serializes transactions).
#ifndef CONTINUUM_SERVICES_REGISTRY_TRANSITIONS_H_
#define CONTINUUM_SERVICES_REGISTRY_TRANSITIONS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "continuum/v1/registry.pb.h"
#include "services/registry/registry_writer.h"
#include "services/registry/versions.h"

namespace continuum::registry {

// Checks the target state alone: INVALID_ARGUMENT for UNSPECIFIED, a value
// VersionState does not define, and the states SubmitValidation owns, e.g.
//   to_state: VERSION_STATE_VALIDATED is reached only through
//   SubmitValidation, which applies the model's validation gates
absl::Status CheckTransitionTarget(v1::VersionState to);

// Moves `version` as the table above says. The response carries the
// version after the move and the deployment when one was made.
absl::StatusOr<v1::TransitionVersionResponse> ApplyTransition(
    RegistryWriter& w, const VersionNumber& version,
    const v1::TransitionVersionRequest& request);

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_TRANSITIONS_H_
