#include "services/registry/list_filters.h"

#include <google/protobuf/descriptor.h>

#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "lib/core/proto_time.h"

namespace continuum::registry {
namespace {

using Comparison = core::Filter::Comparison;
using Op = core::Filter::Op;

// Whether `value` names `number` of `type`, in full or without the prefix
// every value shares (the zero value's name without "UNSPECIFIED", e.g.
// "VERSION_STATE_"); CheckFilterEnums accepted both forms.
bool NamesEnumValue(const google::protobuf::EnumDescriptor* type, int number,
                    absl::string_view value) {
  const google::protobuf::EnumValueDescriptor* named =
      type->FindValueByNumber(number);
  if (named == nullptr) return false;
  if (named->name() == value) return true;
  absl::string_view prefix = type->value(0)->name();
  return absl::ConsumeSuffix(&prefix, "UNSPECIFIED") &&
         named->name() == absl::StrCat(prefix, value);
}

// `=` or `!=` between a value the object may lack and the comparison's.
bool StringHolds(const Comparison& c, const std::string* value) {
  const bool equal = value != nullptr && *value == c.value;
  return c.op == Op::kEqual ? equal : c.op == Op::kNotEqual && !equal;
}

template <typename T>
int Order(T actual, T wanted) {
  return actual < wanted ? -1 : (actual > wanted ? 1 : 0);
}

// The value of a map entry `prefix.KEY`, or null.
const std::string* MapValue(
    const google::protobuf::Map<std::string, std::string>& map,
    absl::string_view key, absl::string_view prefix) {
  auto it = map.find(std::string(key.substr(prefix.size())));
  return it == map.end() ? nullptr : &it->second;
}

}  // namespace

absl::StatusOr<ModelFilter> ModelFilter::Parse(absl::string_view text) {
  absl::StatusOr<core::Filter> filter =
      core::Filter::Parse(text, [](absl::string_view key) {
        return key == "name" || key == "family" ||
               (absl::StartsWith(key, "labels.") && key.size() > 7);
      });
  if (!filter.ok()) return filter.status();
  if (absl::Status s = core::CheckFilterEnums(
          *filter, {{"family", v1::ModelFamily_descriptor()}});
      !s.ok()) {
    return s;
  }
  return ModelFilter(*std::move(filter));
}

bool ModelFilter::Matches(const v1::Model& model) const {
  return filter_.Evaluate([&](const Comparison& c) {
    if (c.key == "family") {
      const bool equal =
          NamesEnumValue(v1::ModelFamily_descriptor(), model.family(), c.value);
      return core::OrderHolds(c.op, equal ? 0 : 1);
    }
    if (c.key == "name") return StringHolds(c, &model.name());
    return StringHolds(c, MapValue(model.labels(), c.key, "labels."));
  });
}

absl::StatusOr<VersionFilter> VersionFilter::Parse(absl::string_view text) {
  auto ordered = [](absl::string_view key) {
    return key == "version" || key == "parent.version" || key == "create_time";
  };
  absl::StatusOr<core::Filter> filter = core::Filter::Parse(
      text,
      [&](absl::string_view key) {
        return key == "state" || ordered(key) ||
               (absl::StartsWith(key, "tags.") && key.size() > 5);
      },
      ordered);
  if (!filter.ok()) return filter.status();
  if (absl::Status s = core::CheckFilterEnums(
          *filter, {{"state", v1::VersionState_descriptor()}});
      !s.ok()) {
    return s;
  }
  for (const auto& conjunction : filter->disjuncts()) {
    for (const Comparison& c : conjunction) {
      absl::Status s;
      if (c.key == "create_time") {
        s = core::TimeValue(c).status();
      } else if (c.key == "version" || c.key == "parent.version") {
        s = core::IntegerValue(c).status();
      }
      if (!s.ok()) return s;
    }
  }
  return VersionFilter(*std::move(filter));
}

bool VersionFilter::Matches(const v1::Version& version) const {
  return filter_.Evaluate([&](const Comparison& c) {
    if (c.key == "state") {
      const bool equal = NamesEnumValue(v1::VersionState_descriptor(),
                                        version.state(), c.value);
      return core::OrderHolds(c.op, equal ? 0 : 1);
    }
    if (c.key == "version" || c.key == "parent.version") {
      // Parse checked the value.
      const int64_t wanted = *core::IntegerValue(c);
      const int64_t actual =
          c.key == "version" ? version.version() : version.parent().version();
      return core::OrderHolds(c.op, Order(actual, wanted));
    }
    if (c.key == "create_time") {
      const absl::Time wanted = *core::TimeValue(c);
      return core::OrderHolds(
          c.op, Order(core::FromProto(version.create_time()), wanted));
    }
    return StringHolds(c, MapValue(version.tags(), c.key, "tags."));
  });
}

}  // namespace continuum::registry
