// The drift service's two registry actions, end to end with real processes
// over loopback: continuum-registry and continuum-drift (wired to the
// registry with `registry_address`). The test plays the inference pod: it
// sends outcome batches (OBSERVATION_KIND_OUTCOME, no features) to the
// drift service's Observe, one stream per batch, so a batch has been
// processed, and its alerts acted on, when the call returns.
//
// 1. Rollback. Versions 1 and 2 of a model with the immediate plan, 2 in
//    production; the monitor bounds the error rate at 0.2 over the last 100
//    outcomes (judged from 50), default action rules, a cool-down of one
//    hour. Version 1 gets 100 right outcomes, version 2 100 wrong ones: one
//    CRITICAL performance alert on version 2, whose rollback (version 1 did
//    better) makes version 1 production again; the registry's audit names
//    the drift service as the actor and the alert in the reason. Then
//    version 1 goes bad too: a second performance alert, suppressed by the
//    cool-down, production stays 1. GetDriftStatus shows the first alert as
//    the last action and the cool-down.
// 2. No rollback to a version that did no better: version 1 gets 100 wrong
//    outcomes before version 2 does; version 2's alert is alert-only ("did
//    no better") and production stays 2.
// 3. Abort. A canary plan of one 50 % step held 10 minutes: version 1 is
//    production at once (the first version), version 2 becomes the canary.
//    The monitor judges the canary every second from 200 outcomes per arm
//    (one quiet detector; a rule making performance alerts alert-only, as a
//    failed canary judgement aborts whatever the rules). Interleaved batches
//    of stable (10 % wrong) and canary (60 % wrong) until a
//    `canary_judgement` alert on version 2 aborted the rollout: the rollout
//    is ABORTED, the deployment serves version 1 alone, version 2 is
//    ROLLED_BACK, and the latest judgement is a FAIL with its p-value.
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "continuum/v1/drift.grpc.pb.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "tests/util/registry_upload.h"
#include "tests/util/service_cluster.h"
#include "tests/util/subprocess.h"
#include "tests/util/plain_bundle.h"

namespace continuum {
namespace {

using ::continuum::testing::WaitFor;
using ::google::protobuf::util::MessageDifferencer;

constexpr char kModel[] = "fraud";

std::chrono::system_clock::time_point Deadline(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

class DriftRollbackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status s = cluster_.Start({"registry", "drift"});
    ASSERT_TRUE(s.ok()) << s << cluster_.Logs();
  }

