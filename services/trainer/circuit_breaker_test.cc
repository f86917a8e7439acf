#include "services/trainer/circuit_breaker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "lib/core/proto_time.h"

namespace continuum::trainer {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

CountedOutcome Outcome(v1::RunState state, int threshold = 3) {
  CountedOutcome o;
  o.run = "models/m/runs/7";
  o.state = state;
  o.detail = state == v1::RUN_STATE_SUCCEEDED ? "" : "gates failed";
  o.threshold = threshold;
  o.now = kNow;
  return o;
}

TEST(CircuitBreakerTest, OpensAtTheThresholdOfConsecutiveFailures) {
  v1::ScheduleStatus status;
  CircuitDecision d = CountOutcome(Outcome(v1::RUN_STATE_FAILED), &status);
  EXPECT_FALSE(d.opened);
  EXPECT_TRUE(d.go_on);
  d = CountOutcome(Outcome(v1::RUN_STATE_REJECTED), &status);
  EXPECT_FALSE(d.opened);
  EXPECT_EQ(status.consecutive_failures(), 2);
  d = CountOutcome(Outcome(v1::RUN_STATE_REJECTED), &status);
  EXPECT_TRUE(d.opened);
  EXPECT_FALSE(d.go_on);
  EXPECT_TRUE(status.circuit_open());
  EXPECT_TRUE(status.paused());
  EXPECT_EQ(status.paused_reason(),
            "circuit breaker: 3 consecutive failed or rejected runs, the "
            "latest models/m/runs/7 RUN_STATE_REJECTED: gates failed");
  // Further failures count but do not open it again.
  d = CountOutcome(Outcome(v1::RUN_STATE_FAILED), &status);
  EXPECT_FALSE(d.opened);
  EXPECT_FALSE(d.go_on);
  EXPECT_EQ(status.consecutive_failures(), 4);
}

TEST(CircuitBreakerTest, SuccessResetsTheCountButNeverClosesTheBreaker) {
  v1::ScheduleStatus status;
  CountOutcome(Outcome(v1::RUN_STATE_FAILED, 1), &status);
  ASSERT_TRUE(status.circuit_open());
  CountedOutcome success = Outcome(v1::RUN_STATE_SUCCEEDED);
  google::protobuf::Timestamp trained = core::ToProto(kNow - absl::Hours(1));
  success.trained_through = trained;
  const CircuitDecision d = CountOutcome(success, &status);
  EXPECT_TRUE(d.go_on);  // An approved candidate goes on.
  EXPECT_FALSE(d.opened);
  EXPECT_EQ(status.consecutive_failures(), 0);
  EXPECT_TRUE(status.circuit_open());
  EXPECT_EQ(core::FromProto(status.last_success_time()), kNow);
  EXPECT_EQ(core::FromProto(status.last_trained_time()), kNow - absl::Hours(1));
}

v1::GateResult* AddGate(v1::ValidationDecision* d, const std::string& gate,
                        bool passed) {
  v1::GateResult* g = d->add_gates();
  g->set_gate(gate);
  g->set_evaluation_set("held_out");
  g->set_passed(passed);
  return g;
}

TEST(CircuitBreakerTest, ACandidateThatIsOnlyNotBetterIsNotAFailure) {
  v1::ValidationDecision d;
  AddGate(&d, "min_sample_count", true);
  AddGate(&d, "min_held_out_gain_points", false);
  EXPECT_TRUE(NotBetterOnly(d));
  AddGate(&d, "max_retention_accuracy_drop_points", false);
  EXPECT_FALSE(NotBetterOnly(d));  // It also forgot: a real rejection.
  v1::ValidationDecision approved;
  approved.set_approved(true);
  EXPECT_FALSE(NotBetterOnly(approved));
  EXPECT_FALSE(NotBetterOnly(v1::ValidationDecision()));  // No gate failed.

  v1::ScheduleStatus status;
  CountOutcome(Outcome(v1::RUN_STATE_FAILED), &status);
  CountedOutcome not_better = Outcome(v1::RUN_STATE_REJECTED);
  not_better.not_better_only = true;
  not_better.trained_through = core::ToProto(kNow);
  for (int i = 0; i < 5; ++i) {
    const CircuitDecision c = CountOutcome(not_better, &status);
    EXPECT_TRUE(c.go_on);
    EXPECT_FALSE(c.opened);
  }
  EXPECT_EQ(status.consecutive_failures(), 1);  // Neither counted nor reset.
  EXPECT_FALSE(status.has_last_trained_time());
}

TEST(CircuitBreakerTest, ThresholdZeroMeansTheDefaultOfThree) {
  v1::ScheduleStatus status;
  CountOutcome(Outcome(v1::RUN_STATE_FAILED, 0), &status);
  CountOutcome(Outcome(v1::RUN_STATE_FAILED, 0), &status);
  EXPECT_FALSE(status.circuit_open());
  CountOutcome(Outcome(v1::RUN_STATE_FAILED, 0), &status);
  EXPECT_TRUE(status.circuit_open());
  // Without a detail the reason ends at the state.
  v1::ScheduleStatus other;
  CountedOutcome o = Outcome(v1::RUN_STATE_FAILED, 1);
  o.detail.clear();
  CountOutcome(o, &other);
  EXPECT_THAT(other.paused_reason(), ::testing::EndsWith("RUN_STATE_FAILED"));
}

TEST(CircuitBreakerTest, WhilePausedOnlyManualTriggersAreAdmitted) {
  v1::ScheduleStatus status;
  EXPECT_TRUE(AdmitTrigger("m", v1::RUN_TRIGGER_DRIFT, status).ok());
  ASSERT_TRUE(Pause("holiday", &status));
  EXPECT_EQ(status.paused_reason(), "holiday");
  EXPECT_TRUE(AdmitTrigger("m", v1::RUN_TRIGGER_MANUAL, status).ok());
  absl::Status drift = AdmitTrigger("m", v1::RUN_TRIGGER_DRIFT, status);
  EXPECT_TRUE(absl::IsFailedPrecondition(drift));
  EXPECT_THAT(drift.message(), HasSubstr("the schedule of model m is paused"));
  EXPECT_FALSE(Resume(&status));
  EXPECT_FALSE(status.paused());

  CountOutcome(Outcome(v1::RUN_STATE_FAILED, 1), &status);
  // A federated round's validation run passes (the round's opening was the
  // decision; a scheduled round's slot is paused with the schedule).
  EXPECT_TRUE(AdmitTrigger("m", v1::RUN_TRIGGER_FEDERATED, status).ok());
  absl::Status open = AdmitTrigger("m", v1::RUN_TRIGGER_SCHEDULE, status);
  EXPECT_TRUE(absl::IsFailedPrecondition(open));
  EXPECT_THAT(open.message(),
              HasSubstr("the circuit breaker of model m is open"));
  EXPECT_THAT(open.message(), HasSubstr("continuumctl trainer resume m"));
  // Pausing keeps the breaker's reason.
  EXPECT_FALSE(Pause("", &status));
  EXPECT_THAT(status.paused_reason(), HasSubstr("circuit breaker"));
  EXPECT_TRUE(Resume(&status));
  EXPECT_FALSE(status.circuit_open());
  EXPECT_FALSE(status.paused());
  EXPECT_EQ(status.paused_reason(), "");
  EXPECT_EQ(status.consecutive_failures(), 0);
  ASSERT_TRUE(Pause("", &status));
  EXPECT_EQ(status.paused_reason(), "paused by PauseSchedule");
}

}  // namespace
}  // namespace continuum::trainer
