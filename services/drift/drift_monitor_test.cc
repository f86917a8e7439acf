// DriftMonitor as a whole: observations in, detectors, performance bounds,
// status, monitors' configuration and the service's limits. The parts have
// their own tests (alert_log_test, action_dispatcher_test,
// canary_judge_test, reference_tester_test, ...).
#include "services/drift/drift_monitor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/drift/monitor_test_util.h"

namespace continuum::drift_service {
namespace {

TEST_F(DriftMonitorTest, ErrorJumpRaisesOnePerformanceAlertCloseAfter) {
  v1::ConfigureMonitorRequest request = ConfigureRequest("fraud");
  request.mutable_monitor()->mutable_performance()->set_max_error_rate(0.2);
  request.mutable_monitor()->mutable_performance()->set_window_size(100);
  request.mutable_monitor()->mutable_performance()->set_min_outcomes(50);
  ASSERT_TRUE(monitor_.ConfigureMonitor(request).ok());
  FeedErrorJump("fraud", 3);

  std::vector<v1::Alert> alerts = AllAlerts(monitor_);
  int performance = 0;
  int concept_alerts = 0;
  for (const v1::Alert& a : alerts) {
    EXPECT_EQ(a.model(), "fraud");
    EXPECT_EQ(a.version(), 3);
    if (a.type() == v1::ALERT_TYPE_PERFORMANCE) {
      ++performance;
      EXPECT_EQ(a.severity(), v1::ALERT_SEVERITY_CRITICAL);
      EXPECT_EQ(a.detector(), "performance");
      // The window of 100 crosses 20 % errors after about 40 errors.
      EXPECT_GE(a.observation_index(), 1000);
      EXPECT_LE(a.observation_index(), 1100);
      EXPECT_DOUBLE_EQ(a.threshold(), 0.2);
      EXPECT_GT(a.statistic(), 0.2);
      EXPECT_EQ(a.action_result().action(), v1::DRIFT_ACTION_NONE);
    } else {
      EXPECT_EQ(a.type(), v1::ALERT_TYPE_CONCEPT) << a.DebugString();
      EXPECT_EQ(a.detector(), "error_adwin");
      if (concept_alerts++ == 0) {
        EXPECT_GE(a.observation_index(), 1000);
        EXPECT_LE(a.observation_index(), 1200);
      }
    }
  }
  EXPECT_EQ(performance, 1);
  EXPECT_EQ(concept_alerts, 1);
  // Sequences from 1, increasing; create_time from the injected clock.
  for (size_t i = 0; i < alerts.size(); ++i) {
    EXPECT_EQ(alerts[i].sequence(), static_cast<int64_t>(i + 1));
    EXPECT_EQ(alerts[i].name(), absl::StrCat("models/fraud/alerts/", i + 1));
    EXPECT_GE(alerts[i].create_time().seconds(), 1'700'000'010);
    EXPECT_LE(alerts[i].create_time().seconds(), 1'700'000'020);
  }
}

TEST_F(DriftMonitorTest, DefaultMonitorRaisesConceptAlertWithoutConfig) {
  FeedErrorJump("churn", 1);
  std::vector<v1::Alert> alerts = AllAlerts(monitor_);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].type(), v1::ALERT_TYPE_CONCEPT);
  EXPECT_EQ(alerts[0].severity(), v1::ALERT_SEVERITY_WARNING);
  EXPECT_EQ(alerts[0].feature_index(), -1);

  absl::StatusOr<v1::Monitor> m = monitor_.GetMonitor("models/churn/monitor");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->is_default());
  ASSERT_EQ(m->detectors_size(), 2);
  EXPECT_EQ(m->detectors(0).id(), "error_adwin");
  EXPECT_EQ(m->detectors(1).id(), "prediction_page_hinkley");
}

TEST_F(DriftMonitorTest, ConstantStreamRaisesNone) {
  for (int b = 0; b < 50; ++b) {
    ASSERT_TRUE(
        monitor_.Observe(Batch("steady", 1, std::vector<bool>(100, true)))
            .ok());
  }
  EXPECT_TRUE(AllAlerts(monitor_).empty());
  EXPECT_EQ(monitor_.latest_sequence(), 0);
}

TEST_F(DriftMonitorTest, DriftStatusHasDetectorsStatisticsAndErrorRates) {
  std::vector<bool> half(100);
  for (size_t i = 0; i < half.size(); ++i) half[i] = i % 4 != 0;  // 25 %
  ASSERT_TRUE(monitor_.Observe(Batch("m", 1, half)).ok());
  ASSERT_TRUE(
      monitor_.Observe(Batch("m", 2, std::vector<bool>(10, true))).ok());

  auto status = monitor_.GetDriftStatus("models/m", 0);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->observations(), 110);
  ASSERT_EQ(status->detectors_size(), 4);  // 2 detectors x 2 versions.
  const v1::DetectorStatus& adwin = status->detectors(0);
  EXPECT_EQ(adwin.detector_id(), "error_adwin");
  EXPECT_EQ(adwin.version(), 1);
  EXPECT_EQ(adwin.observations(), 100);
  EXPECT_EQ(adwin.state(), v1::DETECTOR_STATE_STABLE);
  EXPECT_EQ(adwin.last_drift_index(), -1);
  EXPECT_TRUE(adwin.statistics().contains("width"));
  EXPECT_TRUE(adwin.statistics().contains("estimation"));
  ASSERT_EQ(status->performance_size(), 2);
  EXPECT_DOUBLE_EQ(status->performance(0).error_rate(), 0.25);
  EXPECT_EQ(status->performance(0).outcomes(), 100);
  EXPECT_DOUBLE_EQ(status->performance(1).error_rate(), 0.0);

