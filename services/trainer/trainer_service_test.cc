// TrainerServiceImpl over loopback gRPC, with a real Scheduler on an
// in-memory store and a scripted executor: the unary handlers, the field
// rules every handler checks first, page tokens and filters of ListRuns,
// and WatchRun on the callback API (its messages, its errors, its end at a
// drain).
#include "services/trainer/trainer_service.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"
#include "lib/core/call_identity.h"
#include "lib/core/config.h"
#include "lib/core/server.h"
#include "services/trainer/in_memory_run_store.h"
#include "services/trainer/testing/fake_clients.h"
#include "services/trainer/testing/fake_executor.h"

namespace continuum::trainer {
namespace {

using ::testing::HasSubstr;

std::chrono::system_clock::time_point Deadline() {
  return std::chrono::system_clock::now() + std::chrono::seconds(30);
}

class TrainerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_.AddModel("m");
    SchedulerOptions options;
    options.store = &store_;
    options.executor = &executor_;
    options.registry = &registry_;
    options.tick_interval = absl::ZeroDuration();
    options.progress_interval = absl::ZeroDuration();
    scheduler_ = std::make_unique<Scheduler>(options);
    ASSERT_TRUE(scheduler_->Start().ok());
    service_ =
        std::make_unique<TrainerServiceImpl>(scheduler_.get(), &streams_);

    core::ServiceServer::Options server;
    server.service = "trainer";
    server.config = core::DefaultServerConfig("trainer");
    server.config.set_metrics_listen("");
    server.services = {service_.get()};
    server.open_streams = &streams_;
    absl::StatusOr<std::unique_ptr<core::ServiceServer>> started =
        core::ServiceServer::Start(std::move(server));
    ASSERT_TRUE(started.ok()) << started.status();
    server_ = *std::move(started);
    stub_ = v1::TrainerService::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
    scheduler_.reset();
  }

