// The reference tests of a version: back-off, the fetch's states, a run's
// results and alerts, by hand; then through DriftMonitor with a fake
// reference source.
#include "services/drift/reference_tester.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "services/drift/drift_monitor.h"
#include "services/drift/monitor_config.h"
#include "services/drift/monitor_test_util.h"

namespace continuum::drift_service {
namespace {

TEST(ReferenceBackoffTest, DoublesFromFiveSecondsToFiveMinutes) {
  absl::Duration d = absl::ZeroDuration();
  std::vector<absl::Duration> waits;
  for (int i = 0; i < 8; ++i) waits.push_back(d = ReferenceBackoff(d));
  EXPECT_EQ(waits, (std::vector<absl::Duration>{
                       absl::Seconds(5), absl::Seconds(10), absl::Seconds(20),
                       absl::Seconds(40), absl::Seconds(80), absl::Seconds(160),
                       absl::Seconds(300), absl::Seconds(300)}));
}

// A prediction batch of `rows` rows of `dim` features, all `value`.
v1::ObservationBatch Constant(int rows, int dim, float value) {
  v1::ObservationBatch batch;
  batch.set_model("m");
  batch.set_version(1);
  batch.set_num_rows(rows);
  batch.set_feature_dim(dim);
  for (int i = 0; i < rows * dim; ++i) batch.add_features(value);
  return batch;
}

v1::ReferenceTestConfig Config(int64_t window, int64_t min_samples) {
  v1::Monitor m;
  m.mutable_reference_tests()->set_window_size(window);
  m.mutable_reference_tests()->set_min_samples(min_samples);
  m.mutable_reference_tests()->mutable_interval()->set_seconds(60);
  EXPECT_TRUE(ValidateMonitor(m).ok());
  return m.reference_tests();
}

// A reference of `dim` features sampled 0, 1, ..., 99.
std::shared_ptr<const PreparedReference> Reference(int dim) {
  v1::ReferenceStatistics stats;
  stats.set_sample_count(100);
  for (int f = 0; f < dim; ++f) {
    v1::FeatureReference* ref = stats.add_features();
    ref->set_name(absl::StrCat("f", f));
    for (int i = 0; i < 100; ++i) ref->add_sample(static_cast<float>(i));
  }
  return PreparedReference::Prepare(stats);
}

TEST(VersionReferenceTest, FetchStates) {
  const absl::Time t = absl::FromUnixSeconds(1000);
  VersionReference v;
  EXPECT_EQ(v.state(), VersionReference::State::kNone);
  EXPECT_FALSE(v.TakeFetch(t));
  v.Record(Config(10, 5), Constant(1, 2, 0), 1 << 20, t);
  EXPECT_EQ(v.state(), VersionReference::State::kNeeded);
  EXPECT_EQ(v.status(), "fetching");
  EXPECT_TRUE(v.TakeFetch(t));
  EXPECT_FALSE(v.TakeFetch(t));  // In flight.
  EXPECT_EQ(v.FetchDone(absl::UnavailableError("down"), t),
            "retrying in 5s: UNAVAILABLE: down");
  EXPECT_FALSE(v.TakeFetch(t + absl::Seconds(4)));
  EXPECT_TRUE(v.TakeFetch(t + absl::Seconds(5)));
  EXPECT_EQ(v.FetchDone(Reference(2), t), "loaded: 2 features, 100 training rows");
  EXPECT_EQ(v.state(), VersionReference::State::kReady);
  EXPECT_FALSE(v.error_rate().has_value());
  VersionReference absent;
  absent.Record(Config(10, 5), Constant(1, 2, 0), 1 << 20, t);
  ASSERT_TRUE(absent.TakeFetch(t));
  EXPECT_EQ(absent.FetchDone(absl::FailedPreconditionError("none"), t),
            "absent: none");
  EXPECT_FALSE(absent.TakeFetch(t + absl::Hours(1)));
}

TEST(VersionReferenceTest, RunsAreDueOnEnoughNewRowsAfterTheInterval) {
  const absl::Time t = absl::FromUnixSeconds(1000);
  const v1::ReferenceTestConfig config = Config(10, 5);
  VersionReference v;
  v.Record(config, Constant(4, 2, 50), 1 << 20, t);
  ASSERT_TRUE(v.TakeFetch(t));
  v.FetchDone(Reference(2), t);
  EXPECT_FALSE(v.TakeDueJob(config, t).has_value());  // 4 < min_samples.
  v.Record(config, Constant(4, 2, 50), 1 << 20, t);
  std::optional<ReferenceJob> job = v.TakeDueJob(config, t);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->window.rows, 8);
  EXPECT_FALSE(v.TakeDueJob(config, t + absl::Minutes(5)).has_value());
  v.Record(config, Constant(1, 2, 50), 1 << 20, t);
  EXPECT_FALSE(v.TakeDueJob(config, t + absl::Seconds(59)).has_value());
  EXPECT_TRUE(v.TakeDueJob(config, t + absl::Seconds(60)).has_value());
  // Reset: the window starts over.
  v.Reset();
  v.Record(config, Constant(5, 2, 50), 1 << 20, t);
  job = v.TakeDueJob(config, t + absl::Seconds(61));
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->window.rows, 5);
}

