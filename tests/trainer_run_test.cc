// The trainer against real registry and collector processes, all three as
// separate processes over loopback, on real Fashion-MNIST rows:
// - a cold start (no production version yet) trains a 784-64-10 MLP on
//   3000 labelled rows and uploads it with its lineage and validation
//   report; the registry validates it (default gates) and makes it the
//   production version; held-out accuracy is well above chance;
// - a run whose loss diverges (SGD at learning rate 1e30) ends FAILED,
//   uploads nothing, and production stays;
// - a run cancelled in the middle of training (seen through WatchRun) ends
//   CANCELLED and registers nothing;
// - a trainer killed with SIGKILL during training and restarted on the same
//   data directory shows that run FAILED "interrupted by a trainer
//   restart", and a new run then succeeds (incremental, from production).
// Each test registers its own model over the one shared data set, so every
// test stands alone (in any order, filtered or shuffled); those that need a
// production version cold-start their model first.
// Skipped when Debian's dataset-fashion-mnist package is not installed
// (any other error loading it fails the tests).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "continuum/v1/collector.grpc.pb.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "continuum/v1/trainer.grpc.pb.h"
#include "lib/data/fashion_mnist.h"
#include "tests/util/labelled_images.h"
#include "tests/util/subprocess.h"
#include "tests/util/trainer_runs.h"

namespace continuum {
namespace {

using ::continuum::testing::Subprocess;
using ::continuum::testing::WaitFor;

constexpr int kRows = 3000;
// The data set every test's model learns from.
constexpr char kDataset[] = "fmnist";

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

// The three processes and the ingested data set, shared by the tests of the
// suite; each test works on a model of its own.
class Cluster {
 public:
  Cluster() : dir_(testing::MakeTempDir("trainer_run_")) {}
  ~Cluster() { std::filesystem::remove_all(dir_); }

  absl::Status Start() {
    if (absl::Status s = StartOne("registry", {}, &registry_, &registry_port_);
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            StartOne("collector", {}, &collector_, &collector_port_);
        !s.ok()) {
      return s;
    }
    registry_stub_ = v1::RegistryService::NewStub(grpc::CreateChannel(
        Target(registry_port_), grpc::InsecureChannelCredentials()));
    collector_stub_ = v1::CollectorService::NewStub(grpc::CreateChannel(
        Target(collector_port_), grpc::InsecureChannelCredentials()));
    return StartTrainer();
  }

  absl::Status StartTrainer() {
    std::filesystem::remove(dir_ + "/trainer.metrics.port");
    absl::Status s = StartOne(
        "trainer",
        {absl::StrCat("--config_text=registry_address: \"",
                      Target(registry_port_), "\" collector_address: \"",
                      Target(collector_port_), "\""),
         "--metrics_listen=127.0.0.1:0",
         "--metrics_port_file=" + dir_ + "/trainer.metrics.port"},
        &trainer_, &trainer_port_);
    if (!s.ok()) return s;
    trainer_stub_ = v1::TrainerService::NewStub(grpc::CreateChannel(
        Target(trainer_port_), grpc::InsecureChannelCredentials()));
    return absl::OkStatus();
  }

  void KillTrainer() {
    ASSERT_TRUE(trainer_->Signal(SIGKILL).ok());
    ASSERT_TRUE(trainer_->Wait(absl::Seconds(30)).ok());
    trainer_.reset();
  }

  int TrainerMetricsPort() {
    auto text = testing::ReadFile(dir_ + "/trainer.metrics.port");
    return text.ok() ? std::atoi(text->c_str()) : 0;
  }

  std::string TrainerTarget() const { return Target(trainer_port_); }
  const std::string& dir() const { return dir_; }

  std::string TrainerStderr() { return trainer_ ? trainer_->ReadStderr() : ""; }

  v1::RegistryService::Stub& registry() { return *registry_stub_; }
  v1::CollectorService::Stub& collector() { return *collector_stub_; }
  v1::TrainerService::Stub& trainer() { return *trainer_stub_; }

