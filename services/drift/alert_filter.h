// AlertFilter: the `filter` of DriftService.ListAlerts (drift.proto),
// parsed and checked once, then matched against each alert. The grammar
// is lib/core's Filter (comparisons joined by AND and OR, AND binding
// tighter, no parentheses); this says what each key takes:
//   type, action_result.action   an AlertType / DriftAction value, in full
//                                (ALERT_TYPE_DATA) or without the prefix
//                                (DATA); = and != only
//   severity                     an AlertSeverity value, also with <, <=,
//                                >, >= (by number: severity >=
//                                ALERT_SEVERITY_WARNING)
//   version, feature_index       an integer; all six operators
//   create_time                  a quoted RFC 3339 time, e.g. create_time
//                                > "2025-01-01T00:00:00Z"; all six
//   detector, model              any text; = and != only
// Anything else is INVALID_ARGUMENT, so that a misspelt key or value is
// not mistaken for an empty result (lib/core's messages):
//   filter: unknown key "colour" at offset 0
//   filter: "ALERT_TYPE_DAT" is not a value of continuum.v1.AlertType (key
//   type)
//   filter: expected = or != after "type" at offset 5
//   filter: "two" is not an integer (key version)
//   filter: "yesterday" is not an RFC 3339 time such as
//   "2025-01-01T00:00:00Z" (key create_time)
//
// Thread-safe once parsed (Matches is const).
#ifndef CONTINUUM_SERVICES_DRIFT_ALERT_FILTER_H_
#define CONTINUUM_SERVICES_DRIFT_ALERT_FILTER_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "continuum/v1/drift.pb.h"
#include "lib/core/filter.h"

namespace continuum::drift_service {

class AlertFilter {
 public:
  // Parses and checks `text`; an empty text matches every alert.
  static absl::StatusOr<AlertFilter> Parse(absl::string_view text);

  // Whether `alert` matches.
  bool Matches(const v1::Alert& alert) const;

  bool empty() const { return filter_.empty(); }

 private:
  core::Filter filter_;
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_ALERT_FILTER_H_
