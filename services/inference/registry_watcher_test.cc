// RegistryWatcher against a small fake RegistryService (WatchDeployments
// and ReportServingState only) on 127.0.0.1, over a real ModelManager with
// artifacts in memory and a DeploymentCache in a temp directory.
#include "services/inference/registry_watcher.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "lib/core/call_identity.h"
#include "lib/store/blob_store.h"
#include "services/inference/memory_artifact_source.h"
#include "services/inference/test_bundles.h"
#include "tests/util/subprocess.h"

namespace continuum::inference {
namespace {

constexpr absl::Duration kWait = absl::Seconds(30);

// WatchDeployments writes what the test pushes, until the test breaks the
// stream or the client cancels; ReportServingState keeps the reports.
class FakeRegistry final : public v1::RegistryService::Service {
 public:
  void Push(const v1::WatchDeploymentsResponse& response) {
    absl::MutexLock lock(&mu_);
    queued_.push_back(response);
  }
  // Ends the watch now open with UNAVAILABLE.
  void BreakStream() {
    absl::MutexLock lock(&mu_);
    break_ = true;
  }

  grpc::Status WatchDeployments(
      grpc::ServerContext* context, const v1::WatchDeploymentsRequest* request,
      grpc::ServerWriter<v1::WatchDeploymentsResponse>* writer) override {
    {
      absl::MutexLock lock(&mu_);
      watches_.push_back(*request);
      actors_.push_back(core::ActorOf(*context));
    }
    while (!context->IsCancelled()) {
      std::vector<v1::WatchDeploymentsResponse> out;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          return break_ || !queued_.empty();
        };
        mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(20));
        if (break_) {
          break_ = false;
          return grpc::Status(grpc::StatusCode::UNAVAILABLE, "broken");
        }
        out.assign(queued_.begin(), queued_.end());
        queued_.clear();
      }
      for (const v1::WatchDeploymentsResponse& r : out) writer->Write(r);
    }
    return grpc::Status::CANCELLED;
  }

  grpc::Status ReportServingState(
      grpc::ServerContext* context,
      const v1::ReportServingStateRequest* request,
      v1::ReportServingStateResponse* /*response*/) override {
    absl::MutexLock lock(&mu_);
    reports_.push_back(*request);
    actors_.push_back(core::ActorOf(*context));
    return grpc::Status::OK;
  }

  std::vector<v1::WatchDeploymentsRequest> watches() {
    absl::MutexLock lock(&mu_);
    return watches_;
  }
  std::vector<v1::ReportServingStateRequest> reports() {
    absl::MutexLock lock(&mu_);
    return reports_;
  }
  std::vector<std::string> actors() {
    absl::MutexLock lock(&mu_);
    return actors_;
  }

 private:
  absl::Mutex mu_;
  std::deque<v1::WatchDeploymentsResponse> queued_ ABSL_GUARDED_BY(mu_);
  bool break_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<v1::WatchDeploymentsRequest> watches_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::ReportServingStateRequest> reports_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> actors_ ABSL_GUARDED_BY(mu_);
};

class RegistryWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::MakeTempDir("registry_watcher_");
    deployments_ = std::make_unique<DeploymentCache>(dir_ + "/deployments");
    ModelManagerOptions m;
    m.batching.workers = 1;
    m.source = &source_;
    manager_ = std::make_unique<ModelManager>(m);
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
    watcher_.reset();
    server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  void StartWatcher(std::shared_ptr<grpc::Channel> registry) {
    RegistryWatcherOptions options;
    options.registry = std::move(registry);
    options.models = {"m"};
    options.pod_id = "pod-1";
    options.address = "10.0.0.1:9000";
    options.min_backoff = absl::Milliseconds(10);
    options.max_backoff = absl::Milliseconds(50);
    options.manager = manager_.get();
    options.deployments = deployments_.get();
    watcher_ = std::make_unique<RegistryWatcher>(options);
    watcher_->Start();
    // The pod calls this from the manager's on_change.
  }

  // Revision `revision` of model "m": version `version` stable.
  v1::Deployment Deployment(int64_t revision, int64_t version) {
    v1::Deployment d;
    d.set_model("m");
    d.set_revision(revision);
    d.set_stable_version(version);
    v1::DeployedArtifact* a = d.add_artifacts();
    a->set_version(version);
    a->set_sha256(
        source_.Add(SerializedBundle(ClassifierBundle(version))));
    return d;
  }

  static v1::WatchDeploymentsResponse Watched(const v1::Deployment& d) {
    v1::WatchDeploymentsResponse r;
    *r.mutable_deployment() = d;
    r.set_latest_revision(d.revision());
    return r;
  }

  // The version "m" answers with now, or 0.
  int64_t Serving() {
    absl::StatusOr<Route> route = manager_->RouteRequest("m", 0, "");
    return route.ok() ? route->servable->version : 0;
  }

  std::string dir_;
  MemoryArtifactSource source_;
  std::unique_ptr<DeploymentCache> deployments_;
  std::unique_ptr<ModelManager> manager_;
  FakeRegistry registry_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<RegistryWatcher> watcher_;
};

