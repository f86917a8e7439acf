#include "services/drift/drift_monitor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace continuum::drift_service {
namespace {

// A prediction batch of `correct.size()` rows with 2 features, a constant
// confidence and one outcome per row.
v1::ObservationBatch Batch(const std::string& model, int64_t version,
                           const std::vector<bool>& correct) {
  v1::ObservationBatch batch;
  batch.set_model(model);
  batch.set_version(version);
  batch.set_num_rows(static_cast<int>(correct.size()));
  batch.set_feature_dim(2);
  for (size_t r = 0; r < correct.size(); ++r) {
    batch.add_features(1.0f);
    batch.add_features(2.0f);
    batch.add_confidences(0.9f);
    v1::ObservedOutcome* o = batch.add_outcomes();
    o->set_row(static_cast<int>(r));
    o->set_correct(correct[r]);
  }
  return batch;
}

std::vector<v1::Alert> AllAlerts(DriftMonitor& monitor) {
  return monitor.AlertsAfter(0, {}, v1::ALERT_SEVERITY_UNSPECIFIED, 1 << 30);
}

v1::ConfigureMonitorRequest ConfigureRequest(const std::string& model) {
  v1::ConfigureMonitorRequest request;
  request.mutable_monitor()->set_name("models/" + model + "/monitor");
  return request;
}

class DriftMonitorTest : public ::testing::Test {
 protected:
  DriftMonitorTest() : monitor_(DriftMonitorOptions{.clock = &clock_}) {}

  // 1000 right predictions, then 1000 with a 50 % error rate, in batches
  // of 100.
  void FeedErrorJump(const std::string& model, int64_t version) {
    std::mt19937 rng(7);
    std::bernoulli_distribution wrong(0.5);
    for (int b = 0; b < 20; ++b) {
      std::vector<bool> correct(100, true);
      if (b >= 10) {
        for (size_t i = 0; i < correct.size(); ++i) correct[i] = !wrong(rng);
      }
      auto result = monitor_.Observe(Batch(model, version, correct));
      ASSERT_TRUE(result.ok()) << result.status();
      clock_.Advance(absl::Seconds(1));
    }
  }

  core::FakeClock clock_;
  DriftMonitor monitor_;
};

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

TEST_F(DriftMonitorTest, ListAlertsFiltersAndPages) {
  FeedErrorJump("a", 1);
  FeedErrorJump("a", 2);
  FeedErrorJump("b", 1);
  const int64_t total = monitor_.latest_sequence();
  ASSERT_EQ(total, 3);

  v1::ListAlertsRequest request;
  request.set_parent("models/-");
  request.set_page_size(2);
  auto page = monitor_.ListAlerts(request);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->alerts_size(), 2);
  EXPECT_EQ(page->alerts(0).sequence(), 3);  // Newest first.
  EXPECT_EQ(page->alerts(1).sequence(), 2);
  ASSERT_FALSE(page->next_page_token().empty());
  request.set_page_token(page->next_page_token());
  page = monitor_.ListAlerts(request);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->alerts_size(), 1);
  EXPECT_EQ(page->alerts(0).sequence(), 1);
  EXPECT_TRUE(page->next_page_token().empty());

  request.Clear();
  request.set_parent("models/a");
  request.set_filter("version = 2 AND type = ALERT_TYPE_CONCEPT");
  page = monitor_.ListAlerts(request);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->alerts_size(), 1);
  EXPECT_EQ(page->alerts(0).version(), 2);
  EXPECT_EQ(page->alerts(0).model(), "a");

  request.set_filter("type = ALERT_TYPE_DATA");
  page = monitor_.ListAlerts(request);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->alerts_size(), 0);

  request.set_filter("colour = red");
  EXPECT_EQ(monitor_.ListAlerts(request).status().code(),
            absl::StatusCode::kInvalidArgument);
  request.set_filter("");
  request.set_page_token("x");
  EXPECT_EQ(monitor_.ListAlerts(request).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto alert = monitor_.GetAlert("models/b/alerts/3");
  ASSERT_TRUE(alert.ok()) << alert.status();
  EXPECT_EQ(alert->model(), "b");
  EXPECT_EQ(monitor_.GetAlert("models/a/alerts/3").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(monitor_.GetAlert("models/alerts/3").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(monitor_.GetAlert("models/a/alerts/x").status().code(),
            absl::StatusCode::kInvalidArgument);

  std::vector<v1::Alert> after =
      monitor_.AlertsAfter(1, {"a"}, v1::ALERT_SEVERITY_WARNING, 10);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].sequence(), 2);
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

TEST_F(DriftMonitorTest, AlertsAreBounded) {
  DriftMonitor small(DriftMonitorOptions{.clock = &clock_, .max_alerts = 2});
  v1::ConfigureMonitorRequest request = ConfigureRequest("m");
  request.mutable_monitor()->mutable_performance()->set_max_error_rate(0.2);
  ASSERT_TRUE(small.ConfigureMonitor(request).ok());
  for (int v = 1; v <= 3; ++v) {
    ASSERT_TRUE(
        small.Observe(Batch("m", v, std::vector<bool>(200, false))).ok());
  }
  EXPECT_EQ(small.latest_sequence(), 3);
  std::vector<v1::Alert> kept = AllAlerts(small);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].sequence(), 2);
}

