#include "lib/core/resource_names.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace continuum::core {
namespace {

using ::testing::ElementsAre;

TEST(ResourceNamesTest, ValidateResourceId) {
  EXPECT_TRUE(ValidateResourceId("model", "fraud-v2.1_x").ok());
  EXPECT_TRUE(ValidateResourceId("model", "0").ok());
  EXPECT_TRUE(ValidateResourceId("model", std::string(63, 'a')).ok());
  for (const std::string& bad : std::vector<std::string>{
           "", "Fraud", "-x", ".x", "a/b", "a b", std::string(64, 'a')}) {
    absl::Status s = ValidateResourceId("data set", bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("data set id"), absl::string_view::npos);
  }
}

TEST(ResourceNamesTest, ParseResourceName) {
  EXPECT_EQ(*ParseResourceName("models/fraud", "models", "model"), "fraud");
  EXPECT_EQ(ParseResourceName("model/fraud", "models", "model").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseResourceName("models/Fraud", "models", "model").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ResourceNamesTest, MatchResourceNameReturnsTheVariables) {
  absl::StatusOr<std::vector<std::string>> parts =
      MatchResourceName("models/fraud/versions/7", "models/{model}/versions/{version}");
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_THAT(*parts, ElementsAre("fraud", "7"));
  parts = MatchResourceName("models/fraud/trainingConfig",
                            "models/{model}/trainingConfig");
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_THAT(*parts, ElementsAre("fraud"));
}

TEST(ResourceNamesTest, MatchResourceNameRefusesOtherForms) {
  const std::string pattern = "models/{model}/runs/{run}";
  for (const std::string& bad :
       std::vector<std::string>{"models/fraud/run/3", "models/fraud/runs", "models/fraud/runs/3/x",
        "models//runs/3", "models/fraud/runs/", "datasets/fraud/runs/3", ""}) {
    absl::StatusOr<std::vector<std::string>> parts =
        MatchResourceName(bad, pattern);
    ASSERT_FALSE(parts.ok()) << bad;
    EXPECT_EQ(parts.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(MatchResourceName("models/fraud/run/3", pattern).status().message(),
            "name \"models/fraud/run/3\" is not of the form "
            "models/{model}/runs/{run}");
}

TEST(ResourceNamesTest, MatchResourceNameValidatesModelAndDatasetIds) {
  absl::Status s =
      MatchResourceName("models/Fraud/versions/1", "models/{model}/versions/{v}")
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("model id \"Fraud\""), absl::string_view::npos);
  s = MatchResourceName("datasets/a b", "datasets/{dataset}").status();
  EXPECT_NE(s.message().find("data set id"), absl::string_view::npos);
  // Other variables are only required to be one non-empty segment.
  EXPECT_TRUE(MatchResourceName("models/m/alerts/X y", "models/{model}/alerts/{a}").ok());
}

TEST(ResourceNamesTest, NamesAndIds) {
  EXPECT_EQ(ModelName("fraud"), "models/fraud");
  EXPECT_EQ(DatasetName("logs"), "datasets/logs");
  EXPECT_EQ(ModelIdOf("models/fraud"), "fraud");
  EXPECT_EQ(ModelIdOf("models/fraud/versions/3"), "fraud");
  EXPECT_EQ(ModelIdOf("datasets/fraud"), "");
}

}  // namespace
}  // namespace continuum::core