  // Registers kModel with `plan`.
  void RegisterModel(const v1::RolloutPlan& plan) {
    grpc::ClientContext context;
    context.set_deadline(Deadline(30));
    v1::RegisterModelRequest request;
    request.set_model_id(kModel);
    request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    *request.mutable_model()->mutable_rollout_plan() = plan;
    v1::RegisterModelResponse response;
    grpc::Status s =
        cluster_.registry().RegisterModel(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Uploads `bytes` as the next version, validated; expects `version`.
  void Upload(const std::string& bytes, int64_t version) {
    absl::StatusOr<v1::Version> v =
        testing::UploadValidatedVersion(cluster_.registry(), kModel, bytes);
    ASSERT_TRUE(v.ok()) << v.status() << cluster_.Logs();
    ASSERT_EQ(v->version(), version);
  }

  int64_t ProductionVersion() {
    absl::StatusOr<int64_t> v = cluster_.ProductionVersion(kModel);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : -1;
  }

  v1::VersionState VersionState(int64_t version) {
    grpc::ClientContext context;
    context.set_deadline(Deadline(10));
    v1::GetVersionRequest request;
    request.set_name(absl::StrCat("models/", kModel, "/versions/", version));
    v1::GetVersionResponse response;
    grpc::Status s =
        cluster_.registry().GetVersion(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.version().state();
  }

  v1::GetRolloutStatusResponse RolloutStatus() {
    grpc::ClientContext context;
    context.set_deadline(Deadline(10));
    v1::GetRolloutStatusRequest request;
    request.set_name(absl::StrCat("models/", kModel));
    v1::GetRolloutStatusResponse response;
    grpc::Status s =
        cluster_.registry().GetRolloutStatus(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }

  // The registry's audit entries with `action`.
  std::vector<v1::AuditEntry> Audit(const std::string& action) {
    grpc::ClientContext context;
    context.set_deadline(Deadline(10));
    v1::ExportAuditRequest request;
    request.set_filter(absl::StrCat("action = \"", action, "\""));
    auto reader = cluster_.registry().ExportAudit(&context, request);
    std::vector<v1::AuditEntry> entries;
    v1::ExportAuditResponse response;
    while (reader->Read(&response)) entries.push_back(response.entry());
    grpc::Status s = reader->Finish();
    EXPECT_TRUE(s.ok()) << s.error_message();
    return entries;
  }

  void ConfigureMonitor(const v1::Monitor& monitor) {
    grpc::ClientContext context;
    context.set_deadline(Deadline(10));
    v1::ConfigureMonitorRequest request;
    *request.mutable_monitor() = monitor;
    request.mutable_monitor()->set_name(
        absl::StrCat("models/", kModel, "/monitor"));
    v1::ConfigureMonitorResponse response;
    grpc::Status s =
        cluster_.drift().ConfigureMonitor(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_FALSE(response.monitor().is_default());
  }

  // Outcomes of `version`, `wrong` of every `of` rows wrong (the first ones
  // of each group), in one batch of `n` rows.
  static v1::ObservationBatch Outcomes(int64_t version, int n, int wrong,
                                       int of) {
    v1::ObservationBatch batch;
    batch.set_model(kModel);
    batch.set_version(version);
    batch.set_kind(v1::OBSERVATION_KIND_OUTCOME);
    batch.set_num_rows(n);
    batch.set_feature_dim(0);
    for (int r = 0; r < n; ++r) {
      v1::ObservedOutcome* o = batch.add_outcomes();
      o->set_row(r);
      o->set_correct(r % of >= wrong);
    }
    return batch;
  }

  // Sends one batch in its own Observe stream, so it has been processed
  // (and its alerts acted on) when this returns.
  absl::Status Observe(const v1::ObservationBatch& batch) {
    absl::StatusOr<v1::ObserveResponse> response = cluster_.Observe(batch);
    if (!response.ok()) return response.status();
    EXPECT_EQ(response->outcomes(), batch.outcomes_size());
    outcomes_sent_ += response->outcomes();
    return absl::OkStatus();
  }

  absl::StatusOr<v1::GetDriftStatusResponse> DriftStatus() {
    return cluster_.DriftStatus(kModel);
  }

  absl::StatusOr<v1::Monitor> GetMonitor() {
    grpc::ClientContext context;
    context.set_deadline(Deadline(10));
    v1::GetMonitorRequest request;
    request.set_name(absl::StrCat("models/", kModel, "/monitor"));
    v1::GetMonitorResponse response;
    grpc::Status s = cluster_.drift().GetMonitor(&context, request, &response);
    if (!s.ok()) return absl::UnavailableError(s.error_message());
    return response.monitor();
  }

  std::vector<v1::Alert> ListAlerts(const std::string& filter) {
    absl::StatusOr<std::vector<v1::Alert>> alerts =
        cluster_.Alerts(kModel, filter);
    EXPECT_TRUE(alerts.ok()) << alerts.status();
    return alerts.ok() ? *alerts : std::vector<v1::Alert>();
  }

  // What both services show, for failure messages.
  std::string State() {
    std::string out = cluster_.DriftDump(kModel);
    absl::StrAppend(&out, "\n--- GetRolloutStatus ---\n",
                    RolloutStatus().DebugString());
    absl::StrAppend(&out, "outcomes sent: ", outcomes_sent_, "\n");
    return out + cluster_.Logs();
  }

  // The monitor of the rollback tests: error rate at most 0.2 over the
  // last 100 outcomes, judged from 50; default detectors and action rules;
  // a cool-down of one hour.
  static v1::Monitor RollbackMonitor() {
    v1::Monitor m;
    v1::PerformanceThresholds* performance = m.mutable_performance();
    performance->set_max_error_rate(0.2);
    performance->set_window_size(100);
    performance->set_min_outcomes(50);
    m.mutable_actions()->mutable_cooldown()->set_seconds(3600);
    return m;
  }

  // Registers kModel with the immediate plan; versions 1 and 2, 2 in
  // production.
  void TwoVersionsImmediate() {
    v1::RolloutPlan plan;
    plan.mutable_immediate();
    ASSERT_NO_FATAL_FAILURE(RegisterModel(plan));
    ASSERT_NO_FATAL_FAILURE(Upload(testing::PlainClassifierBytes(4, 3, 8, 1), 1));
    ASSERT_NO_FATAL_FAILURE(Upload(testing::PlainClassifierBytes(4, 3, 8, 2), 2));
    ASSERT_EQ(ProductionVersion(), 2);
  }

  testing::ServiceCluster cluster_{CONTINUUM_BIN_DIR, "drift_rollback_"};
  int64_t outcomes_sent_ = 0;
};

TEST_F(DriftRollbackTest, ADegradedProductionVersionIsRolledBack) {
  const absl::Time t0 = absl::Now();
  ASSERT_NO_FATAL_FAILURE(TwoVersionsImmediate());
  ASSERT_NO_FATAL_FAILURE(ConfigureMonitor(RollbackMonitor()));

  // Version 1 did well on its outcomes; version 2 gets every one wrong.
  absl::Status s = Observe(Outcomes(1, 100, /*wrong=*/0, /*of=*/1));
  ASSERT_TRUE(s.ok()) << s << State();
  s = Observe(Outcomes(2, 100, /*wrong=*/1, /*of=*/1));
  ASSERT_TRUE(s.ok()) << s << State();
  ASSERT_TRUE(
      WaitFor([&] { return ProductionVersion() == 1; }, absl::Seconds(10)))
      << "production is " << ProductionVersion() << State();
  const absl::Time t1 = absl::Now();
  std::cout << "rollback: " << absl::FormatDuration(t1 - t0)
            << " from the start\n";

  // One alert in all: the performance alert on version 2, rolled back.
  const std::vector<v1::Alert> first = ListAlerts("");
  ASSERT_EQ(first.size(), 1u) << State();
  const v1::Alert& alert = first[0];
  EXPECT_EQ(alert.type(), v1::ALERT_TYPE_PERFORMANCE);
  EXPECT_EQ(alert.severity(), v1::ALERT_SEVERITY_CRITICAL);
  EXPECT_EQ(alert.detector(), "performance");
  EXPECT_EQ(alert.version(), 2);
  EXPECT_GT(alert.statistic(), 0.2) << alert.DebugString();
  EXPECT_DOUBLE_EQ(alert.threshold(), 0.2);
  const v1::ActionResult& result = alert.action_result();
  EXPECT_EQ(result.action(), v1::DRIFT_ACTION_ROLLBACK) << alert.DebugString();
  EXPECT_TRUE(result.succeeded()) << alert.DebugString();
  EXPECT_FALSE(result.suppressed_by_cooldown());
  EXPECT_FALSE(result.dry_run());
  EXPECT_EQ(result.message(), "done");
  // The deployment the rollback made.
  EXPECT_TRUE(absl::StartsWith(result.target(),
                               absl::StrCat("models/", kModel, "/deployment@")))
      << result.target();
  const v1::GetRolloutStatusResponse rollout = RolloutStatus();
  EXPECT_EQ(result.target(), absl::StrCat("models/", kModel, "/deployment@",
                                          rollout.deployment().revision()));
  EXPECT_EQ(rollout.deployment().stable_version(), 1);
  EXPECT_EQ(rollout.deployment().actor(), "drift");
  EXPECT_EQ(VersionState(2), v1::VERSION_STATE_ROLLED_BACK);
  EXPECT_EQ(VersionState(1), v1::VERSION_STATE_PRODUCTION);

  // The registry's audit: the drift service rolled back, for that alert,
  // because version 1 did better.
  const std::vector<v1::AuditEntry> rollbacks = Audit("model.rollback");
  ASSERT_EQ(rollbacks.size(), 1u);
  EXPECT_EQ(rollbacks[0].actor(), "drift");
  EXPECT_EQ(rollbacks[0].object(), absl::StrCat("models/", kModel));
  EXPECT_TRUE(absl::StrContains(rollbacks[0].reason(), alert.name()))
      << rollbacks[0].reason();
  EXPECT_TRUE(absl::StrContains(rollbacks[0].reason(), "version 1 did better"))
      << rollbacks[0].reason();

  // The restored version goes bad too: an alert, but within the cool-down
  // no action.
  s = Observe(Outcomes(1, 100, /*wrong=*/1, /*of=*/1));
  ASSERT_TRUE(s.ok()) << s << State();
  std::vector<v1::Alert> performance;
  ASSERT_TRUE(WaitFor(
      [&] {
        performance = ListAlerts("type = ALERT_TYPE_PERFORMANCE");
        return performance.size() >= 2 &&
               performance[0].action_result().action() !=
                   v1::DRIFT_ACTION_UNSPECIFIED &&
               performance[0].action_result().message() != "action pending";
      },
      absl::Seconds(10)))
      << State();
  ASSERT_EQ(performance.size(), 2u) << State();
  const v1::Alert& second = performance[0];  // Newest first.
  EXPECT_EQ(performance[1].name(), alert.name());
  EXPECT_EQ(second.version(), 1);
  EXPECT_EQ(second.severity(), v1::ALERT_SEVERITY_CRITICAL);
  EXPECT_EQ(second.action_result().action(), v1::DRIFT_ACTION_ROLLBACK)
      << second.DebugString();
  EXPECT_TRUE(second.action_result().suppressed_by_cooldown())
      << second.DebugString();
  EXPECT_FALSE(second.action_result().succeeded());
  EXPECT_EQ(ProductionVersion(), 1);
  EXPECT_EQ(Audit("model.rollback").size(), 1u);
  // Any other alert (ADWIN on version 1's errors) was held back too.
  for (const v1::Alert& other : ListAlerts("")) {
    if (other.name() == alert.name()) continue;
    EXPECT_TRUE(other.action_result().suppressed_by_cooldown() ||
                other.action_result().action() == v1::DRIFT_ACTION_NONE)
        << other.DebugString();
  }

  // The drift service's status: the rollback is the last action, and the
  // cool-down runs for about an hour from it.
  auto status = DriftStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->last_action_alert().name(), alert.name())
      << status->DebugString();
  EXPECT_EQ(status->last_action_alert().action_result().action(),
            v1::DRIFT_ACTION_ROLLBACK);
  EXPECT_TRUE(status->last_action_alert().action_result().succeeded());
  ASSERT_TRUE(status->has_cooldown_until()) << status->DebugString();
  const absl::Time until = FromProto(status->cooldown_until());
  EXPECT_GT(until, absl::Now() + absl::Minutes(50));
  EXPECT_LE(until, absl::Now() + absl::Hours(1));

  // All of it lives in the drift service's SQLite store: after kill -9 and
  // a restart on the same data directory, the monitor, every alert, the
  // last action and the cool-down are as they were.
  const std::vector<v1::Alert> alerts_before = ListAlerts("");
  absl::StatusOr<v1::Monitor> monitor_before = GetMonitor();
  ASSERT_TRUE(monitor_before.ok()) << monitor_before.status();
  ASSERT_TRUE(cluster_.KillAndRestart("drift").ok()) << cluster_.Logs();
  auto restarted = DriftStatus();
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  EXPECT_TRUE(MessageDifferencer::Equals(restarted->cooldown_until(),
                                         status->cooldown_until()))
      << restarted->DebugString();
  EXPECT_TRUE(MessageDifferencer::Equals(restarted->last_action_alert(),
                                         status->last_action_alert()))
      << restarted->DebugString();
  const std::vector<v1::Alert> alerts_after = ListAlerts("");
  ASSERT_EQ(alerts_after.size(), alerts_before.size()) << State();
  for (size_t i = 0; i < alerts_before.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(alerts_after[i], alerts_before[i]))
        << alerts_after[i].DebugString() << " vs "
        << alerts_before[i].DebugString();
  }
  absl::StatusOr<v1::Monitor> monitor_after = GetMonitor();
  ASSERT_TRUE(monitor_after.ok()) << monitor_after.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*monitor_after, *monitor_before))
      << monitor_after->DebugString();
  // Still within the cool-down: a new bad stretch is only an alert.
  s = Observe(Outcomes(1, 100, /*wrong=*/1, /*of=*/1));
  ASSERT_TRUE(s.ok()) << s << State();
  EXPECT_EQ(ProductionVersion(), 1);
  EXPECT_EQ(Audit("model.rollback").size(), 1u);
  std::cout << "whole test: " << absl::FormatDuration(absl::Now() - t0) << "\n";
}

TEST_F(DriftRollbackTest, NoRollbackToAVersionThatDidNoBetter) {
  const absl::Time t0 = absl::Now();
  ASSERT_NO_FATAL_FAILURE(TwoVersionsImmediate());
  ASSERT_NO_FATAL_FAILURE(ConfigureMonitor(RollbackMonitor()));

  // Version 1, no longer production, gets every outcome wrong: its alert
  // matches no rule (rollbacks are for production).
  absl::Status s = Observe(Outcomes(1, 100, /*wrong=*/1, /*of=*/1));
  ASSERT_TRUE(s.ok()) << s << State();
  // Then version 2 too.
  s = Observe(Outcomes(2, 100, /*wrong=*/1, /*of=*/1));
  ASSERT_TRUE(s.ok()) << s << State();

  v1::Alert alert;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (const v1::Alert& a : ListAlerts("type = ALERT_TYPE_PERFORMANCE")) {
          if (a.version() == 2 &&
              a.action_result().action() != v1::DRIFT_ACTION_UNSPECIFIED &&
              a.action_result().message() != "action pending") {
            alert = a;
            return true;
          }
        }
        return false;
      },
      absl::Seconds(10)))
      << State();
  EXPECT_EQ(alert.severity(), v1::ALERT_SEVERITY_CRITICAL);
  EXPECT_EQ(alert.action_result().action(), v1::DRIFT_ACTION_NONE)
      << alert.DebugString();
  EXPECT_FALSE(alert.action_result().succeeded());
  EXPECT_FALSE(alert.action_result().suppressed_by_cooldown());
  EXPECT_TRUE(absl::StrContains(alert.action_result().message(),
                                "version 1 did no better"))
      << alert.DebugString();
  EXPECT_EQ(ProductionVersion(), 2);
  EXPECT_EQ(VersionState(2), v1::VERSION_STATE_PRODUCTION);
  EXPECT_TRUE(Audit("model.rollback").empty());

  // Both versions' performance alerts, neither acted on.
  const std::vector<v1::Alert> performance =
      ListAlerts("type = ALERT_TYPE_PERFORMANCE");
  ASSERT_EQ(performance.size(), 2u) << State();
  EXPECT_EQ(performance[1].version(), 1);
  EXPECT_EQ(performance[1].action_result().action(), v1::DRIFT_ACTION_NONE)
      << performance[1].DebugString();
  auto status = DriftStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_FALSE(status->has_last_action_alert()) << status->DebugString();
  EXPECT_FALSE(status->has_cooldown_until()) << status->DebugString();
  std::cout << "whole test: " << absl::FormatDuration(absl::Now() - t0) << "\n";
}

