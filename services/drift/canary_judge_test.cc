// The canary judgement: CompareArms and CanaryJudge by hand; then through
// DriftMonitor, which feeds it, asks the target for production and aborts.
#include "services/drift/canary_judge.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "services/drift/drift_monitor.h"
#include "services/drift/monitor_test_util.h"

namespace continuum::drift_service {
namespace {

// An arm of `n` outcomes received at `at`, every `every`-th wrong (0:
// none).
CanaryArm Arm(int n, int every, absl::Time at,
              OutcomeKind kind = OutcomeKind::kCorrect) {
  CanaryArm arm;
  arm.kind = kind;
  for (int i = 0; i < n; ++i) {
    arm.samples.emplace_back(at, every != 0 && (i + 1) % every == 0 ? 1 : 0);
  }
  return arm;
}

v1::CanaryJudgementConfig Config() {
  v1::CanaryJudgementConfig c;
  c.set_alpha(0.05);
  c.set_min_outcomes(200);
  return c;
}

TEST(CompareArmsTest, AWorseCanaryFailsAtTheFirstLooksLevel) {
  const absl::Time t = absl::FromUnixSeconds(100);
  int64_t looks = 0;
  CanaryComparison c = CompareArms(Config(), "m", 3, Arm(200, 5, t), 2,
                                   Arm(200, 20, t), t + absl::Minutes(1),
                                   looks);
  EXPECT_EQ(looks, 1);
  EXPECT_NEAR(c.look_alpha, 0.05 * 6 / (std::numbers::pi * std::numbers::pi), 1e-15);
  const v1::CanaryJudgement& j = c.judgement;
  EXPECT_EQ(j.model(), "m");
  EXPECT_EQ(j.canary_version(), 3);
  EXPECT_EQ(j.stable_version(), 2);
  EXPECT_EQ(j.test(), "two_proportion_z");
  EXPECT_DOUBLE_EQ(j.canary_error(), 0.2);
  EXPECT_DOUBLE_EQ(j.stable_error(), 0.05);
  EXPECT_NEAR(j.statistic(), 4.535573676110727, 1e-9);
  EXPECT_EQ(j.verdict(), v1::CANARY_VERDICT_FAIL);
  EXPECT_EQ(j.window().start_time().seconds(), 100);
  EXPECT_EQ(j.window().end_time().seconds(), 160);
}

TEST(CompareArmsTest, TooFewOutcomesAreInconclusiveAndSpendNoLook) {
  const absl::Time t = absl::FromUnixSeconds(100);
  int64_t looks = 0;
  CanaryComparison c = CompareArms(Config(), "m", 3, Arm(100, 5, t), 2,
                                   Arm(300, 20, t), t, looks);
  EXPECT_EQ(looks, 0);
  EXPECT_EQ(c.judgement.verdict(), v1::CANARY_VERDICT_INCONCLUSIVE);
  EXPECT_DOUBLE_EQ(c.look_alpha, 0.05);
}

TEST(CompareArmsTest, OnlyTheCommonPeriodCounts) {
  CanaryArm stable = Arm(100, 2, absl::FromUnixSeconds(10));  // 50 % early.
  const CanaryArm later = Arm(100, 10, absl::FromUnixSeconds(20));
  for (const auto& sample : later.samples) stable.samples.push_back(sample);
  int64_t looks = 0;
  CanaryComparison c =
      CompareArms(Config(), "m", 3, Arm(100, 10, absl::FromUnixSeconds(20)), 2,
                  stable, absl::FromUnixSeconds(30), looks);
  EXPECT_EQ(c.judgement.stable_outcomes(), 100);
  EXPECT_DOUBLE_EQ(c.judgement.stable_error(), 0.1);
}

TEST(CompareArmsTest, ErrorValuesUseMannWhitneyAndNoMinimumEffect) {
  const absl::Time t = absl::FromUnixSeconds(100);
  v1::CanaryJudgementConfig config = Config();
  config.set_min_effect_points(50);  // For error rates only.
  int64_t looks = 0;
  CanaryComparison c = CompareArms(
      config, "m", 3, Arm(300, 2, t, OutcomeKind::kErrorValue), 2,
      Arm(300, 10, t, OutcomeKind::kErrorValue), t, looks);
  EXPECT_EQ(c.judgement.test(), "mann_whitney_u");
  EXPECT_DOUBLE_EQ(c.min_difference, 0);
  EXPECT_EQ(c.judgement.verdict(), v1::CANARY_VERDICT_FAIL);
}

TEST(CanaryJudgeTest, StepsAndOneAlertPerFailedCanary) {
  v1::CanaryJudgementConfig config = Config();
  CanaryJudge judge(1000);
  absl::Time now = absl::FromUnixSeconds(1000);
  // One version reporting: nothing to judge.
  for (int i = 0; i < 300; ++i) {
    judge.AddOutcome(2, OutcomeKind::kCorrect, now, (i + 1) % 20 == 0);
  }
  EXPECT_EQ(judge.Prepare(config, now), CanaryJudge::Step::kNothing);
  for (int i = 0; i < 300; ++i) {
    judge.AddOutcome(3, OutcomeKind::kCorrect, now, (i + 1) % 5 == 0);
  }
  EXPECT_EQ(judge.Prepare(config, now), CanaryJudge::Step::kLookUp);
  // Production unknown: no judgement.
  EXPECT_FALSE(judge.Judge(config, "m", now).has_value());
  EXPECT_FALSE(judge.latest().has_value());
  judge.SetProduction(2);
  std::optional<v1::Alert> alert = judge.Judge(config, "m", now);
  ASSERT_TRUE(alert.has_value());
  EXPECT_EQ(alert->version(), 3);
  EXPECT_EQ(alert->detector(), kCanaryDetector);
  EXPECT_EQ(alert->type(), v1::ALERT_TYPE_PERFORMANCE);
  EXPECT_DOUBLE_EQ(alert->threshold(), 0.05);
  EXPECT_THAT(alert->message(),
              ::testing::StartsWith("canary version 3 is worse than stable "
                                    "version 2: error rate 0.2 vs 0.05"));
  EXPECT_EQ(judge.latest()->verdict(), v1::CANARY_VERDICT_FAIL);
  // Within the interval: nothing; after it, with new outcomes, production
  // is looked up again and the canary judged again ...
  judge.AddOutcome(3, OutcomeKind::kCorrect, now, 1);
  EXPECT_EQ(judge.Prepare(config, now + absl::Seconds(30)),
            CanaryJudge::Step::kNothing);
  now += absl::Minutes(1);
  EXPECT_EQ(judge.Prepare(config, now), CanaryJudge::Step::kLookUp);
  // ... and a failed canary is not alerted on twice.
  EXPECT_FALSE(judge.Judge(config, "m", now).has_value());
  EXPECT_EQ(judge.latest()->verdict(), v1::CANARY_VERDICT_FAIL);
  // Nothing new since: nothing to judge.
  now += absl::Minutes(1);
  EXPECT_EQ(judge.Prepare(config, now), CanaryJudge::Step::kNothing);
}

TEST(CanaryJudgeTest, ForgottenVersionsAndKeptSamples) {
  v1::CanaryJudgementConfig config = Config();
  CanaryJudge judge(/*max_samples=*/10);
  const absl::Time now = absl::FromUnixSeconds(1000);
  for (int i = 0; i < 50; ++i) {
    judge.AddOutcome(2, OutcomeKind::kCorrect, now, 0);
    judge.AddOutcome(3, OutcomeKind::kCorrect, now, 0);
  }
  EXPECT_EQ(judge.Prepare(config, now), CanaryJudge::Step::kLookUp);
  judge.SetProduction(2);
  EXPECT_FALSE(judge.Judge(config, "m", now).has_value());
  EXPECT_EQ(judge.latest()->canary_outcomes(), 10);  // Kept at most 10.
  judge.ForgetVersion(3);
  judge.AddOutcome(2, OutcomeKind::kCorrect, now + absl::Minutes(2), 0);
  EXPECT_EQ(judge.Prepare(config, now + absl::Minutes(2)),
            CanaryJudge::Step::kNothing);  // One version left.
}

// Through DriftMonitor.

class CanaryJudgementTest : public ::testing::Test {
 protected:
  CanaryJudgementTest()
      : monitor_(DriftMonitorOptions{.clock = &clock_, .actions = &target_}) {
    target_.production = 2;
    v1::ConfigureMonitorRequest request = ConfigureRequest("m");
    // No streaming detectors' alerts in the way: one that never fires.
    v1::DetectorConfig* d = request.mutable_monitor()->add_detectors();
    d->set_id("quiet");
    d->set_detector("page_hinkley");
    d->set_signal(v1::MONITORED_SIGNAL_PREDICTION);
    request.mutable_monitor()->mutable_canary_judgement()->set_min_outcomes(
        200);
    EXPECT_TRUE(monitor_.ConfigureMonitor(request).ok());
  }

