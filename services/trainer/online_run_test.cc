// Online runs (TRAINING_STRATEGY_ONLINE) with in-process fakes of the
// registry and the collector and real online updates (lib/model): the fake
// clock decides which of the collector's rows (one a second from kT0)
// exist; the run's wait for records advances it.
#include "services/trainer/online_run.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lib/core/clock.h"
#include "lib/core/proto_time.h"
#include "lib/model/bundle.h"
#include "services/trainer/testing/fake_clients.h"
#include "services/trainer/testing/fake_run_control.h"

namespace continuum::trainer {
namespace {

using ::continuum::core::FromProto;
using ::continuum::core::ToProtoDuration;
using ::testing::HasSubstr;
using FakeControl = FakeRunControl;

constexpr absl::Time kT0 = FakeCollector::kStart;

// Runs online runs with fixed options.
class OnlineRunner {
 public:
  explicit OnlineRunner(TrainingExecutorOptions options)
      : options_(std::move(options)) {}
  RunOutcome Execute(const v1::Run& run, RunControl& control) {
    return RunOnline(options_, run, control);
  }

 private:
  const TrainingExecutorOptions options_;
};

class OnlineTest : public ::testing::Test {
 protected:
  OnlineTest() : collector_(600), clock_(kT0 + absl::Seconds(200)) {
    registry_.AddModel("m");
  }

  // A runner whose idle wait advances the clock by `step` (and calls
  // `on_wait`).
  std::unique_ptr<OnlineRunner> Online(absl::Duration step) {
    TrainingExecutorOptions options =
        TestExecutorOptions(&registry_, &collector_);
    options.clock = &clock_;
    options.online_poll_interval = step;
    options.online_wait = [this](absl::Duration d) {
      ++waits_;
      if (on_wait_) on_wait_();
      clock_.Advance(d);
    };
    return std::make_unique<OnlineRunner>(options);
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
    v1::Run run = FakeCollectorRun(config);
    run.set_trigger(v1::RUN_TRIGGER_MANUAL);
    run.mutable_data_window()->clear_end_time();  // Online: open.
    return run;
  }

  FakeRegistry registry_;
  FakeCollector collector_;
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
