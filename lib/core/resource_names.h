// Resource ids and names shared by the services (AIP-122 style):
// `datasets/{dataset}`, `models/{model}`, `models/{model}/versions/{v}`.
#ifndef CONTINUUM_LIB_CORE_RESOURCE_NAMES_H_
#define CONTINUUM_LIB_CORE_RESOURCE_NAMES_H_

#include <string>
#include <vector>

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

// Parses `name` against `pattern`, e.g. "models/{model}/versions/{version}":
// literal segments must be equal and each `{var}` takes one non-empty
// segment (no '/'). The values of `{model}` and `{dataset}` must also be
// valid ids (ValidateResourceId). Returns the variables' values in order.
// INVALID_ARGUMENT names the expected form, e.g.
//   name "models/fraud/run/3" is not of the form models/{model}/runs/{run}
// Example:
//   absl::StatusOr<std::vector<std::string>> parts =
//       MatchResourceName(name, "models/{model}/runs/{run}");
//   if (!parts.ok()) return parts.status();
//   const std::string& model = (*parts)[0];
absl::StatusOr<std::vector<std::string>> MatchResourceName(
    absl::string_view name, absl::string_view pattern);

// "models/{model_id}", "datasets/{dataset_id}".
std::string ModelName(absl::string_view model_id);
std::string DatasetName(absl::string_view dataset_id);

// The model id in a name the service built itself ("models/fraud" or
// "models/fraud/versions/3" -> "fraud"): no validation; "" when `name`
// does not start with "models/".
absl::string_view ModelIdOf(absl::string_view name);

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_RESOURCE_NAMES_H_