  // Triggers a run of m as `actor`; returns its name.
  std::string Trigger(const std::string& actor) {
    grpc::ClientContext context;
    context.AddMetadata(core::kActorMetadataKey, actor);
    v1::TriggerRunRequest request;
    request.set_parent("models/m");
    v1::TriggerRunResponse response;
    grpc::Status s = stub_->TriggerRun(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(response.run().actor(), actor);
    return response.run().name();
  }

  // Opens a WatchRun stream of run `name`.
  std::unique_ptr<grpc::ClientReader<v1::WatchRunResponse>> Watch(
      grpc::ClientContext* context, const std::string& name) {
    context->set_deadline(Deadline());
    v1::WatchRunRequest request;
    request.set_name(name);
    return stub_->WatchRun(context, request);
  }

  // Calls `method` of the stub with `request`; returns the status.
  template <typename Request, typename Response>
  grpc::Status Call(grpc::Status (v1::TrainerService::Stub::*method)(
                        grpc::ClientContext*, const Request&, Response*),
                    const Request& request, Response* response = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(Deadline());
    Response ignored;
    return ((*stub_).*method)(&context, request,
                              response != nullptr ? response : &ignored);
  }

  FakeRegistry registry_;
  FakeExecutor executor_;
  InMemoryRunStore store_;
  core::OpenStreams streams_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<TrainerServiceImpl> service_;
  std::unique_ptr<core::ServiceServer> server_;
  std::unique_ptr<v1::TrainerService::Stub> stub_;
};

TEST_F(TrainerServiceTest, UnaryHandlersAnswerWithTheSchedulersResults) {
  executor_.set_auto(RunOutcome{v1::RUN_STATE_SUCCEEDED, absl::OkStatus()});
  const std::string name = Trigger("tester");
  ASSERT_TRUE(scheduler_->WaitIdle(absl::Seconds(30)));

  grpc::ClientContext get_context;
  v1::GetRunRequest get;
  get.set_name(name);
  v1::GetRunResponse got;
  ASSERT_TRUE(stub_->GetRun(&get_context, get, &got).ok());
  EXPECT_EQ(got.run().state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(got.run().actor(), "tester");

  grpc::ClientContext list_context;
  v1::ListRunsRequest list;
  list.set_parent("models/-");
  v1::ListRunsResponse listed;
  ASSERT_TRUE(stub_->ListRuns(&list_context, list, &listed).ok());
  ASSERT_EQ(listed.runs_size(), 1);

  grpc::ClientContext bad_context;
  get.set_name("models/m/runs/9");
  grpc::Status missing = stub_->GetRun(&bad_context, get, &got);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext config_context;
  v1::GetTrainingConfigRequest config;
  config.set_name("models/m/trainingConfig");
  v1::GetTrainingConfigResponse config_response;
  ASSERT_TRUE(
      stub_->GetTrainingConfig(&config_context, config, &config_response).ok());
  EXPECT_EQ(config_response.config().dataset(), "m");
}

TEST_F(TrainerServiceTest, WatchRunSendsTheRunOnStateChangesAndEndsWithIt) {
  absl::Notification started, progress, evaluate, finish;
  executor_.set_script([&](const v1::Run&, RunControl& control) {
    started.Notify();
    progress.WaitForNotification();
    v1::RunProgress p;
    p.set_phase(v1::RUN_PHASE_TRAINING);
    p.set_step(1);
    control.Progress(p);
    evaluate.WaitForNotification();
    control.SetPhase(v1::RUN_PHASE_EVALUATING, "evaluating");
    finish.WaitForNotification();
    return RunOutcome{v1::RUN_STATE_SUCCEEDED, absl::OkStatus()};
  });
  const std::string name = Trigger("tester");
  started.WaitForNotification();

  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::WatchRunResponse>> reader =
      Watch(&context, name);
  v1::WatchRunResponse message;
  // First: the run and its progress.
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_TRUE(message.has_run());
  EXPECT_EQ(message.run().state(), v1::RUN_STATE_RUNNING);
  EXPECT_EQ(message.progress().phase(), message.run().progress().phase());
  // Progress alone: no run.
  progress.Notify();
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_FALSE(message.has_run());
  EXPECT_EQ(message.progress().step(), 1);
  // A new phase: the run again.
  evaluate.Notify();
  ASSERT_TRUE(reader->Read(&message));
  ASSERT_TRUE(message.has_run());
  EXPECT_EQ(message.run().progress().phase(), v1::RUN_PHASE_EVALUATING);
  // The end: the final run, then the stream ends OK.
  finish.Notify();
  ASSERT_TRUE(reader->Read(&message));
  ASSERT_TRUE(message.has_run());
  EXPECT_EQ(message.run().state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_EQ(message.progress().phase(), v1::RUN_PHASE_DONE);
  EXPECT_FALSE(reader->Read(&message));
  grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();

  // A finished run: one message with the run, then OK.
  grpc::ClientContext again_context;
  auto again = Watch(&again_context, name);
  ASSERT_TRUE(again->Read(&message));
  EXPECT_EQ(message.run().state(), v1::RUN_STATE_SUCCEEDED);
  EXPECT_FALSE(again->Read(&message));
  EXPECT_TRUE(again->Finish().ok());
}

TEST_F(TrainerServiceTest, WatchRunOfAnUnknownRunEndsWithoutAMessage) {
  for (const auto& [name, code] :
       {std::pair{"models/m/runs/9", grpc::StatusCode::NOT_FOUND},
        std::pair{"models/m", grpc::StatusCode::INVALID_ARGUMENT}}) {
    grpc::ClientContext context;
    auto reader = Watch(&context, name);
    v1::WatchRunResponse message;
    EXPECT_FALSE(reader->Read(&message));
    EXPECT_EQ(reader->Finish().error_code(), code) << name;
  }
}

TEST_F(TrainerServiceTest, ADrainEndsOpenWatchesUnavailable) {
  const std::string name = Trigger("tester");
  ASSERT_TRUE(executor_.WaitStarted(1));
  grpc::ClientContext context;
  auto reader = Watch(&context, name);
  v1::WatchRunResponse message;
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_EQ(streams_.size(), 1);
  streams_.EndAll(grpc::Status(grpc::StatusCode::UNAVAILABLE, "draining"));
  EXPECT_FALSE(reader->Read(&message));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  executor_.Finish(name, v1::RUN_STATE_SUCCEEDED);
  EXPECT_TRUE(scheduler_->WaitIdle(absl::Seconds(30)));
}

// Each handler checks its request's field rules before anything else:
// INVALID_ARGUMENT naming the field by its path. Moved here from
// run_requests_test (reason, request_id, page_size), where the scheduler
// checked them by hand; the rest are rules the options added.
TEST_F(TrainerServiceTest, RequestsBreakingFieldRulesAreRejectedFirst) {
  auto expect_invalid = [](const grpc::Status& s, const std::string& text) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << text;
    EXPECT_THAT(s.error_message(), HasSubstr(text));
  };
  v1::TriggerRunRequest trigger;
  trigger.set_parent("models/m");
  trigger.set_reason(std::string(4097, 'x'));
  expect_invalid(Call(&v1::TrainerService::Stub::TriggerRun, trigger),
                 "reason: at most 4096 bytes (got 4097)");
  trigger.clear_reason();
  trigger.set_request_id(std::string(257, 'x'));
  expect_invalid(Call(&v1::TrainerService::Stub::TriggerRun, trigger),
                 "request_id: at most 256 bytes");
  trigger.clear_request_id();
  trigger.clear_parent();
  expect_invalid(Call(&v1::TrainerService::Stub::TriggerRun, trigger),
                 "parent: required");
  trigger.set_parent("models/m");
  trigger.set_trigger(static_cast<v1::RunTrigger>(42));
  expect_invalid(Call(&v1::TrainerService::Stub::TriggerRun, trigger),
                 "trigger: 42 is not a value of continuum.v1.RunTrigger");
  trigger.clear_trigger();
  trigger.mutable_overrides()->set_holdout_fraction(0.75);
  expect_invalid(Call(&v1::TrainerService::Stub::TriggerRun, trigger),
                 "overrides.holdout_fraction: must be <= 0.5 (got 0.75)");

  v1::ListRunsRequest list;
  list.set_parent("models/m");
  list.set_page_size(-1);
  expect_invalid(Call(&v1::TrainerService::Stub::ListRuns, list),
                 "page_size: must be >= 0 (got -1)");

  v1::GetRunRequest get;
  expect_invalid(Call(&v1::TrainerService::Stub::GetRun, get),
                 "name: required");
  get.set_name("runs/1");
  expect_invalid(Call(&v1::TrainerService::Stub::GetRun, get),
                 "name: name \"runs/1\" is not of the form "
                 "models/{model}/runs/{run}");

  v1::ConfigureTrainingRequest configure;
  expect_invalid(Call(&v1::TrainerService::Stub::ConfigureTraining, configure),
                 "config: required");
  configure.mutable_config()->set_name("models/m/trainingConfig");
  configure.mutable_config()->mutable_guards()->set_replay_ratio(-0.5);
  expect_invalid(Call(&v1::TrainerService::Stub::ConfigureTraining, configure),
                 "config.guards.replay_ratio: must be >= 0 (got -0.5)");
  configure.mutable_config()->clear_guards();
  configure.mutable_config()->mutable_schedule()->mutable_daily_at()->set_hours(
      24);
  expect_invalid(Call(&v1::TrainerService::Stub::ConfigureTraining, configure),
                 "config.schedule.daily_at.hours: must be <= 23 (got 24)");

  v1::GetTrainingConfigRequest get_config;
  get_config.set_name("models/m");
  expect_invalid(
      Call(&v1::TrainerService::Stub::GetTrainingConfig, get_config),
      "name: name \"models/m\" is not of the form "
      "models/{model}/trainingConfig");

  grpc::ClientContext context;
  auto reader = Watch(&context, "");
  v1::WatchRunResponse message;
  EXPECT_FALSE(reader->Read(&message));
  expect_invalid(reader->Finish(), "name: required");
}

// Rules the options added, which the server did not enforce before: an
// unknown optimizer, an alert that is not an alert's name, reasons over
// 4096 bytes for CancelRun, PauseSchedule and ResumeSchedule, and the
// federated settings ConfigureTraining stores.
TEST_F(TrainerServiceTest, RulesTheServerDidNotEnforceBefore) {
  auto expect_invalid = [](const grpc::Status& s, const std::string& text) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << text;
    EXPECT_THAT(s.error_message(), HasSubstr(text));
  };
  v1::ConfigureTrainingRequest configure;
  configure.mutable_config()->set_name("models/m/trainingConfig");
  configure.mutable_config()->mutable_optimizer()->set_optimizer(
      static_cast<v1::Optimizer>(9));
  expect_invalid(Call(&v1::TrainerService::Stub::ConfigureTraining, configure),
                 "config.optimizer.optimizer: 9 is not a value of "
                 "continuum.v1.Optimizer");
  configure.mutable_config()->clear_optimizer();
  configure.mutable_config()->mutable_federated()->set_fedprox_mu(-0.1);
  expect_invalid(Call(&v1::TrainerService::Stub::ConfigureTraining, configure),
                 "config.federated.fedprox_mu: must be >= 0 (got -0.1)");
  configure.mutable_config()->mutable_federated()->set_fedprox_mu(0.1);
  configure.mutable_config()->mutable_federated()->set_site_id("Site A");
  expect_invalid(Call(&v1::TrainerService::Stub::ConfigureTraining, configure),
                 "config.federated.site_id: site id \"Site A\" must match");
  configure.mutable_config()->mutable_federated()->set_site_id("site-a");
  EXPECT_TRUE(
      Call(&v1::TrainerService::Stub::ConfigureTraining, configure).ok());

  v1::TriggerRunRequest trigger;
  trigger.set_parent("models/m");
  trigger.set_trigger(v1::RUN_TRIGGER_DRIFT);
  trigger.set_alert("7");
  expect_invalid(Call(&v1::TrainerService::Stub::TriggerRun, trigger),
                 "alert: name \"7\" is not of the form "
                 "models/{model}/alerts/{alert}");

  const std::string name = Trigger("tester");
  v1::CancelRunRequest cancel;
  cancel.set_name(name);
  cancel.set_reason(std::string(4097, 'x'));
  expect_invalid(Call(&v1::TrainerService::Stub::CancelRun, cancel),
                 "reason: at most 4096 bytes");
  v1::PauseScheduleRequest pause;
  pause.set_name("models/m/trainingConfig");
  pause.set_reason(std::string(5000, 'x'));
  expect_invalid(Call(&v1::TrainerService::Stub::PauseSchedule, pause),
                 "reason: at most 4096 bytes (got 5000)");
  v1::ResumeScheduleRequest resume;
  resume.set_name("models/m/trainingConfig");
  resume.set_reason(std::string(5000, 'x'));
  expect_invalid(Call(&v1::TrainerService::Stub::ResumeSchedule, resume),
                 "reason: at most 4096 bytes (got 5000)");
  executor_.Finish(name, v1::RUN_STATE_SUCCEEDED);
  EXPECT_TRUE(scheduler_->WaitIdle(absl::Seconds(30)));
}

// A page token lists the next page of the query that made it: a token
// used with another filter or parent is INVALID_ARGUMENT (it used to be a
// bare sequence number, accepted with any filter).
TEST_F(TrainerServiceTest, ListRunsPageTokensBelongToTheirQuery) {
  executor_.set_auto(RunOutcome{v1::RUN_STATE_SUCCEEDED, absl::OkStatus()});
  for (int i = 0; i < 3; ++i) {
    Trigger("tester");
    ASSERT_TRUE(scheduler_->WaitIdle(absl::Seconds(30)));
  }
  v1::ListRunsRequest list;
  list.set_parent("models/m");
  list.set_page_size(2);
  list.set_filter("state = SUCCEEDED");  // The prefix may be left out.
  v1::ListRunsResponse page;
  ASSERT_TRUE(Call(&v1::TrainerService::Stub::ListRuns, list, &page).ok());
  ASSERT_EQ(page.runs_size(), 2);
  ASSERT_FALSE(page.next_page_token().empty());

  list.set_page_token(page.next_page_token());
  v1::ListRunsResponse rest;
  ASSERT_TRUE(Call(&v1::TrainerService::Stub::ListRuns, list, &rest).ok());
  ASSERT_EQ(rest.runs_size(), 1);
  EXPECT_NE(rest.runs(0).name(), page.runs(0).name());
  EXPECT_NE(rest.runs(0).name(), page.runs(1).name());

  list.set_filter("state = RUN_STATE_FAILED");
  grpc::Status other = Call(&v1::TrainerService::Stub::ListRuns, list);
  EXPECT_EQ(other.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(other.error_message(), HasSubstr("page_token"));
  list.set_filter("state = SUCCEEDED");
  list.set_parent("models/-");
  EXPECT_EQ(Call(&v1::TrainerService::Stub::ListRuns, list).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  list.clear_page_token();
  list.set_filter("state = SUCEEDED");
  grpc::Status misspelt = Call(&v1::TrainerService::Stub::ListRuns, list);
  EXPECT_EQ(misspelt.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(misspelt.error_message(),
              HasSubstr("\"SUCEEDED\" is not a value of continuum.v1.RunState"));
}

}  // namespace
}  // namespace continuum::trainer
