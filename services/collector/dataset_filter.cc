#include "services/collector/dataset_filter.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace continuum::collector {
namespace {

constexpr absl::string_view kLabelKindKey = "schema.label_kind";
constexpr absl::string_view kLabelsPrefix = "labels.";

bool KeyAllowed(absl::string_view key) {
  return key == "name" || key == kLabelKindKey ||
         (absl::StartsWith(key, kLabelsPrefix) &&
          key.size() > kLabelsPrefix.size());
}

// The LabelKind `value` names in full or without the prefix; Parse checked
// that it names one.
v1::LabelKind LabelKindOf(const std::string& value) {
  v1::LabelKind kind = v1::LABEL_KIND_UNSPECIFIED;
  if (!v1::LabelKind_Parse(value, &kind)) {
    (void)v1::LabelKind_Parse(absl::StrCat("LABEL_KIND_", value), &kind);
  }
  return kind;
}

// Whether `c`'s key has `c`'s value in `d` (before `!=` is applied).
bool Equal(const v1::Dataset& d, const core::Filter::Comparison& c) {
  if (c.key == "name") return d.name() == c.value;
  if (c.key == kLabelKindKey) {
    return d.schema().label_kind() == LabelKindOf(c.value);
  }
  auto it = d.labels().find(c.key.substr(kLabelsPrefix.size()));
  return it != d.labels().end() && it->second == c.value;
}

}  // namespace

absl::StatusOr<DatasetFilter> DatasetFilter::Parse(absl::string_view text) {
  absl::StatusOr<core::Filter> filter = core::Filter::Parse(text, KeyAllowed);
  if (!filter.ok()) return filter.status();
  if (absl::Status s = core::CheckFilterEnums(
          *filter, {{std::string(kLabelKindKey), v1::LabelKind_descriptor()}});
      !s.ok()) {
    return s;
  }
  return DatasetFilter(*std::move(filter));
}

bool DatasetFilter::Matches(const v1::Dataset& dataset) const {
  if (filter_.empty()) return true;
  // core::Filter::Matches compares text; a label kind compares by value, so
  // that both spellings of it match.
  return std::any_of(
      filter_.disjuncts().begin(), filter_.disjuncts().end(),
      [&](const std::vector<core::Filter::Comparison>& conjunction) {
        return std::all_of(conjunction.begin(), conjunction.end(),
                           [&](const core::Filter::Comparison& c) {
                             return Equal(dataset, c) == c.equal;
                           });
      });
}

}  // namespace continuum::collector
