#include "services/trainer/run_records.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "lib/core/proto_time.h"

namespace continuum::trainer {
namespace {

using ::continuum::core::FromProto;
using ::continuum::core::ToProto;
using ::continuum::core::ToProtoDuration;
using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

v1::Run Queued(v1::TrainingStrategy strategy) {
  v1::Run run;
  run.set_model("m");
  run.set_state(v1::RUN_STATE_QUEUED);
  run.set_strategy(strategy);
  *run.mutable_config()->mutable_window() = ToProtoDuration(absl::Hours(24));
  return run;
}

TEST(RunRecordsTest, RunNames) {
  EXPECT_EQ(RunName("fraud", 7), "models/fraud/runs/7");
  EXPECT_EQ(*ParseRunName("models/fraud/runs/7"), "fraud");
  for (const char* bad :
       {"models/fraud/7", "models/fraud/runs/0", "models/fraud/runs/x",
        "models/Fraud/runs/1", "model/fraud/runs/1", ""}) {
    absl::StatusOr<std::string> model = ParseRunName(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(model.status())) << bad;
    EXPECT_THAT(model.status().message(), HasSubstr("name")) << bad;
  }
}

TEST(RunRecordsTest, StartFillsTheWindowFromTheLastTrainedTime) {
  v1::Run run = Queued(v1::TRAINING_STRATEGY_INCREMENTAL);
  StartRun(kNow, ToProto(kNow - absl::Hours(5)), &run);
  EXPECT_EQ(run.state(), v1::RUN_STATE_RUNNING);
  EXPECT_EQ(FromProto(run.start_time()), kNow);
  EXPECT_EQ(FromProto(run.data_window().end_time()), kNow);
  EXPECT_EQ(FromProto(run.data_window().start_time()), kNow - absl::Hours(5));
  EXPECT_EQ(run.progress().phase(), v1::RUN_PHASE_FETCHING_MODEL);
  EXPECT_EQ(run.progress().message(), "starting");

  // A full retrain takes the whole window; an older last trained time
  // does not widen it.
  v1::Run full = Queued(v1::TRAINING_STRATEGY_FULL_RETRAIN);
  StartRun(kNow, ToProto(kNow - absl::Hours(5)), &full);
  EXPECT_EQ(FromProto(full.data_window().start_time()), kNow - absl::Hours(24));
  v1::Run old = Queued(v1::TRAINING_STRATEGY_INCREMENTAL);
  StartRun(kNow, ToProto(kNow - absl::Hours(48)), &old);
  EXPECT_EQ(FromProto(old.data_window().start_time()), kNow - absl::Hours(24));
  // A trigger's window stays.
  v1::Run given = Queued(v1::TRAINING_STRATEGY_INCREMENTAL);
  *given.mutable_data_window()->mutable_start_time() =
      ToProto(kNow - absl::Hours(3));
  *given.mutable_data_window()->mutable_end_time() =
      ToProto(kNow - absl::Hours(1));
  StartRun(kNow, std::nullopt, &given);
  EXPECT_EQ(FromProto(given.data_window().start_time()), kNow - absl::Hours(3));
  EXPECT_EQ(FromProto(given.data_window().end_time()), kNow - absl::Hours(1));
}

TEST(RunRecordsTest, EndRunRecordsTheStateAndError) {
  v1::Run run = Queued(v1::TRAINING_STRATEGY_INCREMENTAL);
  run.mutable_error()->set_code(3);
  EndRun(v1::RUN_STATE_SUCCEEDED, absl::OkStatus(), kNow, &run);
  EXPECT_TRUE(IsFinal(run.state()));
  EXPECT_FALSE(run.has_error());
  EXPECT_EQ(run.progress().phase(), v1::RUN_PHASE_DONE);
  EXPECT_EQ(run.progress().message(), "RUN_STATE_SUCCEEDED");
  EXPECT_EQ(FromProto(run.end_time()), kNow);
  EndRun(v1::RUN_STATE_FAILED, absl::InternalError("boom"), kNow, &run);
  EXPECT_EQ(run.error().code(), static_cast<int>(absl::StatusCode::kInternal));
  EXPECT_EQ(run.progress().message(), "RUN_STATE_FAILED: boom");

  v1::Run interrupted = Queued(v1::TRAINING_STRATEGY_INCREMENTAL);
  EndRunAtShutdown(kNow, &interrupted);
  EXPECT_EQ(interrupted.state(), v1::RUN_STATE_FAILED);
  EXPECT_EQ(interrupted.error().code(),
            static_cast<int>(absl::StatusCode::kAborted));
  EXPECT_EQ(interrupted.error().message(), kShutdownReason);
  EXPECT_EQ(interrupted.progress().message(), kShutdownReason);
  EXPECT_FALSE(IsFinal(v1::RUN_STATE_RUNNING));
  EXPECT_FALSE(IsFinal(v1::RUN_STATE_QUEUED));
}

TEST(RunRecordsTest, SkippedRunIsCancelledFromTheStart) {
  v1::TrainingConfig config;
  config.set_strategy(v1::TRAINING_STRATEGY_FULL_RETRAIN);
  const v1::Run run =
      SkippedRun("m", "skipped: only 5 new records", kNow, &config);
  EXPECT_EQ(run.model(), "m");
  EXPECT_EQ(run.state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(run.trigger(), v1::RUN_TRIGGER_SCHEDULE);
  EXPECT_EQ(run.error().code(),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(run.reason(), "skipped: only 5 new records");
  EXPECT_EQ(run.actor(), "trainer");
  EXPECT_EQ(run.strategy(), v1::TRAINING_STRATEGY_FULL_RETRAIN);
  EXPECT_EQ(FromProto(run.create_time()), kNow);
  EXPECT_EQ(FromProto(run.end_time()), kNow);
  EXPECT_FALSE(SkippedRun("m", "x", kNow, nullptr).has_config());
}

}  // namespace
}  // namespace continuum::trainer
