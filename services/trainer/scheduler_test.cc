#include "services/trainer/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "lib/core/clock.h"
#include "lib/core/proto_time.h"
#include "services/trainer/in_memory_run_store.h"
#include "services/trainer/testing/fake_clients.h"
#include "services/trainer/testing/fake_executor.h"

namespace continuum::trainer {
namespace {

using ::continuum::core::FromProto;
using ::continuum::core::ToProto;
using ::continuum::core::ToProtoDuration;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Time Utc(int y, int mo, int d, int h, int mi) {
  return absl::FromCivil(absl::CivilMinute(y, mo, d, h, mi),
                         absl::UTCTimeZone());
}

class SchedulerTest : public ::testing::Test {
 protected:
  SchedulerTest() : clock_(Utc(2026, 1, 1, 0, 0)) {}

  void SetUp() override {
    registry_.AddModel("m");
    registry_.AddModel("n");
    store_ = std::make_unique<InMemoryRunStore>();
    metrics_ = std::make_unique<TrainerMetrics>(prometheus_);
    StartScheduler();
  }
  void TearDown() override {
    scheduler_.reset();
    store_.reset();
  }

  void StartScheduler() {
    SchedulerOptions options;
    options.store = store_.get();
    options.executor = &executor_;
    options.registry = &registry_;
    options.collector = &collector_;
    options.clock = &clock_;
    options.metrics = metrics_.get();
    options.workers = 1;
    options.tick_interval = absl::ZeroDuration();  // RunDue by hand.
    options.progress_interval = absl::ZeroDuration();
    options.take_scheduled_slot = take_scheduled_slot_;
    scheduler_ = std::make_unique<Scheduler>(options);
    ASSERT_TRUE(scheduler_->Start().ok());
  }

  std::function<bool(const std::string&, const std::string&)>
      take_scheduled_slot_;

  absl::StatusOr<v1::TriggerRunResponse> Trigger(
      v1::RunTrigger trigger = v1::RUN_TRIGGER_MANUAL,
      const std::string& model = "m") {
    v1::TriggerRunRequest request;
    request.set_parent("models/" + model);
    request.set_trigger(trigger);
    request.set_reason("test");
    return scheduler_->TriggerRun(request, "tester");
  }

  void Configure(const v1::TrainingConfig& config) {
    v1::ConfigureTrainingRequest request;
    *request.mutable_config() = config;
    request.mutable_config()->set_name("models/m/trainingConfig");
    auto r = scheduler_->ConfigureTraining(request);
    ASSERT_TRUE(r.ok()) << r.status();
  }

  v1::ScheduleStatus Status() {
    auto config = scheduler_->GetTrainingConfig("models/m/trainingConfig");
    EXPECT_TRUE(config.ok()) << config.status();
    return config.ok() ? config->schedule_status() : v1::ScheduleStatus();
  }

  std::vector<v1::Run> Runs(const std::string& parent = "models/m") {
    v1::ListRunsRequest request;
    request.set_parent(parent);
    request.set_page_size(1000);
    auto list = scheduler_->ListRuns(request);
    EXPECT_TRUE(list.ok()) << list.status();
    if (!list.ok()) return {};
    return {list->runs().begin(), list->runs().end()};
  }

  v1::Run Wait(const std::string& name) {
    EXPECT_TRUE(scheduler_->WaitIdle(absl::Seconds(10)));
    auto run = scheduler_->GetRun(name);
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? *run : v1::Run();
  }

  double Gauge(const std::string& family, const std::string& model) {
    for (const auto& f : prometheus_.Collect()) {
      if (f.name != family) continue;
      for (const auto& m : f.metric) {
        for (const auto& l : m.label) {
          if (l.name == "model" && l.value == model) return m.gauge.value;
        }
      }
    }
    return -1;
  }

  // Steps the clock by `step` up to `until`, calling RunDue at each step and
  // letting triggered runs finish; returns the create times of the
  // scheduled runs.
  std::vector<absl::Time> StepUntil(absl::Time until, absl::Duration step) {
    std::vector<absl::Time> times;
    while (clock_.Now() < until) {
      clock_.Advance(step);
      if (scheduler_->RunDue() > 0) {
        EXPECT_TRUE(scheduler_->WaitIdle(absl::Seconds(10)));
      }
    }
    for (const v1::Run& run : Runs()) {
      if (run.trigger() == v1::RUN_TRIGGER_SCHEDULE) {
        times.insert(times.begin(), FromProto(run.create_time()));
      }
    }
    return times;
  }

