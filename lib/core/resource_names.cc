#include "lib/core/resource_names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace continuum::core {

absl::Status ValidateResourceId(absl::string_view kind, absl::string_view id) {
  bool ok = !id.empty() && id.size() <= 63 &&
            (absl::ascii_islower(id[0]) || absl::ascii_isdigit(id[0]));
  for (char c : id) {
    ok = ok && (absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '.' ||
                c == '_' || c == '-');
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        kind, " id \"", id, "\" must match [a-z0-9][a-z0-9._-]{0,62}"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ParseResourceName(absl::string_view name,
                                              absl::string_view collection,
                                              absl::string_view kind) {
  const std::string prefix = absl::StrCat(collection, "/");
  if (!absl::StartsWith(name, prefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("name \"", name, "\" must have the form ", collection,
                     "/{", kind, "}"));
  }
  std::string id(name.substr(prefix.size()));
  if (absl::Status s = ValidateResourceId(kind, id); !s.ok()) return s;
  return id;
}

}  // namespace continuum::core
