// DatasetFilter: the `filter` of ListDatasets (collector.proto), a
// core::Filter on the keys `name`, `schema.label_kind` and `labels.KEY`.
//
// A `schema.label_kind` value must name a LabelKind value, in full
// (`LABEL_KIND_CLASS`) or without its prefix (`CLASS`); both forms match
// the same data sets. A misspelt value is INVALID_ARGUMENT rather than a
// filter that silently matches nothing. Example:
//   absl::StatusOr<DatasetFilter> filter = DatasetFilter::Parse(
//       "labels.team = \"risk\" AND schema.label_kind = CLASS");
//   if (!filter.ok()) return filter.status();
//   if (filter->Matches(dataset)) ...
//
// Thread safety: immutable after Parse; Matches may run on any thread.
#ifndef CONTINUUM_SERVICES_COLLECTOR_DATASET_FILTER_H_
#define CONTINUUM_SERVICES_COLLECTOR_DATASET_FILTER_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "continuum/v1/collector.pb.h"
#include "lib/core/filter.h"

namespace continuum::collector {

class DatasetFilter {
 public:
  // Parses `text` (empty: matches every data set). INVALID_ARGUMENT for a
  // syntax error or an unknown key (core::Filter::Parse), or an undefined
  // label kind:
  //   filter: "LABEL_KIND_CLAS" is not a value of continuum.v1.LabelKind
  //   (key schema.label_kind)
  static absl::StatusOr<DatasetFilter> Parse(absl::string_view text);

  // Whether `dataset` satisfies the filter.
  bool Matches(const v1::Dataset& dataset) const;

 private:
  explicit DatasetFilter(core::Filter filter) : filter_(std::move(filter)) {}

  core::Filter filter_;
};

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_DATASET_FILTER_H_
