#include "lib/core/resource_names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

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

absl::StatusOr<std::vector<std::string>> MatchResourceName(
    absl::string_view name, absl::string_view pattern) {
  const std::vector<absl::string_view> want = absl::StrSplit(pattern, '/');
  const std::vector<absl::string_view> got = absl::StrSplit(name, '/');
  auto mismatch = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "name \"", name, "\" is not of the form ", pattern));
  };
  if (want.size() != got.size()) return mismatch();
  std::vector<std::string> values;
  for (size_t i = 0; i < want.size(); ++i) {
    absl::string_view w = want[i];
    if (w.size() >= 2 && w.front() == '{' && w.back() == '}') {
      if (got[i].empty()) return mismatch();
      const absl::string_view var = w.substr(1, w.size() - 2);
      if (var == "model" || var == "dataset") {
        absl::Status s = ValidateResourceId(
            var == "model" ? "model" : "data set", got[i]);
        if (!s.ok()) return s;
      }
      values.emplace_back(got[i]);
    } else if (w != got[i]) {
      return mismatch();
    }
  }
  return values;
}

std::string ModelName(absl::string_view model_id) {
  return absl::StrCat("models/", model_id);
}

std::string DatasetName(absl::string_view dataset_id) {
  return absl::StrCat("datasets/", dataset_id);
}

absl::string_view ModelIdOf(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, "models/")) return {};
  return name.substr(0, name.find('/'));
}

}  // namespace continuum::core
