// RunContext: the deadline on the injected clock, the stop check and how
// a stopped run ends.
#include "services/trainer/run_context.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lib/core/clock.h"
#include "lib/core/proto_time.h"
#include "services/trainer/testing/fake_clients.h"
#include "services/trainer/testing/fake_run_control.h"

namespace continuum::trainer {
namespace {

using ::testing::HasSubstr;

class RunContextTest : public ::testing::Test {
 protected:
  RunContextTest() : clock_(absl::FromUnixSeconds(1'800'000'000)) {
    options_.clock = &clock_;
    v1::TrainingConfig config;
    *config.mutable_resources()->mutable_max_duration() =
        core::ToProtoDuration(absl::Minutes(30));
    run_ = FakeCollectorRun(config);
  }

  core::FakeClock clock_;
  TrainingExecutorOptions options_;
  v1::Run run_;
};

TEST_F(RunContextTest, TheDeadlineIsMaxDurationOnTheInjectedClock) {
  FakeRunControl control(run_);
  RunContext context(options_, run_, control);
  EXPECT_EQ(context.deadline(), clock_.Now() + absl::Minutes(30));
  EXPECT_FALSE(context.Stop());
  EXPECT_TRUE(context.CheckStop().ok());
  clock_.Advance(absl::Minutes(30) - absl::Nanoseconds(1));
  EXPECT_FALSE(context.Stop());
  clock_.Advance(absl::Nanoseconds(1));
  EXPECT_TRUE(context.Stop());
  EXPECT_TRUE(context.timed_out());
  EXPECT_TRUE(absl::IsCancelled(context.CheckStop()));
  const RunOutcome ended = context.Ended(absl::CancelledError("cancelled"));
  EXPECT_EQ(ended.state, v1::RUN_STATE_FAILED);
  EXPECT_TRUE(absl::IsDeadlineExceeded(ended.error));
  EXPECT_EQ(ended.error.message(),
            "the run took longer than resources.max_duration (30m)");
}

TEST_F(RunContextTest, ACancelledRunEndsCancelledAndOtherErrorsFail) {
  FakeRunControl control(run_);
  RunContext context(options_, run_, control);
  EXPECT_EQ(context.Ended(absl::CancelledError("x")).state,
            v1::RUN_STATE_FAILED);  // Not cancelled by anyone.
  control.cancel();
  EXPECT_TRUE(context.Stop());
  EXPECT_FALSE(context.timed_out());
  EXPECT_EQ(context.Ended(absl::CancelledError("x")).state,
            v1::RUN_STATE_CANCELLED);
  const RunOutcome failed = context.Ended(absl::InternalError("boom"));
  EXPECT_EQ(failed.state, v1::RUN_STATE_FAILED);
  EXPECT_EQ(failed.error.message(), "boom");
}

TEST_F(RunContextTest, ASkippedRunEndsCancelledSayingWhy) {
  FakeRunControl control(run_);
  RunContext context(options_, run_, control);
  const RunOutcome skipped =
      context.Ended(SkippedError("the window holds 0 labelled records"));
  EXPECT_EQ(skipped.state, v1::RUN_STATE_CANCELLED);
  EXPECT_TRUE(absl::IsCancelled(skipped.error));
  EXPECT_EQ(skipped.error.message(),
            "skipped: the window holds 0 labelled records");
  // The same code without the mark is a failure.
  EXPECT_EQ(context.Ended(absl::FailedPreconditionError("x")).state,
            v1::RUN_STATE_FAILED);
}

TEST_F(RunContextTest, ClientsMustBeConfigured) {
  FakeRunControl control(run_);
  RunContext context(options_, run_, control);
  EXPECT_THAT(context.CheckClients().message(), HasSubstr("registry_address"));
  FakeRegistry registry;
  options_.registry = &registry;
  EXPECT_THAT(context.CheckClients().message(), HasSubstr("collector_address"));
  FakeCollector collector;
  options_.collector = &collector;
  EXPECT_TRUE(context.CheckClients().ok());
}

}  // namespace
}  // namespace continuum::trainer
