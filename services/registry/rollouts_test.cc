// Rollouts through the Registry facade: canary steps at a tick, pods that
// lag behind or have not reported since a restart, rejection, Promote,
// AbortRollout, Rollback, SetTraffic, Pause and Resume, and a version
// validated during another rollout. The step decision itself is
// unit-tested in rollout_step_test.cc.
#include "services/registry/rollouts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/registry/registry_test_fixture.h"

namespace continuum::registry {
namespace {

TEST_F(RegistryTest, CanaryStepsAdvanceAfterTheirHoldAndWaitForPods) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/1", GoodReport()).ok());
  ASSERT_TRUE(UploadBytes("fraud", "v2").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/2", GoodReport()).ok());
  EXPECT_EQ(StateOf("models/fraud/versions/2"), S::VERSION_STATE_CANARY);
  auto status = registry_->GetRolloutStatus("models/fraud");
  EXPECT_EQ(status->deployment().canary_version(), 2);
  EXPECT_EQ(status->deployment().canary_percent(), 10);

  // Before the 5-minute hold nothing moves.
  clock_.Advance(absl::Minutes(4));
  ASSERT_TRUE(registry_->Tick().ok());
  EXPECT_EQ(registry_->GetRolloutStatus("models/fraud")
                ->deployment()
                .canary_percent(),
            10);

  // A ready pod still on an older revision holds the step.
  v1::ReportServingStateRequest pod;
  pod.set_pod_id("inf-1");
  pod.set_ready(true);
  v1::ModelServingStatus* served = pod.add_models();
  served->set_model("fraud");
  served->set_revision(1);
  clock_.Advance(absl::Minutes(2));
  // (Pods report every 10 s; one silent for 30 s is not counted.)
  ASSERT_TRUE(registry_->ReportServingState(pod).ok());
  ASSERT_TRUE(registry_->Tick().ok());
  status = registry_->GetRolloutStatus("models/fraud");
  EXPECT_EQ(status->rollout().state(), v1::ROLLOUT_STATE_WAITING_FOR_PODS);
  EXPECT_EQ(status->deployment().canary_percent(), 10);

  // Once it serves the current revision, the step advances: 25, then 50,
  // then production.
  served->set_revision(status->deployment().revision());
  ASSERT_TRUE(registry_->ReportServingState(pod).ok());
  const int64_t before_tick = registry_->latest_revision();
  ASSERT_TRUE(registry_->Tick().ok());
  status = registry_->GetRolloutStatus("models/fraud");
  EXPECT_EQ(status->deployment().canary_percent(), 25);
  // The ticker's revision reaches the watchers.
  EXPECT_EQ(registry_->latest_revision(), status->deployment().revision());
  EXPECT_GT(
      registry_->revisions().WaitAbove(
          before_tick, absl::Now() + absl::Seconds(5), [] { return false; }),
      before_tick);
  for (int step = 0; step < 2; ++step) {
    served->set_revision(status->deployment().revision());
    clock_.Advance(absl::Minutes(5));
    ASSERT_TRUE(registry_->ReportServingState(pod).ok());
    ASSERT_TRUE(registry_->Tick().ok());
    status = registry_->GetRolloutStatus("models/fraud");
  }
  EXPECT_EQ(status->rollout().state(), v1::ROLLOUT_STATE_SUCCEEDED);
  EXPECT_EQ(status->deployment().stable_version(), 2);
  EXPECT_EQ(status->deployment().canary_version(), 0);
  EXPECT_EQ(StateOf("models/fraud/versions/2"), S::VERSION_STATE_PRODUCTION);
  EXPECT_EQ(StateOf("models/fraud/versions/1"), S::VERSION_STATE_ARCHIVED);
}

// A pod that cannot load the canary holds the rollout at its step, saying
// which pod and why, until the pod loads it.
TEST_F(RegistryTest, APodThatFailedTheCanaryHoldsTheStep) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/1", GoodReport()).ok());
  ASSERT_TRUE(UploadBytes("fraud", "v2").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/2", GoodReport()).ok());
  auto status = registry_->GetRolloutStatus("models/fraud");
  v1::ReportServingStateRequest pod;
  pod.set_pod_id("inf-1");
  pod.set_ready(true);  // it still serves version 1
  v1::ModelServingStatus* served = pod.add_models();
  served->set_model("fraud");
  served->set_revision(status->deployment().revision());
  v1::VersionServingStatus* canary = served->add_versions();
  canary->set_version(2);
  canary->set_state(v1::SERVING_STATE_FAILED);
  canary->set_reason("build: warm-up gave a non-finite output");
  clock_.Advance(absl::Minutes(6));
  ASSERT_TRUE(registry_->ReportServingState(pod).ok());
  ASSERT_TRUE(registry_->Tick().ok());
  status = registry_->GetRolloutStatus("models/fraud");
  EXPECT_EQ(status->rollout().state(), v1::ROLLOUT_STATE_WAITING_FOR_PODS);
  EXPECT_THAT(status->rollout().status_message(),
              ::testing::HasSubstr("pod inf-1 failed to load version 2: "
                                   "build: warm-up gave a non-finite output"));
  EXPECT_EQ(status->deployment().canary_percent(), 10);
  // The pod's FAILED version is in the rollout status it reads.
  ASSERT_EQ(status->pods_size(), 1);
  EXPECT_EQ(status->pods(0).model().versions(0).state(),
            v1::SERVING_STATE_FAILED);
  // Loaded after all: the step advances.
  canary->set_state(v1::SERVING_STATE_AVAILABLE);
  canary->clear_reason();
  ASSERT_TRUE(registry_->ReportServingState(pod).ok());
  ASSERT_TRUE(registry_->Tick().ok());
  EXPECT_EQ(registry_->GetRolloutStatus("models/fraud")
                ->deployment()
                .canary_percent(),
            25);
}

// Pod reports are not kept: a registry that just started knows no pod, and
// must not take "no pod lags behind" for "every pod serves the revision".
TEST_F(RegistryTest, AfterARestartStepsWaitForThePodsToReport) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/1", GoodReport()).ok());
  ASSERT_TRUE(UploadBytes("fraud", "v2").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/2", GoodReport()).ok());
  clock_.Advance(absl::Minutes(6));  // The 5-minute hold is over.
  Open();                            // Restart.
  ASSERT_TRUE(registry_->Tick().ok());
  auto status = registry_->GetRolloutStatus("models/fraud");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->rollout().state(), v1::ROLLOUT_STATE_WAITING_FOR_PODS);
  EXPECT_THAT(status->rollout().status_message(),
              ::testing::HasSubstr("the registry just started"));
  EXPECT_EQ(status->deployment().canary_percent(), 10);
  // A pod reports the current revision within its interval: the step
  // advances once the grace is over.
  v1::ReportServingStateRequest pod;
  pod.set_pod_id("inf-1");
  pod.set_ready(true);
  v1::ModelServingStatus* served = pod.add_models();
  served->set_model("fraud");
  served->set_revision(status->deployment().revision());
  clock_.Advance(absl::Seconds(5));
  ASSERT_TRUE(registry_->ReportServingState(pod).ok());
  ASSERT_TRUE(registry_->Tick().ok());
  EXPECT_EQ(registry_->GetRolloutStatus("models/fraud")
                ->deployment()
                .canary_percent(),
            10);
  clock_.Advance(absl::Seconds(8));
  ASSERT_TRUE(registry_->Tick().ok());
  EXPECT_EQ(registry_->GetRolloutStatus("models/fraud")
                ->deployment()
                .canary_percent(),
            25);
}

TEST_F(RegistryTest, ABadCandidateIsRejectedAndProductionKeepsServing) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/1", GoodReport()).ok());
  int64_t revision = registry_->latest_revision();
  ASSERT_TRUE(UploadBytes("fraud", "v2").ok());
  auto decision =
      Validate("models/fraud/versions/2", GoodReport(/*accuracy=*/0.5));
  ASSERT_TRUE(decision.ok());
  EXPECT_FALSE(decision->decision().approved());
  EXPECT_TRUE(absl::StrContains(decision->decision().summary(), "rejected"))
      << decision->decision().summary();
  EXPECT_EQ(StateOf("models/fraud/versions/2"), S::VERSION_STATE_REJECTED);
  EXPECT_EQ(registry_->latest_revision(), revision);
  EXPECT_EQ(registry_->GetModel("models/fraud")->production_version(), 1);
  // A rejected version cannot be promoted.
  v1::PromoteRequest promote;
  promote.set_name("models/fraud");
  promote.set_version(2);
  auto promoted = registry_->Promote(caller_, promote);
  EXPECT_EQ(promoted.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(
      absl::StrContains(promoted.status().message(), "VERSION_STATE_REJECTED"));
}

TEST_F(RegistryTest, PromoteAbortAndRollback) {
  v1::RolloutPlan immediate;
  immediate.mutable_immediate();
  Register("fraud", immediate);
  for (int v = 1; v <= 3; ++v) {
    ASSERT_TRUE(UploadBytes("fraud", absl::StrCat("v", v)).ok());
    ASSERT_TRUE(
        Validate(absl::StrCat("models/fraud/versions/", v), GoodReport()).ok());
  }
  EXPECT_EQ(StateOf("models/fraud/versions/3"), S::VERSION_STATE_PRODUCTION);
  EXPECT_EQ(StateOf("models/fraud/versions/2"), S::VERSION_STATE_ARCHIVED);

  v1::RollbackRequest rollback;
  rollback.set_name("models/fraud");
  EXPECT_EQ(registry_->Rollback(caller_, rollback).status().code(),
            absl::StatusCode::kInvalidArgument);  // A reason is required.
  rollback.set_reason("accuracy fell");
  auto rolled = registry_->Rollback(caller_, rollback);
  ASSERT_TRUE(rolled.ok()) << rolled.status();
  EXPECT_EQ(rolled->restored().version(), 2);
  EXPECT_EQ(rolled->withdrawn().version(), 3);
  EXPECT_EQ(rolled->deployment().stable_version(), 2);
  EXPECT_EQ(StateOf("models/fraud/versions/3"), S::VERSION_STATE_ROLLED_BACK);
  EXPECT_EQ(StateOf("models/fraud/versions/2"), S::VERSION_STATE_PRODUCTION);

  // A canary started by hand, then aborted.
  ASSERT_TRUE(UploadBytes("fraud", "v4").ok());
  v1::UpdateModelRequest update;
  update.mutable_model()->set_name("models/fraud");
  update.mutable_model()->mutable_rollout_plan()->set_manual_start(true);
  update.mutable_update_mask()->add_paths("rollout_plan");
  ASSERT_TRUE(registry_->UpdateModel(caller_, update).ok());
  ASSERT_TRUE(Validate("models/fraud/versions/4", GoodReport()).ok());
  EXPECT_EQ(StateOf("models/fraud/versions/4"), S::VERSION_STATE_VALIDATED);
  v1::PromoteRequest promote;
  promote.set_name("models/fraud");
  promote.set_version(4);
  auto started = registry_->Promote(caller_, promote);
  ASSERT_TRUE(started.ok()) << started.status();
  EXPECT_EQ(started->deployment().canary_version(), 4);
  v1::AbortRolloutRequest abort;
  abort.set_name("models/fraud");
  abort.set_reason("bad canary");
  auto aborted = registry_->AbortRollout(caller_, abort);
  ASSERT_TRUE(aborted.ok()) << aborted.status();
  EXPECT_EQ(aborted->deployment().canary_version(), 0);
  EXPECT_EQ(aborted->deployment().stable_version(), 2);
  EXPECT_EQ(StateOf("models/fraud/versions/4"), S::VERSION_STATE_ROLLED_BACK);
}

TEST_F(RegistryTest, SetTrafficPausesAndResumeRestoresTheStep) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/1", GoodReport()).ok());
  ASSERT_TRUE(UploadBytes("fraud", "v2").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/2", GoodReport()).ok());
  v1::SetTrafficRequest traffic;
  traffic.set_name("models/fraud");
  traffic.set_canary_percent(101);
  EXPECT_EQ(registry_->SetTraffic(caller_, traffic).status().code(),
            absl::StatusCode::kInvalidArgument);
  traffic.set_canary_percent(3);
  auto set = registry_->SetTraffic(caller_, traffic);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->deployment().canary_percent(), 3);
  EXPECT_EQ(set->rollout().state(), v1::ROLLOUT_STATE_PAUSED);
  // Paused: the hold passing changes nothing.
  clock_.Advance(absl::Hours(1));
  ASSERT_TRUE(registry_->Tick().ok());
  EXPECT_EQ(registry_->GetRolloutStatus("models/fraud")
                ->deployment()
                .canary_percent(),
            3);
  v1::ResumeRolloutRequest resume;
  resume.set_name("models/fraud");
  auto resumed = registry_->ResumeRollout(caller_, resume);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->deployment().canary_percent(), 10);
  EXPECT_EQ(registry_->ResumeRollout(caller_, resume).status().code(),
            absl::StatusCode::kFailedPrecondition);
  v1::PauseRolloutRequest pause;
  pause.set_name("models/fraud");
  EXPECT_EQ(registry_->PauseRollout(caller_, pause)->rollout().state(),
            v1::ROLLOUT_STATE_PAUSED);

  // Issue 24: traffic raised to 40 % by hand and then resumed stays at 40 %
  // (not back to the step's 10 %), and the next step is the plan's first
  // above it: 50 %.
  traffic.set_canary_percent(40);
  ASSERT_TRUE(registry_->SetTraffic(caller_, traffic).ok());
  resumed = registry_->ResumeRollout(caller_, resume);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->deployment().canary_percent(), 40);
  EXPECT_EQ(resumed->rollout().current_percent(), 40);
  EXPECT_EQ(resumed->rollout().step_index(), 1);  // 25 % <= 40 % < 50 %
  clock_.Advance(absl::Hours(1));
  ASSERT_TRUE(registry_->Tick().ok());
  EXPECT_EQ(registry_->GetRolloutStatus("models/fraud")
                ->deployment()
                .canary_percent(),
            50);
}