TEST_F(RegistryWatcherTest, AppliesWhatTheWatchSendsReportsItAndKeepsIt) {
  StartWatcher(channel_);
  registry_.Push(Watched(Deployment(1, 1)));
  v1::WatchDeploymentsResponse caught_up;
  caught_up.set_caught_up(true);
  registry_.Push(caught_up);
  EXPECT_TRUE(testing::WaitFor([&] { return Serving() == 1; }, kWait));
  EXPECT_TRUE(testing::WaitFor([&] { return watcher_->connected(); }, kWait));
  EXPECT_FALSE(watcher_->from_cache());

  // The watch asked for the pod's models from the start.
  ASSERT_FALSE(registry_.watches().empty());
  const v1::WatchDeploymentsRequest watch = registry_.watches()[0];
  EXPECT_EQ(watch.pod_id(), "pod-1");
  EXPECT_EQ(watch.since_revision(), 0);
  ASSERT_EQ(watch.models_size(), 1);
  EXPECT_EQ(watch.models(0), "m");

  // A report says what is served.
  watcher_->NotifyChanged();
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        for (const v1::ReportServingStateRequest& r : registry_.reports()) {
          if (r.ready() && r.models_size() == 1 &&
              r.models(0).revision() == 1) {
            return r.pod_id() == "pod-1" && r.address() == "10.0.0.1:9000";
          }
        }
        return false;
      },
      kWait));
  for (const std::string& actor : registry_.actors()) {
    EXPECT_EQ(actor, "inference");
  }

  // Kept on disk for a start without the registry (saved once applied).
  EXPECT_TRUE(testing::WaitFor(
      [&] { return !deployments_->LoadAll().empty(); }, kWait));
  std::vector<v1::Deployment> kept = deployments_->LoadAll();
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].revision(), 1);
}

TEST_F(RegistryWatcherTest, AWatchThatBreaksResumesAfterTheLastRevision) {
  StartWatcher(channel_);
  registry_.Push(Watched(Deployment(4, 1)));
  EXPECT_TRUE(testing::WaitFor([&] { return Serving() == 1; }, kWait));
  registry_.BreakStream();
  EXPECT_TRUE(testing::WaitFor(
      [&] { return registry_.watches().size() >= 2; }, kWait));
  EXPECT_EQ(registry_.watches()[1].since_revision(), 4);
  registry_.Push(Watched(Deployment(5, 2)));
  EXPECT_TRUE(testing::WaitFor([&] { return Serving() == 2; }, kWait));
}

TEST_F(RegistryWatcherTest, ServesTheCachedDeploymentsWithoutARegistry) {
  ASSERT_TRUE(deployments_->Save(Deployment(3, 2)).ok());
  StartWatcher(nullptr);
  EXPECT_TRUE(testing::WaitFor([&] { return Serving() == 2; }, kWait));
  EXPECT_TRUE(watcher_->from_cache());
  EXPECT_FALSE(watcher_->connected());
}

TEST_F(RegistryWatcherTest, AnUnavailableArtifactIsTriedAgain) {
  v1::Deployment d;
  d.set_model("m");
  d.set_revision(1);
  d.set_stable_version(1);
  const std::string bytes = SerializedBundle(ClassifierBundle(1));
  v1::DeployedArtifact* a = d.add_artifacts();
  a->set_version(1);
  a->set_sha256(store::Sha256Hex(bytes));
  StartWatcher(channel_);
  registry_.Push(Watched(d));
  EXPECT_TRUE(testing::WaitFor([&] { return source_.fetches() >= 1; }, kWait));
  EXPECT_EQ(Serving(), 0);
  source_.Add(bytes);
  EXPECT_TRUE(testing::WaitFor([&] { return Serving() == 1; }, kWait));
}

}  // namespace
}  // namespace continuum::inference
