// CachedArtifactSource over a real BlobStore in a temp directory and a
// small fake RegistryService (DownloadArtifact only) on 127.0.0.1.
#include "services/inference/cached_artifact_source.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/core/call_identity.h"
#include "lib/store/blob_store.h"
#include "tests/util/subprocess.h"

namespace continuum::inference {
namespace {

// DownloadArtifact of the artifacts added, in chunks of the size asked;
// NOT_FOUND for any other name. Keeps the names asked for and the callers.
class FakeRegistry final : public v1::RegistryService::Service {
 public:
  // Serves `bytes` as `name`, announcing `sha256` (the bytes' own when
  // empty).
  void Add(const std::string& name, const std::string& bytes,
           std::string sha256 = "") {
    absl::MutexLock lock(&mu_);
    if (sha256.empty()) sha256 = store::Sha256Hex(bytes);
    artifacts_[name] = {bytes, sha256};
  }

  grpc::Status DownloadArtifact(
      grpc::ServerContext* context, const v1::DownloadArtifactRequest* request,
      grpc::ServerWriter<v1::DownloadArtifactResponse>* writer) override {
    std::string bytes, sha256;
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(request->name());
      actors_.push_back(core::ActorOf(*context));
      auto it = artifacts_.find(request->name());
      if (it == artifacts_.end()) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND,
                            absl::StrCat(request->name(), " not found"));
      }
      bytes = it->second.first;
      sha256 = it->second.second;
    }
    v1::DownloadArtifactResponse info;
    info.mutable_info()->set_sha256(sha256);
    info.mutable_info()->set_size_bytes(static_cast<int64_t>(bytes.size()));
    writer->Write(info);
    const size_t chunk = request->chunk_size() > 0 ? request->chunk_size() : 1;
    for (size_t i = 0; i < bytes.size(); i += chunk) {
      v1::DownloadArtifactResponse message;
      message.set_chunk(bytes.substr(i, chunk));
      writer->Write(message);
    }
    return grpc::Status::OK;
  }

  std::vector<std::string> requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  std::vector<std::string> actors() {
    absl::MutexLock lock(&mu_);
    return actors_;
  }

 private:
  absl::Mutex mu_;
  // name -> (bytes, announced SHA-256).
  std::map<std::string, std::pair<std::string, std::string>> artifacts_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> actors_ ABSL_GUARDED_BY(mu_);
};

class CachedArtifactSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("cached_artifact_source_");
    auto cache = store::BlobStore::Open({.dir = dir_ + "/cache", .keys = {}});
    ASSERT_TRUE(cache.ok()) << cache.status();
    cache_ = *std::move(cache);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&registry_);
    server_ = builder.BuildAndStart();
    ASSERT_GT(port, 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials());
  }
  void TearDown() override {
    server_->Shutdown();
    cache_.reset();
    std::filesystem::remove_all(dir_);
  }

  // The cached file of `sha256` (BlobStore's layout: sha256/ab/cdef...).
  std::string BlobPath(const std::string& sha256) const {
    return absl::StrCat(dir_, "/cache/sha256/", sha256.substr(0, 2), "/",
                        sha256.substr(2));
  }

  std::string dir_;
  std::unique_ptr<store::BlobStore> cache_;
  FakeRegistry registry_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(CachedArtifactSourceTest, DownloadsOnAMissThenReadsTheCache) {
  const std::string bytes(3000, 'x');
  const std::string sha = store::Sha256Hex(bytes);
  registry_.Add("models/fraud/versions/3", bytes);
  CachedArtifactSource source(cache_.get(), channel_);

  absl::StatusOr<std::string> fetched = source.Fetch("fraud", 3, sha);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(*fetched, bytes);
  EXPECT_TRUE(cache_->Exists(sha));
  EXPECT_EQ(registry_.requests(),
            std::vector<std::string>{"models/fraud/versions/3"});
  EXPECT_EQ(registry_.actors(), std::vector<std::string>{"inference"});

  // A second fetch, and one without a registry (a restarted pod with the
  // registry down), read the cache.
  EXPECT_EQ(*source.Fetch("fraud", 3, sha), bytes);
  CachedArtifactSource cache_only(cache_.get(), nullptr);
  EXPECT_EQ(*cache_only.Fetch("fraud", 3, sha), bytes);
  EXPECT_EQ(registry_.requests().size(), 1u);
}

TEST_F(CachedArtifactSourceTest, AMissWithoutARegistryIsUnavailable) {
  CachedArtifactSource source(cache_.get(), nullptr);
  absl::StatusOr<std::string> fetched =
      source.Fetch("fraud", 3, store::Sha256Hex("abc"));
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(CachedArtifactSourceTest, TheRegistrysErrorIsReturned) {
  CachedArtifactSource source(cache_.get(), channel_);
  absl::StatusOr<std::string> fetched =
      source.Fetch("fraud", 9, store::Sha256Hex("abc"));
  EXPECT_EQ(fetched.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(CachedArtifactSourceTest, AnotherArtifactIsDataLossAndNotCached) {
  const std::string wanted = store::Sha256Hex("the deployment's artifact");
  // The registry announces another digest.
  registry_.Add("models/fraud/versions/3", "other bytes");
  // The registry announces the wanted digest but sends other bytes.
  registry_.Add("models/fraud/versions/4", "other bytes", wanted);
  CachedArtifactSource source(cache_.get(), channel_);
  for (int64_t version : {3, 4}) {
    SCOPED_TRACE(version);
    absl::StatusOr<std::string> fetched =
        source.Fetch("fraud", version, wanted);
    EXPECT_EQ(fetched.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_FALSE(cache_->Exists(wanted));
  }
}

TEST_F(CachedArtifactSourceTest, ACorruptCachedCopyIsDownloadedAgain) {
  const std::string bytes(100, 'a');
  const std::string sha = store::Sha256Hex(bytes);
  registry_.Add("models/fraud/versions/1", bytes);
  CachedArtifactSource source(cache_.get(), channel_);
  ASSERT_TRUE(source.Fetch("fraud", 1, sha).ok());

  // Bit rot: same size, other content.
  const std::string path = BlobPath(sha);
  std::filesystem::permissions(path, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      << std::string(100, 'b');

  absl::StatusOr<std::string> fetched = source.Fetch("fraud", 1, sha);
  ASSERT_TRUE(fetched.ok()) << fetched.status();
  EXPECT_EQ(*fetched, bytes);
  EXPECT_EQ(registry_.requests().size(), 2u);
  EXPECT_TRUE(cache_->Verify(sha).ok());
}

TEST_F(CachedArtifactSourceTest, PruneKeepsOnlyWhatIsListed) {
  CachedArtifactSource source(cache_.get(), channel_);
  std::vector<std::string> digests;
  for (int v = 1; v <= 3; ++v) {
    const std::string bytes = absl::StrCat("artifact ", v);
    digests.push_back(store::Sha256Hex(bytes));
    registry_.Add(absl::StrCat("models/m/versions/", v), bytes);
    ASSERT_TRUE(source.Fetch("m", v, digests.back()).ok());
  }
  absl::StatusOr<int> deleted = source.Prune({digests[1]});
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_EQ(*deleted, 2);
  EXPECT_EQ(*cache_->List(), std::vector<std::string>{digests[1]});
}

}  // namespace
}  // namespace continuum::inference