  core::FakeClock clock_;
  FakeRegistry registry_;
  FakeCollector collector_;
  FakeExecutor executor_;
  prometheus::Registry prometheus_;
  std::unique_ptr<TrainerMetrics> metrics_;
  std::unique_ptr<InMemoryRunStore> store_;
  std::unique_ptr<Scheduler> scheduler_;
};

TEST_F(SchedulerTest, EveryCadenceRunsOncePerPeriod) {
  v1::TrainingConfig config;
  *config.mutable_schedule()->mutable_every() = ToProtoDuration(absl::Hours(6));
  const absl::Time t0 = clock_.Now();
  Configure(config);
  EXPECT_EQ(FromProto(Status().next_run_time()), t0 + absl::Hours(6));

  clock_.Advance(absl::Hours(6) - absl::Seconds(1));
  EXPECT_EQ(scheduler_->RunDue(), 0);
  EXPECT_TRUE(Runs().empty());
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(scheduler_->RunDue(), 1);
  EXPECT_EQ(scheduler_->RunDue(), 0);  // The slot is consumed.
  std::vector<v1::Run> runs = Runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].trigger(), v1::RUN_TRIGGER_SCHEDULE);
  EXPECT_EQ(runs[0].actor(), "trainer");
  ASSERT_TRUE(executor_.WaitStarted(1));
  executor_.Finish(runs[0].name(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(Wait(runs[0].name()).state(), v1::RUN_STATE_SUCCEEDED);
  const v1::ScheduleStatus status = Status();
  EXPECT_EQ(FromProto(status.next_run_time()), t0 + absl::Hours(12));
  EXPECT_EQ(FromProto(status.last_success_time()), clock_.Now());
  EXPECT_EQ(FromProto(status.last_trained_time()), t0 + absl::Hours(6));

  // Three periods pass with the trainer "down": one run, not three.
  clock_.Advance(absl::Hours(18));
  EXPECT_EQ(scheduler_->RunDue(), 1);
  EXPECT_EQ(scheduler_->RunDue(), 0);
  EXPECT_EQ(Runs().size(), 2u);
}

// A federated coordinator takes its models' slots: they open rounds, not
// runs; other models' slots stay runs.
TEST_F(SchedulerTest, ATakenSlotIsNoRun) {
  std::vector<std::string> taken;
  take_scheduled_slot_ = [&](const std::string& model,
                             const std::string& reason) {
    taken.push_back(absl::StrCat(model, " ", reason));
    return model == "m";
  };
  scheduler_.reset();
  StartScheduler();
  v1::TrainingConfig config;
  *config.mutable_schedule()->mutable_every() = ToProtoDuration(absl::Hours(1));
  Configure(config);
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(scheduler_->RunDue(), 1);
  EXPECT_THAT(taken, ::testing::ElementsAre("m schedule: every 1h"));
  EXPECT_TRUE(Runs().empty());
  EXPECT_EQ(scheduler_->RunDue(), 0);  // the slot is consumed
}

TEST_F(SchedulerTest, DailyAtAcrossSpringForward) {
  clock_.Set(Utc(2026, 3, 7, 12, 0));
  executor_.set_auto(RunOutcome{v1::RUN_STATE_SUCCEEDED, absl::OkStatus()});
  v1::TrainingConfig config;
  v1::TimeOfDay* at = config.mutable_schedule()->mutable_daily_at();
  at->set_hours(2);
  at->set_minutes(30);
  at->set_time_zone("America/New_York");
  Configure(config);
  // 02:30 does not exist on 2026-03-08 in New York: the run is at 03:00
  // EDT (07:00 UTC), the first valid instant after it.
  EXPECT_THAT(StepUntil(Utc(2026, 3, 9, 12, 0), absl::Minutes(5)),
              ElementsAre(Utc(2026, 3, 8, 7, 0), Utc(2026, 3, 9, 6, 30)));
}

TEST_F(SchedulerTest, DailyAtAcrossFallBackRunsOnce) {
  clock_.Set(Utc(2026, 10, 31, 12, 0));
  executor_.set_auto(RunOutcome{v1::RUN_STATE_SUCCEEDED, absl::OkStatus()});
  v1::TrainingConfig config;
  v1::TimeOfDay* at = config.mutable_schedule()->mutable_daily_at();
  at->set_hours(1);
  at->set_minutes(30);
  at->set_time_zone("America/New_York");
  Configure(config);
  // 01:30 happens twice on 2026-11-01 (05:30 and 06:30 UTC): once only.
  EXPECT_THAT(StepUntil(Utc(2026, 11, 2, 12, 0), absl::Minutes(5)),
              ElementsAre(Utc(2026, 11, 1, 5, 30), Utc(2026, 11, 2, 6, 30)));
}

TEST_F(SchedulerTest, TriggersDuringARunCoalesceIntoOneQueuedRun) {
  auto first = Trigger();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->coalesced());
  ASSERT_TRUE(executor_.WaitStarted(1));

  auto second = Trigger(v1::RUN_TRIGGER_MANUAL);
  auto third = Trigger(v1::RUN_TRIGGER_DRIFT);
  auto fourth = Trigger(v1::RUN_TRIGGER_MANUAL);
  ASSERT_TRUE(second.ok() && third.ok() && fourth.ok());
  EXPECT_FALSE(second->coalesced());
  EXPECT_EQ(second->run().state(), v1::RUN_STATE_QUEUED);
  EXPECT_TRUE(third->coalesced());
  EXPECT_TRUE(fourth->coalesced());
  EXPECT_EQ(third->run().name(), second->run().name());
  EXPECT_EQ(fourth->run().name(), second->run().name());
  EXPECT_EQ(fourth->run().coalesced_triggers(), 2);

  const v1::ScheduleStatus status = Status();
  EXPECT_EQ(status.active_run(), first->run().name());
  EXPECT_EQ(status.queued_run(), second->run().name());
  EXPECT_EQ(Runs().size(), 2u);

  executor_.Finish(first->run().name(), v1::RUN_STATE_SUCCEEDED);
  ASSERT_TRUE(executor_.WaitStarted(2));
  EXPECT_EQ(executor_.started()[1].name(), second->run().name());
  // The queued run now runs: a new trigger queues a new one.
  auto fifth = Trigger();
  ASSERT_TRUE(fifth.ok());
  EXPECT_FALSE(fifth->coalesced());
  EXPECT_NE(fifth->run().name(), second->run().name());
  executor_.Finish(second->run().name(), v1::RUN_STATE_SUCCEEDED);
  ASSERT_TRUE(executor_.WaitStarted(3));
  executor_.Finish(fifth->run().name(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(Wait(fifth->run().name()).state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(Runs().size(), 3u);
}

TEST_F(SchedulerTest, CircuitBreakerOpensAfterThreeFailuresAndResumes) {
  v1::TrainingConfig config;
  *config.mutable_schedule()->mutable_every() = ToProtoDuration(absl::Hours(1));
  Configure(config);
  const std::vector<RunOutcome> outcomes = {
      {v1::RUN_STATE_FAILED, absl::InternalError("boom")},
      {v1::RUN_STATE_REJECTED, absl::FailedPreconditionError("gates")},
      {v1::RUN_STATE_FAILED, absl::UnavailableError("registry down")}};
  for (size_t i = 0; i < outcomes.size(); ++i) {
    EXPECT_FALSE(Status().circuit_open()) << i;
    executor_.set_auto(outcomes[i]);
    auto r = Trigger(i == 1 ? v1::RUN_TRIGGER_DRIFT : v1::RUN_TRIGGER_MANUAL);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(Wait(r->run().name()).state(), outcomes[i].state);
  }
  v1::ScheduleStatus status = Status();
  EXPECT_TRUE(status.circuit_open());
  EXPECT_TRUE(status.paused());
  EXPECT_EQ(status.consecutive_failures(), 3);
  EXPECT_THAT(status.paused_reason(), HasSubstr("circuit breaker"));
  EXPECT_FALSE(status.has_next_run_time());
  EXPECT_EQ(Gauge("continuum_trainer_circuit_open", "m"), 1);

  // Drift triggers and the schedule are held; manual triggers are not.
  auto drift = Trigger(v1::RUN_TRIGGER_DRIFT);
  EXPECT_TRUE(absl::IsFailedPrecondition(drift.status()));
  EXPECT_THAT(drift.status().message(), HasSubstr("circuit breaker"));
  EXPECT_THAT(drift.status().message(), HasSubstr("ResumeSchedule"));
  clock_.Advance(absl::Hours(2));
  EXPECT_EQ(scheduler_->RunDue(), 0);
  executor_.set_auto(RunOutcome{v1::RUN_STATE_SUCCEEDED, absl::OkStatus()});
  auto manual = Trigger(v1::RUN_TRIGGER_MANUAL);
  ASSERT_TRUE(manual.ok()) << manual.status();
  EXPECT_EQ(Wait(manual->run().name()).state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_TRUE(Status().circuit_open());  // Only ResumeSchedule closes it.

  auto resumed = scheduler_->ResumeSchedule("models/m/trainingConfig", "fixed");
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_FALSE(resumed->circuit_open());
  EXPECT_FALSE(resumed->paused());
  EXPECT_EQ(resumed->consecutive_failures(), 0);
  EXPECT_TRUE(resumed->has_next_run_time());
  EXPECT_EQ(Gauge("continuum_trainer_circuit_open", "m"), 0);
  auto after = Trigger(v1::RUN_TRIGGER_DRIFT);
  ASSERT_TRUE(after.ok()) << after.status();
  Wait(after->run().name());
}

TEST_F(SchedulerTest, OnlineCandidatesCountOneByOne) {
  v1::TrainingConfig config;
  config.set_strategy(v1::TRAINING_STRATEGY_ONLINE);
  Configure(config);
  const absl::Time trained = clock_.Now() - absl::Minutes(10);
  std::vector<bool> go_on;
  executor_.set_script([&](const v1::Run& run, RunControl& control) {
    EXPECT_EQ(run.strategy(), v1::TRAINING_STRATEGY_ONLINE);
    EXPECT_EQ(FromProto(run.config().online().publish_every()),
              absl::Minutes(15));
    EXPECT_EQ(run.config().online().micro_batch_size(), 1000);
    // One approved candidate, then rejected ones until the breaker opens.
    control.SetPhase(v1::RUN_PHASE_TRAINING, "online");
    control.Update([&](v1::Run* r) {
      *r->mutable_data_window()->mutable_end_time() = ToProto(trained);
    });
    go_on.push_back(control.CandidateDecided(true, "version 2 approved"));
    for (int i = 0; i < 3 && go_on.back(); ++i) {
      EXPECT_TRUE(control.BeginUpload().ok());
      control.SetPhase(v1::RUN_PHASE_TRAINING, "online");  // Cancellable.
      go_on.push_back(control.CandidateDecided(false, "gates failed"));
    }
    return RunOutcome{v1::RUN_STATE_REJECTED,
                      absl::FailedPreconditionError("circuit breaker")};
  });
  auto r = Trigger();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Wait(r->run().name()).state(), v1::RUN_STATE_REJECTED);
  EXPECT_THAT(go_on, ::testing::ElementsAre(true, true, true, false));
  const v1::ScheduleStatus status = Status();
  EXPECT_TRUE(status.circuit_open());
  EXPECT_EQ(status.consecutive_failures(), 3);  // Not 4: the end is not
                                                // counted again.
  EXPECT_THAT(status.paused_reason(), HasSubstr("gates failed"));
  EXPECT_EQ(FromProto(status.last_trained_time()), trained);
  EXPECT_TRUE(status.has_last_success_time());

  // A manual online run while the breaker is open: approved candidates go
  // on (the breaker stays open), a rejected one stops it.
  go_on.clear();
  executor_.set_script([&](const v1::Run&, RunControl& control) {
    go_on.push_back(control.CandidateDecided(true, "approved"));
    go_on.push_back(control.CandidateDecided(false, "gates failed"));
    return RunOutcome{v1::RUN_STATE_REJECTED,
                      absl::FailedPreconditionError("circuit breaker")};
  });
  auto again = Trigger();
  ASSERT_TRUE(again.ok()) << again.status();
  Wait(again->run().name());
  EXPECT_THAT(go_on, ::testing::ElementsAre(true, false));
  EXPECT_TRUE(Status().circuit_open());
  EXPECT_EQ(Status().consecutive_failures(), 1);
}

TEST_F(SchedulerTest, CircuitStateSurvivesARestart) {
  executor_.set_auto(
      RunOutcome{v1::RUN_STATE_FAILED, absl::InternalError("x")});
  for (int i = 0; i < 3; ++i) {
    auto r = Trigger();
    ASSERT_TRUE(r.ok());
    Wait(r->run().name());
  }
  scheduler_.reset();
  StartScheduler();
  EXPECT_TRUE(Status().circuit_open());
  EXPECT_TRUE(
      absl::IsFailedPrecondition(Trigger(v1::RUN_TRIGGER_DRIFT).status()));
}

TEST_F(SchedulerTest, PausedScheduleHoldsDriftAndScheduledRuns) {
  v1::TrainingConfig config;
  *config.mutable_schedule()->mutable_every() = ToProtoDuration(absl::Hours(1));
  Configure(config);
  auto paused = scheduler_->PauseSchedule("models/m/trainingConfig", "holiday");
  ASSERT_TRUE(paused.ok());
  EXPECT_TRUE(paused->paused());
  EXPECT_FALSE(paused->circuit_open());
  EXPECT_THAT(paused->paused_reason(), HasSubstr("holiday"));
  clock_.Advance(absl::Hours(3));
  EXPECT_EQ(scheduler_->RunDue(), 0);
  auto drift = Trigger(v1::RUN_TRIGGER_DRIFT);
  EXPECT_TRUE(absl::IsFailedPrecondition(drift.status()));
  EXPECT_THAT(drift.status().message(), HasSubstr("paused"));
  ASSERT_TRUE(scheduler_->ResumeSchedule("models/m/trainingConfig", "").ok());
  // Slots missed while paused are not made up for.
  EXPECT_EQ(scheduler_->RunDue(), 0);
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(scheduler_->RunDue(), 1);
}

TEST_F(SchedulerTest, MinNewRecordsSkipsWithARecordedReason) {
  v1::TrainingConfig config;
  *config.mutable_schedule()->mutable_every() = ToProtoDuration(absl::Hours(1));
  config.mutable_schedule()->set_min_new_records(100);
  config.set_dataset("m-data");
  Configure(config);
  collector_.set_records(5);
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(scheduler_->RunDue(), 1);
  std::vector<v1::Run> runs = Runs();
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(runs[0].trigger(), v1::RUN_TRIGGER_SCHEDULE);
  EXPECT_THAT(runs[0].reason(), HasSubstr("skipped: only 5 new records"));
  EXPECT_THAT(runs[0].reason(), HasSubstr("min_new_records is 100"));
  EXPECT_EQ(runs[0].error().code(),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(executor_.started().empty());
  EXPECT_FALSE(collector_.windows()[0].has_start_time());  // Never trained.

  collector_.set_records(500);
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(scheduler_->RunDue(), 1);
  ASSERT_TRUE(executor_.WaitStarted(1));
  runs = Runs();
  ASSERT_EQ(runs.size(), 2u);
  executor_.Finish(runs[0].name(), v1::RUN_STATE_SUCCEEDED);
  Wait(runs[0].name());
  // The next count starts at the end of the trained window.
  clock_.Advance(absl::Hours(1));
  collector_.set_records(0);
  EXPECT_EQ(scheduler_->RunDue(), 1);
  ASSERT_EQ(collector_.windows().size(), 3u);
  EXPECT_EQ(FromProto(collector_.windows()[2].start_time()),
            FromProto(runs[0].data_window().end_time()));
  EXPECT_EQ(Status().consecutive_failures(), 0);  // Skips are not failures.
}

TEST_F(SchedulerTest, IncrementalWindowStartsAtTheLastTrainedTime) {
  executor_.set_auto(RunOutcome{v1::RUN_STATE_SUCCEEDED, absl::OkStatus()});
  const absl::Time t0 = clock_.Now();
  auto first = Trigger();
  ASSERT_TRUE(first.ok());
  v1::Run done = Wait(first->run().name());
  EXPECT_EQ(FromProto(done.data_window().end_time()), t0);
  EXPECT_EQ(FromProto(done.data_window().start_time()),
            t0 - absl::Hours(24 * 30));
  clock_.Advance(absl::Hours(5));
  auto second = Trigger();
  ASSERT_TRUE(second.ok());
  done = Wait(second->run().name());
  EXPECT_EQ(FromProto(done.data_window().start_time()), t0);
  EXPECT_EQ(FromProto(done.data_window().end_time()), t0 + absl::Hours(5));
}

TEST_F(SchedulerTest, CancelQueuedRunningFinishedAndUploading) {
  auto running = Trigger();
  ASSERT_TRUE(running.ok());
  ASSERT_TRUE(executor_.WaitStarted(1));
  auto queued = Trigger();
  ASSERT_TRUE(queued.ok());

  v1::CancelRunRequest cancel;
  cancel.set_name(queued->run().name());
  cancel.set_reason("not needed");
  auto c1 = scheduler_->CancelRun(cancel);
  ASSERT_TRUE(c1.ok()) << c1.status();
  EXPECT_EQ(c1->state(), v1::RUN_STATE_CANCELLED);
  EXPECT_THAT(c1->error().message(), HasSubstr("not needed"));
  EXPECT_EQ(Status().queued_run(), "");

  cancel.set_name(running->run().name());
  auto c2 = scheduler_->CancelRun(cancel);
  ASSERT_TRUE(c2.ok()) << c2.status();
  EXPECT_EQ(c2->state(), v1::RUN_STATE_CANCELLED);
  EXPECT_EQ(executor_.started().size(), 1u);  // The queued one never ran.

  auto c3 = scheduler_->CancelRun(cancel);
  EXPECT_TRUE(absl::IsFailedPrecondition(c3.status()));
  EXPECT_THAT(c3.status().message(), HasSubstr("RUN_STATE_CANCELLED"));
  EXPECT_EQ(Status().consecutive_failures(), 0);

  executor_.set_begin_upload(true);
  auto uploading = Trigger();
  ASSERT_TRUE(uploading.ok());
  ASSERT_TRUE(executor_.WaitStarted(2));
  cancel.set_name(uploading->run().name());
  // BeginUpload ran before the executor signalled it started.
  auto c4 = scheduler_->CancelRun(cancel);
  EXPECT_TRUE(absl::IsFailedPrecondition(c4.status()));
  EXPECT_THAT(c4.status().message(), HasSubstr("RUN_PHASE_UPLOADING"));
  executor_.Finish(uploading->run().name(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(Wait(uploading->run().name()).state(), v1::RUN_STATE_SUCCEEDED);

  cancel.set_name("models/m/runs/99");
  EXPECT_TRUE(absl::IsNotFound(scheduler_->CancelRun(cancel).status()));
}

TEST_F(SchedulerTest, RequestIdMakesTriggersIdempotent) {
  v1::TriggerRunRequest request;
  request.set_parent("models/m");
  request.set_trigger(v1::RUN_TRIGGER_DRIFT);
  request.set_alert("models/m/alerts/7");
  request.set_request_id("models/m/alerts/7");
  auto first = scheduler_->TriggerRun(request, "drift");
  auto again = scheduler_->TriggerRun(request, "drift");
  ASSERT_TRUE(first.ok() && again.ok());
  EXPECT_EQ(first->run().name(), again->run().name());
  EXPECT_EQ(first->run().alert(), "models/m/alerts/7");
  EXPECT_EQ(first->run().actor(), "drift");
  EXPECT_EQ(Runs().size(), 1u);
}

TEST_F(SchedulerTest, BadRequestsNameTheFieldOrState) {
  EXPECT_TRUE(
      absl::IsNotFound(Trigger(v1::RUN_TRIGGER_MANUAL, "nope").status()));
  v1::TriggerRunRequest request;
  request.set_parent("model/m");
  auto bad_parent = scheduler_->TriggerRun(request, "");
  EXPECT_TRUE(absl::IsInvalidArgument(bad_parent.status()));
  EXPECT_THAT(bad_parent.status().message(), HasSubstr("parent"));

  auto internal = Trigger(v1::RUN_TRIGGER_SCHEDULE);
  EXPECT_TRUE(absl::IsInvalidArgument(internal.status()));
  EXPECT_THAT(internal.status().message(), HasSubstr("trigger"));

  request.set_parent("models/m");
  request.mutable_override_mask()->add_paths("optimiser.learning_rate");
  auto bad_path = scheduler_->TriggerRun(request, "");
  EXPECT_TRUE(absl::IsInvalidArgument(bad_path.status()));
  EXPECT_THAT(bad_path.status().message(),
              HasSubstr("optimiser.learning_rate"));

  request.mutable_override_mask()->set_paths(0, "optimizer.learning_rate");
  request.mutable_overrides()->mutable_optimizer()->set_learning_rate(-1);
  auto bad_value = scheduler_->TriggerRun(request, "");
  EXPECT_TRUE(absl::IsInvalidArgument(bad_value.status()));
  EXPECT_THAT(bad_value.status().message(),
              HasSubstr("overrides: optimizer.learning_rate"));

  request.mutable_override_mask()->set_paths(0, "strategy");
  request.mutable_override_mask()->add_paths("online");
  request.mutable_overrides()->set_strategy(v1::TRAINING_STRATEGY_ONLINE);
  *request.mutable_overrides()->mutable_online()->mutable_publish_every() =
      ToProtoDuration(absl::Minutes(-1));
  auto bad_online = scheduler_->TriggerRun(request, "");
  EXPECT_TRUE(absl::IsInvalidArgument(bad_online.status()));
  EXPECT_THAT(bad_online.status().message(), HasSubstr("online.publish_every"));

  v1::ConfigureTrainingRequest configure;
  configure.mutable_config()->set_name("models/m/trainingConfig");
  v1::TimeOfDay* at =
      configure.mutable_config()->mutable_schedule()->mutable_daily_at();
  at->set_hours(2);
  at->set_time_zone("Atlantis/Capital");
  auto zone = scheduler_->ConfigureTraining(configure);
  EXPECT_TRUE(absl::IsInvalidArgument(zone.status()));
  EXPECT_THAT(zone.status().message(),
              HasSubstr("config.schedule.daily_at.time_zone"));
  configure.mutable_config()->set_name("models/nope/trainingConfig");
  EXPECT_TRUE(
      absl::IsNotFound(scheduler_->ConfigureTraining(configure).status()));

  EXPECT_TRUE(absl::IsNotFound(scheduler_->GetRun("models/m/runs/5").status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(scheduler_->GetRun("models/m/5").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      scheduler_->GetTrainingConfig("models/m").status()));
  v1::ListRunsRequest list;
  list.set_parent("models/m");
  list.set_filter("state = RUN_STATE_NOPE");
  EXPECT_TRUE(absl::IsInvalidArgument(scheduler_->ListRuns(list).status()));
}

TEST_F(SchedulerTest, ConfigureWithMaskAndDefaults) {
  v1::TrainingConfig config;
  config.set_epochs(5);
  config.mutable_optimizer()->set_learning_rate(0.01);
  Configure(config);
  v1::ConfigureTrainingRequest request;
  request.mutable_config()->set_name("models/m/trainingConfig");
  request.mutable_config()->set_epochs(9);
  request.mutable_config()->mutable_optimizer()->set_learning_rate(0.5);
  request.mutable_update_mask()->add_paths("epochs");
  auto r = scheduler_->ConfigureTraining(request);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->epochs(), 9);
  EXPECT_DOUBLE_EQ(r->optimizer().learning_rate(), 0.01);  // Not in the mask.
  EXPECT_EQ(r->dataset(), "m");
  EXPECT_EQ(r->circuit_breaker_threshold(), 3);
  EXPECT_EQ(r->batch_size(), 64);
  EXPECT_EQ(r->seed(), 0u);  // Random per run.
  EXPECT_TRUE(r->has_update_time());

  // A run's overrides apply to it alone; its config records the seed.
  v1::TriggerRunRequest trigger;
  trigger.set_parent("models/m");
  trigger.mutable_overrides()->set_epochs(1);
  trigger.mutable_override_mask()->add_paths("epochs");
  auto run = scheduler_->TriggerRun(trigger, "");
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->run().config().epochs(), 1);
  EXPECT_NE(run->run().config().seed(), 0u);
  EXPECT_EQ(scheduler_->GetTrainingConfig("models/m/trainingConfig")->epochs(),
            9);
}

TEST_F(SchedulerTest, StopFailsUnfinishedRunsWithoutCountingThem) {
  auto running = Trigger();
  ASSERT_TRUE(running.ok());
  ASSERT_TRUE(executor_.WaitStarted(1));
  auto queued = Trigger();
  ASSERT_TRUE(queued.ok());
  scheduler_->Stop();
  for (const std::string& name :
       {running->run().name(), queued->run().name()}) {
    auto run = store_->GetRun(name);
    ASSERT_TRUE(run.ok() && run->has_value());
    EXPECT_EQ((*run)->state(), v1::RUN_STATE_FAILED) << name;
    EXPECT_THAT((*run)->error().message(), HasSubstr("shutdown")) << name;
  }
  auto state = store_->GetSchedule("m");
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->status.consecutive_failures(), 0);
}

TEST_F(SchedulerTest, WatchSeesStateChangesAndTheEnd) {
  auto r = Trigger();
  ASSERT_TRUE(r.ok());
  const std::string name = r->run().name();
  auto first = scheduler_->WaitForRunUpdate(name, 0, absl::Now());
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(executor_.WaitStarted(1));
  // A watcher that saw the start waits for the next change.
  auto started = scheduler_->WaitForRunUpdate(name, 0, absl::Now());
  ASSERT_TRUE(started.ok());
  EXPECT_EQ(started->run.state(), v1::RUN_STATE_RUNNING);
  EXPECT_GE(started->sequence, first->sequence);
  auto idle = scheduler_->WaitForRunUpdate(
      name, started->sequence, absl::Now() + absl::Milliseconds(50));
  ASSERT_TRUE(idle.ok());
  EXPECT_EQ(idle->sequence, started->sequence);  // Nothing new: timed out.
  executor_.Finish(name, v1::RUN_STATE_SUCCEEDED);
  RunUpdate last = *idle;
  while (!last.final) {
    auto u = scheduler_->WaitForRunUpdate(name, last.sequence,
                                          absl::Now() + absl::Seconds(5));
    ASSERT_TRUE(u.ok());
    last = *u;
  }
  EXPECT_EQ(last.run.state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(last.run.progress().phase(), v1::RUN_PHASE_DONE);
}

// Every change is published to changes() after the scheduler's lock is
// released: a subscriber may read the run from its callback.
TEST_F(SchedulerTest, PublishesChangesAWatcherCanReadFrom) {
  // The callback may run once more after Unsubscribe returns (the
  // notifier's contract): it holds its counter by shared ownership and the
  // scheduler itself, not the fixture's pointer, which TearDown clears
  // while the scheduler's workers (where callbacks run) are being joined.
  auto reads = std::make_shared<std::atomic<int>>(0);
  Scheduler* const scheduler = scheduler_.get();
  const uint64_t subscription =
      scheduler_->changes()->Subscribe([reads, scheduler](int64_t) {
        if (scheduler->GetRunUpdate("models/m/runs/1").ok()) ++*reads;
      });
  const int64_t before = scheduler_->changes()->latest();
  auto r = Trigger();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(scheduler_->changes()->latest(), before);
  auto queued = scheduler_->GetRunUpdate(r->run().name());
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_FALSE(queued->final);
  // A change's sequence is taken under the scheduler's lock and published
  // right after it is released: the notifier reaches it (a worker may have
  // started the run in between and not published yet).
  EXPECT_GE(scheduler_->changes()->WaitAbove(
                static_cast<int64_t>(queued->sequence) - 1,
                absl::Now() + absl::Seconds(30)),
            static_cast<int64_t>(queued->sequence));
  ASSERT_TRUE(executor_.WaitStarted(1));
  executor_.Finish(r->run().name(), v1::RUN_STATE_SUCCEEDED);
  Wait(r->run().name());
  auto ended = scheduler_->GetRunUpdate(r->run().name());
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_TRUE(ended->final);
  EXPECT_EQ(ended->run.state(), v1::RUN_STATE_SUCCEEDED);
  scheduler_->changes()->Unsubscribe(subscription);
  EXPECT_GT(reads->load(), 0);
  EXPECT_TRUE(
      absl::IsNotFound(scheduler_->GetRunUpdate("models/m/runs/99").status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(scheduler_->GetRunUpdate("models/m").status()));
}

}  // namespace
}  // namespace continuum::trainer