  auto only2 = monitor_.GetDriftStatus("models/m", 2);
  ASSERT_TRUE(only2.ok());
  EXPECT_EQ(only2->detectors_size(), 2);
  EXPECT_EQ(monitor_.GetDriftStatus("models/m", 9).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(DriftMonitorTest, UnknownModelIsNotFound) {
  EXPECT_EQ(monitor_.GetMonitor("models/nope/monitor").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(monitor_.GetDriftStatus("models/nope", 0).status().code(),
            absl::StatusCode::kNotFound);
  v1::ListAlertsRequest list;
  list.set_parent("models/nope");
  EXPECT_EQ(monitor_.ListAlerts(list).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(monitor_.GetMonitor("datasets/x").status().code(),
            absl::StatusCode::kInvalidArgument);
}

// drift.proto's field rules apply to direct callers too, and to every
// field of the request whether the update mask names it or not.
TEST_F(DriftMonitorTest, ConfigureMonitorChecksTheFieldRules) {
  v1::ConfigureMonitorRequest request = ConfigureRequest("m");
  request.mutable_monitor()->mutable_actions()->add_rules()->set_alert_type(
      v1::ALERT_TYPE_DATA);
  request.mutable_update_mask()->add_paths("disabled");
  absl::Status s = monitor_.ConfigureMonitor(request).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "monitor.actions.rules[0].action: required");
  request = ConfigureRequest("m");
  request.mutable_monitor()->set_name("models/m/monitors");
  EXPECT_EQ(monitor_.ConfigureMonitor(request).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(monitor_.GetMonitor("models/m/monitor").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(DriftMonitorTest, BadDetectorNameAndParameterAreInvalidArgument) {
  v1::ConfigureMonitorRequest request = ConfigureRequest("m");
  v1::DetectorConfig* d = request.mutable_monitor()->add_detectors();
  d->set_id("feature_x");
  d->set_detector("adwinn");
  d->set_signal(v1::MONITORED_SIGNAL_FEATURE);
  absl::Status s = monitor_.ConfigureMonitor(request).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "feature_x")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "adwinn")) << s;

  d->set_detector("adwin");
  (*d->mutable_params())["delt"] = "0.1";
  s = monitor_.ConfigureMonitor(request).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "delt")) << s;

  d->mutable_params()->clear();
  (*d->mutable_params())["delta"] = "2";
  s = monitor_.ConfigureMonitor(request).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "delta")) << s;

  d->mutable_params()->clear();
  d->set_id("Bad Id");
  EXPECT_EQ(monitor_.ConfigureMonitor(request).status().code(),
            absl::StatusCode::kInvalidArgument);
  d->set_id("feature_x");
  d->set_signal(v1::MONITORED_SIGNAL_UNSPECIFIED);
  EXPECT_EQ(monitor_.ConfigureMonitor(request).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Nothing was configured by the failures.
  EXPECT_EQ(monitor_.GetMonitor("models/m/monitor").status().code(),
            absl::StatusCode::kNotFound);

  d->set_signal(v1::MONITORED_SIGNAL_FEATURE);
  d->set_feature_index(1);
  absl::StatusOr<v1::Monitor> m = monitor_.ConfigureMonitor(request);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_FALSE(m->is_default());
  EXPECT_EQ(m->detectors(0).drift_severity(), v1::ALERT_SEVERITY_WARNING);
  EXPECT_EQ(m->performance().window_size(), 500);
  EXPECT_GE(m->update_time().seconds(), 1'700'000'000);

  // A batch with fewer features than the watched index is rejected.
  v1::ObservationBatch batch = Batch("m", 1, {true});
  batch.set_feature_dim(1);
  batch.mutable_features()->Truncate(1);
  s = monitor_.Observe(batch).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "feature_x")) << s;
}