 private:
  static std::string Target(int port) {
    return absl::StrCat("127.0.0.1:", port);
  }

  absl::Status StartOne(const std::string& name,
                        const std::vector<std::string>& extra,
                        std::unique_ptr<Subprocess>* process, int* port) {
    auto p = testing::StartService(CONTINUUM_BIN_DIR, name, dir_, extra, port,
                                   absl::StrCat(name, ++starts_));
    if (!p.ok()) return p.status();
    *process = *std::move(p);
    return absl::OkStatus();
  }

  std::string dir_;
  int starts_ = 0;
  std::unique_ptr<Subprocess> registry_, collector_, trainer_;
  int registry_port_ = 0, collector_port_ = 0, trainer_port_ = 0;
  std::unique_ptr<v1::RegistryService::Stub> registry_stub_;
  std::unique_ptr<v1::CollectorService::Stub> collector_stub_;
  std::unique_ptr<v1::TrainerService::Stub> trainer_stub_;
};

class TrainerRunTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto images =
        data::LoadFashionMnist(data::FashionMnistSplit::kTrain, kRows);
    if (absl::IsNotFound(images.status())) {
      skip_reason_ = new std::string(images.status().ToString());
      return;
    }
    ASSERT_TRUE(images.ok()) << images.status();
    cluster_ = new Cluster();
    absl::Status s = cluster_->Start();
    ASSERT_TRUE(s.ok()) << s;
    const absl::Time t0 = absl::Now();
    ASSERT_NO_FATAL_FAILURE(CreateDataset());
    ASSERT_NO_FATAL_FAILURE(Ingest(*images));
    std::cout << "setup (3 processes, " << kRows
              << " rows ingested): " << absl::FormatDuration(absl::Now() - t0)
              << "\n";
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    if (skip_reason_ != nullptr) GTEST_SKIP() << *skip_reason_;
    ASSERT_NE(cluster_, nullptr) << "the suite's set-up failed";
  }

