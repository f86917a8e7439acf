#include "services/registry/pod_reports.h"

#include <gtest/gtest.h>

#include <string>

namespace continuum::registry {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

v1::ReportServingStateRequest Report(const std::string& pod, bool ready,
                                     int64_t revision,
                                     int64_t rows_of_version_2 = 0) {
  v1::ReportServingStateRequest report;
  report.set_pod_id(pod);
  report.set_ready(ready);
  v1::ModelServingStatus* m = report.add_models();
  m->set_model("fraud");
  m->set_revision(revision);
  m->set_ready(ready);
  v1::VersionServingStatus* v = m->add_versions();
  v->set_version(2);
  v->set_rows_served(rows_of_version_2);
  return report;
}

TEST(PodReportsTest, ReadyPodsAreTheReadyOnesHeardFromLately) {
  PodReports pods;
  pods.Record(Report("inf-1", true, 7, 30), kNow);
  pods.Record(Report("inf-2", false, 6), kNow);
  std::map<std::string, std::vector<PodView>> ready = pods.ReadyPods(kNow);
  ASSERT_EQ(ready["fraud"].size(), 1u);
  EXPECT_EQ(ready["fraud"][0].revision, 7);
  EXPECT_EQ(ready["fraud"][0].rows_by_version.at(2), 30);
  // Silent for longer than kPodSilence: not counted.
  EXPECT_TRUE(pods.ReadyPods(kNow + kPodSilence + absl::Seconds(1)).empty());
  EXPECT_EQ(pods.ReadyPods(kNow + kPodSilence).size(), 1u);
}

TEST(PodReportsTest, ReadyPodsCarryTheVersionsTheyFailedToLoad) {
  PodReports pods;
  v1::ReportServingStateRequest report = Report("inf-1", true, 7);
  v1::VersionServingStatus* failed = report.mutable_models(0)->add_versions();
  failed->set_version(3);
  failed->set_state(v1::SERVING_STATE_FAILED);
  failed->set_reason("warm-up gave a non-finite output");
  pods.Record(report, kNow);
  const PodView view = pods.ReadyPods(kNow)["fraud"].at(0);
  EXPECT_EQ(view.pod_id, "inf-1");
  ASSERT_EQ(view.failed_versions.size(), 1u);
  EXPECT_EQ(view.failed_versions.at(3), "warm-up gave a non-finite output");
}

TEST(PodReportsTest, ASilentPodIsForgottenAtTheNextReport) {
  PodReports pods;
  pods.Record(Report("inf-1", true, 7), kNow);
  pods.Record(Report("inf-2", true, 7), kNow + absl::Seconds(31));
  v1::GetRolloutStatusResponse status;
  pods.AddRolloutStatus("fraud", &status);
  ASSERT_EQ(status.pods_size(), 1);
  EXPECT_EQ(status.pods(0).pod_id(), "inf-2");
}

TEST(PodReportsTest, RolloutStatusCountsPodsPerRevision) {
  PodReports pods;
  pods.Record(Report("inf-1", true, 7), kNow);
  pods.Record(Report("inf-2", false, 7), kNow);
  pods.Record(Report("inf-3", true, 8), kNow + absl::Seconds(2));
  v1::ReportServingStateRequest other = Report("inf-4", true, 9);
  other.mutable_models(0)->set_model("spam");
  pods.Record(other, kNow);
  v1::GetRolloutStatusResponse status;
  pods.AddRolloutStatus("fraud", &status);
  ASSERT_EQ(status.pods_size(), 3);
  EXPECT_EQ(status.pods(0).pod_id(), "inf-1");
  EXPECT_EQ(status.pods(2).report_time().seconds(),
            absl::ToUnixSeconds(kNow) + 2);
  ASSERT_EQ(status.revisions_size(), 2);
  EXPECT_EQ(status.revisions(0).revision(), 7);
  EXPECT_EQ(status.revisions(0).pods(), 2);
  EXPECT_EQ(status.revisions(0).ready_pods(), 1);
  EXPECT_EQ(status.revisions(1).revision(), 8);
  EXPECT_EQ(status.revisions(1).ready_pods(), 1);
}

}  // namespace
}  // namespace continuum::registry