TEST_F(DriftMonitorTest, UpdateMaskChangesOnlyNamedFields) {
  v1::ConfigureMonitorRequest request = ConfigureRequest("m");
  request.mutable_monitor()->set_disabled(true);
  request.mutable_update_mask()->add_paths("disabled");
  auto m = monitor_.ConfigureMonitor(request);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->disabled());
  EXPECT_EQ(m->detectors_size(), 2);  // Defaults kept.
  request.mutable_update_mask()->add_paths("name");
  EXPECT_EQ(monitor_.ConfigureMonitor(request).status().code(),
            absl::StatusCode::kInvalidArgument);

  // A disabled monitor counts and drops.
  FeedErrorJump("m", 1);
  EXPECT_TRUE(AllAlerts(monitor_).empty());
  auto status = monitor_.GetDriftStatus("models/m", 0);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->observations(), 2000);
  EXPECT_EQ(status->detectors_size(), 0);
}

TEST_F(DriftMonitorTest, BadBatchesNameTheRowAndChangeNothing) {
  v1::ObservationBatch batch = Batch("m", 1, {true, true, false});
  batch.set_features(3, std::numeric_limits<float>::quiet_NaN());
  absl::Status s = monitor_.Observe(batch).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "row 1")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "feature 1")) << s;
  // The model was not created by the rejected batch.
  EXPECT_EQ(monitor_.GetMonitor("models/m/monitor").status().code(),
            absl::StatusCode::kNotFound);

  batch = Batch("m", 1, {true, true});
  batch.set_confidences(1, std::numeric_limits<float>::infinity());
  s = monitor_.Observe(batch).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "row 1")) << s;

  batch = Batch("m", 1, {true, true});
  batch.mutable_outcomes(1)->set_error_value(std::nanf(""));
  s = monitor_.Observe(batch).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "row 1")) << s;

  batch = Batch("m", 1, {true, true});
  batch.mutable_features()->RemoveLast();
  EXPECT_EQ(monitor_.Observe(batch).status().code(),
            absl::StatusCode::kInvalidArgument);
  batch = Batch("m", 0, {true});
  EXPECT_EQ(monitor_.Observe(batch).status().code(),
            absl::StatusCode::kInvalidArgument);
  batch = Batch("m", 1, {true});
  batch.mutable_outcomes(0)->set_row(5);
  EXPECT_EQ(monitor_.Observe(batch).status().code(),
            absl::StatusCode::kInvalidArgument);

  // The first batch fixes the version's feature dimension.
  ASSERT_TRUE(monitor_.Observe(Batch("m", 1, {true})).ok());
  batch = Batch("m", 1, {true});
  batch.set_feature_dim(1);
  batch.mutable_features()->Truncate(1);
  s = monitor_.Observe(batch).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(s.message(), "feature_dim 1")) << s;
  // Mixing outcome kinds within a version is rejected.
  batch = Batch("m", 1, {true});
  batch.mutable_outcomes(0)->set_error_value(0.5f);
  EXPECT_EQ(monitor_.Observe(batch).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(DriftMonitorTest, RegressorErrorValuesFeedDefaultErrorAdwin) {
  std::mt19937 rng(3);
  std::normal_distribution<float> small(0.1f, 0.02f), large(2.0f, 0.2f);
  for (int b = 0; b < 20; ++b) {
    v1::ObservationBatch batch;
    batch.set_model("r");
    batch.set_version(1);
    batch.set_kind(v1::OBSERVATION_KIND_OUTCOME);
    batch.set_num_rows(100);
    for (int r = 0; r < 100; ++r) {
      v1::ObservedOutcome* o = batch.add_outcomes();
      o->set_row(r);
      o->set_error_value(std::fabs(b < 10 ? small(rng) : large(rng)));
    }
    auto result = monitor_.Observe(batch);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->observations, 0);
    EXPECT_EQ(result->outcomes, 100);
  }
  std::vector<v1::Alert> alerts = AllAlerts(monitor_);
  ASSERT_GE(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].type(), v1::ALERT_TYPE_CONCEPT);
  EXPECT_GE(alerts[0].observation_index(), 1000);
  EXPECT_LE(alerts[0].observation_index(), 1100);
  auto status = monitor_.GetDriftStatus("models/r", 1);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->detectors(0).signal(), v1::MONITORED_SIGNAL_ERROR_VALUE);
  EXPECT_TRUE(status->performance(0).has_mean_error_value());
}

