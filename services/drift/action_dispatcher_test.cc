// ActionDispatcher: the rules, the cool-down, dry runs and the rollback
// target, by hand; then through DriftMonitor with a recording target.
#include "services/drift/action_dispatcher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "services/drift/canary_judge.h"
#include "services/drift/drift_monitor.h"
#include "services/drift/drift_store.h"
#include "services/drift/monitor_test_util.h"

namespace continuum::drift_service {
namespace {

using ::testing::HasSubstr;

TEST(EffectiveRulesTest, DefaultsOrThePolicysRules) {
  std::vector<v1::ActionRule> rules = EffectiveRules({});
  ASSERT_EQ(rules.size(), 3u);
  EXPECT_EQ(rules[0].alert_type(), v1::ALERT_TYPE_DATA);
  EXPECT_EQ(rules[1].alert_type(), v1::ALERT_TYPE_CONCEPT);
  EXPECT_EQ(rules[2].action(), v1::DRIFT_ACTION_ROLLBACK);
  EXPECT_TRUE(rules[2].production_only());
  v1::ActionPolicy policy;
  policy.add_rules()->set_action(v1::DRIFT_ACTION_ABORT_ROLLOUT);
  rules = EffectiveRules(policy);
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].action(), v1::DRIFT_ACTION_ABORT_ROLLOUT);
  EXPECT_EQ(CooldownOf({}), absl::Hours(1));
  policy.mutable_cooldown()->set_seconds(90);
  EXPECT_EQ(CooldownOf(policy), absl::Seconds(90));
}

