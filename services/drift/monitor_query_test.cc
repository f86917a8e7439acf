// ListMonitors' query: page size, opaque page tokens and the filter.
#include "services/drift/monitor_query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "services/drift/monitor_config.h"

namespace continuum::drift_service {
namespace {

using ::testing::HasSubstr;

std::string Invalid(const v1::ListMonitorsRequest& request) {
  absl::StatusOr<MonitorQuery> query = ParseMonitorQuery(request);
  EXPECT_EQ(query.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(query.status().message());
}

TEST(MonitorQueryTest, PageSizeDefaultsAndCaps) {
  v1::ListMonitorsRequest request;
  EXPECT_EQ(ParseMonitorQuery(request)->page_size, 100);
  request.set_page_size(5000);
  EXPECT_EQ(ParseMonitorQuery(request)->page_size, 1000);
  request.set_page_size(-1);
  EXPECT_EQ(Invalid(request), "page_size must be >= 0");
}

TEST(MonitorQueryTest, TokensRoundTripAndAreBoundToTheFilter) {
  v1::ListMonitorsRequest request;
  request.set_filter("disabled = false");
  absl::StatusOr<MonitorQuery> first = ParseMonitorQuery(request);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->after.empty());
  const std::string token = NextMonitorPageToken(*first, "fraud");
  EXPECT_NE(token, "fraud");
  request.set_page_token(token);
  absl::StatusOr<MonitorQuery> next = ParseMonitorQuery(request);
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->after, "fraud");
  // The bare model id (what tokens used to be), an edited token, and the
  // token of another filter.
  for (const std::string& bad :
       {std::string("fraud"), token.substr(1), token + "x"}) {
    request.set_page_token(bad);
    EXPECT_THAT(Invalid(request), HasSubstr("page_token")) << bad;
  }
  request.set_page_token(token);
  request.set_filter("disabled = true");
  EXPECT_THAT(Invalid(request), HasSubstr("page_token"));
}

TEST(MonitorQueryTest, FilterKeysAndValues) {
  v1::ListMonitorsRequest request;
  request.set_filter("is_default = false AND name = \"models/a/monitor\"");
  absl::StatusOr<MonitorQuery> query = ParseMonitorQuery(request);
  ASSERT_TRUE(query.ok()) << query.status();
  v1::Monitor a = DefaultMonitor("a");
  EXPECT_FALSE(MonitorMatches(*query, a));
  a.set_is_default(false);
  EXPECT_TRUE(MonitorMatches(*query, a));
  EXPECT_FALSE(MonitorMatches(*query, DefaultMonitor("b")));

  request.set_filter("is_default = flase");
  EXPECT_EQ(Invalid(request),
            "filter: is_default takes true or false (got \"flase\")");
  request.set_filter("disabled != 1");
  EXPECT_EQ(Invalid(request),
            "filter: disabled takes true or false (got \"1\")");
  request.set_filter("name = fraud");
  EXPECT_EQ(Invalid(request),
            "filter: name takes a monitor name models/{model}/monitor (got "
            "\"fraud\")");
  request.set_filter("colour = red");
  EXPECT_THAT(Invalid(request), HasSubstr("unknown key \"colour\""));
}

}  // namespace
}  // namespace continuum::drift_service
