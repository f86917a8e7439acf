#include "services/trainer/federated_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "lib/core/clock.h"
#include "lib/core/config.h"
#include "lib/core/server.h"

namespace continuum::trainer {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kParams = 3;

// FederatedService over a real gRPC server on 127.0.0.1:0, a coordinator
// on a real SQLite file, production = version 1 of "m" with 3 parameters.
class FederatedServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/fedsvc_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    store_ = *FederatedStore::Open(dir_ + "/federated.db");
    FederatedCoordinatorOptions options;
    options.clock = &clock_;
    options.store = store_.get();
    options.production = [](const std::string&) {
      FederatedBase base;
      base.version.set_model("m");
      base.version.set_version(1);
      base.num_parameters = kParams;
      return absl::StatusOr<FederatedBase>(base);
    };
    options.model_config = [](const std::string&) {
      return absl::StatusOr<v1::FederatedConfig>(v1::FederatedConfig());
    };
    options.trigger_run = [](const v1::Round&) {
      return absl::StatusOr<std::string>("models/m/runs/1");
    };
    options.get_run = [](const std::string& name) {
      return absl::StatusOr<v1::Run>(absl::NotFoundError(name));
    };
    options.noise_seed = 1;
    coordinator_ = *FederatedCoordinator::Create(std::move(options));
    service_ = std::make_unique<FederatedServiceImpl>(coordinator_.get());
    site_service_ = std::make_unique<FederatedServiceImpl>(nullptr);
    stub_ = Serve(service_.get(), &server_);
    site_stub_ = Serve(site_service_.get(), &site_server_);
  }

  void TearDown() override {
    for (auto* s : {&server_, &site_server_}) {
      if (*s != nullptr) (*s)->Shutdown(absl::Seconds(5));
    }
  }

  std::unique_ptr<v1::FederatedService::Stub> Serve(
      grpc::Service* service, std::unique_ptr<core::ServiceServer>* out) {
    core::ServiceServer::Options server;
    server.service = "trainer";
    server.config = core::DefaultServerConfig("trainer");
    server.config.set_metrics_listen("");
    server.services = {service};
    absl::StatusOr<std::unique_ptr<core::ServiceServer>> started =
        core::ServiceServer::Start(std::move(server));
    EXPECT_TRUE(started.ok()) << started.status();
    *out = *std::move(started);
    return v1::FederatedService::NewStub(grpc::CreateChannel(
        (*out)->address(), grpc::InsecureChannelCredentials()));
  }

  // A round of m that sites a and b joined: TRAINING.
  std::string TrainingRound() {
    v1::FederatedConfig config;
    config.set_min_sites(2);
    config.set_max_sites(2);
    grpc::ClientContext start_context;
    v1::StartRoundRequest start;
    start.set_parent("models/m");
    *start.mutable_config() = config;
    v1::StartRoundResponse started;
    EXPECT_TRUE(stub_->StartRound(&start_context, start, &started).ok());
    for (const char* site : {"a", "b"}) {
      grpc::ClientContext context;
      v1::JoinRoundRequest join;
      join.set_parent("models/m");
      join.set_site_id(site);
      v1::JoinRoundResponse joined;
      EXPECT_TRUE(stub_->JoinRound(&context, join, &joined).ok());
    }
    return started.round().name();
  }

  v1::SubmitUpdateRequest Metadata(const std::string& round,
                                   const std::string& site) {
    v1::SubmitUpdateRequest r;
    v1::UpdateMetadata* m = r.mutable_metadata();
    m->set_round(round);
    m->set_site_id(site);
    m->set_sample_count(10);
    m->mutable_base_version()->set_model("m");
    m->mutable_base_version()->set_version(1);
    m->set_num_parameters(kParams);
    return r;
  }

  static v1::SubmitUpdateRequest Chunk(int64_t offset,
                                       std::vector<float> values) {
    v1::SubmitUpdateRequest r;
    r.mutable_chunk()->set_offset(offset);
    for (float v : values) r.mutable_chunk()->add_values(v);
    return r;
  }

  // Streams `messages`; returns the status and fills `response`.
  grpc::Status Stream(const std::vector<v1::SubmitUpdateRequest>& messages,
                      v1::SubmitUpdateResponse* response) {
    grpc::ClientContext context;
    auto writer = stub_->SubmitUpdate(&context, response);
    for (const auto& m : messages) {
      if (!writer->Write(m)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  core::FakeClock clock_;
  std::string dir_;
  std::unique_ptr<FederatedStore> store_;
  std::unique_ptr<FederatedCoordinator> coordinator_;
  std::unique_ptr<FederatedServiceImpl> service_, site_service_;
  std::unique_ptr<core::ServiceServer> server_, site_server_;
  std::unique_ptr<v1::FederatedService::Stub> stub_, site_stub_;
};

TEST_F(FederatedServiceTest, AStreamedUpdateIsAcceptedInChunks) {
  const std::string round = TrainingRound();
  v1::SubmitUpdateResponse response;
  grpc::Status s = Stream(
      {Metadata(round, "a"), Chunk(0, {1, 2}), Chunk(2, {3})}, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(response.accepted());
  EXPECT_EQ(response.values_received(), 3);
  EXPECT_EQ(response.round().participants(0).state(),
            v1::PARTICIPANT_STATE_SUBMITTED);
}

TEST_F(FederatedServiceTest, BrokenStreamsNeverEndOkAndDoNotCount) {
  const std::string round = TrainingRound();
  struct Case {
    std::vector<v1::SubmitUpdateRequest> messages;
    grpc::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{Chunk(0, {1, 2, 3})},
       grpc::StatusCode::INVALID_ARGUMENT,
       "message 1: the first message must carry metadata"},
      {{Metadata(round, "a"), Chunk(0, {1}), Chunk(2, {3})},
       grpc::StatusCode::INVALID_ARGUMENT,
       "message 3: chunk offset 2, expected 1"},
      {{Metadata(round, "a"), Chunk(0, {1}), Metadata(round, "a")},
       grpc::StatusCode::INVALID_ARGUMENT,
       "message 3: metadata belongs in the first message only"},
      {{Metadata(round, "a"), Chunk(0, {1, 2})},
       grpc::StatusCode::INVALID_ARGUMENT,
       "the stream ended after 2 of 3 values; the update is not counted"},
      {{Metadata(round, "a"), Chunk(0, {1, 2, 3, 4})},
       grpc::StatusCode::INVALID_ARGUMENT,
       "the update would have 4 values; the round expects 3"},
      {{Metadata(round, "a"), Chunk(0, {1, NAN, 3})},
       grpc::StatusCode::INVALID_ARGUMENT, "value 1 is not finite"},
      {{Metadata(round, "x")}, grpc::StatusCode::PERMISSION_DENIED,
       "not a participant"},
      {{Metadata("models/m/rounds/7", "a")}, grpc::StatusCode::NOT_FOUND,
       "not found"},
  };
  for (const Case& c : cases) {
    v1::SubmitUpdateResponse response;
    grpc::Status s = Stream(c.messages, &response);
    EXPECT_EQ(s.error_code(), c.code) << c.message << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.message));
    EXPECT_FALSE(response.accepted());
  }
  // A masked chunk in a plain round.
  v1::SubmitUpdateRequest masked;
  masked.mutable_chunk()->set_offset(0);
  masked.mutable_chunk()->add_masked_values(7);
  v1::SubmitUpdateResponse response;
  grpc::Status s = Stream({Metadata(round, "a"), masked}, &response);
  EXPECT_THAT(s.error_message(),
              HasSubstr("a plain update carries values, not masked_values"));
  // Nothing counted: the site can still submit, once.
  ASSERT_TRUE(Stream({Metadata(round, "a"), Chunk(0, {1, 2, 3})}, &response)
                  .ok());
  s = Stream({Metadata(round, "a"), Chunk(0, {1, 2, 3})}, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
}

// With authentication a site's subject is its site id; callers that may
// act for others (admin) and calls without authentication are not bound.
TEST(FederatedSiteIdentityTest, ASiteActsOnlyAsItself) {
  EXPECT_TRUE(CheckSiteIdentity(std::nullopt, false, "site-a").ok());
  EXPECT_TRUE(CheckSiteIdentity("site-a", false, "site-a").ok());
  EXPECT_TRUE(CheckSiteIdentity("ops", true, "site-a").ok());
  const absl::Status s = CheckSiteIdentity("site-b", false, "site-a");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), HasSubstr("identity site-b may take part only as "
                                     "site site-b, not as site site-a"));
}

