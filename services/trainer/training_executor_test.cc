// TrainingExecutor with in-process fakes of the registry and the collector
// and real training (lib/model) on small synthetic data: cold start,
// incremental runs against production, divergence, cancel, bad artifacts,
// rejection, the memory budget. The same paths against real registry and
// collector processes are in tests/trainer_run_test.cc.
#include "services/trainer/training_executor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "lib/core/clock.h"
#include "lib/model/bundle.h"
#include "lib/model/model.h"
#include "lib/store/blob_store.h"
#include "services/trainer/scheduler.h"
#include "services/trainer/time_util.h"

namespace continuum::trainer {
namespace {

using ::testing::HasSubstr;

constexpr int kInputs = 8;
constexpr int kClasses = 3;
const absl::Time kT0 = absl::FromUnixSeconds(1'780'000'000);

class FakeRegistry : public RegistryClient {
 public:
  absl::StatusOr<v1::Model> GetModel(const std::string& model) override {
    absl::MutexLock lock(&mu_);
    v1::Model m;
    m.set_name("models/" + model);
    m.set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    m.mutable_spec()->add_hidden_sizes(16);  // Dimensions from the data set.
    m.set_production_version(production_.empty() ? 0 : 1);
    return m;
  }
  absl::StatusOr<Artifact> DownloadArtifact(const std::string& model,
                                            int64_t version,
                                            absl::Time) override {
    absl::MutexLock lock(&mu_);
    ++downloads_;
    if (corrupt_) {
      return absl::DataLossError("artifact does not match the checksum");
    }
    Artifact a;
    a.version.set_model(model);
    a.version.set_version(version);
    a.bytes = production_;
    a.sha256 = store::Sha256Hex(production_);
    return a;
  }
  absl::StatusOr<v1::UploadVersionResponse> UploadVersion(
      const v1::UploadVersionMetadata& metadata, absl::string_view bytes,
      absl::Time) override {
    absl::MutexLock lock(&mu_);
    EXPECT_EQ(metadata.sha256(), store::Sha256Hex(bytes));
    uploads_.push_back(metadata);
    uploaded_bytes_ = std::string(bytes);
    v1::UploadVersionResponse r;
    r.set_created(true);
    r.mutable_version()->set_version(static_cast<int64_t>(uploads_.size()) + 1);
    r.mutable_decision()->set_approved(!reject_);
    r.mutable_decision()->set_summary(reject_ ? "rejected: 1 of 9 gates failed"
                                              : "approved");
    return r;
  }

  void set_production(std::string bytes) {
    absl::MutexLock lock(&mu_);
    production_ = std::move(bytes);
  }
  void set_corrupt(bool b) {
    absl::MutexLock lock(&mu_);
    corrupt_ = b;
  }
  void set_reject(bool b) {
    absl::MutexLock lock(&mu_);
    reject_ = b;
  }
  std::vector<v1::UploadVersionMetadata> uploads() {
    absl::MutexLock lock(&mu_);
    return uploads_;
  }
  std::string uploaded_bytes() {
    absl::MutexLock lock(&mu_);
    return uploaded_bytes_;
  }
  int downloads() {
    absl::MutexLock lock(&mu_);
    return downloads_;
  }

 private:
  absl::Mutex mu_;
  std::string production_ ABSL_GUARDED_BY(mu_);
  bool corrupt_ ABSL_GUARDED_BY(mu_) = false;
  bool reject_ ABSL_GUARDED_BY(mu_) = false;
  int downloads_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<v1::UploadVersionMetadata> uploads_ ABSL_GUARDED_BY(mu_);
  std::string uploaded_bytes_ ABSL_GUARDED_BY(mu_);
};

// Three Gaussian blobs, one per class, event times one second apart from
// kT0.
class FakeCollector : public CollectorClient {
 public:
  explicit FakeCollector(int rows) {
    std::mt19937 gen(7);
    std::normal_distribution<float> noise(0, 0.5f);
    for (int r = 0; r < rows; ++r) {
      const int c = r % kClasses;
      for (int f = 0; f < kInputs; ++f) {
        features_.push_back((f % kClasses == c ? 2.0f : 0.0f) + noise(gen));
      }
      labels_.push_back(c);
    }
  }
  absl::StatusOr<v1::Dataset> GetDataset(const std::string& dataset) override {
    v1::Dataset d;
    d.set_name("datasets/" + dataset);
    d.mutable_schema()->set_feature_dim(kInputs);
    d.mutable_schema()->set_label_kind(v1::LABEL_KIND_CLASS);
    d.mutable_schema()->set_num_classes(kClasses);
    return d;
  }
  absl::StatusOr<v1::DatasetStats> GetDatasetStats(
      const std::string&, const v1::TimeWindow&) override {
    return v1::DatasetStats();
  }
  absl::Status Scan(const v1::ScanRequest& request, const BatchFn& on_batch,
                    absl::Time) override {
    const absl::Time start = request.window().has_start_time()
                                 ? FromProto(request.window().start_time())
                                 : absl::InfinitePast();
    const absl::Time end = request.window().has_end_time()
                               ? FromProto(request.window().end_time())
                               : absl::InfiniteFuture();
    ++scans_;
    std::vector<int> rows;
    for (int r = 0; r < static_cast<int>(labels_.size()); ++r) {
      const absl::Time t = kT0 + absl::Seconds(r);
      if (t >= start && t < end) rows.push_back(r);
    }
    return Send(rows, request.batch_size(), on_batch);
  }
  absl::Status SampleReplay(const v1::SampleReplayRequest& request,
                            const BatchFn& on_batch, absl::Time) override {
    std::vector<int> rows;
    for (int r = 0; r < std::min<int>(request.count(), labels_.size()); ++r) {
      rows.push_back(static_cast<int>(labels_.size()) - 1 - r);
    }
    replay_requested_ = request.count();
    return Send(rows, request.batch_size(), on_batch);
  }

  int64_t replay_requested() const { return replay_requested_; }
  // Rows [begin, end) get a NaN feature.
  void set_nan_rows(int begin, int end) {
    for (int r = begin; r < end; ++r) features_[r * kInputs] = NAN;
  }
  int scans() const { return scans_; }

 private:
  absl::Status Send(const std::vector<int>& rows, int batch_size,
                    const BatchFn& on_batch) {
    if (batch_size <= 0) batch_size = 1024;
    for (size_t at = 0; at < rows.size(); at += batch_size) {
      v1::RecordBatch b;
      b.set_feature_dim(kInputs);
      b.set_label_kind(v1::LABEL_KIND_CLASS);
      for (size_t i = at; i < std::min(rows.size(), at + batch_size); ++i) {
        const int r = rows[i];
        b.set_num_rows(b.num_rows() + 1);
        for (int f = 0; f < kInputs; ++f) {
          b.add_features(features_[r * kInputs + f]);
        }
        b.add_ids("r" + std::to_string(r));
        b.add_event_time_unix_micros(absl::ToUnixMicros(kT0 + absl::Seconds(r)));
        b.add_labeled(true);
        b.add_class_indices(labels_[r]);
      }
      if (!on_batch(b)) return absl::OkStatus();
    }
    return absl::OkStatus();
  }

  std::vector<float> features_;
  std::vector<int> labels_;
  int64_t replay_requested_ = 0;
  int scans_ = 0;
};

class FakeControl : public RunControl {
 public:
  explicit FakeControl(v1::Run run) : run_(std::move(run)) {}
  bool cancelled() override {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }
  void SetPhase(v1::RunPhase phase, const std::string&) override {
    absl::MutexLock lock(&mu_);
    phases_.push_back(phase);
  }
  void Progress(const v1::RunProgress& progress) override {
    absl::MutexLock lock(&mu_);
    progress_.push_back(progress);
    if (cancel_on_training_ && progress.phase() == v1::RUN_PHASE_TRAINING) {
      cancelled_ = true;
    }
  }
  void Update(const std::function<void(v1::Run*)>& edit) override {
    absl::MutexLock lock(&mu_);
    edit(&run_);
  }
  absl::Status BeginUpload() override {
    absl::MutexLock lock(&mu_);
    if (cancelled_) return absl::CancelledError("cancelled");
    phases_.push_back(v1::RUN_PHASE_UPLOADING);
    return absl::OkStatus();
  }
  bool CandidateDecided(bool approved, const std::string& detail) override {
    absl::MutexLock lock(&mu_);
    decisions_.push_back(approved);
    details_.push_back(detail);
    trained_through_.push_back(FromProto(run_.data_window().end_time()));
    // A circuit breaker of threshold 2 on consecutive rejections.
    consecutive_rejections_ = approved ? 0 : consecutive_rejections_ + 1;
    return consecutive_rejections_ < 2;
  }

  void cancel() {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }
  std::vector<bool> decisions() {
    absl::MutexLock lock(&mu_);
    return decisions_;
  }
  std::vector<absl::Time> trained_through() {
    absl::MutexLock lock(&mu_);
    return trained_through_;
  }

  void cancel_on_training() {
    absl::MutexLock lock(&mu_);
    cancel_on_training_ = true;
  }
  v1::Run run() {
    absl::MutexLock lock(&mu_);
    return run_;
  }
  std::vector<v1::RunPhase> phases() {
    absl::MutexLock lock(&mu_);
    return phases_;
  }
  std::vector<v1::RunProgress> progress() {
    absl::MutexLock lock(&mu_);
    return progress_;
  }

 private:
  absl::Mutex mu_;
  v1::Run run_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool cancel_on_training_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<v1::RunPhase> phases_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::RunProgress> progress_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> decisions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> details_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> trained_through_ ABSL_GUARDED_BY(mu_);
  int consecutive_rejections_ ABSL_GUARDED_BY(mu_) = 0;
};

class TrainingExecutorTest : public ::testing::Test {
 protected:
  TrainingExecutorTest() : collector_(600) {
    TrainingExecutorOptions options;
    options.registry = &registry_;
    options.collector = &collector_;
    options.code_version = "test-1.0";
    options.scan_batch_rows = 100;
    executor_ = std::make_unique<TrainingExecutor>(options);
  }

  v1::Run NewRun(v1::TrainingConfig config) {
    config.set_seed(11);
    if (config.epochs() == 0) config.set_epochs(3);
    if (!config.optimizer().learning_rate()) {
      config.mutable_optimizer()->set_learning_rate(0.01);
    }
    absl::StatusOr<v1::TrainingConfig> effective =
        EffectiveTrainingConfig("m", config);
    EXPECT_TRUE(effective.ok()) << effective.status();
    v1::Run run;
    run.set_name("models/m/runs/1");
    run.set_model("m");
    run.set_state(v1::RUN_STATE_RUNNING);
    run.set_trigger(v1::RUN_TRIGGER_MANUAL);
    run.set_strategy(effective->strategy());
    *run.mutable_config() = *effective;
    *run.mutable_data_window()->mutable_start_time() = ToProto(kT0);
    *run.mutable_data_window()->mutable_end_time() =
        ToProto(kT0 + absl::Seconds(500));  // 500 of the 600 rows.
    return run;
  }

  FakeRegistry registry_;
  FakeCollector collector_;
  std::unique_ptr<TrainingExecutor> executor_;
};

TEST_F(TrainingExecutorTest, ColdStartTrainsAndUploadsWithLineageAndReport) {
  FakeControl control(NewRun(v1::TrainingConfig()));
  RunOutcome outcome = executor_->Execute(control.run(), control);
  ASSERT_EQ(outcome.state, v1::RUN_STATE_SUCCEEDED) << outcome.error;
  EXPECT_EQ(registry_.downloads(), 0);
  EXPECT_THAT(control.phases(),
              ::testing::ElementsAre(
                  v1::RUN_PHASE_FETCHING_MODEL, v1::RUN_PHASE_FETCHING_DATA,
                  v1::RUN_PHASE_TRAINING, v1::RUN_PHASE_EVALUATING,
                  v1::RUN_PHASE_FINALIZING, v1::RUN_PHASE_UPLOADING));
  const v1::Run run = control.run();
  EXPECT_TRUE(run.cold_start());
  EXPECT_EQ(run.parent_version().version(), 0);
  EXPECT_EQ(run.train_records() + run.holdout_records(), 500);
  EXPECT_EQ(run.holdout_records(), 50);
  EXPECT_GT(run.replay_records(), 0);
  EXPECT_EQ(run.candidate_version().version(), 2);
  EXPECT_GT(run.candidate_metrics().accuracy(), 0.9);

  ASSERT_EQ(registry_.uploads().size(), 1u);
  const v1::UploadVersionMetadata m = registry_.uploads()[0];
  EXPECT_EQ(m.parent().version(), 0);
  EXPECT_EQ(m.run(), "models/m/runs/1");
  EXPECT_EQ(m.code_version(), "test-1.0");
  EXPECT_EQ(FromProto(m.data_window().end_time()), kT0 + absl::Seconds(500));
  EXPECT_EQ(m.hyperparameters().at("epochs"), "3");
  EXPECT_EQ(m.hyperparameters().at("seed"), "11");
  ASSERT_EQ(m.validation_report().evaluations_size(), 1);
  const v1::Evaluation& e = m.validation_report().evaluations(0);
  EXPECT_EQ(e.evaluation_set(), "held_out");
  EXPECT_FALSE(e.has_baseline());  // No production version yet.
  EXPECT_EQ(e.candidate().sample_count(), 50);
  EXPECT_EQ(m.validation_report().run(), "models/m/runs/1");

  // The artifact is a valid bundle with the lineage and a fitted
  // normalisation.
  auto bundle = model::ParseBundle(registry_.uploaded_bytes());
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_TRUE(model::ValidateBundle(*bundle).ok());
  EXPECT_EQ(bundle->manifest().model(), "m");
  EXPECT_EQ(bundle->manifest().run(), "models/m/runs/1");
  EXPECT_EQ(bundle->manifest().spec().input_dim(), kInputs);
  EXPECT_EQ(bundle->manifest().spec().output_dim(), kClasses);
  EXPECT_EQ(bundle->manifest().normalization().mean_size(), kInputs);
  EXPECT_NE(bundle->manifest().normalization().mean(0), 0.0f);
  EXPECT_GT(bundle->fisher_size(), 0);

  // Training progress reached the control, with an ETA while training.
  bool epoch_end = false, eta = false;
  for (const v1::RunProgress& p : control.progress()) {
    epoch_end |= p.has_holdout_loss();
    eta |= p.has_eta();
  }
  EXPECT_TRUE(epoch_end);
  EXPECT_TRUE(eta);
}

TEST_F(TrainingExecutorTest, IncrementalRunComparesWithProduction) {
  {
    FakeControl control(NewRun(v1::TrainingConfig()));
    ASSERT_EQ(executor_->Execute(control.run(), control).state,
              v1::RUN_STATE_SUCCEEDED);
  }
  registry_.set_production(registry_.uploaded_bytes());
  v1::TrainingConfig config;
  config.mutable_optimizer()->set_learning_rate(1e-3);
  config.set_epochs(1);
  FakeControl control(NewRun(config));
  RunOutcome outcome = executor_->Execute(control.run(), control);
  ASSERT_EQ(outcome.state, v1::RUN_STATE_SUCCEEDED) << outcome.error;
  EXPECT_EQ(registry_.downloads(), 1);
  const v1::Run run = control.run();
  EXPECT_FALSE(run.cold_start());
  EXPECT_EQ(run.parent_version().version(), 1);
  EXPECT_TRUE(run.production_metrics().has_accuracy());
  const v1::UploadVersionMetadata m = registry_.uploads().back();
  EXPECT_EQ(m.parent().version(), 1);
  const v1::Evaluation& e = m.validation_report().evaluations(0);
  ASSERT_TRUE(e.has_baseline());
  EXPECT_EQ(e.baseline_version().version(), 1);
  EXPECT_EQ(e.baseline().sample_count(), 50);
}

TEST_F(TrainingExecutorTest, GoldenSetIsEvaluatedToo) {
  v1::TrainingConfig config;
  config.set_golden_dataset("golden");
  FakeControl control(NewRun(config));
  RunOutcome outcome = executor_->Execute(control.run(), control);
  ASSERT_EQ(outcome.state, v1::RUN_STATE_SUCCEEDED) << outcome.error;
  EXPECT_EQ(control.run().golden_records(), 600);
  const v1::ValidationReport report = registry_.uploads()[0].validation_report();
  ASSERT_EQ(report.evaluations_size(), 2);
  EXPECT_EQ(report.evaluations(1).evaluation_set(), "golden");
  EXPECT_EQ(report.evaluations(1).candidate().sample_count(), 600);
}

TEST_F(TrainingExecutorTest, DivergedRunFailsAndUploadsNothing) {
  v1::TrainingConfig config;
  config.mutable_optimizer()->set_optimizer(v1::OPTIMIZER_SGD);
  config.mutable_optimizer()->set_learning_rate(1e30);
  config.mutable_optimizer()->set_grad_clip_norm(0);
  FakeControl control(NewRun(config));
  RunOutcome outcome = executor_->Execute(control.run(), control);
  EXPECT_EQ(outcome.state, v1::RUN_STATE_FAILED);
  EXPECT_TRUE(absl::IsAborted(outcome.error)) << outcome.error;
  EXPECT_THAT(outcome.error.message(), HasSubstr("diverged"));
  EXPECT_TRUE(registry_.uploads().empty());
  EXPECT_EQ(control.phases().back(), v1::RUN_PHASE_TRAINING);
}

TEST_F(TrainingExecutorTest, CancelDuringTrainingStopsWithinAStep) {
  v1::TrainingConfig config;
  config.set_epochs(1000);
  config.mutable_early_stopping()->set_disabled(true);
  FakeControl control(NewRun(config));
  control.cancel_on_training();
  RunOutcome outcome = executor_->Execute(control.run(), control);
  EXPECT_EQ(outcome.state, v1::RUN_STATE_CANCELLED) << outcome.error;
  EXPECT_TRUE(registry_.uploads().empty());
  // The first step's progress set the flag; the next step never ran.
  int64_t max_step = 0;
  for (const v1::RunProgress& p : control.progress()) {
    max_step = std::max(max_step, p.step());
  }
  EXPECT_LE(max_step, 1);
}

TEST_F(TrainingExecutorTest, BadArtifactFailsTheRun) {
  registry_.set_production("not a bundle");
  FakeControl control(NewRun(v1::TrainingConfig()));
  RunOutcome outcome = executor_->Execute(control.run(), control);
  EXPECT_EQ(outcome.state, v1::RUN_STATE_FAILED);
  EXPECT_TRUE(absl::IsDataLoss(outcome.error)) << outcome.error;
  registry_.set_corrupt(true);
  FakeControl again(NewRun(v1::TrainingConfig()));
  outcome = executor_->Execute(again.run(), again);
  EXPECT_TRUE(absl::IsDataLoss(outcome.error)) << outcome.error;
  EXPECT_THAT(outcome.error.message(), HasSubstr("downloading version 1"));
  EXPECT_TRUE(registry_.uploads().empty());
}

TEST_F(TrainingExecutorTest, EmptyWindowFailsNamingIt) {
  v1::Run run = NewRun(v1::TrainingConfig());
  *run.mutable_data_window()->mutable_start_time() =
      ToProto(kT0 + absl::Hours(10));
  *run.mutable_data_window()->mutable_end_time() = ToProto(kT0 + absl::Hours(11));
  FakeControl control(run);
  RunOutcome outcome = executor_->Execute(run, control);
  EXPECT_EQ(outcome.state, v1::RUN_STATE_FAILED);
  EXPECT_TRUE(absl::IsFailedPrecondition(outcome.error));
  EXPECT_THAT(outcome.error.message(), HasSubstr("holds 0 labelled records"));
}

TEST_F(TrainingExecutorTest, RejectionByTheGatesIsRejected) {
  registry_.set_reject(true);
  FakeControl control(NewRun(v1::TrainingConfig()));
  RunOutcome outcome = executor_->Execute(control.run(), control);
  EXPECT_EQ(outcome.state, v1::RUN_STATE_REJECTED);
  EXPECT_THAT(outcome.error.message(), HasSubstr("rejected"));
  EXPECT_FALSE(control.run().decision().approved());
  EXPECT_EQ(control.run().candidate_version().version(), 2);
}

TEST_F(TrainingExecutorTest, MemoryBudgetCutsTheWindowWithANote) {
  v1::TrainingConfig config;
  // (8 features + 1 target) * 4 bytes + 8 = 44 bytes per row: 200 rows.
  config.mutable_resources()->set_memory_budget_bytes(44 * 200);
  FakeControl control(NewRun(config));
  RunOutcome outcome = executor_->Execute(control.run(), control);
  ASSERT_EQ(outcome.state, v1::RUN_STATE_SUCCEEDED) << outcome.error;
  const v1::Run run = control.run();
  EXPECT_EQ(run.train_records() + run.holdout_records(), 200);
  EXPECT_EQ(run.replay_records(), 0);  // Nothing left for replay.
  EXPECT_THAT(registry_.uploads()[0].validation_report().notes(),
              HasSubstr("memory budget"));
}

TEST_F(TrainingExecutorTest, NoAddressesConfigured) {
  TrainingExecutor bare({});
  FakeControl control(NewRun(v1::TrainingConfig()));
  RunOutcome outcome = bare.Execute(control.run(), control);
  EXPECT_TRUE(absl::IsFailedPrecondition(outcome.error));
  EXPECT_THAT(outcome.error.message(), HasSubstr("registry_address"));
}

// Online runs: the fake clock decides which of the collector's rows (one a
// second from kT0) exist; the executor's wait advances it.
class OnlineTest : public TrainingExecutorTest {
 protected:
  OnlineTest() : clock_(kT0 + absl::Seconds(200)) {}

  // An executor whose idle wait advances the clock by `step` (and calls
  // `on_wait`).
  std::unique_ptr<TrainingExecutor> Online(absl::Duration step) {
    TrainingExecutorOptions options;
    options.registry = &registry_;
    options.collector = &collector_;
    options.clock = &clock_;
    options.code_version = "test-1.0";
    options.scan_batch_rows = 100;
    options.online_poll_interval = step;
    options.online_wait = [this](absl::Duration d) {
      ++waits_;
      if (on_wait_) on_wait_();
      clock_.Advance(d);
    };
    return std::make_unique<TrainingExecutor>(options);
  }

  v1::Run OnlineRun(int micro_batch, int64_t every_updates,
                    absl::Duration every, absl::Duration max_duration) {
    v1::TrainingConfig config;
    config.set_strategy(v1::TRAINING_STRATEGY_ONLINE);
    config.mutable_online()->set_micro_batch_size(micro_batch);
    config.mutable_online()->set_publish_every_updates(every_updates);
    *config.mutable_online()->mutable_publish_every() = ToProtoDuration(every);
    *config.mutable_resources()->mutable_max_duration() =
        ToProtoDuration(max_duration);
    v1::Run run = NewRun(config);
    run.set_trigger(v1::RUN_TRIGGER_MANUAL);
    run.mutable_data_window()->clear_end_time();  // Online: open.
    return run;
  }

  core::FakeClock clock_;
  int waits_ = 0;
  std::function<void()> on_wait_;
};

TEST_F(OnlineTest, PublishesEveryNUpdatesUntilMaxDuration) {
  // 200 rows at the start, 20 more per minute of waiting; micro-batches of
  // 20 rows, a candidate every 3 updates; 5 minutes in all.
  auto executor = Online(absl::Seconds(20));
  FakeControl control(OnlineRun(20, 3, absl::Hours(1), absl::Minutes(5)));
  RunOutcome outcome = executor->Execute(control.run(), control);
  ASSERT_EQ(outcome.state, v1::RUN_STATE_SUCCEEDED) << outcome.error;
  // 200 + 15 * 20 = 500 rows by the end: 25 updates, 8 candidates.
  const std::vector<v1::UploadVersionMetadata> uploads = registry_.uploads();
  ASSERT_GE(uploads.size(), 6u);
  EXPECT_LE(uploads.size(), 8u);
  EXPECT_EQ(control.decisions().size(), uploads.size());
  // The first candidate comes from the cold start; each later one from the
  // previous (approved) one.
  EXPECT_EQ(uploads[0].parent().version(), 0);
  EXPECT_EQ(uploads[0].manifest().tags().at("cold_start"), "true");
  EXPECT_EQ(uploads[1].manifest().tags().count("cold_start"), 0u);
  for (size_t i = 1; i < uploads.size(); ++i) {
    EXPECT_EQ(uploads[i].parent().version(), static_cast<int64_t>(i) + 1);
    EXPECT_TRUE(uploads[i].validation_report().evaluations(0).has_baseline());
  }
  EXPECT_EQ(uploads[0].manifest().tags().at("online_updates"), "3");
  EXPECT_EQ(uploads[1].manifest().tags().at("online_updates"), "6");
  EXPECT_EQ(uploads[0].hyperparameters().at("strategy"),
            "TRAINING_STRATEGY_ONLINE");
  // Candidates are real bundles that learned the blobs.
  auto bundle = model::ParseBundle(registry_.uploaded_bytes());
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_TRUE(model::ValidateBundle(*bundle).ok());
  EXPECT_GT(bundle->fisher_size(), 0);
  EXPECT_GT(uploads.back().metrics().accuracy(), 0.8);
  // The trained window grows with the candidates and never passes the
  // rows that exist.
  const std::vector<absl::Time> through = control.trained_through();
  for (size_t i = 1; i < through.size(); ++i) {
    EXPECT_GE(through[i], through[i - 1]);
  }
  EXPECT_GT(through.back(), kT0);
  EXPECT_LE(through.back(), kT0 + absl::Seconds(500));
  const v1::Run run = control.run();
  EXPECT_EQ(FromProto(run.data_window().end_time()), through.back());
  EXPECT_GT(run.train_records(), 0);
  EXPECT_GT(run.holdout_records(), 0);
  // Progress counts the updates.
  int64_t max_step = 0;
  for (const v1::RunProgress& p : control.progress()) {
    if (p.phase() == v1::RUN_PHASE_TRAINING) {
      max_step = std::max(max_step, p.step());
      EXPECT_THAT(p.message(), HasSubstr("online"));
    }
  }
  EXPECT_GE(max_step, 20);
}

TEST_F(OnlineTest, PublishesByTimeWithTheClock) {
  // Updates would publish only every 1000; publish_every of 2 minutes
  // decides instead.
  auto executor = Online(absl::Minutes(1));
  FakeControl control(OnlineRun(50, 1000, absl::Minutes(2), absl::Minutes(7)));
  RunOutcome outcome = executor->Execute(control.run(), control);
  ASSERT_EQ(outcome.state, v1::RUN_STATE_SUCCEEDED) << outcome.error;
  // Rows appear one a second: a micro-batch or more every minute, a
  // candidate every 2 minutes of the clock.
  const size_t n = registry_.uploads().size();
  EXPECT_GE(n, 2u);
  EXPECT_LE(n, 4u);
}

TEST_F(OnlineTest, CancelStopsWithinOneMicroBatch) {
  auto executor = Online(absl::Seconds(20));
  FakeControl control(OnlineRun(20, 100, absl::Hours(1), absl::Hours(1)));
  control.cancel_on_training();  // At the first update's progress.
  RunOutcome outcome = executor->Execute(control.run(), control);
  EXPECT_EQ(outcome.state, v1::RUN_STATE_CANCELLED) << outcome.error;
  EXPECT_TRUE(registry_.uploads().empty());
  int64_t max_step = 0;
  for (const v1::RunProgress& p : control.progress()) {
    max_step = std::max(max_step, p.step());
  }
  EXPECT_EQ(max_step, 1);
  EXPECT_EQ(waits_, 0);
}

TEST_F(OnlineTest, CancelWhileWaitingForRecords) {
  clock_.Set(kT0 + absl::Seconds(10));  // Less than a micro-batch.
  auto executor = Online(absl::Seconds(1));
  FakeControl control(OnlineRun(50, 100, absl::Hours(1), absl::Hours(1)));
  on_wait_ = [&] {
    if (waits_ == 3) control.cancel();
  };
  RunOutcome outcome = executor->Execute(control.run(), control);
  EXPECT_EQ(outcome.state, v1::RUN_STATE_CANCELLED) << outcome.error;
  EXPECT_EQ(waits_, 3);
  EXPECT_EQ(collector_.scans(), 3);
}

TEST_F(OnlineTest, NonFiniteMicroBatchIsSkippedAndCounted) {
  collector_.set_nan_rows(40, 45);  // In the third micro-batch of 20.
  clock_.Set(kT0 + absl::Seconds(100));
  auto executor = Online(absl::Minutes(1));
  FakeControl control(OnlineRun(20, 3, absl::Hours(1), absl::Minutes(2)));
  RunOutcome outcome = executor->Execute(control.run(), control);
  ASSERT_EQ(outcome.state, v1::RUN_STATE_SUCCEEDED) << outcome.error;
  // 100 rows, then 60 more after a minute's wait (the second wait ends
  // the run): 8 micro-batches, one skipped, 7 updates.
  int64_t max_step = 0;
  std::string last;
  for (const v1::RunProgress& p : control.progress()) {
    if (p.phase() != v1::RUN_PHASE_TRAINING) continue;
    max_step = std::max(max_step, p.step());
    last = p.message();
  }
  EXPECT_EQ(max_step, 7);
  EXPECT_THAT(last, HasSubstr("(1 micro-batches skipped)"));
  ASSERT_EQ(registry_.uploads().size(), 2u);
  EXPECT_THAT(registry_.uploads()[0].validation_report().notes(),
              HasSubstr("1 micro-batches were skipped"));
  auto bundle = model::ParseBundle(registry_.uploaded_bytes());
  ASSERT_TRUE(bundle.ok()) << bundle.status();
  EXPECT_TRUE(model::ValidateBundle(*bundle).ok());
}

TEST_F(OnlineTest, RejectedCandidatesCountAndTheRunGoesOnFromAcceptedWeights) {
  registry_.set_reject(true);
  auto executor = Online(absl::Seconds(20));
  FakeControl control(OnlineRun(20, 3, absl::Hours(1), absl::Hours(1)));
  RunOutcome outcome = executor->Execute(control.run(), control);
  // The fake control opens its breaker at the second rejection.
  EXPECT_EQ(outcome.state, v1::RUN_STATE_REJECTED) << outcome.error;
  EXPECT_THAT(outcome.error.message(), HasSubstr("circuit breaker"));
  EXPECT_THAT(control.decisions(), ::testing::ElementsAre(false, false));
  const std::vector<v1::UploadVersionMetadata> uploads = registry_.uploads();
  ASSERT_EQ(uploads.size(), 2u);
  // Both start from the cold start: nothing was accepted.
  EXPECT_EQ(uploads[1].parent().version(), 0);
  EXPECT_EQ(uploads[1].manifest().tags().at("online_updates"), "6");
  // Nothing approved: the run's trained window did not move.
  const v1::Run run = control.run();
  EXPECT_EQ(FromProto(run.data_window().end_time()),
            FromProto(run.data_window().start_time()));
}

}  // namespace
}  // namespace continuum::trainer
