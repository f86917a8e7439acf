#include "services/registry/rollout_step.h"

#include <gtest/gtest.h>

#include <vector>

#include "absl/strings/match.h"
#include "lib/core/proto_time.h"

namespace continuum::registry {
namespace {

using Action = StepDecision::Action;

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);
// Long after the registry started: no start-up grace.
const absl::Time kLongAgo = kStart - absl::Hours(1);

// A canary of version 2 at its first step (10 %, 5 min hold unless `hold`),
// started at kStart.
v1::Rollout Canary(absl::Duration hold = absl::Minutes(5),
                   int64_t hold_rows = 0) {
  v1::Rollout r;
  r.set_candidate_version(2);
  r.set_state(v1::ROLLOUT_STATE_IN_PROGRESS);
  r.set_step_index(0);
  v1::CanaryStep* step = r.mutable_plan()->mutable_canary()->add_steps();
  step->set_percent(10);
  *step->mutable_hold_duration() = core::ToProtoDuration(hold);
  step->set_hold_observations(hold_rows);
  r.mutable_plan()->mutable_canary()->add_steps()->set_percent(100);
  *r.mutable_step_start_time() = core::ToProto(kStart);
  return r;
}

PodView Pod(int64_t revision, int64_t candidate_rows = 0) {
  PodView pod;
  pod.revision = revision;
  if (candidate_rows > 0) pod.rows_by_version[2] = candidate_rows;
  return pod;
}

TEST(DecideStepTest, NothingMovesBeforeTheHoldIsOver) {
  StepDecision d =
      DecideStep(Canary(), 7, {Pod(7)}, kStart + absl::Minutes(4), kLongAgo);
  EXPECT_EQ(d.action, Action::kNone);
}

TEST(DecideStepTest, AdvancesWhenEveryReadyPodServesTheRevision) {
  StepDecision d = DecideStep(Canary(), 7, {Pod(7), Pod(8)},
                              kStart + absl::Minutes(5), kLongAgo);
  EXPECT_EQ(d.action, Action::kAdvance);
  // No pods at all is "every pod" too, once the start-up grace is over.
  EXPECT_EQ(
      DecideStep(Canary(), 7, {}, kStart + absl::Minutes(5), kLongAgo).action,
      Action::kAdvance);
}

TEST(DecideStepTest, APodOnAnOlderRevisionHoldsTheStep) {
  StepDecision d = DecideStep(Canary(), 7, {Pod(7), Pod(6)},
                              kStart + absl::Minutes(6), kLongAgo);
  EXPECT_EQ(d.action, Action::kWaitForPods);
  EXPECT_EQ(d.status_message,
            "waiting for every ready pod to serve revision 7");
  // Already waiting: nothing to write again.
  v1::Rollout waiting = Canary();
  waiting.set_state(v1::ROLLOUT_STATE_WAITING_FOR_PODS);
  EXPECT_EQ(
      DecideStep(waiting, 7, {Pod(6)}, kStart + absl::Minutes(6), kLongAgo)
          .action,
      Action::kNone);
  // And once the pod catches up, a waiting rollout advances.
  EXPECT_EQ(
      DecideStep(waiting, 7, {Pod(7)}, kStart + absl::Minutes(6), kLongAgo)
          .action,
      Action::kAdvance);
}

TEST(DecideStepTest, APodThatFailedTheCandidateBlocksTheStepByName) {
  PodView failed = Pod(7);
  failed.pod_id = "pod-b";
  failed.failed_versions[2] = "parse failed: not a model bundle";
  // Before the hold is over, and with every pod on the revision.
  StepDecision d = DecideStep(Canary(), 7, {Pod(7), failed},
                              kStart + absl::Minutes(1), kLongAgo);
  EXPECT_EQ(d.action, Action::kWaitForPods);
  EXPECT_EQ(d.status_message,
            "pod pod-b failed to load version 2: parse failed: not a model "
            "bundle; the rollout waits (abort it, or fix the pod)");
  // Written once.
  v1::Rollout waiting = Canary();
  waiting.set_state(v1::ROLLOUT_STATE_WAITING_FOR_PODS);
  waiting.set_status_message(d.status_message);
  EXPECT_EQ(DecideStep(waiting, 7, {failed}, kStart + absl::Minutes(9),
                       kLongAgo)
                .action,
            Action::kNone);
  // A failure of another version does not block this rollout.
  PodView other = Pod(7);
  other.failed_versions[1] = "old";
  EXPECT_EQ(DecideStep(Canary(), 7, {other}, kStart + absl::Minutes(5),
                       kLongAgo)
                .action,
            Action::kAdvance);
  // Once the pod loads the candidate, the waiting rollout advances.
  EXPECT_EQ(DecideStep(waiting, 7, {Pod(7)}, kStart + absl::Minutes(9),
                       kLongAgo)
                .action,
            Action::kAdvance);
}

TEST(DecideStepTest, JustAfterAStartTheRegistryWaitsForReports) {
  const absl::Time now = kStart + absl::Minutes(6);
  StepDecision d = DecideStep(Canary(), 7, {}, now, now - absl::Seconds(5));
  EXPECT_EQ(d.action, Action::kWaitForPods);
  EXPECT_TRUE(absl::StrContains(d.status_message, "the registry just started"))
      << d.status_message;
  EXPECT_EQ(
      DecideStep(Canary(), 7, {Pod(7)}, now, now - kPodGraceAfterStart).action,
      Action::kAdvance);
}

TEST(DecideStepTest, WaitsForTheStepsObservations) {
  v1::Rollout rollout = Canary(absl::Minutes(5), /*hold_rows=*/100);
  const absl::Time now = kStart + absl::Minutes(10);
  EXPECT_EQ(
      DecideStep(rollout, 7, {Pod(7, 40), Pod(7, 50)}, now, kLongAgo).action,
      Action::kNone);
  EXPECT_EQ(
      DecideStep(rollout, 7, {Pod(7, 40), Pod(7, 60)}, now, kLongAgo).action,
      Action::kAdvance);
}

TEST(DecideStepTest, ManualAdvanceWaitsForPromote) {
  v1::Rollout rollout = Canary();
  rollout.mutable_plan()->mutable_canary()->set_manual_advance(true);
  StepDecision d =
      DecideStep(rollout, 7, {Pod(7)}, kStart + absl::Minutes(5), kLongAgo);
  EXPECT_EQ(d.action, Action::kWaitForPromote);
  EXPECT_EQ(d.status_message, "hold is over: waiting for Promote");
}

TEST(DecideStepTest, PausedAndWaitingForPromoteNeverStep) {
  for (v1::RolloutState state :
       {v1::ROLLOUT_STATE_PAUSED, v1::ROLLOUT_STATE_WAITING_FOR_PROMOTE}) {
    v1::Rollout rollout = Canary();
    rollout.set_state(state);
    EXPECT_EQ(
        DecideStep(rollout, 7, {Pod(7)}, kStart + absl::Hours(1), kLongAgo)
            .action,
        Action::kNone)
        << v1::RolloutState_Name(state);
  }
}

TEST(DecideStepTest, AShadowPhaseHoldsFifteenMinutesByDefault) {
  v1::Rollout rollout;
  rollout.set_candidate_version(2);
  rollout.set_state(v1::ROLLOUT_STATE_IN_PROGRESS);
  rollout.set_step_index(-1);
  rollout.mutable_plan()->mutable_shadow()->set_auto_promote(true);
  *rollout.mutable_step_start_time() = core::ToProto(kStart);
  EXPECT_EQ(
      DecideStep(rollout, 7, {}, kStart + absl::Minutes(14), kLongAgo).action,
      Action::kNone);
  EXPECT_EQ(
      DecideStep(rollout, 7, {}, kStart + absl::Minutes(15), kLongAgo).action,
      Action::kAdvance);
  // Neither auto_promote nor then_canary: a person promotes.
  rollout.mutable_plan()->mutable_shadow()->set_auto_promote(false);
  EXPECT_EQ(
      DecideStep(rollout, 7, {}, kStart + absl::Minutes(15), kLongAgo).action,
      Action::kWaitForPromote);
  // Shadow rows count what the pods processed for the candidate.
  rollout.mutable_plan()->mutable_shadow()->set_auto_promote(true);
  rollout.mutable_plan()->mutable_shadow()->set_min_observations(10);
  EXPECT_EQ(
      DecideStep(rollout, 7, {Pod(7, 9)}, kStart + absl::Hours(1), kLongAgo)
          .action,
      Action::kNone);
}

}  // namespace
}  // namespace continuum::registry