TEST_F(FederatedServiceTest, RequestRulesAndTheSiteRole) {
  grpc::ClientContext start_context;
  v1::StartRoundRequest start;
  start.set_parent("models/m");
  v1::StartRoundResponse started;
  ASSERT_TRUE(stub_->StartRound(&start_context, start, &started).ok());
  grpc::ClientContext join_context;
  v1::JoinRoundRequest join;
  join.set_parent("models/m");
  join.set_site_id("a");
  join.set_mask_public_key("short");
  v1::JoinRoundResponse joined;
  grpc::Status s = stub_->JoinRound(&join_context, join, &joined);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("mask_public_key: must be 32 bytes (got 5)"));
  grpc::ClientContext sites_context;
  v1::ListSitesRequest sites;
  sites.set_page_size(1001);
  v1::ListSitesResponse listed;
  s = stub_->ListSites(&sites_context, sites, &listed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("page_size: must be in [0, 1000]"));
  // A trainer in the site role answers every call FAILED_PRECONDITION.
  grpc::ClientContext site_context;
  s = site_stub_->StartRound(&site_context, start, &started);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("runs in the site role"));
  grpc::ClientContext site_submit;
  v1::SubmitUpdateResponse response;
  auto writer = site_stub_->SubmitUpdate(&site_submit, &response);
  writer->WritesDone();
  EXPECT_EQ(writer->Finish().error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

}  // namespace
}  // namespace continuum::trainer