TEST_F(DriftRollbackTest, ABadCanaryIsAborted) {
  const absl::Time t0 = absl::Now();
  // One canary step of 50 %, held far longer than the test runs.
  v1::RolloutPlan plan;
  v1::CanaryStep* step = plan.mutable_canary()->add_steps();
  step->set_percent(50);
  step->mutable_hold_duration()->set_seconds(600);
  ASSERT_NO_FATAL_FAILURE(RegisterModel(plan));

  // The first version goes to production at once: nothing to compare a
  // canary with.
  ASSERT_NO_FATAL_FAILURE(Upload(testing::PlainClassifierBytes(4, 3, 8, 1), 1));
  ASSERT_EQ(ProductionVersion(), 1);
  EXPECT_EQ(VersionState(1), v1::VERSION_STATE_PRODUCTION);
  // The second is the canary at 50 %.
  ASSERT_NO_FATAL_FAILURE(Upload(testing::PlainClassifierBytes(4, 3, 8, 2), 2));
  v1::GetRolloutStatusResponse rollout;
  ASSERT_TRUE(WaitFor(
      [&] {
        rollout = RolloutStatus();
        return rollout.rollout().candidate_version() == 2 &&
               rollout.deployment().canary_version() == 2;
      },
      absl::Seconds(10)))
      << rollout.DebugString();
  EXPECT_TRUE(rollout.rollout().state() == v1::ROLLOUT_STATE_IN_PROGRESS ||
              rollout.rollout().state() == v1::ROLLOUT_STATE_WAITING_FOR_PODS)
      << rollout.DebugString();
  EXPECT_EQ(rollout.rollout().stable_version(), 1);
  EXPECT_EQ(rollout.rollout().current_percent(), 50);
  EXPECT_EQ(rollout.deployment().stable_version(), 1);
  EXPECT_EQ(rollout.deployment().canary_percent(), 50);
  EXPECT_EQ(VersionState(2), v1::VERSION_STATE_CANARY);
  EXPECT_EQ(ProductionVersion(), 1);

  // Judged every second from 200 outcomes per arm. One detector, on the
  // predictions these outcome batches do not carry; performance alerts
  // (none are expected: no absolute bound, no reference) alert only.
  constexpr int kMinOutcomes = 200;
  v1::Monitor monitor;
  v1::DetectorConfig* quiet = monitor.add_detectors();
  quiet->set_id("prediction_page_hinkley");
  quiet->set_detector("page_hinkley");
  quiet->set_signal(v1::MONITORED_SIGNAL_PREDICTION);
  v1::CanaryJudgementConfig* canary = monitor.mutable_canary_judgement();
  canary->mutable_interval()->set_seconds(1);
  canary->set_min_outcomes(kMinOutcomes);
  v1::ActionRule* rule = monitor.mutable_actions()->add_rules();
  rule->set_alert_type(v1::ALERT_TYPE_PERFORMANCE);
  rule->set_min_severity(v1::ALERT_SEVERITY_INFO);
  rule->set_action(v1::DRIFT_ACTION_NONE);
  monitor.mutable_actions()->mutable_cooldown()->set_seconds(3600);
  ASSERT_NO_FATAL_FAILURE(ConfigureMonitor(monitor));

  // Interleaved batches of 20: stable 2 wrong (10 %), canary 12 (60 %).
  constexpr int kBatch = 20;
  int64_t stable_sent = 0, canary_sent = 0;
  absl::Status last_observe;
  v1::Alert alert;
  const bool aborted = WaitFor(
      [&] {
        last_observe = Observe(Outcomes(1, kBatch, /*wrong=*/1, /*of=*/10));
        if (!last_observe.ok()) return false;
        stable_sent += kBatch;
        last_observe = Observe(Outcomes(2, kBatch, /*wrong=*/3, /*of=*/5));
        if (!last_observe.ok()) return false;
        canary_sent += kBatch;
        for (const v1::Alert& a :
             ListAlerts("detector = \"canary_judgement\"")) {
          if (a.action_result().action() == v1::DRIFT_ACTION_ABORT_ROLLOUT &&
              a.action_result().succeeded()) {
            alert = a;
            return true;
          }
        }
        return false;
      },
      absl::Seconds(20));
  ASSERT_TRUE(aborted) << "no canary_judgement alert whose abort succeeded; "
                          "last Observe: "
                       << last_observe << State();
  const absl::Time t1 = absl::Now();
  std::cout << "canary aborted: " << absl::FormatDuration(t1 - t0)
            << " from the start, " << stable_sent << " stable and "
            << canary_sent << " canary outcomes sent\n";

  // The alert.
  EXPECT_EQ(alert.type(), v1::ALERT_TYPE_PERFORMANCE);
  EXPECT_EQ(alert.severity(), v1::ALERT_SEVERITY_CRITICAL);
  EXPECT_EQ(alert.version(), 2);
  EXPECT_FALSE(alert.action_result().suppressed_by_cooldown());
  EXPECT_FALSE(alert.action_result().dry_run());
  EXPECT_EQ(alert.action_result().message(), "done");
  ASSERT_TRUE(alert.has_p_value()) << alert.DebugString();
  EXPECT_LT(alert.p_value(), 0.03) << alert.DebugString();
  const v1::CanaryJudgement& judged = alert.canary_judgement();
  EXPECT_EQ(judged.verdict(), v1::CANARY_VERDICT_FAIL) << alert.DebugString();
  EXPECT_EQ(judged.canary_version(), 2);
  EXPECT_EQ(judged.stable_version(), 1);
  EXPECT_GE(judged.canary_outcomes(), kMinOutcomes);
  EXPECT_GE(judged.stable_outcomes(), kMinOutcomes);
  EXPECT_NEAR(judged.canary_error(), 0.6, 0.05) << alert.DebugString();
  EXPECT_NEAR(judged.stable_error(), 0.1, 0.05) << alert.DebugString();
  EXPECT_DOUBLE_EQ(alert.statistic(), judged.canary_error());
  EXPECT_DOUBLE_EQ(alert.threshold(), judged.stable_error());
  // The only alert: nothing else asked for anything.
  const std::vector<v1::Alert> all = ListAlerts("");
  ASSERT_EQ(all.size(), 1u) << State();
  EXPECT_EQ(all[0].name(), alert.name());

  // The registry: the rollout is aborted, version 1 alone serves, version
  // 2 is withdrawn.
  rollout = RolloutStatus();
  EXPECT_EQ(rollout.rollout().candidate_version(), 2);
  EXPECT_EQ(rollout.rollout().state(), v1::ROLLOUT_STATE_ABORTED)
      << rollout.DebugString();
  EXPECT_TRUE(rollout.rollout().has_end_time());
  EXPECT_EQ(rollout.deployment().stable_version(), 1);
  EXPECT_EQ(rollout.deployment().canary_version(), 0);
  EXPECT_EQ(rollout.deployment().canary_percent(), 0);
  EXPECT_EQ(rollout.deployment().actor(), "drift");
  EXPECT_EQ(alert.action_result().target(),
            absl::StrCat("models/", kModel, "/deployment@",
                         rollout.deployment().revision()));
  EXPECT_EQ(VersionState(2), v1::VERSION_STATE_ROLLED_BACK);
  EXPECT_EQ(VersionState(1), v1::VERSION_STATE_PRODUCTION);
  EXPECT_EQ(ProductionVersion(), 1);
  const std::vector<v1::AuditEntry> aborts = Audit("rollout.abort");
  ASSERT_EQ(aborts.size(), 1u);
  EXPECT_EQ(aborts[0].actor(), "drift");
  EXPECT_TRUE(absl::StrContains(aborts[0].reason(), alert.name()))
      << aborts[0].reason();

  // The drift service's latest judgement is that FAIL.
  auto status = DriftStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  const v1::CanaryJudgement& latest = status->latest_canary_judgement();
  EXPECT_EQ(latest.verdict(), v1::CANARY_VERDICT_FAIL) << status->DebugString();
  EXPECT_EQ(latest.canary_version(), 2);
  EXPECT_EQ(latest.stable_version(), 1);
  EXPECT_EQ(latest.test(), "two_proportion_z");
  EXPECT_GT(latest.statistic(), 0);
  EXPECT_GT(latest.p_value(), 0);
  EXPECT_LT(latest.p_value(), 0.03);
  EXPECT_EQ(FromProto(latest.judge_time()), FromProto(judged.judge_time()));
  // An abort is the last action; it is exempt from the cool-down.
  EXPECT_EQ(status->last_action_alert().name(), alert.name());
  std::cout << "judgement: " << latest.ShortDebugString() << "\n";
  std::cout << "whole test: " << absl::FormatDuration(absl::Now() - t0) << "\n";
}

}  // namespace
}  // namespace continuum
