// Resource ids and names shared by the services (AIP-122 style):
// `datasets/{dataset}`, `models/{model}`, `models/{model}/versions/{v}`.
#ifndef CONTINUUM_LIB_CORE_RESOURCE_NAMES_H_
#define CONTINUUM_LIB_CORE_RESOURCE_NAMES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace continuum::core {

// Checks an id: `[a-z0-9][a-z0-9._-]{0,62}` as a whole. INVALID_ARGUMENT
// says which kind of id ("data set", "model") and the rule.
absl::Status ValidateResourceId(absl::string_view kind, absl::string_view id);

// Returns the id of `name` = "<collection>/<id>" (e.g. collection
// "models"), validated. INVALID_ARGUMENT shows the expected form.
absl::StatusOr<std::string> ParseResourceName(absl::string_view name,
                                              absl::string_view collection,
                                              absl::string_view kind);

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_RESOURCE_NAMES_H_
