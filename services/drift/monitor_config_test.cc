// Monitor configuration: defaults, validation messages, the update mask and
// stored monitors, without a DriftMonitor.
#include "services/drift/monitor_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace continuum::drift_service {
namespace {

using ::testing::HasSubstr;

std::string Invalid(v1::Monitor monitor) {
  absl::Status s = ValidateMonitor(monitor);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  return std::string(s.message());
}

TEST(MonitorConfigTest, DefaultMonitorHasTwoDetectorsAndEveryDefault) {
  const v1::Monitor m = DefaultMonitor("fraud");
  EXPECT_EQ(m.name(), "models/fraud/monitor");
  EXPECT_TRUE(m.is_default());
  ASSERT_EQ(m.detectors_size(), 2);
  EXPECT_EQ(m.detectors(0).id(), "error_adwin");
  EXPECT_EQ(m.detectors(0).signal(), v1::MONITORED_SIGNAL_ERROR_RATE);
  EXPECT_EQ(m.detectors(1).id(), "prediction_page_hinkley");
  EXPECT_EQ(m.performance().window_size(), 500);
  EXPECT_EQ(m.performance().min_outcomes(), 100);
  EXPECT_DOUBLE_EQ(m.canary_judgement().alpha(), 0.05);
  EXPECT_EQ(m.canary_judgement().interval().seconds(), 60);
  EXPECT_EQ(m.reference_tests().interval().seconds(), 600);
  EXPECT_EQ(m.reference_tests().tests_size(), 2);
  // A default monitor is valid as it is.
  v1::Monitor copy = m;
  EXPECT_TRUE(ValidateMonitor(copy).ok());
}

TEST(MonitorConfigTest, ParseMonitorName) {
  EXPECT_EQ(*ParseMonitorName("models/fraud/monitor"), "fraud");
  EXPECT_EQ(ParseMonitorName("models/fraud").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseMonitorName("datasets/x/monitor").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(ParseMonitorName("models/Bad/monitor").status().message(),
              HasSubstr("model id"));
}

TEST(MonitorConfigTest, DetectorsAreCheckedAndSeverityDefaulted) {
  v1::Monitor m;
  v1::DetectorConfig* d = m.add_detectors();
  d->set_id("feature_x");
  d->set_detector("adwin");
  d->set_signal(v1::MONITORED_SIGNAL_FEATURE);
  d->set_feature_index(3);
  ASSERT_TRUE(ValidateMonitor(m).ok());
  EXPECT_EQ(m.detectors(0).drift_severity(), v1::ALERT_SEVERITY_WARNING);

  v1::Monitor bad = m;
  bad.mutable_detectors(0)->set_id("Bad Id");
  EXPECT_THAT(Invalid(bad), HasSubstr("detectors[0]: id 'Bad Id' must match"));
  bad = m;
  *bad.add_detectors() = m.detectors(0);
  EXPECT_THAT(Invalid(bad), HasSubstr("detectors[1]: id 'feature_x' is used "
                                      "twice"));
  bad = m;
  bad.mutable_detectors(0)->set_detector("adwinn");
  EXPECT_THAT(Invalid(bad), HasSubstr("detectors[0] (feature_x): "));
  bad = m;
  bad.mutable_detectors(0)->set_feature_index(-1);
  EXPECT_THAT(Invalid(bad), HasSubstr("feature_index must be >= 0"));
  bad = m;
  bad.mutable_detectors(0)->set_signal(v1::MONITORED_SIGNAL_PREDICTION);
  EXPECT_THAT(Invalid(bad),
              HasSubstr("feature_index is only for MONITORED_SIGNAL_FEATURE"));
  bad = m;
  bad.mutable_detectors(0)->set_signal(v1::MONITORED_SIGNAL_UNSPECIFIED);
  EXPECT_THAT(Invalid(bad), HasSubstr("signal must be one of"));
}

TEST(MonitorConfigTest, PerformanceAndCanaryBounds) {
  v1::Monitor m;
  m.mutable_performance()->set_max_error_rate(1.5);
  EXPECT_EQ(Invalid(m), "performance.max_error_rate must be in [0, 1]");
  m.Clear();
  m.mutable_performance()->set_window_size(10);
  m.mutable_performance()->set_min_outcomes(20);
  EXPECT_EQ(Invalid(m),
            "performance.min_outcomes must not exceed performance.window_size");
  m.Clear();
  m.mutable_performance()->set_window_size(10);
  m.mutable_performance()->set_min_outcomes(10);
  EXPECT_TRUE(ValidateMonitor(m).ok());
  // min_outcomes 0 means 100, which a window of 10 cannot hold.
  m.Clear();
  m.mutable_performance()->set_window_size(50);
  EXPECT_THAT(Invalid(m), HasSubstr("min_outcomes must not exceed"));
  m.Clear();
  m.mutable_canary_judgement()->set_alpha(1.5);
  EXPECT_EQ(Invalid(m), "canary_judgement.alpha must be in (0, 1) (0 = 0.05)");
  m.Clear();
  m.mutable_canary_judgement()->set_min_effect_points(101);
  EXPECT_EQ(Invalid(m),
            "canary_judgement.min_effect_points must be in [0, 100]");
  m.Clear();
  m.mutable_canary_judgement()->mutable_interval()->set_seconds(0);
  ASSERT_TRUE(ValidateMonitor(m).ok());
  // An interval set to zero stays zero (judge at every batch).
  EXPECT_TRUE(m.canary_judgement().has_interval());
  EXPECT_EQ(m.canary_judgement().interval().seconds(), 0);
}

TEST(MonitorConfigTest, ReferenceTestsDefaultsAndErrors) {
  v1::Monitor m;
  m.mutable_reference_tests()->set_window_size(100);
  ASSERT_TRUE(ValidateMonitor(m).ok());
  // min_samples defaults to min(200, window_size).
  EXPECT_EQ(m.reference_tests().min_samples(), 100);
  EXPECT_EQ(m.reference_tests().interval().seconds(), 600);
  m.Clear();
  m.mutable_reference_tests()->add_tests(v1::REFERENCE_TEST_CHI_SQUARED);
  EXPECT_THAT(Invalid(m), HasSubstr("REFERENCE_TEST_CHI_SQUARED is for "
                                    "categorical features"));
  m.Clear();
  m.mutable_reference_tests()->set_window_size(100001);
  EXPECT_EQ(Invalid(m),
            "reference_tests.window_size must be in [0, 100000] (0 = 1000)");
}

TEST(MonitorConfigTest, WholeMonitorGetsDefaultDetectors) {
  v1::ConfigureMonitorRequest request;
  request.mutable_monitor()->set_name("ignored");
  request.mutable_monitor()->mutable_performance()->set_max_error_rate(0.2);
  request.mutable_monitor()->set_is_default(true);
  absl::StatusOr<v1::Monitor> m = ConfiguredMonitor(nullptr, request, "m");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->name(), "models/m/monitor");
  EXPECT_FALSE(m->is_default());
  EXPECT_EQ(m->detectors_size(), 2);
  EXPECT_DOUBLE_EQ(m->performance().max_error_rate(), 0.2);
}

TEST(MonitorConfigTest, UpdateMaskKeepsTheOtherFields) {
  v1::Monitor current = DefaultMonitor("m");
  current.mutable_performance()->set_max_error_rate(0.3);
  v1::ConfigureMonitorRequest request;
  request.mutable_monitor()->set_disabled(true);
  request.mutable_monitor()->mutable_performance()->set_max_error_rate(0.9);
  request.mutable_update_mask()->add_paths("disabled");
  absl::StatusOr<v1::Monitor> m = ConfiguredMonitor(&current, request, "m");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->disabled());
  EXPECT_DOUBLE_EQ(m->performance().max_error_rate(), 0.3);
  // Without a current monitor, the default one is the base.
  m = ConfiguredMonitor(nullptr, request, "m");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->detectors_size(), 2);
  EXPECT_FALSE(m->performance().has_max_error_rate());
  // "detectors" with none given restores the default detectors.
  current.clear_detectors();
  request.mutable_update_mask()->set_paths(0, "detectors");
  m = ConfiguredMonitor(&current, request, "m");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->detectors_size(), 2);
  request.mutable_update_mask()->add_paths("name");
  EXPECT_THAT(ConfiguredMonitor(&current, request, "m").status().message(),
              HasSubstr("update_mask: unknown or unchangeable field 'name'"));
}

