#include "tools/continuumctl/drift_command.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "lib/drift/streaming_detector.h"

namespace continuum::ctl {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(MergeRepeatedFlagTest, MergesEveryFormAtTheFirstPlace) {
  EXPECT_THAT(
      MergeRepeatedFlag({"ctl", "drift", "--param", "delta=0.01", "replay",
                         "--param=clock=1", "-param", "grace_period=0",
                         "--detector=adwin", "-param=max_buckets=3"},
                        "param"),
      ElementsAre("ctl", "drift",
                  "--param=delta=0.01,clock=1,grace_period=0,max_buckets=3",
                  "replay", "--detector=adwin"));
}

TEST(MergeRepeatedFlagTest, LeavesOtherArgumentsAlone) {
  EXPECT_THAT(
      MergeRepeatedFlag({"ctl", "drift", "replay", "--paramx=1"}, "param"),
      ElementsAre("ctl", "drift", "replay", "--paramx=1"));
  // After "--" nothing is a flag; a trailing --param without a value is
  // left for absl to report.
  EXPECT_THAT(
      MergeRepeatedFlag({"ctl", "--param=a=1", "--", "--param=b=2"}, "param"),
      ElementsAre("ctl", "--param=a=1", "--", "--param=b=2"));
  EXPECT_THAT(MergeRepeatedFlag({"ctl", "--param"}, "param"),
              ElementsAre("ctl", "--param"));
}

TEST(ParseDetectorParamsTest, ParsesAndRejects) {
  auto params = ParseDetectorParams({"delta=0.01", " clock = 1 "});
  ASSERT_TRUE(params.ok());
  EXPECT_EQ(params->at("delta"), "0.01");
  EXPECT_EQ(params->at("clock"), "1");
  EXPECT_THAT(ParseDetectorParams({"delta"}).status().message(),
              HasSubstr("'delta' is not NAME=VALUE"));
  EXPECT_THAT(ParseDetectorParams({"=3"}).status().message(),
              HasSubstr("not NAME=VALUE"));
  EXPECT_THAT(ParseDetectorParams({"delta=1", "delta=2"}).status().message(),
              HasSubstr("delta is given more than once"));
}

std::unique_ptr<drift::StreamingDetector> Detector(
    absl::string_view name, std::map<std::string, std::string> params = {}) {
  return *drift::MakeDetector(name, params);
}

TEST(ReplayStreamTest, PrintsDetectionIndices) {
  // Page-Hinkley by hand (see lib/drift/detectors_test.cc): ten zeros then
  // ones, alpha 1, delta 0, threshold 1, min_instances 1: drift at 11.
  std::string input;
  for (int i = 0; i < 10; ++i) input += "0\n";
  for (int i = 0; i < 30; ++i) input += " 1.0\r\n";
  std::istringstream in(input);
  std::ostringstream out;
  auto ph = Detector("page_hinkley", {{"alpha", "1"},
                                      {"delta", "0"},
                                      {"threshold", "1"},
                                      {"min_instances", "1"},
                                      {"mode", "up"}});
  ASSERT_TRUE(ReplayStream(*ph, in, false, out).ok());
  EXPECT_EQ(out.str(), "11\n");
}

TEST(ReplayStreamTest, PrintsWarningsWhenAsked) {
  // DDM: a perfect record, then errors: warnings precede the drift line.
  std::string input;
  for (int i = 0; i < 1000; ++i) input += (i % 10 == 9) ? "1\n" : "0\n";
  for (int i = 0; i < 200; ++i) input += "1\n";
  std::istringstream in(input);
  std::ostringstream out;
  auto ddm = Detector("ddm");
  ASSERT_TRUE(ReplayStream(*ddm, in, true, out).ok());
  // Warnings from index 1000 on, then the drift line (a bare index).
  std::istringstream lines(out.str());
  std::string line;
  std::vector<std::string> all;
  while (std::getline(lines, line)) all.push_back(line);
  ASSERT_GE(all.size(), 2u);
  EXPECT_THAT(all.front(), HasSubstr("warning 10"));
  const auto drift =
      std::find_if(all.begin(), all.end(), [](const std::string& l) {
        return l.find("warning") == std::string::npos;
      });
  ASSERT_NE(drift, all.end());
  EXPECT_GE(std::stoi(*drift), 1000);
  std::istringstream again(input);
  std::ostringstream quiet;
  auto ddm2 = Detector("ddm");
  ASSERT_TRUE(ReplayStream(*ddm2, again, false, quiet).ok());
  EXPECT_EQ(quiet.str().find("warning"), std::string::npos);
  EXPECT_FALSE(quiet.str().empty());
}

TEST(ReplayStreamTest, BadLinesNameTheLine) {
  auto adwin = Detector("adwin");
  std::ostringstream out;
  std::istringstream bad("1\n2\nthree\n4\n");
  absl::Status s = ReplayStream(*adwin, bad, false, out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("line 3: 'three' is not a finite number"));
  std::istringstream blank("1\n\n2\n");
  EXPECT_THAT(ReplayStream(*adwin, blank, false, out).message(),
              HasSubstr("line 2: empty line"));
  std::istringstream nan("1\nnan\n");
  EXPECT_THAT(ReplayStream(*adwin, nan, false, out).message(),
              HasSubstr("line 2: 'nan' is not a finite number"));
  std::istringstream two("1 2\n");
  EXPECT_THAT(ReplayStream(*adwin, two, false, out).message(),
              HasSubstr("line 1: '1 2'"));
  std::istringstream empty("");
  EXPECT_TRUE(ReplayStream(*adwin, empty, false, out).ok());
}

}  // namespace
}  // namespace continuum::ctl
