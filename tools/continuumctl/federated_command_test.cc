#include "tools/continuumctl/federated_command.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace continuum::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Aggregate(const std::string& input, const std::string& rule,
                      const std::map<std::string, std::string>& params = {}) {
  std::istringstream in(input);
  std::ostringstream out;
  const absl::Status s = AggregateUpdates(in, rule, params, out);
  EXPECT_TRUE(s.ok()) << s;
  return out.str();
}

absl::Status AggregateError(const std::string& input, const std::string& rule,
                            const std::map<std::string, std::string>& params =
                                {}) {
  std::istringstream in(input);
  std::ostringstream out;
  const absl::Status s = AggregateUpdates(in, rule, params, out);
  EXPECT_TRUE(out.str().empty()) << out.str();
  return s;
}

constexpr char kKrumCase[] =
    "{\"values\": [0], \"samples\": 1}\n"
    "{\"values\": [1], \"samples\": 1}\n"
    "\n"
    "{\"values\": [2], \"samples\": 1}\n"
    "{\"values\": [10], \"samples\": 1}\n"
    "{\"values\": [-30], \"samples\": 1}\n";

TEST(FederatedCommandTest, ReadsUpdateLines) {
  std::istringstream in(
      "{\"values\": [1.5, -2], \"samples\": 3}\n\n{\"samples\": 1, "
      "\"values\": []}\n");
  absl::StatusOr<std::vector<UpdateLine>> lines = ReadUpdateLines(in);
  ASSERT_TRUE(lines.ok()) << lines.status();
  ASSERT_EQ(lines->size(), 2u);
  EXPECT_THAT((*lines)[0].values, ElementsAre(1.5f, -2.0f));
  EXPECT_EQ((*lines)[0].samples, 3);
  EXPECT_TRUE((*lines)[1].values.empty());
}

TEST(FederatedCommandTest, PrintsTheAggregateOfEachRule) {
  EXPECT_EQ(Aggregate("{\"values\": [1, 2], \"samples\": 1}\n"
                      "{\"values\": [3, 6], \"samples\": 3}\n",
                      "fedavg"),
            "{\"rule\":\"fedavg\",\"updates\":2,\"values\":[2.5,5],"
            "\"norm\":5.59016994,\"total_samples\":4,\"selected\":[0,1],"
            "\"update_norms\":[2.23606798,6.70820393]}\n");
  EXPECT_THAT(Aggregate(kKrumCase, "krum"),
              HasSubstr("\"values\":[1],\"norm\":1,\"total_samples\":1,"
                        "\"selected\":[1]"));
  EXPECT_THAT(Aggregate(kKrumCase, "krum"),
              HasSubstr("\"byzantine_sites\":1,\"krum_scores\":[5,2,5,145,"
                        "1861]}"));
  EXPECT_THAT(Aggregate(kKrumCase, "multi_krum", {{"multi_krum_selected", "3"}}),
              HasSubstr("\"values\":[1]"));
  EXPECT_THAT(Aggregate(kKrumCase, "median"), HasSubstr("\"values\":[1]"));
  EXPECT_THAT(Aggregate(kKrumCase, "trimmed_mean", {{"trim_fraction", "0.2"}}),
              HasSubstr("\"values\":[1],"));
  EXPECT_THAT(Aggregate(kKrumCase, "trimmed_mean", {{"trim_fraction", "0.2"}}),
              HasSubstr("\"trimmed_per_side\":1"));
}

TEST(FederatedCommandTest, ClipsEachUpdateFirst) {
  // [3, 4] clipped to norm 1 is [0.6, 0.8]; the mean with [0, 0].
  EXPECT_THAT(Aggregate("{\"values\": [3, 4], \"samples\": 1}\n"
                        "{\"values\": [0, 0], \"samples\": 1}\n",
                        "fedavg", {{"clip_norm", "1"}}),
              HasSubstr("\"values\":[0.300000012,0.400000006],\"norm\":0.5"));
}