TEST_F(DriftMonitorTest, ListMonitorsPagesByModel) {
  for (const char* m : {"c", "a", "b"}) {
    ASSERT_TRUE(monitor_.Observe(Batch(m, 1, {true})).ok());
  }
  v1::ConfigureMonitorRequest request = ConfigureRequest("b");
  ASSERT_TRUE(monitor_.ConfigureMonitor(request).ok());
  v1::ListMonitorsRequest list;
  list.set_page_size(2);
  auto page = monitor_.ListMonitors(list);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->monitors_size(), 2);
  EXPECT_EQ(page->monitors(0).name(), "models/a/monitor");
  EXPECT_EQ(page->monitors(1).name(), "models/b/monitor");
  list.set_page_token(page->next_page_token());
  page = monitor_.ListMonitors(list);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->monitors_size(), 1);
  EXPECT_EQ(page->monitors(0).name(), "models/c/monitor");
  EXPECT_TRUE(page->next_page_token().empty());

  list.Clear();
  list.set_filter("is_default = false");
  page = monitor_.ListMonitors(list);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->monitors_size(), 1);
  EXPECT_EQ(page->monitors(0).name(), "models/b/monitor");
}

TEST(DriftMonitorLimitsTest, ModelsAndVersionsAreBounded) {
  DriftMonitorOptions options;
  options.max_models = 2;
  options.max_versions_per_model = 2;
  DriftMonitor monitor(options);
  auto batch = [](const std::string& model, int64_t version) {
    v1::ObservationBatch b;
    b.set_model(model);
    b.set_version(version);
    b.set_num_rows(1);
    b.set_feature_dim(1);
    b.add_features(0.5f);
    b.set_kind(v1::OBSERVATION_KIND_PREDICTION);
    return b;
  };
  {
    auto first = monitor.Observe(batch("a", 1));
    ASSERT_TRUE(first.ok()) << first.status();
  }
  ASSERT_TRUE(monitor.Observe(batch("b", 1)).ok());
  EXPECT_EQ(monitor.Observe(batch("c", 1)).status().code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(monitor.Observe(batch("a", 2)).ok());
  ASSERT_TRUE(monitor.Observe(batch("a", 3)).ok());  // Drops version 1.
  EXPECT_EQ(monitor.Observe(batch("a", 1)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}
}  // namespace
}  // namespace continuum::drift_service