TEST(EarlierVersionTest, TheNewestEarlierVersionWithEnoughOutcomesDecides) {
  const std::vector<VersionOutcomes> versions = {
      {1, OutcomeKind::kCorrect, 50, 0.05},
      {2, OutcomeKind::kCorrect, 10, 0.0},  // Too few outcomes.
      {3, OutcomeKind::kErrorValue, 50, 0.0},  // Another kind.
      {4, OutcomeKind::kCorrect, 50, 0.5}};
  absl::StatusOr<RollbackTarget> to = EarlierVersionThatDidBetter(versions, 4, 20);
  ASSERT_TRUE(to.ok()) << to.status();
  EXPECT_EQ(to->version, 1);
  EXPECT_EQ(to->reason,
            "version 1 did better: error rate 0.05 over its last 50 outcomes "
            "vs 0.5 of version 4");
  // Version 1 against version 4 at 0.05: no better.
  const std::vector<VersionOutcomes> worse = {
      {1, OutcomeKind::kCorrect, 50, 0.05}, {4, OutcomeKind::kCorrect, 50, 0.05}};
  EXPECT_THAT(EarlierVersionThatDidBetter(worse, 4, 20).status().message(),
              HasSubstr("no rollback: version 1 did no better on its last 50 "
                        "outcomes (error rate 0.05 vs 0.05 of version 4)"));
  EXPECT_EQ(EarlierVersionThatDidBetter(versions, 1, 20).status().message(),
            "no rollback: no earlier version has 20 recent outcomes to "
            "compare version 1 with");
  EXPECT_EQ(EarlierVersionThatDidBetter(versions, 9, 20).status().message(),
            "version 9 has no recent outcomes to compare");
  EXPECT_EQ(EarlierVersionThatDidBetter({{5, OutcomeKind::kUnknown, 0, 0}}, 5,
                                        20)
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

// A dispatcher over a recording target on a fake clock.
class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest()
      : dispatcher_({.clock = &clock_, .actions = &target_, .store = &store_}) {}

  v1::Alert Alert(v1::AlertType type, v1::AlertSeverity severity,
                  int64_t version, const std::string& detector = "d") {
    v1::Alert alert;
    alert.set_model("m");
    alert.set_name("models/m/alerts/1");
    alert.set_version(version);
    alert.set_type(type);
    alert.set_severity(severity);
    alert.set_detector(detector);
    return alert;
  }
  v1::ActionResult Dispatch(const v1::Alert& alert,
                            const v1::ActionPolicy& policy = {}) {
    return dispatcher_.Dispatch(alert, policy, [](const std::string&, int64_t) {
      return RollbackTarget{1, "version 1 did better"};
    });
  }

  core::FakeClock clock_;
  RecordingTarget target_;
  InMemoryDriftStore store_;
  ActionDispatcher dispatcher_;
};

TEST_F(DispatcherTest, RulesPickTheAction) {
  target_.retrain_status = absl::OkStatus();
  v1::ActionResult r =
      Dispatch(Alert(v1::ALERT_TYPE_DATA, v1::ALERT_SEVERITY_WARNING, 2));
  EXPECT_EQ(r.action(), v1::DRIFT_ACTION_TRIGGER_RETRAIN);
  EXPECT_TRUE(r.succeeded());
  EXPECT_EQ(r.message(), "done");
  EXPECT_EQ(r.target(), "models/m/runs/1");
  EXPECT_EQ(r.action_time().seconds(), 1'700'000'000);
  EXPECT_EQ(store_.Load()->last_actions.at("m"), clock_.Now());
  // INFO is below every default rule.
  r = Dispatch(Alert(v1::ALERT_TYPE_DATA, v1::ALERT_SEVERITY_INFO, 2));
  EXPECT_EQ(r.action(), v1::DRIFT_ACTION_NONE);
  EXPECT_EQ(r.message(), "no action rule applies: alert only");
  EXPECT_EQ(r.target(), "models/m");
}

TEST_F(DispatcherTest, CooldownHoldsBackAnotherActionNotACanaryAbort) {
  target_.retrain_status = absl::OkStatus();
  EXPECT_TRUE(
      Dispatch(Alert(v1::ALERT_TYPE_CONCEPT, v1::ALERT_SEVERITY_WARNING, 2))
          .succeeded());
  ASSERT_TRUE(dispatcher_.CooldownUntil("m", {}, clock_.Now()).has_value());
  EXPECT_EQ(*dispatcher_.CooldownUntil("m", {}, clock_.Now()),
            clock_.Now() + absl::Hours(1));
  v1::ActionResult r =
      Dispatch(Alert(v1::ALERT_TYPE_CONCEPT, v1::ALERT_SEVERITY_WARNING, 2));
  EXPECT_TRUE(r.suppressed_by_cooldown());
  EXPECT_EQ(r.message(), "suppressed: the model was acted on less than 1h ago");
  r = Dispatch(Alert(v1::ALERT_TYPE_PERFORMANCE, v1::ALERT_SEVERITY_CRITICAL,
                     3, kCanaryDetector));
  EXPECT_EQ(r.action(), v1::DRIFT_ACTION_ABORT_ROLLOUT);
  EXPECT_TRUE(r.succeeded());
  EXPECT_EQ(target_.calls,
            (std::vector<std::string>{"retrain m", "abort m 3"}));
  clock_.Advance(absl::Hours(1));
  EXPECT_FALSE(dispatcher_.CooldownUntil("m", {}, clock_.Now()).has_value());
}

TEST_F(DispatcherTest, AFailedActionGivesTheCooldownBack) {
  v1::ActionResult r =
      Dispatch(Alert(v1::ALERT_TYPE_CONCEPT, v1::ALERT_SEVERITY_WARNING, 2));
  EXPECT_FALSE(r.succeeded());
  EXPECT_EQ(r.message(), "trainer down");
  EXPECT_FALSE(dispatcher_.CooldownUntil("m", {}, clock_.Now()).has_value());
  EXPECT_TRUE(store_.Load()->last_actions.empty());
  // So a rollback of production right after is not held back.
  r = Dispatch(
      Alert(v1::ALERT_TYPE_PERFORMANCE, v1::ALERT_SEVERITY_CRITICAL, 2));
  EXPECT_EQ(r.action(), v1::DRIFT_ACTION_ROLLBACK);
  EXPECT_TRUE(r.succeeded());
  EXPECT_EQ(target_.calls.back(), "rollback m 2 to 1");
}

TEST_F(DispatcherTest, RollbackOnlyOnProductionAndToABetterVersion) {
  // Version 3 is not production (2 is): no rule applies.
  v1::ActionResult r = Dispatch(
      Alert(v1::ALERT_TYPE_PERFORMANCE, v1::ALERT_SEVERITY_CRITICAL, 3));
  EXPECT_EQ(r.action(), v1::DRIFT_ACTION_NONE);
  // No better version: alert only, saying why.
  r = dispatcher_.Dispatch(
      Alert(v1::ALERT_TYPE_PERFORMANCE, v1::ALERT_SEVERITY_CRITICAL, 2), {},
      [](const std::string&, int64_t) -> absl::StatusOr<RollbackTarget> {
        return absl::FailedPreconditionError("no rollback: none better");
      });
  EXPECT_EQ(r.action(), v1::DRIFT_ACTION_NONE);
  EXPECT_EQ(r.message(), "alert only: no rollback: none better");
  EXPECT_TRUE(target_.calls.empty());
}

TEST_F(DispatcherTest, DryRunAndNoTarget) {
  v1::ActionPolicy dry;
  dry.set_dry_run(true);
  v1::ActionResult r = Dispatch(
      Alert(v1::ALERT_TYPE_PERFORMANCE, v1::ALERT_SEVERITY_CRITICAL, 2), dry);
  EXPECT_TRUE(r.dry_run());
  EXPECT_EQ(r.message(), "dry run: would DRIFT_ACTION_ROLLBACK to version 1");
  EXPECT_TRUE(target_.calls.empty());
  ActionDispatcher none({.clock = &clock_});
  r = none.Dispatch(Alert(v1::ALERT_TYPE_DATA, v1::ALERT_SEVERITY_WARNING, 2),
                    {}, nullptr);
  EXPECT_EQ(r.action(), v1::DRIFT_ACTION_TRIGGER_RETRAIN);
  EXPECT_EQ(r.message(), "no registry or trainer is configured");
  // A production-only rule cannot be decided without a target.
  r = none.Dispatch(
      Alert(v1::ALERT_TYPE_PERFORMANCE, v1::ALERT_SEVERITY_CRITICAL, 2), {},
      nullptr);
  EXPECT_EQ(r.message(),
            "alert only: no registry is configured to tell the production "
            "version");
}

TEST_F(DispatcherTest, RestoredLastActionsHoldTheCooldown) {
  dispatcher_.Restore({{"m", clock_.Now() - absl::Minutes(10)}});
  EXPECT_EQ(*dispatcher_.CooldownUntil("m", {}, clock_.Now()),
            clock_.Now() + absl::Minutes(50));
  EXPECT_TRUE(
      Dispatch(Alert(v1::ALERT_TYPE_DATA, v1::ALERT_SEVERITY_WARNING, 2))
          .suppressed_by_cooldown());
}

// Through DriftMonitor.

TEST(DriftActionsTest, RollbackOnlyForProductionAndOnlyOncePerCooldown) {
  core::FakeClock clock;
  RecordingTarget target;
  DriftMonitorOptions options;
  options.clock = &clock;
  options.actions = &target;
  DriftMonitor monitor(options);
  ASSERT_TRUE(monitor.ConfigureMonitor(PerformanceMonitor(false)).ok());
  // Version 1 did well.
  ASSERT_TRUE(monitor.Observe(Outcomes(1, 50, 0)).ok());
  // Version 3 is not production: alert only.
  ASSERT_TRUE(monitor.Observe(AllWrong(3, 50)).ok());
  EXPECT_TRUE(target.calls.empty());
  // Version 2 is: rolled back to version 1, once.
  ASSERT_TRUE(monitor.Observe(AllWrong(2, 50)).ok());
  EXPECT_EQ(target.calls, (std::vector<std::string>{"rollback m 2 to 1"}));
  // Another version goes bad within the hour: suppressed.
  target.production = 4;
  ASSERT_TRUE(monitor.Observe(AllWrong(4, 50)).ok());
  EXPECT_EQ(target.calls.size(), 1u);
  // After the cool-down, version 5 goes bad, but version 4 (the newest
  // earlier version with outcomes) did no better: alert only.
  clock.Advance(absl::Hours(2));
  target.production = 5;
  ASSERT_TRUE(monitor.Observe(AllWrong(5, 50)).ok());
  EXPECT_EQ(target.calls.size(), 1u);
  // Version 6 does well, version 7 goes bad: rolled back to version 6.
  ASSERT_TRUE(monitor.Observe(Outcomes(6, 50, 0)).ok());
  target.production = 7;
  ASSERT_TRUE(monitor.Observe(AllWrong(7, 50)).ok());
  EXPECT_EQ(target.calls.back(), "rollback m 7 to 6");

  v1::ListAlertsRequest list;
  list.set_parent("models/m");
  list.set_filter("type = ALERT_TYPE_PERFORMANCE");
  auto alerts = monitor.ListAlerts(list);
  ASSERT_TRUE(alerts.ok());
  ASSERT_EQ(alerts->alerts_size(), 5);  // Newest first: 7, 5, 4, 2, 3.
  EXPECT_TRUE(alerts->alerts(0).action_result().succeeded());
  EXPECT_EQ(alerts->alerts(0).action_result().message(), "done");
  EXPECT_EQ(alerts->alerts(0).action_result().target(),
            "models/m/deployment@2");
  EXPECT_EQ(alerts->alerts(1).action_result().action(), v1::DRIFT_ACTION_NONE);
  EXPECT_THAT(alerts->alerts(1).action_result().message(),
              ::testing::HasSubstr("version 4 did no better"));
  EXPECT_TRUE(alerts->alerts(2).action_result().suppressed_by_cooldown());
  EXPECT_EQ(alerts->alerts(3).action_result().action(),
            v1::DRIFT_ACTION_ROLLBACK);
  EXPECT_EQ(alerts->alerts(4).action_result().action(), v1::DRIFT_ACTION_NONE);
}

TEST(DriftActionsTest, NoRollbackWithoutAnEarlierVersionToCompare) {
  RecordingTarget target;
  target.production = 1;
  DriftMonitorOptions options;
  options.actions = &target;
  DriftMonitor monitor(options);
  ASSERT_TRUE(monitor.ConfigureMonitor(PerformanceMonitor(false)).ok());
  ASSERT_TRUE(monitor.Observe(AllWrong(1, 50)).ok());
  EXPECT_TRUE(target.calls.empty());
  v1::ListAlertsRequest list;
  list.set_parent("models/m");
  auto alerts = monitor.ListAlerts(list);
  ASSERT_TRUE(alerts.ok());
  ASSERT_EQ(alerts->alerts_size(), 1);
  EXPECT_EQ(alerts->alerts(0).action_result().action(), v1::DRIFT_ACTION_NONE);
  EXPECT_THAT(alerts->alerts(0).action_result().message(),
              ::testing::HasSubstr("no earlier version has 20 recent "
                                   "outcomes"));
}

// A restart over the same store keeps the configured monitor, the alerts
// and the cool-down; new alerts continue the sequence.
TEST(DriftActionsTest, RestartKeepsMonitorAlertsAndCooldown) {
  core::FakeClock clock;
  RecordingTarget target;
  InMemoryDriftStore store;
  DriftMonitorOptions options;
  options.clock = &clock;
  options.actions = &target;
  options.store = &store;
  {
    DriftMonitor monitor(options);
    ASSERT_TRUE(monitor.Restore().ok());
    ASSERT_TRUE(monitor.ConfigureMonitor(PerformanceMonitor(false)).ok());
    ASSERT_TRUE(monitor.Observe(Outcomes(1, 50, 0)).ok());
    ASSERT_TRUE(monitor.Observe(AllWrong(2, 50)).ok());
    EXPECT_EQ(target.calls, (std::vector<std::string>{"rollback m 2 to 1"}));
  }
  clock.Advance(absl::Minutes(10));
  DriftMonitor monitor(options);
  ASSERT_TRUE(monitor.Restore().ok());
  auto configured = monitor.GetMonitor("models/m/monitor");
  ASSERT_TRUE(configured.ok()) << configured.status();
  EXPECT_FALSE(configured->is_default());
  EXPECT_EQ(configured->performance().max_error_rate(), 0.2);

  v1::ListAlertsRequest list;
  list.set_parent("models/m");
  auto before = monitor.ListAlerts(list);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_EQ(before->alerts_size(), 1);
  const v1::Alert first = before->alerts(0);
  EXPECT_EQ(first.action_result().action(), v1::DRIFT_ACTION_ROLLBACK);
  EXPECT_TRUE(first.action_result().succeeded());
  auto got = monitor.GetAlert(first.name());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->sequence(), first.sequence());
  EXPECT_EQ(monitor.latest_sequence(), first.sequence());

  // Within the hour of the rollback before the restart: suppressed
  // (outcomes restart empty, so version 3 does well again first).
  ASSERT_TRUE(monitor.Observe(Outcomes(3, 50, 0)).ok());
  target.production = 4;
  ASSERT_TRUE(monitor.Observe(AllWrong(4, 50)).ok());
  EXPECT_EQ(target.calls.size(), 1u);
  auto after = monitor.ListAlerts(list);
  ASSERT_TRUE(after.ok()) << after.status();
  ASSERT_EQ(after->alerts_size(), 2);
  EXPECT_NE(after->alerts(0).name(), first.name());
  EXPECT_EQ(after->alerts(0).sequence(), first.sequence() + 1);
  EXPECT_TRUE(after->alerts(0).action_result().suppressed_by_cooldown());
  // A watcher resuming after the old alert sees only the new one.
  auto watched = monitor.AlertsAfter(first.sequence(), {},
                                     v1::ALERT_SEVERITY_UNSPECIFIED, 10);
  ASSERT_EQ(watched.size(), 1u);
  EXPECT_EQ(watched[0].name(), after->alerts(0).name());
}

TEST(DriftActionsTest, DryRunRecordsWithoutCalling) {
  RecordingTarget target;
  DriftMonitorOptions options;
  options.actions = &target;
  DriftMonitor monitor(options);
  ASSERT_TRUE(monitor.ConfigureMonitor(PerformanceMonitor(true)).ok());
  ASSERT_TRUE(monitor.Observe(Outcomes(1, 50, 0)).ok());
  ASSERT_TRUE(monitor.Observe(AllWrong(2, 50)).ok());
  EXPECT_TRUE(target.calls.empty());
  v1::ListAlertsRequest list;
  list.set_parent("models/m");
  auto alerts = monitor.ListAlerts(list);
  ASSERT_TRUE(alerts.ok());
  ASSERT_GE(alerts->alerts_size(), 1);
  EXPECT_TRUE(alerts->alerts(0).action_result().dry_run());
  EXPECT_EQ(alerts->alerts(0).action_result().message(),
            "dry run: would DRIFT_ACTION_ROLLBACK to version 1");
}

}  // namespace
}  // namespace continuum::drift_service
