// Batch runs (INCREMENTAL, FULL_RETRAIN) with in-process fakes of the
// registry and the collector and real training (lib/model) on small
// synthetic data: cold start, incremental runs against production,
// divergence, cancel, bad artifacts, rejection, the memory budget. The same
// paths against real registry and collector processes are in
// tests/trainer_run_test.cc.
#include "services/trainer/batch_run.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <utility>
#include <vector>
#include <string>

#include "lib/core/proto_time.h"
#include "lib/model/bundle.h"
#include "services/trainer/held_out_split.h"
#include "services/trainer/testing/fake_clients.h"
#include "services/trainer/testing/fake_run_control.h"

namespace continuum::trainer {
namespace {

using ::continuum::core::FromProto;
using ::continuum::core::ToProto;
using ::testing::HasSubstr;
using FakeControl = FakeRunControl;

constexpr int kInputs = FakeCollector::kFeatures;
constexpr int kClasses = FakeCollector::kClasses;
constexpr absl::Time kT0 = FakeCollector::kStart;

class BatchRunTest : public ::testing::Test {
 protected:
  explicit BatchRunTest(int rows = 600) : collector_(rows) {
    registry_.AddModel("m");
    options_ = TestExecutorOptions(&registry_, &collector_);
  }

  v1::Run NewRun(v1::TrainingConfig config) {
    return FakeCollectorRun(std::move(config));
  }
  RunOutcome Execute(const v1::Run& run, RunControl& control) {
    return RunBatch(options_, run, control);
  }

