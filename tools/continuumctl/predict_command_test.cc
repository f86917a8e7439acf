#include "tools/continuumctl/predict_command.h"

#include <gtest/gtest.h>

namespace continuum::ctl {
namespace {

TEST(PredictCommandTest, LogPolicyWords) {
  EXPECT_EQ(*ParseLogPolicy("never"), v1::LOG_POLICY_NEVER);
  EXPECT_EQ(*ParseLogPolicy("Sampled"), v1::LOG_POLICY_SAMPLED);
  EXPECT_EQ(*ParseLogPolicy("ALWAYS"), v1::LOG_POLICY_ALWAYS);
  EXPECT_EQ(*ParseLogPolicy("default"), v1::LOG_POLICY_UNSPECIFIED);
  absl::StatusOr<v1::LogPolicy> bad = ParseLogPolicy("off");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "--log: 'off' is not one of default, never, sampled, always");
}

TEST(PredictCommandTest, RowsOfNumbersWithAnOptionalHeader) {
  absl::StatusOr<Rows> rows = ParseRows("a,b,c\n1,2,3\n4, 5.5 ,-6\n\n");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->width, 3);
  EXPECT_EQ(rows->size(), 2);
  EXPECT_EQ(rows->values, (std::vector<float>{1, 2, 3, 4, 5.5f, -6}));
  rows = ParseRows("0.5\n0.25\n");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->size(), 2);
}

TEST(PredictCommandTest, BadRowsNameTheLineAndColumn) {
  EXPECT_EQ(ParseRows("1,2\n3,x\n").status().message(),
            "line 2, column 2: 'x' is not a number");
  EXPECT_EQ(ParseRows("1,2\n3\n").status().message(),
            "line 2 has 1 values; the first row has 2");
  EXPECT_EQ(ParseRows("h1,h2\n").status().message(), "the CSV holds no rows");
  EXPECT_EQ(ParseRows("").status().message(), "the CSV holds no rows");
}

}  // namespace
}  // namespace continuum::ctl
