// The query of DriftService.ListMonitors (drift.proto), checked: page
// size, page token and filter. Pure functions; thread-safe.
//
//   page_size   >= 0; 0 = 100, above 1000 = 1000
//   page_token  the next_page_token of the same filter
//               (core::DecodePageToken): the last model id of the
//               previous page, checksummed with the filter
//   filter      lib/core's Filter (= and !=, AND and OR) on `name` (a
//               monitor name, models/{model}/monitor), `disabled` and
//               `is_default` (true or false)
// Errors are INVALID_ARGUMENT naming the field, e.g.
//   page_token: not a token of this query (...)
//   filter: is_default takes true or false (got "flase")
//   filter: name takes a monitor name models/{model}/monitor (got "x")
#ifndef CONTINUUM_SERVICES_DRIFT_MONITOR_QUERY_H_
#define CONTINUUM_SERVICES_DRIFT_MONITOR_QUERY_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "continuum/v1/drift.pb.h"
#include "lib/core/filter.h"

namespace continuum::drift_service {

// A ListMonitorsRequest, checked.
struct MonitorQuery {
  int page_size = 100;
  // Only models with a greater id (from the page token); empty: from the
  // first.
  std::string after;
  core::Filter filter;
  // What the page tokens of this query are bound to: the filter.
  std::string token_query;
};

absl::StatusOr<MonitorQuery> ParseMonitorQuery(
    const v1::ListMonitorsRequest& request);

// Whether `monitor` matches the query's filter.
bool MonitorMatches(const MonitorQuery& query, const v1::Monitor& monitor);

// The next_page_token of a page whose last monitor is of `last_model`.
std::string NextMonitorPageToken(const MonitorQuery& query,
                                 absl::string_view last_model);

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_MONITOR_QUERY_H_
