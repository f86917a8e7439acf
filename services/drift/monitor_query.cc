#include "services/drift/monitor_query.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/page_token.h"
#include "services/drift/monitor_config.h"

namespace continuum::drift_service {
namespace {

// The values a filter compares each key with.
absl::Status CheckFilterValues(const core::Filter& filter) {
  for (const auto& conjunction : filter.disjuncts()) {
    for (const core::Filter::Comparison& c : conjunction) {
      if (c.key == "name") {
        if (!ParseMonitorName(c.value).ok()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "filter: name takes a monitor name models/{model}/monitor (got "
              "\"",
              c.value, "\")"));
        }
      } else if (c.value != "true" && c.value != "false") {
        return absl::InvalidArgumentError(absl::StrCat(
            "filter: ", c.key, " takes true or false (got \"", c.value, "\")"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MonitorQuery> ParseMonitorQuery(
    const v1::ListMonitorsRequest& request) {
  MonitorQuery query;
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size must be >= 0");
  }
  query.page_size =
      request.page_size() == 0 ? 100 : std::min(request.page_size(), 1000);
  query.token_query = absl::StrCat("monitors\n", request.filter());
  absl::StatusOr<std::string> after =
      core::DecodePageToken(request.page_token(), query.token_query);
  if (!after.ok()) return after.status();
  query.after = *std::move(after);
  absl::StatusOr<core::Filter> filter =
      core::Filter::Parse(request.filter(), [](absl::string_view key) {
        return key == "name" || key == "disabled" || key == "is_default";
      });
  if (!filter.ok()) return filter.status();
  if (absl::Status s = CheckFilterValues(*filter); !s.ok()) return s;
  query.filter = *std::move(filter);
  return query;
}

bool MonitorMatches(const MonitorQuery& query, const v1::Monitor& monitor) {
  return query.filter.Matches(
      [&](absl::string_view key) -> std::optional<std::string> {
        if (key == "name") return monitor.name();
        if (key == "disabled") return monitor.disabled() ? "true" : "false";
        return monitor.is_default() ? "true" : "false";
      });
}

std::string NextMonitorPageToken(const MonitorQuery& query,
                                 absl::string_view last_model) {
  return core::EncodePageToken(last_model, query.token_query);
}

}  // namespace continuum::drift_service
