// The RegistryService handlers over loopback gRPC: WatchDeployments on the
// callback API (what it sends, resumption, a bad request, the end of a
// drain) and the caller's name in the audit log.
#include "services/registry/registry_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/call_identity.h"
#include "lib/core/config.h"
#include "lib/core/server.h"
#include "services/registry/registry_test_fixture.h"

namespace continuum::registry {
namespace {

class RegistryServiceTest : public RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    service_ =
        std::make_unique<RegistryServiceImpl>(registry_.get(), &streams_);
    core::ServiceServer::Options options;
    options.service = "registry";
    options.config = core::DefaultServerConfig("registry");
    options.config.set_metrics_listen("");
    options.services = {service_.get()};
    options.open_streams = &streams_;
    auto server = core::ServiceServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::RegistryService::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
  }

  // Registers `model` with the immediate plan and deploys one version:
  // returns the new revision.
  int64_t DeployNew(const std::string& model) {
    v1::RolloutPlan immediate;
    immediate.mutable_immediate();
    if (!registry_->GetModel(absl::StrCat("models/", model)).ok()) {
      Register(model, immediate);
    }
    auto uploaded = UploadBytes(model, absl::StrCat(model, ++uploads_));
    EXPECT_TRUE(uploaded.ok()) << uploaded.status();
    if (!uploaded.ok()) return 0;
    EXPECT_TRUE(Validate(uploaded->version().name(), GoodReport()).ok());
    return registry_->latest_revision();
  }

  core::OpenStreams streams_;
  std::unique_ptr<RegistryServiceImpl> service_;
  std::unique_ptr<core::ServiceServer> server_;
  std::unique_ptr<v1::RegistryService::Stub> stub_;
  int uploads_ = 0;
};

TEST_F(RegistryServiceTest, WatchSendsTheBacklogCaughtUpThenEachRevision) {
  const int64_t first = DeployNew("fraud");
  grpc::ClientContext context;
  v1::WatchDeploymentsRequest request;
  request.add_models("fraud");
  auto reader = stub_->WatchDeployments(&context, request);
  v1::WatchDeploymentsResponse message;
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_EQ(message.deployment().revision(), first);
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_TRUE(message.caught_up());
  EXPECT_EQ(message.latest_revision(), first);
  const int64_t second = DeployNew("fraud");
  DeployNew("other");  // Not watched.
  const int64_t third = DeployNew("fraud");
  for (int64_t want : {second, third}) {
    ASSERT_TRUE(reader->Read(&message));
    EXPECT_EQ(message.deployment().revision(), want);
    EXPECT_EQ(message.deployment().model(), "fraud");
    EXPECT_GE(message.latest_revision(), want);
  }
  context.TryCancel();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(RegistryServiceTest, AResumedWatchMissesNothingAndRepeatsNothing) {
  const int64_t first = DeployNew("fraud");
  const int64_t second = DeployNew("fraud");
  const int64_t third = DeployNew("fraud");
  grpc::ClientContext context;
  v1::WatchDeploymentsRequest request;
  request.set_since_revision(first);
  auto reader = stub_->WatchDeployments(&context, request);
  std::vector<int64_t> revisions;
  v1::WatchDeploymentsResponse message;
  while (reader->Read(&message) && !message.caught_up()) {
    revisions.push_back(message.deployment().revision());
  }
  EXPECT_EQ(revisions, (std::vector<int64_t>{second, third}));
  EXPECT_EQ(message.latest_revision(), third);
  context.TryCancel();
  (void)reader->Finish();
}

TEST_F(RegistryServiceTest, ANegativeRevisionEndsTheWatchAtOnce) {
  grpc::ClientContext context;
  v1::WatchDeploymentsRequest request;
  request.set_since_revision(-3);
  auto reader = stub_->WatchDeployments(&context, request);
  v1::WatchDeploymentsResponse message;
  EXPECT_FALSE(reader->Read(&message));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "since_revision must not be negative");
}

TEST_F(RegistryServiceTest, ADrainEndsOpenWatchesWithUnavailable) {
  grpc::ClientContext context;
  auto reader =
      stub_->WatchDeployments(&context, v1::WatchDeploymentsRequest());
  v1::WatchDeploymentsResponse message;
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_TRUE(message.caught_up());
  EXPECT_EQ(streams_.size(), 1);
  EXPECT_EQ(service_->watched_revisions().subscribers(), 1);
  EXPECT_EQ(service_->watched_revisions().waiters(), 0);  // No thread waits.
  // An hour's grace: a drain that waited for the watch would not return
  // before the test's timeout.
  server_->Shutdown(absl::Hours(1));
  EXPECT_FALSE(reader->Read(&message));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_TRUE(testing::WaitFor(
      [&] { return service_->watched_revisions().subscribers() == 0; },
      absl::Seconds(30)));
  server_.reset();
}

TEST_F(RegistryServiceTest, TheAuditLogNamesTheCaller) {
  for (const char* actor : {"trainer", ""}) {
    grpc::ClientContext context;
    if (*actor != '\0') {
      core::PrepareCall(context, actor, absl::Now() + absl::Seconds(30));
    }
    v1::RegisterModelRequest request;
    request.set_model_id(*actor != '\0' ? "named" : "unnamed");
    request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    v1::RegisterModelResponse response;
    grpc::Status status = stub_->RegisterModel(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }
  std::vector<v1::AuditEntry> entries = Audit();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].actor(), "trainer");
  EXPECT_EQ(entries[1].actor(), "anonymous");
}

}  // namespace
}  // namespace continuum::registry
