#include "services/registry/version_state.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace continuum::registry {
namespace {

std::vector<v1::VersionState> Next(v1::VersionState from) {
  using S = v1::VersionState;
  switch (from) {
    case S::VERSION_STATE_REGISTERED:
      return {S::VERSION_STATE_VALIDATING};
    case S::VERSION_STATE_VALIDATING:
      return {S::VERSION_STATE_VALIDATED, S::VERSION_STATE_REJECTED};
    case S::VERSION_STATE_VALIDATED:
      return {S::VERSION_STATE_CANARY, S::VERSION_STATE_SHADOW,
              S::VERSION_STATE_PRODUCTION, S::VERSION_STATE_ARCHIVED};
    case S::VERSION_STATE_SHADOW:
      return {S::VERSION_STATE_CANARY, S::VERSION_STATE_PRODUCTION,
              S::VERSION_STATE_ROLLED_BACK};
    case S::VERSION_STATE_CANARY:
      return {S::VERSION_STATE_PRODUCTION, S::VERSION_STATE_ROLLED_BACK};
    case S::VERSION_STATE_PRODUCTION:
      return {S::VERSION_STATE_ARCHIVED, S::VERSION_STATE_ROLLED_BACK};
    default:
      return {};
  }
}

}  // namespace

bool IsLegalTransition(v1::VersionState from, v1::VersionState to,
                       bool rollback) {
  if (from == v1::VERSION_STATE_ARCHIVED &&
      to == v1::VERSION_STATE_PRODUCTION) {
    return rollback;
  }
  for (v1::VersionState s : Next(from)) {
    if (s == to) return true;
  }
  return false;
}

absl::Status CheckTransition(absl::string_view version_name,
                             v1::VersionState from, v1::VersionState to,
                             bool rollback) {
  if (IsLegalTransition(from, to, rollback)) return absl::OkStatus();
  std::vector<std::string> allowed;
  for (v1::VersionState s : Next(from))
    allowed.push_back(v1::VersionState_Name(s));
  if (from == v1::VERSION_STATE_ARCHIVED) {
    allowed.push_back("VERSION_STATE_PRODUCTION (by Rollback only)");
  }
  return absl::FailedPreconditionError(absl::StrCat(
      version_name, " is ", v1::VersionState_Name(from),
      allowed.empty() ? " (final)" : "", ": it cannot become ",
      v1::VersionState_Name(to),
      allowed.empty()
          ? ""
          : absl::StrCat("; allowed next: ", absl::StrJoin(allowed, ", "))));
}

}  // namespace continuum::registry
