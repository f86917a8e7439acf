// TrainingExecutor: the strategy decides between a batch and an online run
// (their own tests: batch_run_test.cc, online_run_test.cc), and
// resources.max_duration follows the injected clock, not the wall clock.
#include "services/trainer/training_executor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <utility>

#include "lib/core/clock.h"
#include "lib/core/proto_time.h"
#include "services/trainer/testing/fake_clients.h"
#include "services/trainer/testing/fake_run_control.h"

namespace continuum::trainer {
namespace {

using ::continuum::core::ToProtoDuration;
using ::testing::HasSubstr;
using FakeControl = FakeRunControl;

class TrainingExecutorTest : public ::testing::Test {
 protected:
  TrainingExecutorTest() : collector_(600) {
    registry_.AddModel("m");
    options_ = TestExecutorOptions(&registry_, &collector_);
  }

  v1::Run NewRun(v1::TrainingConfig config) {
    return FakeCollectorRun(std::move(config));
  }

  FakeRegistry registry_;
  FakeCollector collector_;
  TrainingExecutorOptions options_;
};

TEST_F(TrainingExecutorTest, NoAddressesConfigured) {
  TrainingExecutor bare({});
  FakeControl control(NewRun(v1::TrainingConfig()));
  RunOutcome outcome = bare.Execute(control.run(), control);
  EXPECT_TRUE(absl::IsFailedPrecondition(outcome.error));
  EXPECT_THAT(outcome.error.message(), HasSubstr("registry_address"));
}

TEST_F(TrainingExecutorTest, TheStrategyChoosesTheRun) {
  TrainingExecutor executor(options_);
  FakeControl batch(NewRun(v1::TrainingConfig()));
  ASSERT_EQ(executor.Execute(batch.run(), batch).state,
            v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(
      registry_.uploads().back().manifest().tags().count("online_updates"), 0u);

  // An online run on a clock that has reached its max_duration already
  // after the first micro-batch's wait: it ends normally, having polled.
  core::FakeClock clock(FakeCollector::kStart + absl::Seconds(100));
  options_.clock = &clock;
  options_.online_wait = [&](absl::Duration d) { clock.Advance(d); };
  TrainingExecutor online(options_);
  v1::TrainingConfig config;
  config.set_strategy(v1::TRAINING_STRATEGY_ONLINE);
  *config.mutable_resources()->mutable_max_duration() =
      ToProtoDuration(absl::Seconds(10));
  v1::Run run = NewRun(config);
  run.mutable_data_window()->clear_end_time();
  FakeControl control(run);
  EXPECT_EQ(online.Execute(control.run(), control).state,
            v1::RUN_STATE_SUCCEEDED);
  EXPECT_GE(collector_.scans(), 1);
  EXPECT_EQ(control.phases().back(), v1::RUN_PHASE_TRAINING);
}

// A batch run whose clock passes max_duration during training fails with
// DEADLINE_EXCEEDED, though little real time passed.
TEST_F(TrainingExecutorTest, MaxDurationFollowsTheInjectedClock) {
  core::FakeClock clock(FakeCollector::kStart + absl::Hours(1));
  options_.clock = &clock;
  TrainingExecutor executor(options_);
  v1::TrainingConfig config;
  config.set_epochs(1000);
  config.mutable_early_stopping()->set_disabled(true);
  *config.mutable_resources()->mutable_max_duration() =
      ToProtoDuration(absl::Hours(1));
  FakeControl control(NewRun(config));
  // Two hours pass on the clock at the first training progress.
  control.set_on_progress([&](const v1::RunProgress& p) {
    if (p.phase() == v1::RUN_PHASE_TRAINING) clock.Advance(absl::Hours(2));
  });
  const absl::Time start = absl::Now();
  RunOutcome outcome = executor.Execute(control.run(), control);
  EXPECT_EQ(outcome.state, v1::RUN_STATE_FAILED);
  EXPECT_TRUE(absl::IsDeadlineExceeded(outcome.error)) << outcome.error;
  EXPECT_THAT(outcome.error.message(),
              HasSubstr("longer than resources.max_duration (1h)"));
  EXPECT_TRUE(registry_.uploads().empty());
  EXPECT_LT(absl::Now() - start, absl::Minutes(5));
}

// The wall clock does not count: a clock that stands still never reaches
// even a millisecond's max_duration, however long the run takes.
TEST_F(TrainingExecutorTest, WallClockTimeDoesNotCountTowardsMaxDuration) {
  core::FakeClock clock(FakeCollector::kStart + absl::Hours(1));
  options_.clock = &clock;
  TrainingExecutor executor(options_);
  v1::TrainingConfig config;
  *config.mutable_resources()->mutable_max_duration() =
      ToProtoDuration(absl::Milliseconds(1));
  FakeControl control(NewRun(config));
  RunOutcome outcome = executor.Execute(control.run(), control);
  EXPECT_EQ(outcome.state, v1::RUN_STATE_SUCCEEDED) << outcome.error;
}

}  // namespace
}  // namespace continuum::trainer
