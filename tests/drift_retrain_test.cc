// A drifting stream into a monitored model triggers exactly one trainer run,
// end to end with real processes over loopback: continuum-registry,
// continuum-collector, continuum-trainer (wired to both) and continuum-drift
// (wired to the registry and the trainer).
//
// 1. A cold-start run of the trainer on 3000 synthetic rows (8 Gaussian
//    features, 2 classes) becomes production version 1; its bundle carries
//    the reference statistics of its training rows.
// 2. The model's monitor runs reference tests every second on the newest
//    300 observations (from 200), with the default action rules (DATA at
//    WARNING or above -> retrain) and a cool-down of one hour.
// 3. The test plays the inference pod: prediction observations of version 1
//    drawn from the training distribution produce a reference-test run of
//    at least 200 samples without data-set drift (so the drift service found
//    the reference in the version's bundle in the registry); no DATA alert,
//    no drift-triggered run.
// 4. The same stream with every feature shifted by 3 standard deviations
//    raises a DATA alert from `reference_tests` whose retrain action
//    succeeded; drifted batches go on until three more reference-test runs
//    have happened.
// 5. The trainer holds exactly one run triggered by drift, naming that
//    alert, beside the cold start; the drift service holds exactly one DATA
//    alert, with the drifted run in it. The retrain run, fed drifted
//    labelled rows through the collector, trains and uploads a candidate.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "continuum/v1/collector.grpc.pb.h"
#include "continuum/v1/drift.grpc.pb.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "continuum/v1/trainer.grpc.pb.h"
#include "tests/util/service_cluster.h"
#include "tests/util/subprocess.h"
#include "tests/util/trainer_runs.h"