TEST_F(DriftMonitorTest, WaitForAlertWakesOnNewAlert) {
  const absl::Time start = absl::Now();
  EXPECT_EQ(monitor_.WaitForAlert(0, absl::Now() + absl::Milliseconds(150),
                                  [] { return false; }),
            0);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(140));

  int64_t woke_with = -1;
  absl::Time woke_at;
  std::thread waiter([&] {
    woke_with = monitor_.WaitForAlert(0, absl::Now() + absl::Seconds(30),
                                      [] { return false; });
    woke_at = absl::Now();
  });
  absl::SleepFor(absl::Milliseconds(50));
  const absl::Time raised_at = absl::Now();
  FeedErrorJump("w", 1);
  waiter.join();
  EXPECT_EQ(woke_with, 1);
  EXPECT_LT(woke_at - raised_at, absl::Seconds(5));

  // Cancellation ends the wait.
  std::atomic<bool> cancel = false;
  std::thread cancelled([&] {
    monitor_.WaitForAlert(monitor_.latest_sequence(),
                          absl::Now() + absl::Seconds(30),
                          [&] { return cancel.load(); });
  });
  cancel = true;  // Checked at least every 100 ms.
  cancelled.join();
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

// Records the calls; production is `production`.
class RecordingTarget : public ActionTarget {
 public:
  absl::StatusOr<int64_t> ProductionVersion(const std::string&) override {
    return production;
  }
  absl::StatusOr<std::string> Rollback(const std::string& model,
                                       int64_t expected, int64_t to_version,
                                       const std::string&) override {
    calls.push_back(
        absl::StrCat("rollback ", model, " ", expected, " to ", to_version));
    return absl::StrCat("models/", model, "/deployment@", calls.size());
  }
  absl::StatusOr<std::string> AbortRollout(const std::string& model,
                                           int64_t candidate,
                                           const std::string&) override {
    calls.push_back(absl::StrCat("abort ", model, " ", candidate));
    return absl::StrCat("models/", model, "/deployment@", calls.size());
  }
  absl::StatusOr<std::string> TriggerRun(const std::string& model,
                                         const std::string&,
                                         const std::string&) override {
    calls.push_back(absl::StrCat("retrain ", model));
    if (!retrain_status.ok()) return retrain_status;
    return absl::StrCat("models/", model, "/runs/", calls.size());
  }
  int64_t production = 2;
  absl::Status retrain_status = absl::UnavailableError("trainer down");
  std::vector<std::string> calls;
};

// An outcome batch of `n` rows of `version` of model "m" in which every
// `every`-th outcome (0 = none) is wrong: a deterministic error rate.
v1::ObservationBatch Outcomes(int64_t version, int n, int every) {
  v1::ObservationBatch batch;
  batch.set_model("m");
  batch.set_version(version);
  batch.set_kind(v1::OBSERVATION_KIND_OUTCOME);
  batch.set_num_rows(n);
  for (int r = 0; r < n; ++r) {
    v1::ObservedOutcome* o = batch.add_outcomes();
    o->set_row(r);
    o->set_correct(every == 0 || (r + 1) % every != 0);
  }
  return batch;
}

