#include "services/drift/registry_reference_source.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/model/bundle.h"
#include "lib/store/blob_store.h"

namespace continuum::drift_service {
namespace {

// A registry that serves one artifact per version: 1 a bundle with a
// reference, 2 a bundle without, 3 bytes whose announced SHA-256 is wrong,
// 4 a stream that never ends until the call is cancelled.
class FakeRegistry final : public v1::RegistryService::Service {
 public:
  FakeRegistry() {
    internal::v1::ModelBundle bundle;
    bundle.mutable_manifest()->set_model("m");
    v1::FeatureReference* f = bundle.mutable_reference()->add_features();
    f->set_index(0);
    f->add_sample(1.5f);
    bundle.mutable_reference()->set_error_rate(0.25);
    with_reference_ = *model::SerializeBundle(bundle);
    bundle.clear_reference();
    without_reference_ = *model::SerializeBundle(bundle);
  }

  grpc::Status DownloadArtifact(
      grpc::ServerContext* context, const v1::DownloadArtifactRequest* request,
      grpc::ServerWriter<v1::DownloadArtifactResponse>* writer) override {
    std::string bytes;
    std::string sha;
    if (request->name() == "models/m/versions/1") {
      bytes = with_reference_;
    } else if (request->name() == "models/m/versions/2") {
      bytes = without_reference_;
    } else if (request->name() == "models/m/versions/3") {
      bytes = with_reference_;
      sha = store::Sha256Hex("other bytes");
    } else if (request->name() == "models/m/versions/4") {
      bytes = with_reference_;
      v1::DownloadArtifactResponse info;
      info.mutable_info()->set_sha256(store::Sha256Hex(bytes));
      info.mutable_info()->set_size_bytes(static_cast<int64_t>(bytes.size()));
      writer->Write(info);
      blocked_.store(true);
      while (!context->IsCancelled()) absl::SleepFor(absl::Milliseconds(5));
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    } else {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such version");
    }
    v1::DownloadArtifactResponse info;
    info.mutable_info()->set_sha256(sha.empty() ? store::Sha256Hex(bytes)
                                                : sha);
    info.mutable_info()->set_size_bytes(static_cast<int64_t>(bytes.size()));
    writer->Write(info);
    for (size_t at = 0; at < bytes.size(); at += 7) {
      v1::DownloadArtifactResponse chunk;
      chunk.set_chunk(bytes.substr(at, 7));
      writer->Write(chunk);
    }
    return grpc::Status::OK;
  }

  std::atomic<bool> blocked_{false};

 private:
  std::string with_reference_;
  std::string without_reference_;
};

class RegistryReferenceSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&registry_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    source_ = std::make_unique<RegistryReferenceSource>(
        absl::StrCat("127.0.0.1:", port_));
  }
  void TearDown() override { server_->Shutdown(); }

  FakeRegistry registry_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<RegistryReferenceSource> source_;
};

TEST_F(RegistryReferenceSourceTest, ReadsTheBundlesReference) {
  absl::StatusOr<v1::ReferenceStatistics> ref = source_->Fetch("m", 1);
  ASSERT_TRUE(ref.ok()) << ref.status();
  ASSERT_EQ(ref->features_size(), 1);
  EXPECT_EQ(ref->features(0).sample(0), 1.5f);
  EXPECT_DOUBLE_EQ(ref->error_rate(), 0.25);
}

TEST_F(RegistryReferenceSourceTest, ErrorsSayWhetherARetryCanHelp) {
  // No reference in the bundle: not worth asking again.
  EXPECT_EQ(source_->Fetch("m", 2).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Bytes that do not hash to what the registry announced.
  absl::Status corrupt = source_->Fetch("m", 3).status();
  EXPECT_EQ(corrupt.code(), absl::StatusCode::kDataLoss) << corrupt;
  EXPECT_EQ(source_->Fetch("m", 9).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RegistryReferenceSourceTest, ShutdownEndsAFetchInFlight) {
  // A deadline far beyond the test's timeout: only the cancel can end it.
  RegistryReferenceSource source(absl::StrCat("127.0.0.1:", port_),
                                 absl::Hours(1));
  absl::Status fetched;
  std::thread fetch([&] { fetched = source.Fetch("m", 4).status(); });
  // Poll (with a bound) until the download is under way.
  for (int i = 0; i < 10000 && !registry_.blocked_.load(); ++i) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  const bool under_way = registry_.blocked_.load();
  source.Shutdown();
  fetch.join();
  ASSERT_TRUE(under_way);
  EXPECT_EQ(fetched.code(), absl::StatusCode::kCancelled) << fetched;
  EXPECT_EQ(source.Fetch("m", 1).status().code(),
            absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace continuum::drift_service