  // Registers `model` (a 784-64-10 MLP learning from kDataset) with its
  // training configuration; with `cold_start`, also trains version 1 and
  // waits until it is production.
  static void SetUpModel(const std::string& model, bool cold_start) {
    ASSERT_NO_FATAL_FAILURE(RegisterModel(model));
    ASSERT_NO_FATAL_FAILURE(Configure(model));
    if (!cold_start) return;
    v1::Run run = Trigger(model, v1::TrainingConfig(), {}, "first model");
    ASSERT_FALSE(run.name().empty());
    run = WaitEnded(run.name());
    ASSERT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED)
        << run.DebugString() << cluster_->TrainerStderr();
    ASSERT_EQ(GetModel(model).production_version(), 1);
  }

  static void CreateDataset() {
    absl::Status s =
        testing::CreateImageDataset(cluster_->collector(), kDataset);
    ASSERT_TRUE(s.ok()) << s;
  }

  static void Ingest(const data::LabeledImages& images) {
    // Event times in the last hour, a millisecond apart.
    absl::Status s = testing::IngestLabelledImages(
        cluster_->collector(), kDataset, images, 0, images.size(),
        absl::Now() - absl::Hours(1), "fm-");
    ASSERT_TRUE(s.ok()) << s;
  }

  static void RegisterModel(const std::string& model) {
    grpc::ClientContext context;
    context.set_deadline(Deadline(30));
    v1::RegisterModelRequest request;
    request.set_model_id(model);
    v1::Model* m = request.mutable_model();
    m->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    // input_dim and output_dim come from the data set's schema.
    m->mutable_spec()->add_hidden_sizes(64);
    // The default validation policy (its false-positive-rate gate is
    // skipped for a 10-class model: no class is benign; lib/model leaves
    // the rate unset), but for the adaptation gate: every run here trains
    // on the window production was trained on (the same rows and held-out
    // split), where no gain over production is to be expected.
    // tests/continual_learning_test covers the gates on new windows.
    m->mutable_validation_policy()->set_min_held_out_gain_points(-100);
    v1::RegisterModelResponse response;
    grpc::Status s =
        cluster_->registry().RegisterModel(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  static void Configure(const std::string& model) {
    grpc::ClientContext context;
    context.set_deadline(Deadline(30));
    v1::ConfigureTrainingRequest request;
    v1::TrainingConfig* c = request.mutable_config();
    c->set_name(absl::StrCat("models/", model, "/trainingConfig"));
    if (model != kDataset) c->set_dataset(kDataset);
    c->mutable_optimizer()->set_learning_rate(1e-3);
    c->set_epochs(2);
    c->set_seed(42);  // The same held-out rows in every run.
    v1::ConfigureTrainingResponse response;
    grpc::Status s =
        cluster_->trainer().ConfigureTraining(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(response.config().dataset(), kDataset);
  }

  // A manual trigger over the whole ingested window, with overrides.
  static v1::Run Trigger(const std::string& model,
                         const v1::TrainingConfig& overrides,
                         const std::vector<std::string>& paths,
                         const std::string& reason) {
    grpc::ClientContext context;
    context.set_deadline(Deadline(30));
    v1::TriggerRunRequest request;
    request.set_parent(absl::StrCat("models/", model));
    request.set_trigger(v1::RUN_TRIGGER_MANUAL);
    request.set_reason(reason);
    *request.mutable_overrides() = overrides;
    for (const std::string& p : paths)
      request.mutable_override_mask()->add_paths(p);
    *request.mutable_data_window()->mutable_start_time() =
        Proto(absl::Now() - absl::Hours(24));
    *request.mutable_data_window()->mutable_end_time() = Proto(absl::Now());
    v1::TriggerRunResponse response;
    grpc::Status s =
        cluster_->trainer().TriggerRun(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.run();
  }

  static absl::StatusOr<v1::Run> GetRun(const std::string& name) {
    return testing::GetRun(cluster_->trainer(), name);
  }

  // Polls GetRun until the run ends (at most `timeout`).
  static v1::Run WaitEnded(const std::string& name,
                           absl::Duration timeout = absl::Seconds(90)) {
    absl::StatusOr<v1::Run> run =
        testing::WaitRunEnded(cluster_->trainer(), name, timeout);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.value_or(v1::Run());
  }

  // Reads WatchRun until a progress message shows training under way.
  static bool WatchUntilTraining(const std::string& name) {
    return testing::WatchUntilTraining(cluster_->trainer(), name);
  }

  static v1::Model GetModel(const std::string& model) {
    grpc::ClientContext context;
    context.set_deadline(Deadline(10));
    v1::GetModelRequest request;
    request.set_name(absl::StrCat("models/", model));
    v1::GetModelResponse response;
    grpc::Status s =
        cluster_->registry().GetModel(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.model();
  }

  static std::vector<v1::Version> Versions(const std::string& model) {
    grpc::ClientContext context;
    context.set_deadline(Deadline(10));
    v1::ListVersionsRequest request;
    request.set_parent(absl::StrCat("models/", model));
    v1::ListVersionsResponse response;
    grpc::Status s =
        cluster_->registry().ListVersions(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {response.versions().begin(), response.versions().end()};
  }

  // The overrides of a run that trains far longer than the test waits.
  static v1::Run TriggerLongRun(const std::string& model,
                                const std::string& reason) {
    v1::TrainingConfig o;
    o.set_epochs(1000);
    o.mutable_early_stopping()->set_disabled(true);
    return Trigger(model, o, {"epochs", "early_stopping.disabled"}, reason);
  }

  static Cluster* cluster_;
  static std::string* skip_reason_;
};

Cluster* TrainerRunTest::cluster_ = nullptr;
std::string* TrainerRunTest::skip_reason_ = nullptr;

TEST_F(TrainerRunTest, ColdStartRunIsValidatedAndBecomesProduction) {
  const std::string kModel = "fmnist";
  ASSERT_NO_FATAL_FAILURE(SetUpModel(kModel, /*cold_start=*/false));
  const absl::Time t0 = absl::Now();
  grpc::ClientContext context;
  context.set_deadline(Deadline(30));
  v1::TriggerRunRequest trigger;
  trigger.set_parent(absl::StrCat("models/", kModel));
  trigger.set_reason("first model");
  v1::TriggerRunResponse triggered;
  grpc::Status s =
      cluster_->trainer().TriggerRun(&context, trigger, &triggered);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::string name = triggered.run().name();
  EXPECT_EQ(name, absl::StrCat("models/", kModel, "/runs/1"));

  // Follow it with WatchRun to the end.
  grpc::ClientContext watch_context;
  watch_context.set_deadline(Deadline(120));
  v1::WatchRunRequest watch;
  watch.set_name(name);
  auto reader = cluster_->trainer().WatchRun(&watch_context, watch);
  v1::WatchRunResponse message;
  int messages = 0;
  bool saw_training = false;
  v1::Run last;
  while (reader->Read(&message)) {
    if (messages++ == 0) {
      EXPECT_TRUE(message.has_run());
    }
    saw_training |= message.progress().phase() == v1::RUN_PHASE_TRAINING;
    if (message.has_run()) last = message.run();
  }
  grpc::Status watch_status = reader->Finish();
  EXPECT_TRUE(watch_status.ok()) << watch_status.error_message();
  EXPECT_TRUE(saw_training);
  std::cout << "cold start run: " << absl::FormatDuration(absl::Now() - t0)
            << ", " << messages << " WatchRun messages\n";

  ASSERT_EQ(last.state(), v1::RUN_STATE_SUCCEEDED)
      << last.DebugString() << cluster_->TrainerStderr();
  EXPECT_TRUE(last.cold_start());
  EXPECT_EQ(last.parent_version().version(), 0);
  EXPECT_EQ(last.candidate_version().version(), 1);
  EXPECT_EQ(last.train_records() + last.holdout_records(), kRows);
  EXPECT_EQ(last.holdout_records(), kRows / 10);
  EXPECT_GT(last.replay_records(), 0);
  EXPECT_TRUE(last.decision().approved()) << last.decision().DebugString();
  EXPECT_GT(last.candidate_metrics().accuracy(), 0.6);
  std::cout << "held-out accuracy " << last.candidate_metrics().accuracy()
            << ", loss " << last.candidate_metrics().loss() << "\n";

  // The registry holds it with its lineage and report, in production (the
  // first version of a model goes straight to production).
  std::vector<v1::Version> versions = Versions(kModel);
  ASSERT_EQ(versions.size(), 1u);
  const v1::Version& v = versions[0];
  EXPECT_EQ(v.state(), v1::VERSION_STATE_PRODUCTION);
  EXPECT_EQ(v.run(), name);
  EXPECT_EQ(v.parent().version(), 0);
  EXPECT_TRUE(v.has_data_window());
  EXPECT_EQ(v.hyperparameters().at("epochs"), "2");
  EXPECT_EQ(v.hyperparameters().at("seed"), "42");
  EXPECT_TRUE(absl::StartsWith(v.code_version(), "continuum-trainer"));
  EXPECT_EQ(v.manifest().spec().input_dim(), 784);
  EXPECT_EQ(v.manifest().spec().output_dim(), 10);
  ASSERT_GE(v.validation().report().evaluations_size(), 1);
  const v1::Evaluation& held_out = v.validation().report().evaluations(0);
  EXPECT_EQ(held_out.evaluation_set(), "held_out");
  EXPECT_GT(held_out.candidate().accuracy(), 0.6);
  EXPECT_EQ(held_out.candidate().sample_count(), kRows / 10);
  EXPECT_EQ(GetModel(kModel).production_version(), 1);

  // Metrics.
  const int port = cluster_->TrainerMetricsPort();
  ASSERT_GT(port, 0);
  auto text = testing::HttpGet("127.0.0.1", port, "/metrics");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(testing::FindSample(*text, "continuum_trainer_runs_total",
                                {"model=\"fmnist\"", "outcome=\"succeeded\""}),
            1.0);
  EXPECT_GT(testing::FindSample(*text, "continuum_trainer_candidate_accuracy",
                                {"model=\"fmnist\""})
                .value_or(0),
            0.6);
}

TEST_F(TrainerRunTest, ContinuumctlShowsRunsAndControlsTheSchedule) {
  const std::string kModel = "ctl";
  ASSERT_NO_FATAL_FAILURE(SetUpModel(kModel, /*cold_start=*/true));
  auto ctl = [](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {
        absl::StrCat(CONTINUUM_BIN_DIR, "/continuumctl"), "trainer"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--target=" + cluster_->TrainerTarget());
    return testing::RunCommand(argv, cluster_->dir(), "ctl");
  };
  testing::CommandResult runs = ctl({"runs", kModel});
  ASSERT_EQ(runs.exit_code, 0) << runs.err;
  EXPECT_NE(runs.out.find("models/ctl/runs/1"), std::string::npos) << runs.out;
  EXPECT_NE(runs.out.find("SUCCEEDED"), std::string::npos) << runs.out;
  testing::CommandResult run = ctl({"run", "ctl/1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("cold start"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("candidate   1"), std::string::npos) << run.out;
  // A second run right after the first has no new records: it is skipped
  // saying why and how to give the window; --from gives it.
  testing::CommandResult again = ctl({"trigger", kModel, "--wait"});
  EXPECT_EQ(again.exit_code, 1) << again.out << again.err;
  EXPECT_NE(again.out.find("starts where the last successful run's ended"),
            std::string::npos)
      << again.out;
  testing::CommandResult from = ctl(
      {"trigger", kModel, "--wait", "--epochs=1", "--from=2000-01-01T00:00:00Z"});
  EXPECT_EQ(from.exit_code, 0) << from.out << from.err;
  EXPECT_NE(from.out.find("SUCCEEDED"), std::string::npos) << from.out;
  EXPECT_NE(from.out.find("2000-01-01"), std::string::npos) << from.out;
  testing::CommandResult bad_time =
      ctl({"trigger", kModel, "--from=yesterday"});
  EXPECT_EQ(bad_time.exit_code, 2) << bad_time.err;
  testing::CommandResult cancel = ctl({"cancel", "ctl/1"});
  EXPECT_EQ(cancel.exit_code, 1);
  EXPECT_NE(cancel.err.find("already ended: RUN_STATE_SUCCEEDED"),
            std::string::npos)
      << cancel.err;
  testing::CommandResult pause = ctl({"pause", kModel, "--reason=holiday"});
  ASSERT_EQ(pause.exit_code, 0) << pause.err;
  EXPECT_NE(pause.out.find("paused (holiday)"), std::string::npos)
      << pause.out;
  testing::CommandResult resume = ctl({"resume", kModel});
  ASSERT_EQ(resume.exit_code, 0) << resume.err;
  EXPECT_NE(resume.out.find("schedule running"), std::string::npos)
      << resume.out;
  testing::CommandResult unknown = ctl({"runs", "nope"});
  EXPECT_EQ(unknown.exit_code, 0);  // An unknown model simply has no runs.
  testing::CommandResult bad = ctl({"run", "ctl/x"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

TEST_F(TrainerRunTest, DivergingRunFailsAndProductionStays) {
  const std::string kModel = "diverge";
  ASSERT_NO_FATAL_FAILURE(SetUpModel(kModel, /*cold_start=*/true));
  v1::TrainingConfig o;
  o.mutable_optimizer()->set_optimizer(v1::OPTIMIZER_SGD);
  o.mutable_optimizer()->set_learning_rate(1e30);
  o.mutable_optimizer()->set_grad_clip_norm(0);
  v1::Run run = Trigger(kModel, o,
                        {"optimizer.optimizer", "optimizer.learning_rate",
                         "optimizer.grad_clip_norm"},
                        "diverge");
  ASSERT_FALSE(run.name().empty());
  run = WaitEnded(run.name());
  EXPECT_EQ(run.state(), v1::RUN_STATE_FAILED) << run.DebugString();
  EXPECT_NE(run.error().message().find("diverged"), std::string::npos)
      << run.error().message();
  EXPECT_EQ(run.candidate_version().version(), 0);
  EXPECT_FALSE(run.cold_start());
  EXPECT_EQ(run.parent_version().version(), 1);
  EXPECT_EQ(Versions(kModel).size(), 1u);
  EXPECT_EQ(GetModel(kModel).production_version(), 1);
}

TEST_F(TrainerRunTest, CancelDuringTrainingRegistersNothing) {
  const std::string kModel = "cancel";
  ASSERT_NO_FATAL_FAILURE(SetUpModel(kModel, /*cold_start=*/true));
  v1::Run run = TriggerLongRun(kModel, "to be cancelled");
  ASSERT_FALSE(run.name().empty());
  ASSERT_TRUE(WatchUntilTraining(run.name())) << cluster_->TrainerStderr();
  const absl::Time t0 = absl::Now();
  grpc::ClientContext context;
  context.set_deadline(Deadline(30));
  v1::CancelRunRequest cancel;
  cancel.set_name(run.name());
  cancel.set_reason("test");
  v1::CancelRunResponse response;
  grpc::Status s = cluster_->trainer().CancelRun(&context, cancel, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  run = WaitEnded(run.name());
  std::cout << "cancel took " << absl::FormatDuration(absl::Now() - t0) << "\n";
  EXPECT_EQ(run.state(), v1::RUN_STATE_CANCELLED) << run.DebugString();
  EXPECT_EQ(run.candidate_version().version(), 0);
  EXPECT_EQ(Versions(kModel).size(), 1u);

  // A finished run can no longer be cancelled.
  grpc::ClientContext again;
  again.set_deadline(Deadline(10));
  s = cluster_->trainer().CancelRun(&again, cancel, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("RUN_STATE_CANCELLED"), std::string::npos);
}

TEST_F(TrainerRunTest, KilledTrainerFailsTheRunAndTrainsAgainAfterRestart) {
  const std::string kModel = "killed";
  ASSERT_NO_FATAL_FAILURE(SetUpModel(kModel, /*cold_start=*/true));
  v1::Run run = TriggerLongRun(kModel, "to be interrupted");
  ASSERT_FALSE(run.name().empty());
  ASSERT_TRUE(WatchUntilTraining(run.name())) << cluster_->TrainerStderr();
  ASSERT_NO_FATAL_FAILURE(cluster_->KillTrainer());
  absl::Status s = cluster_->StartTrainer();
  ASSERT_TRUE(s.ok()) << s;

  auto interrupted = GetRun(run.name());
  ASSERT_TRUE(interrupted.ok()) << interrupted.status();
  EXPECT_EQ(interrupted->state(), v1::RUN_STATE_FAILED);
  EXPECT_NE(
      interrupted->error().message().find("interrupted by a trainer restart"),
      std::string::npos)
      << interrupted->error().message();
  EXPECT_EQ(Versions(kModel).size(), 1u);

  // A new run starts clean: incremental from production version 1.
  const absl::Time t0 = absl::Now();
  v1::Run next = Trigger(kModel, v1::TrainingConfig(), {}, "after the restart");
  ASSERT_FALSE(next.name().empty());
  next = WaitEnded(next.name());
  std::cout << "incremental run: " << absl::FormatDuration(absl::Now() - t0)
            << "\n";
  ASSERT_EQ(next.state(), v1::RUN_STATE_SUCCEEDED)
      << next.DebugString() << cluster_->TrainerStderr();
  EXPECT_FALSE(next.cold_start());
  EXPECT_EQ(next.parent_version().version(), 1);
  EXPECT_TRUE(next.production_metrics().has_accuracy());
  ASSERT_EQ(next.candidate_version().version(), 2);
  std::vector<v1::Version> versions = Versions(kModel);
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[0].parent().version(), 1);
  EXPECT_TRUE(versions[0].validation().report().evaluations(0).has_baseline());
}

}  // namespace
}  // namespace continuum
