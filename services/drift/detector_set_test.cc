// A version's streaming detectors: built from the monitor, fed by signal,
// the alerts they raise and their status.
#include "services/drift/detector_set.h"

#include <gtest/gtest.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "services/drift/monitor_config.h"

namespace continuum::drift_service {
namespace {

v1::DetectorConfig Detector(const std::string& id, const std::string& name,
                            v1::MonitoredSignal signal, int feature = 0) {
  v1::DetectorConfig d;
  d.set_id(id);
  d.set_detector(name);
  d.set_signal(signal);
  d.set_feature_index(feature);
  d.set_drift_severity(v1::ALERT_SEVERITY_CRITICAL);
  return d;
}

class DetectorSetTest : public ::testing::Test {
 protected:
  DetectorSet::Context Context() {
    return {.model = "m", .version = 4, .clock = &clock_};
  }
  core::FakeClock clock_;
};

TEST_F(DetectorSetTest, AlertTypesFollowTheSignal) {
  EXPECT_EQ(AlertTypeOf(v1::MONITORED_SIGNAL_ERROR_RATE),
            v1::ALERT_TYPE_CONCEPT);
  EXPECT_EQ(AlertTypeOf(v1::MONITORED_SIGNAL_ERROR_VALUE),
            v1::ALERT_TYPE_CONCEPT);
  EXPECT_EQ(AlertTypeOf(v1::MONITORED_SIGNAL_PREDICTION),
            v1::ALERT_TYPE_PREDICTION);
  EXPECT_EQ(AlertTypeOf(v1::MONITORED_SIGNAL_FEATURE), v1::ALERT_TYPE_DATA);
}

TEST_F(DetectorSetTest, WatchedFeaturesOnceEachInDetectorOrder) {
  v1::Monitor monitor;
  *monitor.add_detectors() =
      Detector("a", "adwin", v1::MONITORED_SIGNAL_FEATURE, 3);
  *monitor.add_detectors() =
      Detector("b", "page_hinkley", v1::MONITORED_SIGNAL_FEATURE, 1);
  *monitor.add_detectors() =
      Detector("c", "kswin", v1::MONITORED_SIGNAL_FEATURE, 3);
  *monitor.add_detectors() =
      Detector("d", "adwin", v1::MONITORED_SIGNAL_PREDICTION);
  DetectorSet set;
  set.Build(monitor);
  EXPECT_EQ(set.WatchedFeatures(), (std::vector<int>{3, 1}));
}

TEST_F(DetectorSetTest, AJumpRaisesOneAlertWithTheDetectorsEstimate) {
  v1::Monitor monitor;
  *monitor.add_detectors() =
      Detector("jump", "adwin", v1::MONITORED_SIGNAL_FEATURE, 1);
  DetectorSet set;
  set.Build(monitor);
  std::vector<v1::Alert> alerts;
  for (int i = 0; i < 2000 && alerts.empty(); ++i) {
    // Feature 0 is not watched: nothing happens to it.
    set.Feed(Context(), v1::MONITORED_SIGNAL_FEATURE, 0, 1000.0, i, alerts);
    set.Feed(Context(), v1::MONITORED_SIGNAL_FEATURE, 1, i < 500 ? 0.0 : 10.0,
             i, alerts);
  }
  ASSERT_EQ(alerts.size(), 1u);
  const v1::Alert& a = alerts[0];
  EXPECT_EQ(a.model(), "m");
  EXPECT_EQ(a.version(), 4);
  EXPECT_EQ(a.type(), v1::ALERT_TYPE_DATA);
  EXPECT_EQ(a.severity(), v1::ALERT_SEVERITY_CRITICAL);
  EXPECT_EQ(a.detector(), "jump");
  EXPECT_EQ(a.feature_index(), 1);
  EXPECT_GE(a.observation_index(), 500);
  EXPECT_EQ(a.create_time().seconds(), 1'700'000'000);
  EXPECT_GT(a.statistic(), 0);  // ADWIN's estimation.
  EXPECT_EQ(a.message(),
            absl::StrCat("adwin drift on MONITORED_SIGNAL_FEATURE "
                         "feature 1 of version 4 at observation ",
                         a.observation_index()));
  google::protobuf::RepeatedPtrField<v1::DetectorStatus> status;
  set.AppendStatus(4, status);
  ASSERT_EQ(status.size(), 1);
  EXPECT_EQ(status[0].detector_id(), "jump");
  EXPECT_EQ(status[0].version(), 4);
  EXPECT_EQ(status[0].drift_count(), 1);
  EXPECT_EQ(status[0].last_drift_index(), a.observation_index());
  EXPECT_EQ(status[0].observations(), a.observation_index() + 1);
  EXPECT_TRUE(status[0].statistics().contains("estimation"));
}

TEST_F(DetectorSetTest, DefaultErrorAdwinFollowsErrorValues) {
  DetectorSet set;
  set.Build(DefaultMonitor("m"));
  std::vector<v1::Alert> alerts;
  set.Feed(Context(), v1::MONITORED_SIGNAL_ERROR_VALUE, -1, 0.5, 0, alerts);
  google::protobuf::RepeatedPtrField<v1::DetectorStatus> status;
  set.AppendStatus(4, status);
  EXPECT_EQ(status[0].observations(), 0);  // Still on ERROR_RATE.
  set.FollowErrorValues();
  set.Feed(Context(), v1::MONITORED_SIGNAL_ERROR_VALUE, -1, 0.5, 1, alerts);
  status.Clear();
  set.AppendStatus(4, status);
  EXPECT_EQ(status[0].signal(), v1::MONITORED_SIGNAL_ERROR_VALUE);
  EXPECT_EQ(status[0].observations(), 1);
}

TEST_F(DetectorSetTest, BuildOnceUntilCleared) {
  DetectorSet set;
  set.Build(DefaultMonitor("m"));
  v1::Monitor one;
  *one.add_detectors() = Detector("x", "adwin", v1::MONITORED_SIGNAL_PREDICTION);
  set.Build(one);  // Already built: unchanged.
  google::protobuf::RepeatedPtrField<v1::DetectorStatus> status;
  set.AppendStatus(1, status);
  EXPECT_EQ(status.size(), 2);
  set.Clear();
  set.Build(one);
  status.Clear();
  set.AppendStatus(1, status);
  ASSERT_EQ(status.size(), 1);
  EXPECT_EQ(status[0].detector_id(), "x");
}

}  // namespace
}  // namespace continuum::drift_service
