// The version state machine (registry.proto, VersionState):
//   REGISTERED -> VALIDATING
//   VALIDATING -> VALIDATED | REJECTED
//   VALIDATED  -> CANARY | SHADOW | PRODUCTION | ARCHIVED
//   SHADOW     -> CANARY | PRODUCTION | ROLLED_BACK
//   CANARY     -> PRODUCTION | ROLLED_BACK
//   PRODUCTION -> ARCHIVED | ROLLED_BACK
//   ARCHIVED   -> PRODUCTION (rollback only)
// REJECTED and ROLLED_BACK are final.
#ifndef CONTINUUM_SERVICES_REGISTRY_VERSION_STATE_H_
#define CONTINUUM_SERVICES_REGISTRY_VERSION_STATE_H_

#include "absl/status/status.h"
#include "continuum/v1/registry.pb.h"

namespace continuum::registry {

// Whether `from` -> `to` is a legal transition. ARCHIVED -> PRODUCTION is
// legal only when `rollback` is true.
bool IsLegalTransition(v1::VersionState from, v1::VersionState to,
                       bool rollback = false);

// OK, or FAILED_PRECONDITION naming the version, both states and the states
// it may go to, e.g. `models/fraud/versions/3 is VERSION_STATE_REJECTED
// (final): it cannot become VERSION_STATE_PRODUCTION`.
absl::Status CheckTransition(absl::string_view version_name,
                             v1::VersionState from, v1::VersionState to,
                             bool rollback = false);

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_VERSION_STATE_H_
