// The rules of a record's attributes (common.proto Record.attributes),
// shared by the collector, which stores them, and the inference service,
// which checks the attributes of a request's logged rows before it
// answers, so that one client's bad attribute never reaches the
// collector's all-or-nothing batches with other clients' rows.
#ifndef CONTINUUM_LIB_CORE_RECORD_ATTRIBUTES_H_
#define CONTINUUM_LIB_CORE_RECORD_ATTRIBUTES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/map.h"

namespace continuum::core {

inline constexpr int kMaxRecordAttributes = 32;
// Keys and values together.
inline constexpr int kMaxRecordAttributeBytes = 4096;

// `[a-z][a-z0-9_]{0,62}` as a whole.
bool IsRecordAttributeKey(absl::string_view key);

// OK, or INVALID_ARGUMENT without a field prefix, the first of:
//   attribute key "Site" must match [a-z][a-z0-9_]{0,62}
//   40 attributes; at most 32
//   attributes take 5000 bytes; at most 4096
absl::Status CheckRecordAttributes(
    const google::protobuf::Map<std::string, std::string>& attributes);

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_RECORD_ATTRIBUTES_H_
