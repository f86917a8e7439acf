// ModelSchedules over an in-memory store: configurations, cadences that
// count from when they are set, pauses and the circuit breaker's gauge.
#include "services/trainer/model_schedules.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include "lib/core/proto_time.h"
#include "services/trainer/in_memory_run_store.h"

namespace continuum::trainer {
namespace {

using ::continuum::core::FromProto;
using ::continuum::core::ToProtoDuration;
using ::testing::HasSubstr;

class ModelSchedulesTest : public ::testing::Test {
 protected:
  ModelSchedulesTest()
      : clock_(absl::FromUnixSeconds(1'800'000'000)),
        metrics_(prometheus_),
        schedules_(&store_, &clock_, &metrics_) {}

  v1::ConfigureTrainingRequest Every(absl::Duration every) {
    v1::ConfigureTrainingRequest request;
    request.mutable_config()->set_name("models/m/trainingConfig");
    *request.mutable_config()->mutable_schedule()->mutable_every() =
        ToProtoDuration(every);
    return request;
  }

  double CircuitGauge() {
    for (const auto& f : prometheus_.Collect()) {
      if (f.name != "continuum_trainer_circuit_open") continue;
      for (const auto& m : f.metric) return m.gauge.value;
    }
    return -1;
  }

  InMemoryRunStore store_;
  core::FakeClock clock_;
  prometheus::Registry prometheus_;
  TrainerMetrics metrics_;
  ModelSchedules schedules_;
};

TEST_F(ModelSchedulesTest, ACadenceCountsFromWhenItIsSet) {
  const absl::Time t0 = clock_.Now();
  absl::StatusOr<v1::TrainingConfig> view =
      schedules_.Configure("m", Every(absl::Hours(1)));
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(FromProto(view->schedule_status().next_run_time()),
            t0 + absl::Hours(1));
  EXPECT_EQ(FromProto(view->update_time()), t0);
  EXPECT_TRUE(schedules_.TakeDue(t0 + absl::Minutes(59)).empty());
  std::vector<DueSlot> due = schedules_.TakeDue(t0 + absl::Hours(3));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].model, "m");
  EXPECT_EQ(due[0].state.last_slot, t0 + absl::Hours(3));
  // Consumed: the missed slots collapsed into this one.
  EXPECT_TRUE(schedules_.TakeDue(t0 + absl::Hours(3)).empty());

  // The same cadence again does not move the slot; another does.
  clock_.Advance(absl::Minutes(10));
  ASSERT_TRUE(schedules_.Configure("m", Every(absl::Hours(1))).ok());
  EXPECT_EQ((*store_.GetSchedule("m")).last_slot, t0 + absl::Hours(3));
  ASSERT_TRUE(schedules_.Configure("m", Every(absl::Hours(2))).ok());
  EXPECT_EQ((*store_.GetSchedule("m")).last_slot, clock_.Now());

  // A fresh object loads what was stored.
  ModelSchedules reloaded(&store_, &clock_, nullptr);
  ASSERT_TRUE(reloaded.Load().ok());
  EXPECT_EQ(FromProto(reloaded.Stored("m").schedule().every()), absl::Hours(2));
  EXPECT_TRUE(reloaded.Effective("m").has_value());
  EXPECT_FALSE(reloaded.Effective("other").has_value());
}

TEST_F(ModelSchedulesTest, InvalidConfigsNameTheField) {
  v1::ConfigureTrainingRequest request = Every(absl::Seconds(1));
  absl::Status s = schedules_.Configure("m", request).status();
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(s.message(), HasSubstr("config.schedule.every"));
}

TEST_F(ModelSchedulesTest, TheBreakerPausesAndResumeClosesIt) {
  v1::Run run;
  run.set_name("models/m/runs/1");
  run.set_model("m");
  run.mutable_config()->set_circuit_breaker_threshold(2);
  EXPECT_TRUE(schedules_.Count(run, v1::RUN_STATE_FAILED, "boom"));
  EXPECT_FALSE(schedules_.Count(run, v1::RUN_STATE_FAILED, "boom"));
  EXPECT_EQ(CircuitGauge(), 1);
  EXPECT_TRUE(
      absl::IsFailedPrecondition(schedules_.Admit("m", v1::RUN_TRIGGER_DRIFT)));
  EXPECT_TRUE(schedules_.Admit("m", v1::RUN_TRIGGER_MANUAL).ok());
  absl::StatusOr<v1::ScheduleStatus> paused = schedules_.PauseSchedule("m", "");
  ASSERT_TRUE(paused.ok());
  EXPECT_THAT(paused->paused_reason(), HasSubstr("circuit breaker"));
  absl::StatusOr<v1::ScheduleStatus> resumed =
      schedules_.ResumeSchedule("m", "fixed");
  ASSERT_TRUE(resumed.ok());
  EXPECT_FALSE(resumed->circuit_open());
  EXPECT_EQ(CircuitGauge(), 0);
  EXPECT_EQ((*store_.GetSchedule("m")).last_slot, clock_.Now());

  // A start records last_run_time and hands back the trained window's end.
  run.mutable_data_window()->mutable_end_time()->set_seconds(1234);
  EXPECT_TRUE(schedules_.Count(run, v1::RUN_STATE_SUCCEEDED, ""));
  std::optional<google::protobuf::Timestamp> trained =
      schedules_.RunStarted("m", clock_.Now());
  ASSERT_TRUE(trained.has_value());
  EXPECT_EQ(trained->seconds(), 1234);
  EXPECT_EQ(FromProto((*store_.GetSchedule("m")).status.last_run_time()),
            clock_.Now());
}

}  // namespace
}  // namespace continuum::trainer