v1::ObservationBatch AllWrong(int64_t version, int n) {
  return Outcomes(version, n, /*every=*/1);
}

// The same with error values: `value` per row, `high` every `every`-th.
v1::ObservationBatch ErrorValues(int64_t version, int n, float value,
                                 float high, int every) {
  v1::ObservationBatch batch = Outcomes(version, n, 0);
  for (int r = 0; r < n; ++r) {
    batch.mutable_outcomes(r)->set_error_value(
        every != 0 && (r + 1) % every == 0 ? high : value);
  }
  return batch;
}

v1::ConfigureMonitorRequest PerformanceMonitor(bool dry_run) {
  v1::ConfigureMonitorRequest request;
  request.mutable_monitor()->set_name("models/m/monitor");
  auto* performance = request.mutable_monitor()->mutable_performance();
  performance->set_max_error_rate(0.2);
  performance->set_window_size(50);
  performance->set_min_outcomes(20);
  request.mutable_monitor()->mutable_actions()->set_dry_run(dry_run);
  return request;
}

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


// ---------------------------------------------------------------------------
// Reference tests

// Serves one reference per version: `features` standard-normal features
// (512 sampled values each, seeded), an error rate, and a prediction
// sample; or the error queued for the next fetches.
class FakeReferences : public ReferenceSource {
 public:
  absl::StatusOr<v1::ReferenceStatistics> Fetch(const std::string& model,
                                                int64_t version) override {
    absl::MutexLock lock(&mu_);
    fetches.push_back(absl::StrCat(model, "/", version));
    if (!errors.empty()) {
      absl::Status s = errors.front();
      errors.erase(errors.begin());
      return s;
    }
    v1::ReferenceStatistics stats;
    stats.set_sample_count(5000);
    stats.set_error_rate(0.1);
    std::mt19937 rng(11);
    std::normal_distribution<float> normal(0, 1);
    for (int f = 0; f < features; ++f) {
      v1::FeatureReference* ref = stats.add_features();
      ref->set_index(f);
      ref->set_name(absl::StrCat("f", f));
      for (int i = 0; i < 512; ++i) ref->add_sample(normal(rng));
    }
    std::uniform_real_distribution<float> confidence(0.6f, 1.0f);
    stats.mutable_predictions()->set_index(-1);
    for (int i = 0; i < 512; ++i) {
      stats.mutable_predictions()->add_sample(confidence(rng));
    }
    return stats;
  }

  int features = 8;
  std::vector<absl::Status> errors;
  std::vector<std::string> fetches;

 private:
  absl::Mutex mu_;
};

// `rows` prediction rows of model "m" with 8 features drawn from N(0, 1),
// the first `shifted` of them moved by +3, and confidences in [0.6, 1).
v1::ObservationBatch FeatureRows(int64_t version, int rows, int shifted,
                                 uint32_t seed, int dim = 8) {
  v1::ObservationBatch batch;
  batch.set_model("m");
  batch.set_version(version);
  batch.set_kind(v1::OBSERVATION_KIND_PREDICTION);
  batch.set_num_rows(rows);
  batch.set_feature_dim(dim);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  std::uniform_real_distribution<float> confidence(0.6f, 1.0f);
  for (int r = 0; r < rows; ++r) {
    for (int f = 0; f < dim; ++f) {
      batch.add_features(normal(rng) + (f < shifted ? 3.0f : 0.0f));
    }
    batch.add_confidences(confidence(rng));
  }
  return batch;
}

