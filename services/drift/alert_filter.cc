#include "services/drift/alert_filter.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "lib/core/proto_time.h"

namespace continuum::drift_service {
namespace {

// The keys whose values are enum value names.
const absl::flat_hash_map<std::string, const google::protobuf::EnumDescriptor*>&
EnumKeys() {
  static const auto* keys =
      new absl::flat_hash_map<std::string,
                              const google::protobuf::EnumDescriptor*>{
          {"type", v1::AlertType_descriptor()},
          {"severity", v1::AlertSeverity_descriptor()},
          {"action_result.action", v1::DriftAction_descriptor()}};
  return *keys;
}

bool IsKey(absl::string_view key) {
  return key == "type" || key == "severity" || key == "version" ||
         key == "detector" || key == "feature_index" || key == "model" ||
         key == "create_time" || key == "action_result.action";
}

bool IsOrdered(absl::string_view key) {
  return key == "severity" || key == "version" || key == "feature_index" ||
         key == "create_time";
}

// The number of an enum value name checked by core::CheckFilterEnums:
// in full, or without the enum's prefix (AlertType -> ALERT_TYPE_).
int EnumNumber(const google::protobuf::EnumDescriptor* type,
               const std::string& value) {
  const google::protobuf::EnumValueDescriptor* found =
      type->FindValueByName(value);
  if (found == nullptr) {
    std::string prefix;
    for (char c : type->name()) {
      if (absl::ascii_isupper(c) && !prefix.empty()) prefix += '_';
      prefix += absl::ascii_toupper(c);
    }
    found = type->FindValueByName(absl::StrCat(prefix, "_", value));
  }
  return found == nullptr ? -1 : found->number();
}

// The comparison's value as a number of the key's kind (enum number,
// integer, microseconds since the epoch); the filter was checked.
int64_t ValueOf(const core::Filter::Comparison& c) {
  if (auto it = EnumKeys().find(c.key); it != EnumKeys().end()) {
    return EnumNumber(it->second, c.value);
  }
  if (c.key == "create_time") {
    return absl::ToUnixMicros(core::TimeValue(c).value_or(absl::UnixEpoch()));
  }
  return core::IntegerValue(c).value_or(0);
}

// The alert's value of a numeric key.
int64_t AlertValue(const v1::Alert& a, absl::string_view key) {
  if (key == "type") return a.type();
  if (key == "severity") return a.severity();
  if (key == "version") return a.version();
  if (key == "feature_index") return a.feature_index();
  if (key == "create_time") return core::ToUnixMicros(a.create_time());
  return a.action_result().action();
}

}  // namespace

absl::StatusOr<AlertFilter> AlertFilter::Parse(absl::string_view text) {
  absl::StatusOr<core::Filter> filter =
      core::Filter::Parse(text, IsKey, IsOrdered);
  if (!filter.ok()) return filter.status();
  if (absl::Status s = core::CheckFilterEnums(*filter, EnumKeys()); !s.ok()) {
    return s;
  }
  for (const auto& conjunction : filter->disjuncts()) {
    for (const core::Filter::Comparison& c : conjunction) {
      if (c.key == "version" || c.key == "feature_index") {
        if (absl::Status s = core::IntegerValue(c).status(); !s.ok()) return s;
      } else if (c.key == "create_time") {
        if (absl::Status s = core::TimeValue(c).status(); !s.ok()) return s;
      }
    }
  }
  AlertFilter out;
  out.filter_ = *std::move(filter);
  return out;
}

bool AlertFilter::Matches(const v1::Alert& alert) const {
  return filter_.Evaluate([&](const core::Filter::Comparison& c) {
    if (c.key == "detector" || c.key == "model") {
      const std::string& value =
          c.key == "detector" ? alert.detector() : alert.model();
      return (value == c.value) == (c.op == core::Filter::Op::kEqual);
    }
    const int64_t value = AlertValue(alert, c.key);
    const int64_t wanted = ValueOf(c);
    return core::OrderHolds(c.op, value < wanted ? -1 : value > wanted ? 1 : 0);
  });
}

}  // namespace continuum::drift_service
