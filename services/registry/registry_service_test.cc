// The RegistryService handlers over loopback gRPC: WatchDeployments on the
// callback API (what it sends, resumption, a bad request, the end of a
// drain), UploadVersion on raw messages (a stream broken mid-way), the
// field rules checked before the registry acts, and the caller's name in
// the audit log.
#include "services/registry/registry_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/call_identity.h"
#include "lib/core/config.h"
#include "lib/core/server.h"
#include "lib/store/blob_store.h"
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

  // An UploadVersion call of raw messages (each a serialized
  // UploadVersionRequest, or not); its status and, if OK, the response.
  grpc::Status RawUpload(const std::vector<std::string>& messages,
                         v1::UploadVersionResponse* response) {
    auto channel = grpc::CreateChannel(server_->address(),
                                       grpc::InsecureChannelCredentials());
    grpc::internal::RpcMethod method(
        "/continuum.v1.RegistryService/UploadVersion",
        grpc::internal::RpcMethod::CLIENT_STREAMING, channel);
    grpc::ClientContext context;
    grpc::ByteBuffer reply;
    std::unique_ptr<grpc::ClientWriter<grpc::ByteBuffer>> writer(
        grpc::internal::ClientWriterFactory<grpc::ByteBuffer>::Create(
            channel.get(), method, &context, &reply));
    for (const std::string& m : messages) {
      grpc::Slice slice(m);
      if (!writer->Write(grpc::ByteBuffer(&slice, 1))) break;
    }
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    if (status.ok()) {
      grpc::Slice whole;
      EXPECT_TRUE(reply.TrySingleSlice(&whole).ok() ||
                  reply.DumpToSingleSlice(&whole).ok());
      EXPECT_TRUE(response->ParseFromArray(whole.begin(), whole.size()));
    }
    return status;
  }

  static std::string Metadata(const std::string& model,
                              const std::string& bytes) {
    v1::UploadVersionRequest request;
    request.mutable_metadata()->set_model(model);
    request.mutable_metadata()->set_sha256(store::Sha256Hex(bytes));
    return request.SerializeAsString();
  }

  static std::string Chunk(const std::string& bytes) {
    v1::UploadVersionRequest request;
    request.set_chunk(bytes);
    return request.SerializeAsString();
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
  EXPECT_EQ(status.error_message(), "since_revision: must be >= 0 (got -3)");
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

TEST_F(RegistryServiceTest, AnUploadBrokenMidWayFailsAndStoresNothing) {
  Register("fraud");
  const std::string bytes = "the weights";
  v1::UploadVersionResponse response;
  // [metadata, every byte, garbage] ended OK with a typed reader: the
  // garbage looked like the end of the stream.
  grpc::Status status = RawUpload(
      {Metadata("fraud", bytes), Chunk(bytes), std::string("\xff\xff\xff")},
      &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "message 3 of the stream is not a valid "
            "continuum.v1.UploadVersionRequest (its bytes do not parse as "
            "that message); nothing was stored: an upload is committed only "
            "after its last message");
  EXPECT_EQ(registry_->GetModel("models/fraud")->latest_version(), 0);
  // A message that breaks a rule, by its index.
  v1::UploadVersionRequest no_digest;
  no_digest.mutable_metadata()->set_model("fraud");
  status = RawUpload({no_digest.SerializeAsString(), Chunk(bytes)}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StartsWith(status.error_message(),
                               "message 1 of the stream: metadata.sha256: "
                               "required"))
      << status.error_message();
  status = RawUpload({Chunk(bytes)}, &response);
  EXPECT_EQ(status.error_message(),
            "the first message of an upload must be the metadata; nothing was "
            "stored: an upload is committed only after its last message");
  status = RawUpload({}, &response);
  EXPECT_EQ(status.error_message(),
            "empty upload: send the metadata, then the bytes");
  // The same upload, whole, in two chunks.
  status = RawUpload(
      {Metadata("fraud", bytes), Chunk("the "), Chunk("weights")}, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.created());
  EXPECT_EQ(response.version().name(), "models/fraud/versions/1");
  EXPECT_EQ(response.version().size_bytes(), 11);
  // And through the typed stub, idempotent.
  grpc::ClientContext context;
  auto writer = stub_->UploadVersion(&context, &response);
  v1::UploadVersionRequest request;
  request.ParseFromString(Metadata("fraud", bytes));
  ASSERT_TRUE(writer->Write(request));
  request.set_chunk(bytes);
  ASSERT_TRUE(writer->Write(request));
  writer->WritesDone();
  status = writer->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(response.created());
  EXPECT_EQ(response.version().version(), 1);
}

TEST_F(RegistryServiceTest, FieldRulesAreCheckedBeforeTheRegistryActs) {
  // An out-of-range family and a negative input_dim were stored.
  v1::RegisterModelRequest request;
  request.set_model_id("fraud");
  request.mutable_model()->set_family(static_cast<v1::ModelFamily>(99));
  v1::RegisterModelResponse response;
  {
    grpc::ClientContext context;
    grpc::Status status = stub_->RegisterModel(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(),
              "model.family: 99 is not a value of continuum.v1.ModelFamily");
  }
  request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  request.mutable_model()->mutable_spec()->set_input_dim(-3);
  {
    grpc::ClientContext context;
    grpc::Status status = stub_->RegisterModel(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(),
              "model.spec.input_dim: must be >= 1 (got -3)");
  }
  EXPECT_EQ(registry_->GetModel("models/fraud").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RegistryServiceTest, ReasonsThatAreRequiredAreRequired) {
  DeployNew("fraud");  // Version 1 in production.
  v1::UpdateModelRequest update;
  update.mutable_model()->set_name("models/fraud");
  update.mutable_model()->mutable_rollout_plan()->mutable_canary();
  update.mutable_update_mask()->add_paths("rollout_plan");
  ASSERT_TRUE(registry_->UpdateModel(caller_, update).ok());
  DeployNew("fraud");  // Version 2 in canary.
  ASSERT_EQ(StateOf("models/fraud/versions/2"), S::VERSION_STATE_CANARY);
  // Carried out without a reason before.
  {
    grpc::ClientContext context;
    v1::AbortRolloutRequest abort;
    abort.set_name("models/fraud");
    v1::AbortRolloutResponse response;
    grpc::Status status = stub_->AbortRollout(&context, abort, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(), "reason: required");
  }
  {
    grpc::ClientContext context;
    v1::TransitionVersionRequest transition;
    transition.set_name("models/fraud/versions/2");
    transition.set_to_state(S::VERSION_STATE_ROLLED_BACK);
    v1::TransitionVersionResponse response;
    grpc::Status status =
        stub_->TransitionVersion(&context, transition, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(), "reason: required");
  }
  {
    grpc::ClientContext context;
    v1::RollbackRequest rollback;
    rollback.set_name("models/fraud");
    v1::RollbackResponse response;
    grpc::Status status = stub_->Rollback(&context, rollback, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(status.error_message(), "reason: required");
  }
  EXPECT_EQ(StateOf("models/fraud/versions/2"), S::VERSION_STATE_CANARY);
  EXPECT_EQ(StateOf("models/fraud/versions/1"), S::VERSION_STATE_PRODUCTION);
}

TEST_F(RegistryServiceTest, AWatchOfABadModelIdEndsAtOnce) {
  // It opened and stayed open.
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::WatchDeploymentsRequest request;
  request.add_models("fraud");
  request.add_models("Not An Id");
  auto reader = stub_->WatchDeployments(&context, request);
  v1::WatchDeploymentsResponse message;
  EXPECT_FALSE(reader->Read(&message));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "models[1]: model id \"Not An Id\" must match "
            "[a-z0-9][a-z0-9._-]{0,62}");
}

}  // namespace
}  // namespace continuum::registry
