#include "lib/federated/server_optimizer.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace continuum::federated {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

// Two rounds with aggregates (1, -2) then (0.5, 1), beta1 0.9, beta2 0.99,
// tau 1e-3, v starting at tau^2. Expected steps computed by hand from
// Reddi et al.'s Algorithm 2 (in double precision):
//   FedAdam, eta 0.1, round 1: m = (0.1, -0.2), v = 0.99e-6 + 0.01 (1, 4),
//     step = 0.1 m / (sqrt(v) + 1e-3) = (0.0990050489, -0.0995012624)
std::vector<std::vector<float>> TwoRounds(ServerOptimizerKind kind,
                                          double eta) {
  absl::StatusOr<ServerOptimizer> opt =
      ServerOptimizer::Create({.kind = kind, .learning_rate = eta}, 2);
  EXPECT_TRUE(opt.ok()) << opt.status();
  std::vector<std::vector<float>> steps;
  for (const std::vector<float>& delta :
       {std::vector<float>{1, -2}, std::vector<float>{0.5f, 1}}) {
    absl::StatusOr<std::vector<float>> step = opt->Step(delta);
    EXPECT_TRUE(step.ok()) << step.status();
    steps.push_back(*step);
  }
  return steps;
}

TEST(ServerOptimizerTest, FedAdamByHand) {
  const auto steps = TwoRounds(ServerOptimizerKind::kAdam, 0.1);
  EXPECT_THAT(steps[0], Pointwise(FloatNear(1e-6f),
                                  {0.0990050489f, -0.0995012624f}));
  EXPECT_THAT(steps[1], Pointwise(FloatNear(1e-6f),
                                  {0.124599848f, -0.0357601393f}));
}

TEST(ServerOptimizerTest, FedAdagradByHand) {
  // v = 1e-6 + 1 and 1e-6 + 4: step = 0.1 * 0.1 / (1.0000005 + 1e-3), ...
  const auto steps = TwoRounds(ServerOptimizerKind::kAdagrad, 0.1);
  EXPECT_THAT(steps[0], Pointwise(FloatNear(1e-7f),
                                  {0.009990005f, -0.00999500125f}));
  EXPECT_THAT(steps[1], Pointwise(FloatNear(1e-7f),
                                  {0.0125107857f, -0.00357610912f}));
}

TEST(ServerOptimizerTest, FedYogiByHand) {
  // v_0 = 1e-6 < Delta^2, so sign = -1: v = 1e-6 + 0.01 Delta^2.
  const auto steps = TwoRounds(ServerOptimizerKind::kYogi, 0.01);
  EXPECT_THAT(steps[0], Pointwise(FloatNear(1e-7f),
                                  {0.00990049999f, -0.009950125f}));
  EXPECT_THAT(steps[1], Pointwise(FloatNear(1e-7f),
                                  {0.0124104815f, -0.00356174454f}));
}

TEST(ServerOptimizerTest, NoneIsPlainFedAvg) {
  absl::StatusOr<ServerOptimizer> opt =
      ServerOptimizer::Create({.kind = ServerOptimizerKind::kNone}, 2);
  ASSERT_TRUE(opt.ok());
  EXPECT_EQ(opt->options().learning_rate, 1.0);
  EXPECT_THAT(*opt->Step({1, -2}), ElementsAre(1.0f, -2.0f));
  EXPECT_TRUE(opt->State().m.empty());
  EXPECT_EQ(opt->State().steps, 1);
}

TEST(ServerOptimizerTest, DefaultLearningRates) {
  EXPECT_EQ(ServerOptimizer::Create({.kind = ServerOptimizerKind::kYogi}, 1)
                ->options()
                .learning_rate,
            0.01);
  EXPECT_EQ(ServerOptimizer::Create({.kind = ServerOptimizerKind::kAdam}, 1)
                ->options()
                .learning_rate,
            0.1);
}

// A coordinator that restarts restores the moments and continues exactly
// where it stopped.
TEST(ServerOptimizerTest, RestoredStateContinuesTheSameSteps) {
  const auto uninterrupted = TwoRounds(ServerOptimizerKind::kAdam, 0.1);
  auto first = ServerOptimizer::Create(
      {.kind = ServerOptimizerKind::kAdam, .learning_rate = 0.1}, 2);
  ASSERT_TRUE(first->Step({1, -2}).ok());
  ServerOptimizerState saved = first->State();
  auto second = ServerOptimizer::Create(
      {.kind = ServerOptimizerKind::kAdam, .learning_rate = 0.1}, 2);
  ASSERT_TRUE(second->Restore(saved).ok());
  EXPECT_THAT(*second->Step({0.5f, 1}), ElementsAre(uninterrupted[1][0],
                                                    uninterrupted[1][1]));
  EXPECT_EQ(second->State().steps, 2);
}

TEST(ServerOptimizerTest, RefusesBadOptionsAndShapes) {
  EXPECT_THAT(ServerOptimizer::Create({.beta1 = 1.0}, 2).status().message(),
              HasSubstr("beta1 must be in [0, 1) (got 1)"));
  EXPECT_THAT(ServerOptimizer::Create({.beta2 = -0.1}, 2).status().message(),
              HasSubstr("beta2 must be in [0, 1)"));
  EXPECT_THAT(ServerOptimizer::Create({.tau = 0}, 2).status().message(),
              HasSubstr("tau must be > 0"));
  EXPECT_THAT(
      ServerOptimizer::Create({.learning_rate = -1}, 2).status().message(),
      HasSubstr("learning_rate must be > 0"));
  EXPECT_THAT(ServerOptimizer::Create({}, 0).status().message(),
              HasSubstr("num_parameters must be >= 1"));
  auto opt = ServerOptimizer::Create({.kind = ServerOptimizerKind::kAdam}, 2);
  EXPECT_THAT(opt->Step({1, 2, 3}).status().message(),
              HasSubstr("aggregate has 3 values, expected 2"));
  EXPECT_THAT(opt->Restore({.steps = 1, .m = {1}, .v = {1}}).message(),
              HasSubstr("expected 2 each"));
  EXPECT_EQ(ParseServerOptimizer("fedadam").value(), ServerOptimizerKind::kAdam);
  EXPECT_EQ(ParseServerOptimizer("yogi").value(), ServerOptimizerKind::kYogi);
  EXPECT_THAT(ParseServerOptimizer("rmsprop").status().message(),
              HasSubstr("unknown server optimizer 'rmsprop'"));
}

}  // namespace
}  // namespace continuum::federated
