#include "services/inference/row_sampler.h"

#include <gtest/gtest.h>

#include <optional>

namespace continuum::inference {
namespace {

TEST(RowSamplerTest, RateZeroKeepsOnlyForcedRows) {
  RowSampler sampler(0, 0, 1);
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(sampler.Keep(false, 0.1f));
    EXPECT_TRUE(sampler.Keep(true, 0.1f));
  }
}

TEST(RowSamplerTest, RateOneKeepsEveryRow) {
  RowSampler sampler(1, 0, 1);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(sampler.Keep(false, std::nullopt));
}

TEST(RowSamplerTest, ConfidenceBelowKeepsOnlyLowerScores) {
  RowSampler sampler(1, 0.7, 1);
  EXPECT_TRUE(sampler.Keep(false, 0.5f));
  EXPECT_TRUE(sampler.Keep(false, 0.69f));
  EXPECT_FALSE(sampler.Keep(false, 0.7f));
  EXPECT_FALSE(sampler.Keep(false, 0.95f));
  EXPECT_FALSE(sampler.Keep(false, std::nullopt));
  EXPECT_TRUE(sampler.Keep(true, 0.95f));
  EXPECT_TRUE(sampler.Keep(true, std::nullopt));
}

TEST(RowSamplerTest, DecisionsFollowTheSeedAndTheRate) {
  RowSampler a(0.25, 0, 42);
  RowSampler b(0.25, 0, 42);
  RowSampler c(0.25, 0, 43);
  int kept = 0;
  int differ = 0;
  constexpr int kDraws = 20000;
  for (int i = 0; i < kDraws; ++i) {
    const bool ka = a.Keep(false, std::nullopt);
    ASSERT_EQ(ka, b.Keep(false, std::nullopt)) << "draw " << i;
    if (ka != c.Keep(false, std::nullopt)) ++differ;
    kept += ka;
  }
  EXPECT_GT(differ, 0);
  EXPECT_GT(kept, kDraws * 0.23);
  EXPECT_LT(kept, kDraws * 0.27);
}

TEST(RowSamplerTest, RateOutOfRangeIsClamped) {
  EXPECT_EQ(RowSampler(1.5, 0, 1).sample_rate(), 1.0);
  EXPECT_EQ(RowSampler(-1, 0, 1).sample_rate(), 0.0);
}

}  // namespace
}  // namespace continuum::inference
