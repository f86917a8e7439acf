// DownloadArtifact against a registry stand-in on loopback that sends what
// each test tells it to (the real registry's behaviour is tested in
// services/registry and tests/registry_process_test).
#include "lib/clients/artifact_download.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/store/blob_store.h"

namespace continuum::clients {
namespace {

// Answers DownloadArtifact with `messages`, then `status`.
class ScriptedRegistry final : public v1::RegistryService::Service {
 public:
  grpc::Status DownloadArtifact(
      grpc::ServerContext*, const v1::DownloadArtifactRequest* request,
      grpc::ServerWriter<v1::DownloadArtifactResponse>* writer) override {
    requested_ = request->name();
    for (const v1::DownloadArtifactResponse& m : messages) {
      if (!writer->Write(m)) break;
    }
    return status;
  }

  std::vector<v1::DownloadArtifactResponse> messages;
  grpc::Status status;
  std::string requested_;
};

v1::DownloadArtifactResponse Info(const std::string& bytes,
                                  const std::string& sha256 = "") {
  v1::DownloadArtifactResponse m;
  m.mutable_info()->mutable_version()->set_model("m");
  m.mutable_info()->mutable_version()->set_version(3);
  m.mutable_info()->set_size_bytes(static_cast<int64_t>(bytes.size()));
  m.mutable_info()->set_sha256(sha256.empty() ? store::Sha256Hex(bytes)
                                              : sha256);
  return m;
}

v1::DownloadArtifactResponse Chunk(const std::string& bytes) {
  v1::DownloadArtifactResponse m;
  m.set_chunk(bytes);
  return m;
}

class ArtifactDownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&registry_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::RegistryService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                            grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  absl::StatusOr<DownloadedArtifact> Download(int64_t max_bytes = 1 << 20) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    return DownloadArtifact(*stub_, context, "models/m/versions/3", max_bytes);
  }

  ScriptedRegistry registry_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::RegistryService::Stub> stub_;
};

TEST_F(ArtifactDownloadTest, ReturnsTheVerifiedBytesAndInfo) {
  const std::string bytes = "bundle bytes, in three chunks";
  registry_.messages = {Info(bytes), Chunk(bytes.substr(0, 10)),
                        Chunk(bytes.substr(10, 10)), Chunk(bytes.substr(20))};
  absl::StatusOr<DownloadedArtifact> got = Download();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->bytes, bytes);
  EXPECT_EQ(got->info.version().version(), 3);
  EXPECT_EQ(registry_.requested_, "models/m/versions/3");
}

TEST_F(ArtifactDownloadTest, LargerThanAllowedIsResourceExhausted) {
  const std::string bytes(100, 'x');
  registry_.messages = {Info(bytes), Chunk(bytes)};
  absl::StatusOr<DownloadedArtifact> got = Download(/*max_bytes=*/99);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(absl::StrContains(got.status().message(), "at most 99"));
}

TEST_F(ArtifactDownloadTest, BytesBeforeTheInfoAreDataLoss) {
  registry_.messages = {Chunk("early"), Info("early")};
  EXPECT_EQ(Download().status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(ArtifactDownloadTest, MoreBytesThanAnnouncedAreDataLoss) {
  registry_.messages = {Info("abc"), Chunk("abcd")};
  absl::StatusOr<DownloadedArtifact> got = Download();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(got.status().message(), "more than the 3"));
}

TEST_F(ArtifactDownloadTest, FewerBytesThanAnnouncedAreDataLoss) {
  registry_.messages = {Info("abcdef"), Chunk("abc")};
  absl::StatusOr<DownloadedArtifact> got = Download();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(got.status().message(), "after 3 of 6"));
}

TEST_F(ArtifactDownloadTest, AWrongDigestIsDataLoss) {
  registry_.messages = {Info("abc", store::Sha256Hex("abd")), Chunk("abc")};
  absl::StatusOr<DownloadedArtifact> got = Download();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(got.status().message(), "SHA-256"));
}

TEST_F(ArtifactDownloadTest, TheCallsErrorKeepsItsCodeAndSaysWhat) {
  registry_.status = grpc::Status(grpc::StatusCode::NOT_FOUND, "no version 3");
  absl::StatusOr<DownloadedArtifact> got = Download();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(got.status().message(),
                                "downloading the artifact of models/m/versions/3"));
}

}  // namespace
}  // namespace continuum::clients
