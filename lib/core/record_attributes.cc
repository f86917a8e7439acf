#include "lib/core/record_attributes.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace continuum::core {

bool IsRecordAttributeKey(absl::string_view key) {
  if (key.empty() || key.size() > 63 || !absl::ascii_islower(key[0])) {
    return false;
  }
  for (char c : key) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '_') {
      return false;
    }
  }
  return true;
}

absl::Status CheckRecordAttributes(
    const google::protobuf::Map<std::string, std::string>& attributes) {
  size_t bytes = 0;
  for (const auto& [key, value] : attributes) {
    bytes += key.size() + value.size();
    if (!IsRecordAttributeKey(key)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "attribute key \"", key, "\" must match [a-z][a-z0-9_]{0,62}"));
    }
  }
  if (attributes.size() > kMaxRecordAttributes) {
    return absl::InvalidArgumentError(
        absl::StrCat(attributes.size(), " attributes; at most ",
                     kMaxRecordAttributes));
  }
  if (bytes > kMaxRecordAttributeBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("attributes take ", bytes, " bytes; at most ",
                     kMaxRecordAttributeBytes));
  }
  return absl::OkStatus();
}

}  // namespace continuum::core