class ReferenceTestsTest : public ::testing::Test {
 protected:
  ReferenceTestsTest() {
    options_.clock = &clock_;
    options_.actions = &target_;
    options_.references = &references_;
    options_.reference_poll_interval = absl::ZeroDuration();  // No thread.
    target_.retrain_status = absl::OkStatus();
    monitor_ = std::make_unique<DriftMonitor>(options_);
    v1::ConfigureMonitorRequest request = ConfigureRequest("m");
    v1::ReferenceTestConfig* c =
        request.mutable_monitor()->mutable_reference_tests();
    c->mutable_interval()->set_seconds(60);
    c->set_window_size(300);
    c->set_min_samples(200);
    c->set_test_predictions(true);
    // No streaming detector in the way.
    v1::DetectorConfig* d = request.mutable_monitor()->add_detectors();
    d->set_id("quiet");
    d->set_detector("page_hinkley");
    d->set_signal(v1::MONITORED_SIGNAL_ERROR_RATE);
    EXPECT_TRUE(monitor_->ConfigureMonitor(request).ok());
  }

  std::optional<v1::ReferenceTestRun> LatestRun(int64_t version) {
    auto status = monitor_->GetDriftStatus("models/m", version);
    EXPECT_TRUE(status.ok()) << status.status();
    if (!status.ok() || status->reference_tests().empty()) return std::nullopt;
    return status->reference_tests(0);
  }

  std::string ReferenceStatus(int64_t version) {
    auto status = monitor_->GetDriftStatus("models/m", version);
    if (!status.ok() || status->performance().empty()) return "";
    return status->performance(0).reference_status();
  }

  std::vector<v1::Alert> Alerts(v1::AlertType type) {
    std::vector<v1::Alert> out;
    for (const v1::Alert& a : AllAlerts(*monitor_)) {
      if (a.type() == type) out.push_back(a);
    }
    return out;
  }

  core::FakeClock clock_;
  RecordingTarget target_;
  FakeReferences references_;
  DriftMonitorOptions options_;
  std::unique_ptr<DriftMonitor> monitor_;
};

TEST_F(ReferenceTestsTest, InDistributionWindowDoesNotDrift) {
  ASSERT_TRUE(monitor_->Observe(FeatureRows(1, 150, 0, 1)).ok());
  monitor_->RunReferenceWork();
  EXPECT_EQ(references_.fetches, std::vector<std::string>{"m/1"});
  EXPECT_EQ(ReferenceStatus(1),
            "loaded: 8 features, 5000 training rows, error rate 0.1");
  EXPECT_FALSE(LatestRun(1).has_value());  // 150 < min_samples.
  ASSERT_TRUE(monitor_->Observe(FeatureRows(1, 250, 0, 2)).ok());
  monitor_->RunReferenceWork();
  std::optional<v1::ReferenceTestRun> run = LatestRun(1);
  ASSERT_TRUE(run.has_value());
  EXPECT_EQ(run->version(), 1);
  EXPECT_EQ(run->sample_count(), 300);  // The window, not all 400 rows.
  EXPECT_EQ(run->results_size(), 16);   // KS and PSI per feature.
  EXPECT_FALSE(run->dataset_drifted());
  EXPECT_LT(run->drifted_share(), 0.5);
  for (const v1::FeatureTestResult& r : run->results()) {
    if (r.test() == v1::REFERENCE_TEST_KS) {
      EXPECT_TRUE(r.has_p_value());
      // Bonferroni over the 8 KS p-values.
      EXPECT_DOUBLE_EQ(r.adjusted_p_value(), std::min(1.0, r.p_value() * 8));
    }
    EXPECT_EQ(r.feature_name(), absl::StrCat("f", r.feature_index()));
  }
  EXPECT_EQ(run->prediction_results_size(), 2);
  EXPECT_TRUE(Alerts(v1::ALERT_TYPE_DATA).empty());
  EXPECT_TRUE(Alerts(v1::ALERT_TYPE_PREDICTION).empty());
  auto status = monitor_->GetDriftStatus("models/m", 1);
  ASSERT_TRUE(status.ok());
  EXPECT_DOUBLE_EQ(status->performance(0).reference_error_rate(), 0.1);
}