TEST(FederatedCommandTest, RefusesBadInputNamingTheLine) {
  EXPECT_THAT(AggregateError("{\"values\": [1], \"samples\": 1}\nnot json\n",
                             "fedavg")
                  .message(),
              HasSubstr("line 2: not a JSON object"));
  EXPECT_THAT(
      AggregateError("{\"values\": [1, \"x\"], \"samples\": 1}\n", "fedavg")
          .message(),
      HasSubstr("line 1: values[1] is not a finite float"));
  EXPECT_THAT(
      AggregateError("{\"values\": [1e39], \"samples\": 1}\n", "fedavg")
          .message(),
      HasSubstr("values[0] is not a finite float"));
  EXPECT_THAT(AggregateError("{\"values\": [1], \"samples\": 0.5}\n", "fedavg")
                  .message(),
              HasSubstr("line 1: \"samples\" must be an integer >= 1"));
  EXPECT_THAT(AggregateError("{\"values\": [1]}\n", "fedavg").message(),
              HasSubstr("\"samples\" is missing"));
  EXPECT_THAT(AggregateError("{\"values\": [1], \"samples\": 1, \"site\": "
                             "\"a\"}\n",
                             "fedavg")
                  .message(),
              HasSubstr("unknown field \"site\""));
  EXPECT_THAT(AggregateError("{\"values\": [1], \"samples\": 1}\n"
                             "{\"values\": [1, 2], \"samples\": 1}\n",
                             "fedavg")
                  .message(),
              HasSubstr("update 1 has 2 values, expected 1"));
  EXPECT_THAT(AggregateError("", "fedavg").message(), HasSubstr("no updates"));
  EXPECT_THAT(AggregateError(kKrumCase, "mean").message(),
              HasSubstr("unknown aggregation rule 'mean'"));
  EXPECT_THAT(AggregateError(kKrumCase, "fedavg", {{"mu", "1"}}).message(),
              HasSubstr("unknown parameter 'mu'"));
  EXPECT_THAT(
      AggregateError(kKrumCase, "trimmed_mean", {{"trim_fraction", "x"}})
          .message(),
      HasSubstr("trim_fraction=x is not a number"));
  EXPECT_THAT(
      AggregateError(kKrumCase, "krum", {{"byzantine_sites", "2"}}).message(),
      HasSubstr("krum needs more than 2f + 2 = 6 updates (f = 2), got 5"));
  EXPECT_THAT(
      AggregateError(kKrumCase, "fedavg", {{"clip_norm", "0"}}).message(),
      HasSubstr("clip_norm must be > 0"));
}

// Opacus's accountants_test: sigma 1.5, q 0.04, 2250 steps, delta 1e-5.
TEST(FederatedCommandTest, PrintsEpsilon) {
  std::ostringstream text;
  ASSERT_TRUE(WriteEpsilon(1.5, 0.04, 2250, 1e-5, false, text).ok());
  EXPECT_THAT(text.str(),
              HasSubstr("epsilon 7.32911 at delta 1e-05 after 2250 rounds of "
                        "noise multiplier 1.5 at sample rate 0.04"));
  std::ostringstream json;
  ASSERT_TRUE(WriteEpsilon(1.5, 0.04, 2250, 1e-5, true, json).ok());
  EXPECT_THAT(json.str(), HasSubstr("{\"epsilon\":7.32911117"));
  EXPECT_THAT(json.str(), HasSubstr("\"steps\":2250}"));
  std::ostringstream unused;
  EXPECT_THAT(WriteEpsilon(0, 0.04, 10, 1e-5, false, unused).message(),
              HasSubstr("--noise must be > 0"));
  EXPECT_THAT(WriteEpsilon(1, 0, 10, 1e-5, false, unused).message(),
              HasSubstr("--sample_rate must be in (0, 1]"));
  EXPECT_THAT(WriteEpsilon(1, 0.5, 0, 1e-5, false, unused).message(),
              HasSubstr("--steps must be >= 1"));
  EXPECT_THAT(WriteEpsilon(1, 0.5, 10, 1, false, unused).message(),
              HasSubstr("delta must be in (0, 1)"));
  EXPECT_TRUE(unused.str().empty());
}

}  // namespace
}  // namespace continuum::ctl