// Issue 14: a negative cool-down was stored.
TEST(MonitorConfigTest, DurationsMustBeValidAndNotNegative) {
  v1::ConfigureMonitorRequest request;
  request.mutable_monitor()->mutable_actions()->mutable_cooldown()->set_seconds(
      -3600);
  absl::Status s = ConfiguredMonitor(nullptr, request, "m").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "monitor.actions.cooldown: must not be negative (got -1h)");
  // Checked whether the update mask names the field or not.
  request.mutable_update_mask()->add_paths("disabled");
  EXPECT_EQ(ConfiguredMonitor(nullptr, request, "m").status().message(),
            "monitor.actions.cooldown: must not be negative (got -1h)");
  request.Clear();
  request.mutable_monitor()
      ->mutable_reference_tests()
      ->mutable_interval()
      ->set_seconds(-1);
  EXPECT_EQ(ConfiguredMonitor(nullptr, request, "m").status().message(),
            "monitor.reference_tests.interval: must not be negative (got -1s)");
  request.Clear();
  google::protobuf::Duration* interval =
      request.mutable_monitor()->mutable_canary_judgement()->mutable_interval();
  interval->set_seconds(5);
  interval->set_nanos(-1);
  EXPECT_EQ(ConfiguredMonitor(nullptr, request, "m").status().message(),
            "monitor.canary_judgement.interval: not a valid "
            "google.protobuf.Duration (seconds 5, nanos -1)");
  interval->set_seconds(0);
  interval->set_nanos(1'000'000'000);
  EXPECT_EQ(ConfiguredMonitor(nullptr, request, "m").status().code(),
            absl::StatusCode::kInvalidArgument);
  // Zero is allowed: no cool-down, judge at every batch.
  request.Clear();
  request.mutable_monitor()->mutable_actions()->mutable_cooldown();
  request.mutable_monitor()->mutable_canary_judgement()->mutable_interval();
  absl::StatusOr<v1::Monitor> m = ConfiguredMonitor(nullptr, request, "m");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->actions().has_cooldown());
  // The monitor's other errors are named from the request too.
  request.mutable_monitor()->mutable_performance()->set_max_error_rate(2);
  EXPECT_EQ(ConfiguredMonitor(nullptr, request, "m").status().message(),
            "monitor.performance.max_error_rate must be in [0, 1]");
}