TEST_F(ReferenceTestsTest, ShiftedFeaturesRaiseOneDataAlertUntilReArmed) {
  ASSERT_TRUE(monitor_->Observe(FeatureRows(1, 300, 6, 1)).ok());
  monitor_->RunReferenceWork();
  std::optional<v1::ReferenceTestRun> run = LatestRun(1);
  ASSERT_TRUE(run.has_value());
  EXPECT_TRUE(run->dataset_drifted());
  EXPECT_EQ(run->drifted_features(), 6);
  EXPECT_DOUBLE_EQ(run->drifted_share(), 0.75);
  std::vector<v1::Alert> data = Alerts(v1::ALERT_TYPE_DATA);
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0].detector(), "reference_tests");
  EXPECT_EQ(data[0].severity(), v1::ALERT_SEVERITY_CRITICAL);  // >= 0.75.
  EXPECT_EQ(data[0].feature_index(), -1);
  EXPECT_TRUE(data[0].reference_test().dataset_drifted());
  EXPECT_THAT(data[0].message(),
              ::testing::HasSubstr("6 of 8 features drifted"));
  EXPECT_EQ(data[0].action_result().action(),
            v1::DRIFT_ACTION_TRIGGER_RETRAIN);
  EXPECT_EQ(target_.calls, std::vector<std::string>{"retrain m"});
  EXPECT_EQ(data[0].action_result().target(), "models/m/runs/1");
  {
    auto status = monitor_->GetDriftStatus("models/m", 0);
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(status->last_action_alert().name(), data[0].name());
    EXPECT_EQ(status->cooldown_until().seconds(),
              absl::ToUnixSeconds(clock_.Now() + absl::Hours(1)));
  }

  // Still drifting a minute later: a new run, no second alert.
  clock_.Advance(absl::Seconds(61));
  ASSERT_TRUE(monitor_->Observe(FeatureRows(1, 300, 6, 2)).ok());
  monitor_->RunReferenceWork();
  EXPECT_EQ(LatestRun(1)->run_time().seconds(),
            absl::ToUnixSeconds(clock_.Now()));
  EXPECT_EQ(Alerts(v1::ALERT_TYPE_DATA).size(), 1u);
  // Not due again before the interval, nor without new rows.
  clock_.Advance(absl::Seconds(30));
  ASSERT_TRUE(monitor_->Observe(FeatureRows(1, 300, 0, 3)).ok());
  monitor_->RunReferenceWork();
  EXPECT_TRUE(LatestRun(1)->dataset_drifted());
  clock_.Advance(absl::Seconds(31));
  monitor_->RunReferenceWork();
  EXPECT_FALSE(LatestRun(1)->dataset_drifted());  // Re-armed.
  clock_.Advance(absl::Seconds(61));
  monitor_->RunReferenceWork();  // No new rows: no run.
  EXPECT_EQ(LatestRun(1)->run_time().seconds(),
            absl::ToUnixSeconds(clock_.Now() - absl::Seconds(61)));
  ASSERT_TRUE(monitor_->Observe(FeatureRows(1, 300, 8, 4)).ok());
  monitor_->RunReferenceWork();
  data = Alerts(v1::ALERT_TYPE_DATA);
  ASSERT_EQ(data.size(), 2u);
  EXPECT_TRUE(data[1].action_result().suppressed_by_cooldown());
  EXPECT_EQ(target_.calls.size(), 1u);
}

TEST_F(ReferenceTestsTest, PredictionDistributionShiftRaisesPredictionAlert) {
  v1::ObservationBatch batch = FeatureRows(1, 300, 0, 1);
  for (int r = 0; r < batch.num_rows(); ++r) batch.set_confidences(r, 0.3f);
  ASSERT_TRUE(monitor_->Observe(batch).ok());
  monitor_->RunReferenceWork();
  std::vector<v1::Alert> prediction = Alerts(v1::ALERT_TYPE_PREDICTION);
  ASSERT_EQ(prediction.size(), 1u);
  EXPECT_EQ(prediction[0].detector(), "reference_tests");
  EXPECT_TRUE(Alerts(v1::ALERT_TYPE_DATA).empty());
}

