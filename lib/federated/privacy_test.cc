#include "lib/federated/privacy.h"

#include <cmath>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace continuum::federated {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;

TEST(PrivacyTest, ClipsToTheNormAndReportsTheOriginal) {
  std::vector<float> v = {3, 4};
  EXPECT_DOUBLE_EQ(ClipToNorm(absl::MakeSpan(v), 1.0), 5.0);
  EXPECT_THAT(v, ElementsAre(FloatNear(0.6f, 1e-7f), FloatNear(0.8f, 1e-7f)));
  std::vector<float> small = {0.3f, 0.4f};
  EXPECT_NEAR(ClipToNorm(absl::MakeSpan(small), 1.0), 0.5, 1e-7);
  EXPECT_THAT(small, ElementsAre(0.3f, 0.4f));
}

TEST(PrivacyTest, NoiseHasTheRequestedSpread) {
  std::mt19937_64 gen(11);
  std::vector<float> v(200000, 1.0f);
  AddGaussianNoise(absl::MakeSpan(v), 0.5, gen);
  double sum = 0, sq = 0;
  for (float x : v) {
    sum += x - 1.0;
    sq += (x - 1.0) * (x - 1.0);
  }
  const double mean = sum / v.size();
  const double stddev = std::sqrt(sq / v.size() - mean * mean);
  EXPECT_NEAR(mean, 0.0, 0.005);
  EXPECT_NEAR(stddev, 0.5, 0.005);
  std::vector<float> none = {1, 2};
  AddGaussianNoise(absl::MakeSpan(none), 0, gen);
  EXPECT_THAT(none, ElementsAre(1.0f, 2.0f));
}

// With (almost) no count noise the geometric update is exact:
// C exp(-0.2 (b - 0.5)).
TEST(PrivacyTest, AdaptiveClippingMovesTowardTheQuantile) {
  std::mt19937_64 gen(1);
  const AdaptiveClippingOptions quiet{.count_stddev = 1e-12};
  // Every update unclipped: b = 1, C shrinks by exp(-0.1).
  EXPECT_NEAR(*NextClipNorm(1.0, 5, 5, quiet, gen), 0.9048374180359595, 1e-9);
  // Every update clipped: b = 0, C grows by exp(0.1).
  EXPECT_NEAR(*NextClipNorm(1.0, 0, 5, quiet, gen), 1.1051709180756477, 1e-9);
  // At the quantile: unchanged.
  EXPECT_NEAR(*NextClipNorm(2.0, 2, 4, quiet, gen), 2.0, 1e-9);
  // Bad input.
  EXPECT_THAT(NextClipNorm(0, 1, 2, quiet, gen).status().message(),
              HasSubstr("clip_norm must be > 0"));
  EXPECT_THAT(NextClipNorm(1, 3, 2, quiet, gen).status().message(),
              HasSubstr("got 3 of 2"));
  EXPECT_THAT(
      NextClipNorm(1, 1, 2, {.target_quantile = 1.0}, gen).status().message(),
      HasSubstr("target_quantile must be in (0, 1)"));
}

TEST(PrivacyTest, AdaptiveClippingRaisesTheUpdateNoise) {
  // z = 1, sigma_b = 2.5: (1 - 1/25)^-1/2.
  EXPECT_NEAR(*AdaptiveUpdateNoiseMultiplier(1.0, 2.5), 1.0206207261596576,
              1e-12);
  const absl::Status s = AdaptiveUpdateNoiseMultiplier(1.0, 0.25).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("2 * count_stddev > noise_multiplier"));
}

}  // namespace
}  // namespace continuum::federated