TEST(MonitorConfigTest, StoredMonitorsAreCheckedAgain) {
  v1::Monitor stored = DefaultMonitor("m");
  EXPECT_TRUE(ValidateStoredMonitor("m", stored).ok());
  EXPECT_FALSE(stored.is_default());
  absl::Status other = ValidateStoredMonitor("n", stored);
  EXPECT_EQ(other.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(other.message(),
            "the stored monitor of model 'n' is no longer valid: it is named "
            "'models/m/monitor'");
  // A monitor stored before negative cool-downs were refused still loads
  // (a negative cool-down acts as none).
  stored.mutable_actions()->mutable_cooldown()->set_seconds(-5);
  EXPECT_TRUE(ValidateStoredMonitor("m", stored).ok());
  stored.mutable_detectors(0)->set_detector("gone");
  EXPECT_THAT(ValidateStoredMonitor("m", stored).message(),
              HasSubstr("the stored monitor of model 'm' is no longer valid: "
                        "detectors[0] (error_adwin)"));
}

TEST(MonitorConfigTest, WindowAndMinimumFallBackToDefaults) {
  v1::PerformanceThresholds p;
  EXPECT_EQ(WindowSizeOf(p), 500);
  EXPECT_EQ(MinOutcomesOf(p), 100);
  p.set_window_size(7);
  p.set_min_outcomes(3);
  EXPECT_EQ(WindowSizeOf(p), 7);
  EXPECT_EQ(MinOutcomesOf(p), 3);
}

}  // namespace
}  // namespace continuum::drift_service