TEST_F(ReferenceTestsTest, FetchFailuresAreRetriedWithBackoff) {
  references_.errors = {absl::UnavailableError("registry down"),
                        absl::UnavailableError("registry down")};
  ASSERT_TRUE(monitor_->Observe(FeatureRows(1, 300, 0, 1)).ok());
  monitor_->RunReferenceWork();
  EXPECT_THAT(ReferenceStatus(1), ::testing::HasSubstr("retrying in 5s"));
  monitor_->RunReferenceWork();  // Not due yet.
  EXPECT_EQ(references_.fetches.size(), 1u);
  clock_.Advance(absl::Seconds(5));
  monitor_->RunReferenceWork();
  EXPECT_THAT(ReferenceStatus(1), ::testing::HasSubstr("retrying in 10s"));
  clock_.Advance(absl::Seconds(10));
  monitor_->RunReferenceWork();
  EXPECT_THAT(ReferenceStatus(1), ::testing::StartsWith("loaded: "));
  EXPECT_TRUE(LatestRun(1).has_value());
}

TEST_F(ReferenceTestsTest, BundleWithoutReferenceIsNotAskedAgain) {
  references_.errors = {absl::FailedPreconditionError("carries none")};
  ASSERT_TRUE(monitor_->Observe(FeatureRows(1, 300, 0, 1)).ok());
  monitor_->RunReferenceWork();
  clock_.Advance(absl::Hours(1));
  monitor_->RunReferenceWork();
  EXPECT_EQ(references_.fetches.size(), 1u);
  EXPECT_EQ(ReferenceStatus(1), "absent: carries none");
  EXPECT_FALSE(LatestRun(1).has_value());
}

TEST_F(ReferenceTestsTest, FeatureCountMismatchIsReportedNotTested) {
  references_.features = 5;
  ASSERT_TRUE(monitor_->Observe(FeatureRows(1, 300, 0, 1)).ok());
  monitor_->RunReferenceWork();
  EXPECT_FALSE(LatestRun(1).has_value());
  EXPECT_THAT(ReferenceStatus(1),
              ::testing::HasSubstr("the reference has 5 features and the "
                                   "observations 8"));
}

TEST_F(ReferenceTestsTest, ErrorRateBoundRelativeToTheReference) {
  // Reference error rate 0.1 + the default 10 points: 0.2. 25 % wrong.
  ASSERT_TRUE(monitor_->Observe(FeatureRows(1, 10, 0, 1)).ok());
  monitor_->RunReferenceWork();
  ASSERT_TRUE(monitor_->Observe(Outcomes(1, 200, 4)).ok());
  std::vector<v1::Alert> performance = Alerts(v1::ALERT_TYPE_PERFORMANCE);
  ASSERT_EQ(performance.size(), 1u);
  EXPECT_DOUBLE_EQ(performance[0].threshold(), 0.2);
  EXPECT_THAT(performance[0].message(),
              ::testing::HasSubstr("exceeds the reference error rate 0.1 + "
                                   "10 points"));
  // 15 % wrong stays under it.
  v1::ConfigureMonitorRequest request = ConfigureRequest("m");
  request.mutable_update_mask()->add_paths("performance");
  request.mutable_monitor()->mutable_performance()->set_window_size(200);
  ASSERT_TRUE(monitor_->ConfigureMonitor(request).ok());
  ASSERT_TRUE(monitor_->Observe(FeatureRows(2, 10, 0, 1)).ok());
  monitor_->RunReferenceWork();
  v1::ObservationBatch fifteen = Outcomes(2, 200, 0);
  for (int r = 0; r < 200; ++r) {
    fifteen.mutable_outcomes(r)->set_correct(r % 20 >= 3);
  }
  ASSERT_TRUE(monitor_->Observe(fifteen).ok());
  EXPECT_EQ(Alerts(v1::ALERT_TYPE_PERFORMANCE).size(), 1u);
}