namespace continuum {
namespace {

using ::continuum::testing::WaitFor;

constexpr char kModel[] = "synth";
constexpr int kFeatures = 8;
constexpr int kTrainRows = 3000;
constexpr int kDriftedTrainRows = 2000;  // Labelled rows for the retrain.
constexpr int kBatchRows = 40;           // Rows per observation batch.
constexpr int kWindow = 300;
constexpr int kMinSamples = 200;

std::chrono::system_clock::time_point Deadline(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

google::protobuf::Timestamp Proto(absl::Time t) {
  const int64_t micros = absl::ToUnixMicros(t);
  google::protobuf::Timestamp p;
  p.set_seconds(micros / 1'000'000);
  p.set_nanos(static_cast<int32_t>(micros % 1'000'000) * 1000);
  return p;
}

absl::Time FromProto(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// The data: feature j ~ N(mean_j, sd_j); the label is whether the
// standardised features with alternating signs sum above 0. Drifted rows
// shift every feature by +3 sd_j; with an even number of features the shift
// cancels in the sum, so the concept and the class balance stay.
double Mean(int j) { return j - 3.5; }
double Sd(int j) { return 0.5 + 0.25 * j; }

struct Row {
  std::vector<float> x;
  int label = 0;
  float confidence = 0.5f;
};

Row Draw(std::mt19937_64& rng, bool drifted) {
  std::normal_distribution<double> normal(0.0, 1.0);
  Row row;
  double score = 0;
  for (int j = 0; j < kFeatures; ++j) {
    const double z = normal(rng) + (drifted ? 3.0 : 0.0);
    row.x.push_back(static_cast<float>(Mean(j) + Sd(j) * z));
    score += (j % 2 == 0 ? 1.0 : -1.0) * z;
  }
  row.label = score > 0 ? 1 : 0;
  // What a good model would answer; the same distribution either way, so
  // the default Page-Hinkley on the confidence has nothing to see.
  row.confidence = static_cast<float>(0.5 + 0.5 * std::tanh(std::abs(score)));
  return row;
}

class DriftRetrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::Status s =
        cluster_.Start({"registry", "collector", "trainer", "drift"});
    ASSERT_TRUE(s.ok()) << s << cluster_.Logs();
  }

  void CreateDataset() {
    grpc::ClientContext context;
    context.set_deadline(Deadline(30));
    v1::CreateDatasetRequest request;
    request.set_dataset_id(kModel);
    v1::DatasetSchema* schema = request.mutable_dataset()->mutable_schema();
    schema->set_feature_dim(kFeatures);
    schema->set_label_kind(v1::LABEL_KIND_CLASS);
    schema->set_num_classes(2);
    v1::CreateDatasetResponse response;
    grpc::Status s =
        cluster_.collector().CreateDataset(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // `n` labelled rows with event times a microsecond apart from `base`,
  // ids `prefix`-i.
  void Ingest(std::mt19937_64& rng, bool drifted, int n,
              const std::string& prefix, absl::Time base) {
    for (int at = 0; at < n; at += 500) {
      v1::IngestBatchRequest request;
      request.set_dataset(kModel);
      for (int i = at; i < std::min(n, at + 500); ++i) {
        const Row row = Draw(rng, drifted);
        v1::Record* r = request.add_records();
        r->set_id(absl::StrCat(prefix, "-", i));
        *r->mutable_event_time() = Proto(base + absl::Microseconds(i));
        r->mutable_features()->Add(row.x.begin(), row.x.end());
        r->mutable_label()->set_class_index(row.label);
      }
      grpc::ClientContext context;
      context.set_deadline(Deadline(60));
      v1::IngestBatchResponse response;
      grpc::Status s =
          cluster_.collector().IngestBatch(&context, request, &response);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
  }

  void RegisterModel() {
    grpc::ClientContext context;
    context.set_deadline(Deadline(30));
    v1::RegisterModelRequest request;
    request.set_model_id(kModel);
    v1::Model* m = request.mutable_model();
    m->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    m->mutable_spec()->add_hidden_sizes(16);  // 8-16-2.
    m->mutable_rollout_plan()->mutable_immediate();
    // The false-positive-rate gate reads class 0 as benign; these classes
    // are symmetric, so it is off (negative disables).
    m->mutable_validation_policy()->set_max_false_positive_rate(-1);
    v1::RegisterModelResponse response;
    grpc::Status s =
        cluster_.registry().RegisterModel(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  void ConfigureTraining() {
    grpc::ClientContext context;
    context.set_deadline(Deadline(30));
    v1::ConfigureTrainingRequest request;
    v1::TrainingConfig* c = request.mutable_config();
    c->set_name(absl::StrCat("models/", kModel, "/trainingConfig"));
    c->mutable_optimizer()->set_learning_rate(1e-2);
    c->set_epochs(5);
    c->set_seed(7);
    v1::ConfigureTrainingResponse response;
    grpc::Status s =
        cluster_.trainer().ConfigureTraining(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  v1::Run WaitEnded(const std::string& name, absl::Duration timeout) {
    absl::StatusOr<v1::Run> run =
        testing::WaitRunEnded(cluster_.trainer(), name, timeout);
    EXPECT_TRUE(run.ok()) << run.status() << cluster_.Logs();
    return run.value_or(v1::Run());
  }

  std::vector<v1::Run> ListRuns() {
    grpc::ClientContext context;
    context.set_deadline(Deadline(10));
    v1::ListRunsRequest request;
    request.set_parent(absl::StrCat("models/", kModel));
    request.set_page_size(1000);
    v1::ListRunsResponse response;
    grpc::Status s = cluster_.trainer().ListRuns(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_TRUE(response.next_page_token().empty());
    return {response.runs().begin(), response.runs().end()};
  }

  static int DriftRuns(const std::vector<v1::Run>& runs) {
    return static_cast<int>(std::count_if(
        runs.begin(), runs.end(),
        [](const v1::Run& r) { return r.trigger() == v1::RUN_TRIGGER_DRIFT; }));
  }

  int64_t ProductionVersion() {
    absl::StatusOr<int64_t> v = cluster_.ProductionVersion(kModel);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : -1;
  }

  void ConfigureMonitor() {
    grpc::ClientContext context;
    context.set_deadline(Deadline(10));
    v1::ConfigureMonitorRequest request;
    v1::Monitor* m = request.mutable_monitor();
    m->set_name(absl::StrCat("models/", kModel, "/monitor"));
    // No detectors named: the defaults (error_adwin, which sees no
    // outcomes here, and Page-Hinkley on the confidence, whose distribution
    // does not change).
    v1::ReferenceTestConfig* tests = m->mutable_reference_tests();
    tests->mutable_interval()->set_seconds(1);
    tests->set_window_size(kWindow);
    tests->set_min_samples(kMinSamples);
    // No rules: the defaults (DATA at WARNING or above -> retrain).
    m->mutable_actions()->mutable_cooldown()->set_seconds(3600);
    v1::ConfigureMonitorResponse response;
    grpc::Status s =
        cluster_.drift().ConfigureMonitor(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(response.monitor().reference_tests().window_size(), kWindow);
    EXPECT_EQ(response.monitor().reference_tests().min_samples(), kMinSamples);
    EXPECT_EQ(response.monitor().actions().cooldown().seconds(), 3600);
    EXPECT_FALSE(response.monitor().reference_tests().disabled());
  }

  // One batch of version 1's predictions, as the inference pod sends them.
  v1::ObservationBatch Batch(std::mt19937_64& rng, bool drifted) {
    v1::ObservationBatch batch;
    batch.set_model(kModel);
    batch.set_version(1);
    batch.set_kind(v1::OBSERVATION_KIND_PREDICTION);
    batch.set_num_rows(kBatchRows);
    batch.set_feature_dim(kFeatures);
    for (int r = 0; r < kBatchRows; ++r) {
      const Row row = Draw(rng, drifted);
      batch.mutable_features()->Add(row.x.begin(), row.x.end());
      batch.add_predicted_classes(row.label);
      batch.add_confidences(row.confidence);
    }
    return batch;
  }

  // Sends one batch in its own Observe stream, so it has been processed
  // when this returns.
  absl::Status Observe(const v1::ObservationBatch& batch) {
    absl::StatusOr<v1::ObserveResponse> response = cluster_.Observe(batch);
    if (!response.ok()) return response.status();
    observed_ += response->observations();
    return absl::OkStatus();
  }

  absl::StatusOr<v1::GetDriftStatusResponse> DriftStatus() {
    return cluster_.DriftStatus(kModel);
  }

  // Version 1's latest reference-test run in `status`, or nullptr.
  static const v1::ReferenceTestRun* LatestRun(
      const v1::GetDriftStatusResponse& status) {
    for (const v1::ReferenceTestRun& r : status.reference_tests()) {
      if (r.version() == 1) return &r;
    }
    return nullptr;
  }

  std::vector<v1::Alert> ListAlerts(const std::string& filter) {
    absl::StatusOr<std::vector<v1::Alert>> alerts =
        cluster_.Alerts(kModel, filter);
    EXPECT_TRUE(alerts.ok()) << alerts.status();
    return alerts.ok() ? *alerts : std::vector<v1::Alert>();
  }

  // What the drift service shows, for failure messages.
  std::string DriftState() {
    std::string out = cluster_.DriftDump(kModel);
    absl::StrAppend(&out, "\n--- trainer runs ---\n");
    for (const v1::Run& r : ListRuns()) {
      absl::StrAppend(&out, r.name(), " ", v1::RunTrigger_Name(r.trigger()),
                      " ", v1::RunState_Name(r.state()), " alert=", r.alert(),
                      " reason=", r.reason(), "\n");
    }
    absl::StrAppend(&out, "observations sent: ", observed_, "\n");
    return out;
  }

  testing::ServiceCluster cluster_{CONTINUUM_BIN_DIR, "drift_retrain_"};
  int64_t observed_ = 0;
};

TEST_F(DriftRetrainTest, ADriftingStreamTriggersExactlyOneTrainerRun) {
  const absl::Time t0 = absl::Now();

  // 1. A cold start trained by the trainer becomes production version 1.
  std::mt19937_64 train_rng(1);
  ASSERT_NO_FATAL_FAILURE(CreateDataset());
  ASSERT_NO_FATAL_FAILURE(Ingest(train_rng, /*drifted=*/false, kTrainRows,
                                 "train", absl::Now() - absl::Hours(1)));
  ASSERT_NO_FATAL_FAILURE(RegisterModel());
  ASSERT_NO_FATAL_FAILURE(ConfigureTraining());
  v1::Run cold;
  {
    grpc::ClientContext context;
    context.set_deadline(Deadline(30));
    v1::TriggerRunRequest trigger;
    trigger.set_parent(absl::StrCat("models/", kModel));
    trigger.set_reason("first model");
    v1::TriggerRunResponse triggered;
    grpc::Status s =
        cluster_.trainer().TriggerRun(&context, trigger, &triggered);
    ASSERT_TRUE(s.ok()) << s.error_message();
    cold = WaitEnded(triggered.run().name(), absl::Seconds(60));
  }
  ASSERT_EQ(cold.state(), v1::RUN_STATE_SUCCEEDED)
      << cold.DebugString() << cluster_.Logs();
  EXPECT_TRUE(cold.cold_start());
  ASSERT_EQ(cold.candidate_version().version(), 1);
  ASSERT_EQ(ProductionVersion(), 1);
  const absl::Time t1 = absl::Now();
  std::cout << "setup and cold start: " << absl::FormatDuration(t1 - t0)
            << " (held-out accuracy " << cold.candidate_metrics().accuracy()
            << ")\n";

  // 2. The monitor.
  ASSERT_NO_FATAL_FAILURE(ConfigureMonitor());

  // 3. In-distribution predictions: a reference-test run without drift.
  std::mt19937_64 live_rng(2);
  absl::Status last_observe;
  v1::ReferenceTestRun quiet;
  bool got_quiet = WaitFor(
      [&] {
        last_observe = Observe(Batch(live_rng, /*drifted=*/false));
        if (!last_observe.ok()) return false;
        auto status = DriftStatus();
        if (!status.ok()) return false;
        const v1::ReferenceTestRun* run = LatestRun(*status);
        if (run == nullptr || run->sample_count() < kMinSamples) return false;
        quiet = *run;
        return true;
      },
      absl::Seconds(30));
  ASSERT_TRUE(got_quiet) << "no reference-test run of version 1 with "
                         << kMinSamples
                         << " samples; last Observe: " << last_observe
                         << DriftState() << cluster_.Logs();
  const absl::Time t2 = absl::Now();
  std::cout << "first reference-test run: " << absl::FormatDuration(t2 - t1)
            << " after the monitor was configured, " << observed_
            << " observations sent\n";
  EXPECT_FALSE(quiet.dataset_drifted()) << quiet.DebugString();
  EXPECT_LE(quiet.sample_count(), kWindow);
  EXPECT_EQ(quiet.drifted_features(), 0) << quiet.DebugString();
  // Every feature tested: the reference has the training data's 8.
  std::set<int> tested;
  for (const v1::FeatureTestResult& r : quiet.results()) {
    tested.insert(r.feature_index());
  }
  EXPECT_EQ(tested.size(), static_cast<size_t>(kFeatures))
      << quiet.DebugString();
  EXPECT_TRUE(ListAlerts("type = ALERT_TYPE_DATA").empty()) << DriftState();
  EXPECT_EQ(DriftRuns(ListRuns()), 0) << DriftState();

  // 4. Drifted predictions. First the drifted rows reach the collector
  // (labelled, as they would be later), so that the retrain has them.
  std::mt19937_64 drifted_train_rng(3);
  ASSERT_NO_FATAL_FAILURE(Ingest(drifted_train_rng, /*drifted=*/true,
                                 kDriftedTrainRows, "drifted",
                                 absl::Now() - absl::Milliseconds(100)));
  v1::Alert alert;
  bool alerted = WaitFor(
      [&] {
        last_observe = Observe(Batch(live_rng, /*drifted=*/true));
        if (!last_observe.ok()) return false;
        for (const v1::Alert& a : ListAlerts("type = ALERT_TYPE_DATA")) {
          if (a.action_result().action() == v1::DRIFT_ACTION_TRIGGER_RETRAIN &&
              a.action_result().succeeded()) {
            alert = a;
            return true;
          }
        }
        return false;
      },
      absl::Seconds(30));
  ASSERT_TRUE(alerted) << "no DATA alert with a successful retrain; last "
                          "Observe: "
                       << last_observe << DriftState() << cluster_.Logs();
  const absl::Time t3 = absl::Now();
  std::cout << "DATA alert with its retrain: " << absl::FormatDuration(t3 - t2)
            << " after the drift began (" << alert.name() << ", "
            << alert.message() << ")\n";

  // Three more reference-test runs of the drifted stream.
  absl::Time since = FromProto(alert.create_time());
  if (alert.has_reference_test()) {
    since = std::max(since, FromProto(alert.reference_test().run_time()));
  }
  std::set<absl::Time> later_runs;
  bool later_drifted = true;
  bool ran_on = WaitFor(
      [&] {
        last_observe = Observe(Batch(live_rng, /*drifted=*/true));
        if (!last_observe.ok()) return false;
        auto status = DriftStatus();
        if (!status.ok()) return false;
        const v1::ReferenceTestRun* run = LatestRun(*status);
        if (run != nullptr && FromProto(run->run_time()) > since &&
            later_runs.insert(FromProto(run->run_time())).second) {
          later_drifted &= run->dataset_drifted();
        }
        return later_runs.size() >= 3;
      },
      absl::Seconds(30));
  ASSERT_TRUE(ran_on) << "only " << later_runs.size()
                      << " reference-test runs after the alert; last "
                         "Observe: "
                      << last_observe << DriftState() << cluster_.Logs();
  EXPECT_TRUE(later_drifted) << DriftState();
  const absl::Time t4 = absl::Now();
  std::cout << "three more reference-test runs: "
            << absl::FormatDuration(t4 - t3) << ", " << observed_
            << " observations sent in all\n";

  // 5. One DATA alert, one drift-triggered run.
  const std::vector<v1::Alert> data_alerts =
      ListAlerts("type = ALERT_TYPE_DATA");
  ASSERT_EQ(data_alerts.size(), 1u) << DriftState();
  const v1::Alert& a = data_alerts[0];
  EXPECT_EQ(a.name(), alert.name());
  EXPECT_EQ(a.model(), kModel);
  EXPECT_EQ(a.version(), 1);
  EXPECT_EQ(a.detector(), "reference_tests");
  EXPECT_EQ(a.feature_index(), -1);
  EXPECT_GE(a.severity(), v1::ALERT_SEVERITY_WARNING);
  EXPECT_EQ(a.action_result().action(), v1::DRIFT_ACTION_TRIGGER_RETRAIN);
  EXPECT_TRUE(a.action_result().succeeded()) << a.DebugString();
  EXPECT_FALSE(a.action_result().suppressed_by_cooldown());
  EXPECT_FALSE(a.action_result().dry_run());
  ASSERT_TRUE(a.has_reference_test()) << a.DebugString();
  EXPECT_EQ(a.reference_test().version(), 1);
  EXPECT_TRUE(a.reference_test().dataset_drifted()) << a.DebugString();
  EXPECT_GT(a.reference_test().drifted_share(), 0.5) << a.DebugString();
  EXPECT_GE(a.reference_test().sample_count(), kMinSamples);
  EXPECT_LE(a.reference_test().sample_count(), kWindow);

  // No other alert asked for anything: every other alert's action is NONE
  // (or suppressed).
  for (const v1::Alert& other : ListAlerts("")) {
    if (other.name() == a.name()) continue;
    EXPECT_TRUE(other.action_result().action() == v1::DRIFT_ACTION_NONE ||
                other.action_result().action() ==
                    v1::DRIFT_ACTION_UNSPECIFIED ||
                other.action_result().suppressed_by_cooldown())
        << other.DebugString();
  }

  std::cout << "action: " << a.action_result().ShortDebugString() << "\n";

  const std::vector<v1::Run> runs = ListRuns();
  ASSERT_EQ(DriftRuns(runs), 1) << DriftState();
  EXPECT_EQ(runs.size(), 2u) << DriftState();  // The cold start and it.
  v1::Run retrain;
  for (const v1::Run& r : runs) {
    if (r.trigger() == v1::RUN_TRIGGER_DRIFT) retrain = r;
  }
  EXPECT_EQ(retrain.alert(), a.name());
  EXPECT_EQ(a.action_result().target(), retrain.name());
  EXPECT_FALSE(retrain.reason().empty());
  EXPECT_EQ(retrain.coalesced_triggers(), 0);
  std::cout << "retrain run " << retrain.name() << ": reason \""
            << retrain.reason() << "\", actor \"" << retrain.actor() << "\"\n";

  // The retrain trains on the drifted rows and uploads a candidate.
  retrain = WaitEnded(retrain.name(), absl::Seconds(60));
  std::cout << "retrain ended " << v1::RunState_Name(retrain.state())
            << " after " << absl::FormatDuration(absl::Now() - t4)
            << ": candidate version " << retrain.candidate_version().version()
            << ", " << retrain.train_records() << " train + "
            << retrain.holdout_records() << " held-out rows, accuracy "
            << retrain.candidate_metrics().accuracy() << " (production "
            << retrain.production_metrics().accuracy() << ")\n";
  EXPECT_TRUE(retrain.state() == v1::RUN_STATE_SUCCEEDED ||
              retrain.state() == v1::RUN_STATE_REJECTED)
      << retrain.DebugString() << cluster_.Logs();
  EXPECT_FALSE(retrain.cold_start());
  EXPECT_EQ(retrain.parent_version().version(), 1);
  EXPECT_EQ(retrain.candidate_version().version(), 2);
  // Still one drift-triggered run, one DATA alert.
  EXPECT_EQ(DriftRuns(ListRuns()), 1) << DriftState();
  EXPECT_EQ(ListAlerts("type = ALERT_TYPE_DATA").size(), 1u) << DriftState();
  std::cout << "whole test: " << absl::FormatDuration(absl::Now() - t0) << "\n";
}

}  // namespace
}  // namespace continuum