TEST_F(RegistryTest, AVersionValidatedDuringARolloutStartsAfterIt) {
  Register("fraud");
  ASSERT_TRUE(UploadBytes("fraud", "v1").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/1", GoodReport()).ok());
  ASSERT_TRUE(UploadBytes("fraud", "v2").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/2", GoodReport()).ok());
  ASSERT_TRUE(UploadBytes("fraud", "v3").ok());
  ASSERT_TRUE(Validate("models/fraud/versions/3", GoodReport()).ok());
  EXPECT_EQ(StateOf("models/fraud/versions/2"), S::VERSION_STATE_CANARY);
  EXPECT_EQ(StateOf("models/fraud/versions/3"), S::VERSION_STATE_VALIDATED);
  v1::AbortRolloutRequest abort;
  abort.set_name("models/fraud");
  abort.set_reason("canary worse");
  ASSERT_TRUE(registry_->AbortRollout(caller_, abort).ok());
  ASSERT_TRUE(registry_->Tick().ok());
  EXPECT_EQ(StateOf("models/fraud/versions/3"), S::VERSION_STATE_CANARY);
  EXPECT_EQ(registry_->GetRolloutStatus("models/fraud")
                ->rollout()
                .candidate_version(),
            3);
}

}  // namespace
}  // namespace continuum::registry