TEST_F(ReferenceTestsTest, BadReferenceTestConfigurationsAreInvalid) {
  auto configure = [&](auto edit) {
    v1::ConfigureMonitorRequest request = ConfigureRequest("m");
    request.mutable_update_mask()->add_paths("reference_tests");
    edit(*request.mutable_monitor()->mutable_reference_tests());
    return monitor_->ConfigureMonitor(request).status();
  };
  using C = v1::ReferenceTestConfig;
  EXPECT_EQ(configure([](C& c) { c.set_window_size(1000000); }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(configure([](C& c) {
              c.set_window_size(100);
              c.set_min_samples(200);
            }).message(),
            "reference_tests.min_samples 200 exceeds window_size 100");
  EXPECT_EQ(
      configure([](C& c) { c.add_tests(v1::REFERENCE_TEST_CHI_SQUARED); })
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(configure([](C& c) {
              c.add_tests(v1::REFERENCE_TEST_KS);
              c.add_tests(v1::REFERENCE_TEST_KS);
            }).message(),
            "reference_tests.tests: REFERENCE_TEST_KS is listed twice");
  EXPECT_EQ(configure([](C& c) { c.set_p_value_threshold(1.5); }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(configure([](C& c) { c.set_drifted_feature_share(2); }).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(configure([](C& c) { c.mutable_interval()->set_seconds(-1); })
                .code(),
            absl::StatusCode::kInvalidArgument);
  // Defaults are filled in and shown.
  ASSERT_TRUE(configure([](C&) {}).ok());
  auto monitor = monitor_->GetMonitor("models/m/monitor");
  ASSERT_TRUE(monitor.ok());
  const C& c = monitor->reference_tests();
  EXPECT_EQ(c.interval().seconds(), 600);
  EXPECT_EQ(c.window_size(), 1000);
  EXPECT_EQ(c.min_samples(), 200);
  EXPECT_EQ(c.tests_size(), 2);
  EXPECT_EQ(c.correction(), v1::MULTIPLE_TEST_CORRECTION_BONFERRONI);
  EXPECT_DOUBLE_EQ(c.psi_threshold(), 0.2);
}

// A target whose retrain call waits until released.
class BlockingTarget : public RecordingTarget {
 public:
  absl::StatusOr<std::string> TriggerRun(const std::string& model,
                                         const std::string& alert,
                                         const std::string& reason) override {
    absl::MutexLock lock(&mu_);
    entered_ = true;
    mu_.Await(absl::Condition(&released_));
    return RecordingTarget::TriggerRun(model, alert, reason);
  }
  void AwaitEntered() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&entered_));
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    released_ = true;
  }

 private:
  absl::Mutex mu_;
  bool entered_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

TEST(DriftWatchTest, WatchersSeeAnAlertOnlyOnceItsActionRan) {
  core::FakeClock clock;
  BlockingTarget target;
  FakeReferences references;
  DriftMonitorOptions options;
  options.clock = &clock;
  options.actions = &target;
  options.references = &references;
  options.reference_poll_interval = absl::ZeroDuration();
  DriftMonitor monitor(options);
  v1::ConfigureMonitorRequest request = ConfigureRequest("m");
  request.mutable_monitor()->mutable_reference_tests()->set_window_size(300);
  ASSERT_TRUE(monitor.ConfigureMonitor(request).ok());
  ASSERT_TRUE(monitor.Observe(FeatureRows(1, 300, 8, 1)).ok());
  std::thread worker([&] { monitor.RunReferenceWork(); });
  target.AwaitEntered();
  // Raised and listed (action pending), but not yet shown to watchers.
  v1::ListAlertsRequest list;
  list.set_parent("models/m");
  auto listed = monitor.ListAlerts(list);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->alerts_size(), 1);
  EXPECT_EQ(listed->alerts(0).action_result().message(), "action pending");
  int64_t scanned = -1;
  EXPECT_TRUE(monitor
                  .AlertsAfter(0, {}, v1::ALERT_SEVERITY_UNSPECIFIED, 10,
                               &scanned)
                  .empty());
  EXPECT_EQ(scanned, 0);
  EXPECT_EQ(monitor.WaitForAlert(0, absl::Now() + absl::Milliseconds(50),
                                 [] { return false; }),
            0);
  target.Release();
  worker.join();
  std::vector<v1::Alert> watched =
      monitor.AlertsAfter(0, {}, v1::ALERT_SEVERITY_UNSPECIFIED, 10);
  ASSERT_EQ(watched.size(), 1u);
  EXPECT_EQ(watched[0].action_result().action(),
            v1::DRIFT_ACTION_TRIGGER_RETRAIN);
  EXPECT_NE(watched[0].action_result().message(), "action pending");
}

}  // namespace
}  // namespace continuum::drift_service