  FakeRegistry registry_;
  FakeCollector collector_;
  TrainingExecutorOptions options_;
};

TEST_F(BatchRunTest, ColdStartTrainsAndUploadsWithLineageAndReport) {
  FakeControl control(NewRun(v1::TrainingConfig()));
  RunOutcome outcome = Execute(control.run(), control);
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

TEST_F(BatchRunTest, IncrementalRunComparesWithProduction) {
  {
    FakeControl control(NewRun(v1::TrainingConfig()));
    ASSERT_EQ(Execute(control.run(), control).state, v1::RUN_STATE_SUCCEEDED);
  }
  registry_.set_production(registry_.uploaded_bytes());
  v1::TrainingConfig config;
  config.mutable_optimizer()->set_learning_rate(1e-3);
  config.set_epochs(1);
  FakeControl control(NewRun(config));
  RunOutcome outcome = Execute(control.run(), control);
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

TEST_F(BatchRunTest, GoldenSetIsEvaluatedToo) {
  v1::TrainingConfig config;
  config.set_golden_dataset("golden");
  FakeControl control(NewRun(config));
  RunOutcome outcome = Execute(control.run(), control);
  ASSERT_EQ(outcome.state, v1::RUN_STATE_SUCCEEDED) << outcome.error;
  EXPECT_EQ(control.run().golden_records(), 600);
  const v1::ValidationReport report =
      registry_.uploads()[0].validation_report();
  ASSERT_EQ(report.evaluations_size(), 2);
  EXPECT_EQ(report.evaluations(1).evaluation_set(), "golden");
  EXPECT_EQ(report.evaluations(1).candidate().sample_count(), 600);
}

// An incremental run without a golden set evaluates what the candidate
// kept of the older data: rows of the replay sample from before the
// window, none of them trained on.
class RetentionTest : public BatchRunTest {
 protected:
  RetentionTest() : BatchRunTest(4600) {}

  void SetUp() override {
    FakeControl control(NewRun(v1::TrainingConfig()));
    ASSERT_EQ(Execute(control.run(), control).state, v1::RUN_STATE_SUCCEEDED);
    registry_.set_production(registry_.uploaded_bytes());
  }

  // The fake's rows are 1 s apart from kT0: the window [kT0 + 4000 s,
  // kT0 + 4600 s) leaves rows r0 to r3999 before it.
  v1::Run LaterRun(v1::TrainingConfig config) {
    config.set_epochs(1);
    v1::Run run = NewRun(std::move(config));
    *run.mutable_data_window()->mutable_start_time() =
        ToProto(kT0 + absl::Seconds(4000));
    *run.mutable_data_window()->mutable_end_time() =
        ToProto(kT0 + absl::Seconds(4600));
    return run;
  }

  // The rows before the window held out with a margin under the fake
  // run's seed (11) and the default fraction (0.1): the retention rows.
  static int64_t EligibleRows() {
    int64_t n = 0;
    for (int r = 0; r < 4000; ++r) {
      n += IsHeldOut(RowKey("r" + std::to_string(r)), 11, 0.05) ? 1 : 0;
    }
    return n;
  }

  const v1::Evaluation* SetOf(const v1::ValidationReport& report,
                              const std::string& set) {
    for (const v1::Evaluation& e : report.evaluations()) {
      if (e.evaluation_set() == set) return &e;
    }
    return nullptr;
  }
};

TEST_F(RetentionTest, OlderRowsFormARetentionSetComparedWithProduction) {
  for (double replay_ratio : {0.0, 0.5}) {
    SCOPED_TRACE(replay_ratio);
    v1::TrainingConfig config;
    config.mutable_guards()->set_replay_ratio(replay_ratio);
    FakeControl control(LaterRun(config));
    RunOutcome outcome = Execute(control.run(), control);
    ASSERT_EQ(outcome.state, v1::RUN_STATE_SUCCEEDED) << outcome.error;
    const v1::Run run = control.run();
    // About 5 % of the 4000 older rows; the fake's sample is all 4600.
    const int64_t eligible = EligibleRows();
    ASSERT_GE(eligible, 100);
    EXPECT_EQ(run.retention_records(), eligible);
    // Replay at 0.5 wants as many rows as the window trains on, plus
    // 1000 / 0.05 rows to find the retention rows in.
    const int64_t replay_want = replay_ratio > 0 ? run.train_records() : 0;
    EXPECT_EQ(run.replay_records(), replay_want);
    EXPECT_EQ(collector_.replay_requested(), replay_want + 20000);
    const v1::ValidationReport report =
        registry_.uploads().back().validation_report();
    const v1::Evaluation* retention = SetOf(report, "retention");
    ASSERT_NE(retention, nullptr) << report.DebugString();
    EXPECT_EQ(retention->candidate().sample_count(), eligible);
    ASSERT_TRUE(retention->has_baseline());
    EXPECT_EQ(retention->baseline().sample_count(), eligible);
    EXPECT_EQ(retention->baseline_version().version(), 1);
  }
}

TEST_F(RetentionTest, TooFewOlderRowsOrAGoldenSetMeanNoRetentionSet) {
  {
    v1::TrainingConfig config;
    config.set_golden_dataset("golden");
    FakeControl control(LaterRun(config));
    ASSERT_EQ(Execute(control.run(), control).state, v1::RUN_STATE_SUCCEEDED);
    EXPECT_EQ(control.run().retention_records(), 0);
    EXPECT_EQ(SetOf(registry_.uploads().back().validation_report(),
                    "retention"),
              nullptr);
  }
  {
    v1::TrainingConfig config;
    config.set_retention_rows(60);  // Too few to judge.
    FakeControl control(LaterRun(config));
    ASSERT_EQ(Execute(control.run(), control).state, v1::RUN_STATE_SUCCEEDED);
    EXPECT_EQ(control.run().retention_records(), 0);
    const v1::ValidationReport report =
        registry_.uploads().back().validation_report();
    EXPECT_EQ(SetOf(report, "retention"), nullptr);
    EXPECT_THAT(report.notes(),
                HasSubstr("held-out rows from before the window (at least "
                          "100 needed); no retention set was evaluated"));
  }
  {
    v1::TrainingConfig config;
    config.set_strategy(v1::TRAINING_STRATEGY_FULL_RETRAIN);
    FakeControl control(LaterRun(config));
    ASSERT_EQ(Execute(control.run(), control).state, v1::RUN_STATE_SUCCEEDED);
    EXPECT_EQ(control.run().retention_records(), 0);
  }
}

TEST_F(BatchRunTest, DivergedRunFailsAndUploadsNothing) {
  v1::TrainingConfig config;
  config.mutable_optimizer()->set_optimizer(v1::OPTIMIZER_SGD);
  config.mutable_optimizer()->set_learning_rate(1e30);
  config.mutable_optimizer()->set_grad_clip_norm(0);
  FakeControl control(NewRun(config));
  RunOutcome outcome = Execute(control.run(), control);
  EXPECT_EQ(outcome.state, v1::RUN_STATE_FAILED);
  EXPECT_TRUE(absl::IsAborted(outcome.error)) << outcome.error;
  EXPECT_THAT(outcome.error.message(), HasSubstr("diverged"));
  EXPECT_TRUE(registry_.uploads().empty());
  EXPECT_EQ(control.phases().back(), v1::RUN_PHASE_TRAINING);
}

TEST_F(BatchRunTest, CancelDuringTrainingStopsWithinAStep) {
  v1::TrainingConfig config;
  config.set_epochs(1000);
  config.mutable_early_stopping()->set_disabled(true);
  FakeControl control(NewRun(config));
  control.cancel_on_training();
  RunOutcome outcome = Execute(control.run(), control);
  EXPECT_EQ(outcome.state, v1::RUN_STATE_CANCELLED) << outcome.error;
  EXPECT_TRUE(registry_.uploads().empty());
  // The first step's progress set the flag; the next step never ran.
  int64_t max_step = 0;
  for (const v1::RunProgress& p : control.progress()) {
    max_step = std::max(max_step, p.step());
  }
  EXPECT_LE(max_step, 1);
}

TEST_F(BatchRunTest, BadArtifactFailsTheRun) {
  registry_.set_production("not a bundle");
  FakeControl control(NewRun(v1::TrainingConfig()));
  RunOutcome outcome = Execute(control.run(), control);
  EXPECT_EQ(outcome.state, v1::RUN_STATE_FAILED);
  EXPECT_TRUE(absl::IsDataLoss(outcome.error)) << outcome.error;
  registry_.set_corrupt(true);
  FakeControl again(NewRun(v1::TrainingConfig()));
  outcome = Execute(again.run(), again);
  EXPECT_TRUE(absl::IsDataLoss(outcome.error)) << outcome.error;
  EXPECT_THAT(outcome.error.message(), HasSubstr("downloading version 1"));
  EXPECT_TRUE(registry_.uploads().empty());
}

// Issue 15: a run with nothing to train on (a drift alert before any
// outcome arrived) ended FAILED and counted toward the circuit breaker.
TEST_F(BatchRunTest, AnEmptyWindowIsSkippedNamingIt) {
  v1::Run run = NewRun(v1::TrainingConfig());
  *run.mutable_data_window()->mutable_start_time() =
      ToProto(kT0 + absl::Hours(10));
  *run.mutable_data_window()->mutable_end_time() =
      ToProto(kT0 + absl::Hours(11));
  FakeControl control(run);
  RunOutcome outcome = Execute(run, control);
  EXPECT_EQ(outcome.state, v1::RUN_STATE_CANCELLED);
  EXPECT_TRUE(absl::IsCancelled(outcome.error));
  EXPECT_THAT(outcome.error.message(),
              HasSubstr("skipped: the window ["));
  EXPECT_THAT(outcome.error.message(), HasSubstr("holds 0 labelled records"));
  // Why an incremental run's window may be empty, and the way out.
  EXPECT_THAT(outcome.error.message(),
              HasSubstr("starts where the last successful run's ended"));
  EXPECT_THAT(outcome.error.message(), HasSubstr("trigger MODEL --from=TIME"));
}

TEST_F(BatchRunTest, RejectionByTheGatesIsRejected) {
  registry_.set_reject(true);
  FakeControl control(NewRun(v1::TrainingConfig()));
  RunOutcome outcome = Execute(control.run(), control);
  EXPECT_EQ(outcome.state, v1::RUN_STATE_REJECTED);
  EXPECT_THAT(outcome.error.message(), HasSubstr("rejected"));
  EXPECT_FALSE(control.run().decision().approved());
  EXPECT_EQ(control.run().candidate_version().version(), 2);
}

TEST_F(BatchRunTest, MemoryBudgetCutsTheWindowWithANote) {
  v1::TrainingConfig config;
  // (8 features + 1 target) * 4 bytes + 8 = 44 bytes per row: 200 rows.
  config.mutable_resources()->set_memory_budget_bytes(44 * 200);
  FakeControl control(NewRun(config));
  RunOutcome outcome = Execute(control.run(), control);
  ASSERT_EQ(outcome.state, v1::RUN_STATE_SUCCEEDED) << outcome.error;
  const v1::Run run = control.run();
  EXPECT_EQ(run.train_records() + run.holdout_records(), 200);
  EXPECT_EQ(run.replay_records(), 0);  // Nothing left for replay.
  EXPECT_THAT(registry_.uploads()[0].validation_report().notes(),
              HasSubstr("memory budget"));
}

}  // namespace
}  // namespace continuum::trainer
