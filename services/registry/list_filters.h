// The filters of ListModels and ListVersions (registry.proto): which keys
// each takes, their values checked when the filter is parsed, and whether
// a model or a version matches. Pure; thread-compatible (a parsed filter is
// immutable and may be shared).
//
// ListModels:   name, family (a ModelFamily value), labels.KEY.
// ListVersions: state (a VersionState value), version, parent.version
//               (integers), create_time (an RFC 3339 time), tags.KEY.
// Every key takes `=` and `!=`; version, parent.version and create_time
// also `<`, `<=`, `>`, `>=`. Enum values are written in full or without
// their prefix (`VERSION_STATE_CANARY` or `CANARY`). Errors are
// INVALID_ARGUMENT naming the problem, e.g.
//   filter: unknown key "colour" at offset 0
//   filter: "PRODUCTON" is not a value of continuum.v1.VersionState (key
//   state)
//   filter: "ten" is not an integer (key version)
//   filter: "yesterday" is not an RFC 3339 time such as
//   "2025-01-01T00:00:00Z" (key create_time)
//   filter: expected = or != after "state" at offset 6
#ifndef CONTINUUM_SERVICES_REGISTRY_LIST_FILTERS_H_
#define CONTINUUM_SERVICES_REGISTRY_LIST_FILTERS_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "continuum/v1/registry.pb.h"
#include "lib/core/filter.h"

namespace continuum::registry {

// A parsed ListModels filter; empty matches every model.
class ModelFilter {
 public:
  static absl::StatusOr<ModelFilter> Parse(absl::string_view text);
  bool Matches(const v1::Model& model) const;

 private:
  explicit ModelFilter(core::Filter filter) : filter_(std::move(filter)) {}
  core::Filter filter_;
};

// A parsed ListVersions filter; empty matches every version.
class VersionFilter {
 public:
  static absl::StatusOr<VersionFilter> Parse(absl::string_view text);
  bool Matches(const v1::Version& version) const;

 private:
  explicit VersionFilter(core::Filter filter) : filter_(std::move(filter)) {}
  core::Filter filter_;
};

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_LIST_FILTERS_H_
