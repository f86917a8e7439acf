// ListAlerts' filter: keys, operators, enum values, numbers and times.
#include "services/drift/alert_filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "lib/core/proto_time.h"

namespace continuum::drift_service {
namespace {

using ::testing::HasSubstr;

v1::Alert Alert() {
  v1::Alert a;
  a.set_model("fraud");
  a.set_version(3);
  a.set_type(v1::ALERT_TYPE_DATA);
  a.set_severity(v1::ALERT_SEVERITY_WARNING);
  a.set_detector("reference_tests");
  a.set_feature_index(-1);
  *a.mutable_create_time() =
      core::ToProto(absl::FromUnixSeconds(1'750'000'000));  // 2025-06-15.
  a.mutable_action_result()->set_action(v1::DRIFT_ACTION_TRIGGER_RETRAIN);
  return a;
}

bool Matches(const std::string& text) {
  absl::StatusOr<AlertFilter> filter = AlertFilter::Parse(text);
  EXPECT_TRUE(filter.ok()) << text << ": " << filter.status();
  return filter.ok() && filter->Matches(Alert());
}

std::string Invalid(const std::string& text) {
  absl::StatusOr<AlertFilter> filter = AlertFilter::Parse(text);
  EXPECT_EQ(filter.status().code(), absl::StatusCode::kInvalidArgument) << text;
  return std::string(filter.status().message());
}

TEST(AlertFilterTest, EmptyMatchesEverything) {
  EXPECT_TRUE(AlertFilter::Parse("").value().empty());
  EXPECT_TRUE(Matches("  "));
}

TEST(AlertFilterTest, EnumsInFullOrWithoutPrefix) {
  EXPECT_TRUE(Matches("type = ALERT_TYPE_DATA"));
  EXPECT_TRUE(Matches("type = DATA"));
  EXPECT_TRUE(Matches("type = \"ALERT_TYPE_DATA\""));
  EXPECT_FALSE(Matches("type = CONCEPT"));
  EXPECT_TRUE(Matches("type != CONCEPT"));
  EXPECT_TRUE(Matches("action_result.action = DRIFT_ACTION_TRIGGER_RETRAIN"));
  EXPECT_TRUE(Matches("action_result.action = TRIGGER_RETRAIN"));
  EXPECT_FALSE(Matches("action_result.action = NONE"));
}

TEST(AlertFilterTest, OrderingComparisons) {
  EXPECT_TRUE(Matches("severity >= ALERT_SEVERITY_WARNING"));
  EXPECT_TRUE(Matches("severity >= INFO"));
  EXPECT_FALSE(Matches("severity > WARNING"));
  EXPECT_TRUE(Matches("severity < CRITICAL"));
  EXPECT_TRUE(Matches("severity <= WARNING"));
  EXPECT_TRUE(Matches("version >= 3 AND version < 4"));
  EXPECT_FALSE(Matches("version > 3"));
  EXPECT_TRUE(Matches("feature_index = -1"));
  EXPECT_TRUE(Matches("create_time > \"2025-01-01T00:00:00Z\""));
  EXPECT_FALSE(Matches("create_time > \"2025-07-01T00:00:00+02:00\""));
  EXPECT_TRUE(Matches("create_time <= \"2025-06-15T15:06:40Z\""));
}

TEST(AlertFilterTest, TextKeysAndBooleanStructure) {
  EXPECT_TRUE(Matches("model = fraud AND detector = reference_tests"));
  EXPECT_FALSE(Matches("model = spam"));
  // AND binds tighter than OR.
  EXPECT_TRUE(Matches("model = spam AND type = DATA OR version = 3"));
  EXPECT_FALSE(Matches("model = spam AND type = DATA OR version = 4"));
  EXPECT_TRUE(Matches("model=fraud AND version>=3"));
}

TEST(AlertFilterTest, MisspeltValuesAndKeysAreErrors) {
  EXPECT_EQ(Invalid("type = ALERT_TYPE_DAT"),
            "filter: \"ALERT_TYPE_DAT\" is not a value of "
            "continuum.v1.AlertType (key type)");
  EXPECT_THAT(Invalid("severity >= WARNNG"),
              HasSubstr("is not a value of continuum.v1.AlertSeverity"));
  EXPECT_THAT(Invalid("action_result.action = DRIFT_ACTION_RETRAIN"),
              HasSubstr("is not a value of continuum.v1.DriftAction"));
  EXPECT_EQ(Invalid("colour = red"),
            "filter: unknown key \"colour\" at offset 0");
  EXPECT_EQ(Invalid("type > DATA"),
            "filter: expected = or != after \"type\" at offset 5");
  EXPECT_EQ(Invalid("detector >= a"),
            "filter: expected = or != after \"detector\" at offset 9");
  EXPECT_EQ(Invalid("version = two"),
            "filter: \"two\" is not an integer (key version)");
  EXPECT_EQ(Invalid("create_time > \"yesterday\""),
            "filter: \"yesterday\" is not an RFC 3339 time such as "
            "\"2025-01-01T00:00:00Z\" (key create_time)");
  EXPECT_EQ(Invalid("version"),
            "filter: expected = or !=, <, <=, > or >= after \"version\" at "
            "offset 7");
  EXPECT_THAT(Invalid("version ="), HasSubstr("expected a value"));
  EXPECT_THAT(Invalid("version = 1 version = 2"),
              HasSubstr("expected AND or OR"));
  EXPECT_THAT(Invalid("model = \"open"), HasSubstr("unterminated string"));
}

}  // namespace
}  // namespace continuum::drift_service
