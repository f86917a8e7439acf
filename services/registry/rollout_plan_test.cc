#include "services/registry/rollout_plan.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"

namespace continuum::registry {
namespace {

TEST(EffectivePlanTest, AnUnsetPlanIsTheDefaultCanary) {
  v1::RolloutPlan plan = EffectivePlan(v1::RolloutPlan());
  ASSERT_TRUE(plan.has_canary());
  ASSERT_EQ(plan.canary().steps_size(), 4);
  EXPECT_EQ(plan.canary().steps(0).percent(), 10);
  EXPECT_EQ(plan.canary().steps(0).hold_duration().seconds(), 300);
  EXPECT_EQ(plan.canary().steps(3).percent(), 100);
  EXPECT_EQ(plan.canary().steps(3).hold_duration().seconds(), 0);
  EXPECT_EQ(plan.routing(), v1::ROUTING_MODE_STICKY);
}

TEST(EffectivePlanTest, KeepsWhatIsSaidAndFillsAShadowsCanary) {
  v1::RolloutPlan requested;
  requested.mutable_canary()->add_steps()->set_percent(50);
  requested.set_routing(v1::ROUTING_MODE_UNSPECIFIED);
  v1::RolloutPlan plan = EffectivePlan(requested);
  ASSERT_EQ(plan.canary().steps_size(), 1);
  EXPECT_EQ(plan.canary().steps(0).percent(), 50);

  v1::RolloutPlan shadow;
  shadow.mutable_shadow()->mutable_then_canary();
  plan = EffectivePlan(shadow);
  EXPECT_EQ(plan.shadow().then_canary().steps_size(), 4);
  EXPECT_FALSE(plan.has_canary());

  v1::RolloutPlan immediate;
  immediate.mutable_immediate();
  EXPECT_TRUE(EffectivePlan(immediate).has_immediate());
}

TEST(ValidatePlanTest, StepsMustRiseWithin1To100) {
  v1::RolloutPlan plan;
  plan.mutable_canary()->add_steps()->set_percent(20);
  plan.mutable_canary()->add_steps()->set_percent(10);
  absl::Status s = ValidatePlan(plan);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "rollout_plan.canary.steps[1]"))
      << s;
  plan.mutable_canary()->mutable_steps(1)->set_percent(100);
  EXPECT_TRUE(ValidatePlan(plan).ok());

  v1::RolloutPlan shadow;
  shadow.mutable_shadow()->mutable_then_canary()->add_steps()->set_percent(101);
  EXPECT_TRUE(absl::StrContains(ValidatePlan(shadow).message(),
                                "rollout_plan.shadow.then_canary.steps[0]"));
  shadow.mutable_shadow()->clear_then_canary();
  shadow.mutable_shadow()->set_sample_percent(101);
  EXPECT_EQ(ValidatePlan(shadow).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidatePlanTest, AbShareAndItsDefault) {
  v1::RolloutPlan plan;
  plan.mutable_ab()->set_candidate_percent(100);
  EXPECT_EQ(ValidatePlan(plan).code(), absl::StatusCode::kInvalidArgument);
  plan.mutable_ab()->set_candidate_percent(0);
  EXPECT_TRUE(ValidatePlan(plan).ok());
  EXPECT_EQ(AbCandidatePercent(plan), 50);
  plan.mutable_ab()->set_candidate_percent(20);
  EXPECT_EQ(AbCandidatePercent(plan), 20);
  v1::RolloutPlan shadow;
  shadow.mutable_shadow();
  EXPECT_EQ(ShadowSamplePercent(shadow), 100);
  shadow.mutable_shadow()->set_sample_percent(5);
  EXPECT_EQ(ShadowSamplePercent(shadow), 5);
}

}  // namespace
}  // namespace continuum::registry
