// TrainerServiceImpl over loopback gRPC, with a real Scheduler on an
// in-memory store and a scripted executor: the unary handlers, and WatchRun
// on the callback API (its messages, its errors, its end at a drain).
#include "services/trainer/trainer_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/synchronization/notification.h"
#include "lib/core/call_identity.h"
#include "lib/core/config.h"
#include "lib/core/server.h"
#include "services/trainer/in_memory_run_store.h"
#include "services/trainer/testing/fake_clients.h"
#include "services/trainer/testing/fake_executor.h"

namespace continuum::trainer {
namespace {

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

}  // namespace
}  // namespace continuum::trainer