  // One minute (the default interval) of traffic: `n` outcomes of stable
  // version 2 and of canary version 3, each with its error pattern.
  void Minute(int n, int stable_every, int canary_every) {
    ASSERT_TRUE(monitor_.Observe(Outcomes(2, n, stable_every)).ok());
    ASSERT_TRUE(monitor_.Observe(Outcomes(3, n, canary_every)).ok());
    clock_.Advance(absl::Minutes(1));
  }

  v1::CanaryJudgement Latest() {
    absl::StatusOr<v1::GetDriftStatusResponse> status =
        monitor_.GetDriftStatus("models/m", 0);
    EXPECT_TRUE(status.ok()) << status.status();
    return status.ok() ? status->latest_canary_judgement()
                       : v1::CanaryJudgement();
  }

  int Calls(const std::string& call) {
    return static_cast<int>(
        std::count(target_.calls.begin(), target_.calls.end(), call));
  }

  core::FakeClock clock_;
  RecordingTarget target_;
  DriftMonitor monitor_;
};

TEST_F(CanaryJudgementTest, DefaultsAreFilledIn) {
  absl::StatusOr<v1::Monitor> m = monitor_.GetMonitor("models/m/monitor");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_DOUBLE_EQ(m->canary_judgement().alpha(), 0.05);
  EXPECT_EQ(m->canary_judgement().min_outcomes(), 200);
  EXPECT_EQ(m->canary_judgement().interval().seconds(), 60);
  EXPECT_EQ(DriftMonitor::DefaultMonitor("x").canary_judgement().min_outcomes(),
            200);

  v1::ConfigureMonitorRequest bad = ConfigureRequest("m");
  bad.mutable_monitor()->mutable_canary_judgement()->set_alpha(1.5);
  EXPECT_EQ(monitor_.ConfigureMonitor(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
  bad.mutable_monitor()->mutable_canary_judgement()->set_alpha(0.01);
  bad.mutable_monitor()->mutable_canary_judgement()->set_min_effect_points(-1);
  EXPECT_EQ(monitor_.ConfigureMonitor(bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CanaryJudgementTest, WorseCanaryFailsAndIsAbortedOnce) {
  // Stable 5 % errors, canary 20 %: 100 outcomes each are too few.
  Minute(100, 20, 5);
  v1::CanaryJudgement j = Latest();
  EXPECT_EQ(j.verdict(), v1::CANARY_VERDICT_INCONCLUSIVE);
  EXPECT_EQ(j.canary_version(), 3);
  EXPECT_EQ(j.stable_version(), 2);
  EXPECT_EQ(j.canary_outcomes(), 100);
  EXPECT_TRUE(target_.calls.empty());

  // 200 each: z = 0.15 / sqrt(0.125 * 0.875 * 2 / 200) = 4.54.
  Minute(100, 20, 5);
  j = Latest();
  EXPECT_EQ(j.verdict(), v1::CANARY_VERDICT_FAIL);
  EXPECT_EQ(j.test(), "two_proportion_z");
  EXPECT_EQ(j.canary_outcomes(), 200);
  EXPECT_EQ(j.stable_outcomes(), 200);
  EXPECT_DOUBLE_EQ(j.canary_error(), 0.2);
  EXPECT_DOUBLE_EQ(j.stable_error(), 0.05);
  EXPECT_NEAR(j.statistic(), 0.15 / std::sqrt(0.125 * 0.875 * 0.01), 1e-9);
  EXPECT_LT(j.p_value(), 1e-5);
  EXPECT_EQ(target_.calls, (std::vector<std::string>{"abort m 3"}));

  // It stays worse: judged again, never aborted again.
  for (int i = 0; i < 5; ++i) Minute(100, 20, 5);
  EXPECT_EQ(Latest().verdict(), v1::CANARY_VERDICT_FAIL);
  EXPECT_EQ(Latest().canary_outcomes(), 700);
  EXPECT_EQ(Calls("abort m 3"), 1);
  EXPECT_EQ(target_.calls.size(), 1u);

  std::vector<v1::Alert> alerts = AllAlerts(monitor_);
  ASSERT_EQ(alerts.size(), 1u);
  const v1::Alert& a = alerts[0];
  EXPECT_EQ(a.type(), v1::ALERT_TYPE_PERFORMANCE);
  EXPECT_EQ(a.severity(), v1::ALERT_SEVERITY_CRITICAL);
  EXPECT_EQ(a.detector(), "canary_judgement");
  EXPECT_EQ(a.version(), 3);
  EXPECT_EQ(a.canary_judgement().verdict(), v1::CANARY_VERDICT_FAIL);
  EXPECT_EQ(a.canary_judgement().stable_version(), 2);
  EXPECT_TRUE(a.has_p_value());
  // The first judgement with enough outcomes tests at 0.05 * 6 / pi^2.
  EXPECT_TRUE(absl::StrContains(a.message(), "spent over 1 judgements"))
      << a.message();
  EXPECT_EQ(a.action_result().action(), v1::DRIFT_ACTION_ABORT_ROLLOUT);
  EXPECT_TRUE(a.action_result().succeeded());
}

TEST_F(CanaryJudgementTest, EqualCanaryPassesAndIsNotAborted) {
  Minute(150, 10, 10);
  EXPECT_EQ(Latest().verdict(), v1::CANARY_VERDICT_INCONCLUSIVE);
  for (int i = 0; i < 5; ++i) Minute(150, 10, 10);
  v1::CanaryJudgement j = Latest();
  EXPECT_EQ(j.verdict(), v1::CANARY_VERDICT_PASS);
  EXPECT_EQ(j.canary_outcomes(), 900);
  EXPECT_DOUBLE_EQ(j.statistic(), 0);
  EXPECT_DOUBLE_EQ(j.p_value(), 0.5);
  EXPECT_TRUE(target_.calls.empty());
  EXPECT_TRUE(AllAlerts(monitor_).empty());
}

TEST_F(CanaryJudgementTest, BetterCanaryPasses) {
  for (int i = 0; i < 4; ++i) Minute(100, 5, 20);
  EXPECT_EQ(Latest().verdict(), v1::CANARY_VERDICT_PASS);
  EXPECT_GT(Latest().p_value(), 0.99);
  EXPECT_TRUE(target_.calls.empty());
}

TEST_F(CanaryJudgementTest, MinimumEffectHoldsBackASmallDifference) {
  v1::ConfigureMonitorRequest request = ConfigureRequest("m");
  request.mutable_update_mask()->add_paths("canary_judgement");
  auto* c = request.mutable_monitor()->mutable_canary_judgement();
  c->set_min_outcomes(200);
  c->set_min_effect_points(20);  // 15 points worse is not enough.
  ASSERT_TRUE(monitor_.ConfigureMonitor(request).ok());
  for (int i = 0; i < 5; ++i) Minute(100, 20, 5);
  v1::CanaryJudgement j = Latest();
  EXPECT_LT(j.p_value(), 1e-5);
  EXPECT_EQ(j.verdict(), v1::CANARY_VERDICT_PASS);
  EXPECT_TRUE(target_.calls.empty());
}

TEST_F(CanaryJudgementTest, OnlyTheCommonPeriodIsCompared) {
  // Stable ran alone (with many errors) before the canary started.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(monitor_.Observe(Outcomes(2, 100, 2)).ok());
    clock_.Advance(absl::Minutes(1));
  }
  for (int i = 0; i < 3; ++i) Minute(100, 10, 10);
  v1::CanaryJudgement j = Latest();
  EXPECT_EQ(j.stable_outcomes(), 300);
  EXPECT_EQ(j.canary_outcomes(), 300);
  EXPECT_DOUBLE_EQ(j.stable_error(), 0.1);
  EXPECT_EQ(j.verdict(), v1::CANARY_VERDICT_PASS);
}

TEST_F(CanaryJudgementTest, ErrorValuesUseMannWhitneyU) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(monitor_.Observe(ErrorValues(2, 100, 1.0f, 2.0f, 10)).ok());
    ASSERT_TRUE(monitor_.Observe(ErrorValues(3, 100, 1.0f, 2.0f, 2)).ok());
    clock_.Advance(absl::Minutes(1));
  }
  v1::CanaryJudgement j = Latest();
  EXPECT_EQ(j.test(), "mann_whitney_u");
  EXPECT_EQ(j.verdict(), v1::CANARY_VERDICT_FAIL);
  EXPECT_DOUBLE_EQ(j.canary_error(), 1.5);
  // U: each of the canary's 150 high values beats the stable's 270 low
  // ones and ties its 30 high ones; each low one ties the 270 low ones.
  EXPECT_DOUBLE_EQ(j.statistic(), 150 * 270 + 0.5 * (150 * 30 + 150 * 270));
  EXPECT_EQ(target_.calls, (std::vector<std::string>{"abort m 3"}));
}

TEST_F(CanaryJudgementTest, DryRunAndDisabledDoNotAbort) {
  v1::ConfigureMonitorRequest request = ConfigureRequest("m");
  request.mutable_update_mask()->add_paths("actions");
  request.mutable_monitor()->mutable_actions()->set_dry_run(true);
  ASSERT_TRUE(monitor_.ConfigureMonitor(request).ok());
  for (int i = 0; i < 3; ++i) Minute(100, 20, 5);
  std::vector<v1::Alert> alerts = AllAlerts(monitor_);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_TRUE(alerts[0].action_result().dry_run());
  EXPECT_EQ(alerts[0].action_result().action(), v1::DRIFT_ACTION_ABORT_ROLLOUT);
  EXPECT_TRUE(target_.calls.empty());

  // Judgement off: a new worse canary (version 4) is neither judged nor
  // aborted.
  request.mutable_update_mask()->set_paths(0, "canary_judgement");
  request.mutable_monitor()->mutable_canary_judgement()->set_disabled(true);
  ASSERT_TRUE(monitor_.ConfigureMonitor(request).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(monitor_.Observe(Outcomes(2, 100, 20)).ok());
    ASSERT_TRUE(monitor_.Observe(Outcomes(4, 100, 2)).ok());
    clock_.Advance(absl::Minutes(1));
  }
  EXPECT_EQ(Latest().canary_version(), 3);
  EXPECT_EQ(AllAlerts(monitor_).size(), 1u);
  EXPECT_TRUE(target_.calls.empty());
}

TEST(CanaryJudgementNoTargetTest, WithoutRegistryNothingIsJudged) {
  core::FakeClock clock;
  DriftMonitor monitor(DriftMonitorOptions{.clock = &clock});
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(monitor.Observe(Outcomes(2, 100, 20)).ok());
    ASSERT_TRUE(monitor.Observe(Outcomes(3, 100, 2)).ok());
    clock.Advance(absl::Minutes(1));
  }
  absl::StatusOr<v1::GetDriftStatusResponse> status =
      monitor.GetDriftStatus("models/m", 0);
  ASSERT_TRUE(status.ok());
  EXPECT_FALSE(status->has_latest_canary_judgement());
}

}  // namespace
}  // namespace continuum::drift_service