TEST(VersionReferenceTest, WideInputsGetFewerRowsAndMismatchesNoRun) {
  const absl::Time t = absl::FromUnixSeconds(1000);
  const v1::ReferenceTestConfig config = Config(10, 1);
  VersionReference v;
  v.Record(config, Constant(10, 4, 1), /*max_window_values=*/12, t);
  ASSERT_TRUE(v.TakeFetch(t));
  v.FetchDone(Reference(3), t);
  EXPECT_FALSE(v.TakeDueJob(config, t).has_value());
  EXPECT_EQ(v.status(),
            "loaded, but the reference has 3 features and the observations 4: "
            "reference tests skipped");
  VersionReference wide;
  wide.Record(config, Constant(10, 4, 1), /*max_window_values=*/12, t);
  ASSERT_TRUE(wide.TakeFetch(t));
  wide.FetchDone(Reference(4), t);
  std::optional<ReferenceJob> job = wide.TakeDueJob(config, t);
  ASSERT_TRUE(job.has_value());
  EXPECT_EQ(job->window.rows, 3);  // 12 values / 4 features.
}

TEST(RunReferenceJobTest, ResultsPerFeatureAndTheDataAlertOnce) {
  const absl::Time t = absl::FromUnixSeconds(1000);
  const v1::ReferenceTestConfig config = Config(300, 200);
  VersionReference v;
  // Feature 0 far off the reference's 0..99, feature 1 inside it.
  v1::ObservationBatch batch = Constant(300, 2, 0);
  for (int r = 0; r < 300; ++r) {
    batch.set_features(2 * r, 500.0f + static_cast<float>(r % 10));
    batch.set_features(2 * r + 1, static_cast<float>(r % 100));
  }
  v.Record(config, batch, 1 << 20, t);
  ASSERT_TRUE(v.TakeFetch(t));
  v.FetchDone(Reference(2), t);
  std::optional<ReferenceJob> job = v.TakeDueJob(config, t);
  ASSERT_TRUE(job.has_value());
  job->model = "m";
  job->version = 1;
  job->observation_index = 299;
  absl::StatusOr<ReferenceRun> run = RunReferenceJob(*job, t);
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->tested_features, 2);
  const v1::ReferenceTestRun& r = run->run;
  ASSERT_EQ(r.results_size(), 4);  // KS and PSI of each feature.
  EXPECT_EQ(r.results(0).feature_name(), "f0");
  EXPECT_EQ(r.results(0).test(), v1::REFERENCE_TEST_KS);
  EXPECT_TRUE(r.results(0).drifted());
  EXPECT_EQ(r.results(1).test(), v1::REFERENCE_TEST_PSI);
  EXPECT_FALSE(r.results(2).drifted());
  EXPECT_EQ(r.drifted_features(), 1);
  EXPECT_DOUBLE_EQ(r.drifted_share(), 0.5);
  EXPECT_TRUE(r.dataset_drifted());
  EXPECT_EQ(r.sample_count(), 300);
  std::vector<v1::Alert> alerts = v.RecordRun(*job, *run);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].type(), v1::ALERT_TYPE_DATA);
  EXPECT_EQ(alerts[0].severity(), v1::ALERT_SEVERITY_WARNING);  // < 0.75.
  EXPECT_EQ(alerts[0].observation_index(), 299);
  EXPECT_EQ(alerts[0].message(),
            "reference tests (ks+psi, MULTIPLE_TEST_CORRECTION_BONFERRONI): "
            "1 of 2 features drifted (share 0.5 >= 0.5) in the last 300 "
            "observations of version 1; most drifted: f0");
  EXPECT_TRUE(v.RecordRun(*job, *run).empty());  // Not re-armed.
  EXPECT_TRUE(v.latest_run().has_value());
}

TEST(PeriodicWorkerTest, CallsUntilDestroyed) {
  absl::Mutex mu;
  int calls = 0;
  {
    PeriodicWorker worker(absl::Milliseconds(1), [&] {
      absl::MutexLock lock(&mu);
      ++calls;
    });
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(
        +[](int* n) { return *n >= 3; }, &calls));
  }
  // The destructor joined the worker's thread: nothing calls any more. The
  // lock is not held while watching, so a stray call could still count.
  int at_stop = 0;
  {
    absl::MutexLock lock(&mu);
    at_stop = calls;
  }
  absl::SleepFor(absl::Milliseconds(20));  // A window to watch, not a sync.
  absl::MutexLock lock(&mu);
  EXPECT_EQ(calls, at_stop);
}

// Through DriftMonitor.

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
            "monitor.reference_tests.min_samples 200 exceeds window_size 100");
  EXPECT_EQ(
      configure([](C& c) { c.add_tests(v1::REFERENCE_TEST_CHI_SQUARED); })
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(configure([](C& c) {
              c.add_tests(v1::REFERENCE_TEST_KS);
              c.add_tests(v1::REFERENCE_TEST_KS);
            }).message(),
            "monitor.reference_tests.tests: REFERENCE_TEST_KS is listed twice");
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

}  // namespace
}  // namespace continuum::drift_service
