// 1,000 WatchDeployments streams against a real continuum-registry process:
// the streams run on gRPC's callback API, so they hold no thread each (the
// process stays below 100 threads), every watcher sees a promotion's
// revision, and SIGTERM ends every watch at the start of the drain with
// UNAVAILABLE (clients resume from their revision) instead of waiting out
// the shutdown grace.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "tests/util/registry_upload.h"
#include "tests/util/subprocess.h"
#include "tests/util/plain_bundle.h"

namespace continuum {
namespace {

using ::continuum::testing::Subprocess;
using ::continuum::testing::WaitFor;

constexpr int kWatchers = 1000;
constexpr int kChannels = 10;
constexpr int kMaxThreads = 100;

// The thread count of process `pid` (/proc/<pid>/status), or -1.
int ThreadsOf(pid_t pid) {
  absl::StatusOr<std::string> status =
      testing::ReadFile(absl::StrCat("/proc/", pid, "/status"));
  if (!status.ok()) return -1;
  for (absl::string_view line : absl::StrSplit(*status, '\n')) {
    int threads = 0;
    if (absl::ConsumePrefix(&line, "Threads:") &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &threads)) {
      return threads;
    }
  }
  return -1;
}

// One watcher on the callback API: records the newest revision it saw,
// whether it caught up, and how its stream ended.
class Watcher final
    : public grpc::ClientReadReactor<v1::WatchDeploymentsResponse> {
 public:
  Watcher(v1::RegistryService::Stub* stub,
          const v1::WatchDeploymentsRequest& request) {
    stub->async()->WatchDeployments(&context_, &request, this);
    StartRead(&message_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (message_.caught_up()) caught_up_.store(true);
    if (message_.has_deployment()) {
      revision_.store(message_.deployment().revision());
    }
    StartRead(&message_);
  }
  void OnDone(const grpc::Status& status) override {
    {
      absl::MutexLock lock(&mu_);
      status_ = status;
    }
    done_.Notify();
  }

  bool caught_up() const { return caught_up_.load(); }
  int64_t revision() const { return revision_.load(); }
  bool done() const { return done_.HasBeenNotified(); }
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  grpc::ClientContext context_;
  v1::WatchDeploymentsResponse message_;
  std::atomic<bool> caught_up_{false};
  std::atomic<int64_t> revision_{0};
  absl::Mutex mu_;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  absl::Notification done_;
};

template <typename Fn>
int CountIf(const std::vector<std::unique_ptr<Watcher>>& watchers, Fn fn) {
  int n = 0;
  for (const auto& w : watchers) n += fn(*w) ? 1 : 0;
  return n;
}

TEST(RegistryWatchScaleTest, AThousandWatchersShareThreadsAndEndAtTheDrain) {
  const std::string dir = testing::MakeTempDir("registry_watch_scale_");
  int port = 0;
  // An hour's grace: a drain that waited for the watchers would outlast the
  // test's timeout.
  absl::StatusOr<std::unique_ptr<Subprocess>> registry = testing::StartService(
      CONTINUUM_BIN_DIR, "registry", dir, {"--shutdown_grace=1h"}, &port);
  ASSERT_TRUE(registry.ok()) << registry.status();
  const std::string target = absl::StrCat("127.0.0.1:", port);
  auto stub = v1::RegistryService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));

  {
    grpc::ClientContext context;
    v1::RegisterModelRequest request;
    request.set_model_id("scale");
    request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    request.mutable_model()->mutable_rollout_plan()->mutable_immediate();
    request.mutable_model()->mutable_rollout_plan()->set_manual_start(true);
    v1::RegisterModelResponse response;
    grpc::Status s = stub->RegisterModel(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Several connections: one HTTP/2 connection carries a bounded number of
  // concurrent streams.
  std::vector<std::unique_ptr<v1::RegistryService::Stub>> stubs;
  for (int c = 0; c < kChannels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("continuum.test.channel", c);  // Distinct connections.
    stubs.push_back(v1::RegistryService::NewStub(grpc::CreateCustomChannel(
        target, grpc::InsecureChannelCredentials(), args)));
  }
  v1::WatchDeploymentsRequest watch;
  watch.add_models("scale");
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < kWatchers; ++i) {
    watchers.push_back(
        std::make_unique<Watcher>(stubs[i % kChannels].get(), watch));
  }
  ASSERT_TRUE(WaitFor(
      [&] {
        return CountIf(watchers, [](Watcher& w) {
                 return w.caught_up() || w.done();
               }) == kWatchers;
      },
      absl::Seconds(120)));
  ASSERT_EQ(CountIf(watchers, [](Watcher& w) { return w.caught_up(); }),
            kWatchers)
      << CountIf(watchers, [](Watcher& w) { return w.done(); })
      << " watchers ended early";
  const pid_t pid = (*registry)->pid();
  const int threads_open = ThreadsOf(pid);
  EXPECT_GT(threads_open, 0);
  EXPECT_LT(threads_open, kMaxThreads)
      << "with " << kWatchers << " watches open";
  ::testing::Test::RecordProperty("threads_with_watches_open", threads_open);

  // Upload and validate a version, then promote it with the immediate plan.
  absl::StatusOr<v1::Version> version =
      testing::UploadValidatedVersion(*stub, "scale",
                                      testing::PlainClassifierBytes(4, 3));
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->state(), v1::VERSION_STATE_VALIDATED);
  int64_t revision = 0;
  {
    grpc::ClientContext context;
    v1::PromoteRequest request;
    request.set_name("models/scale");
    request.set_version(version->version());
    request.mutable_plan()->mutable_immediate();
    request.set_reason("scale test");
    v1::PromoteResponse response;
    const absl::Time start = absl::Now();
    grpc::Status s = stub->Promote(&context, request, &response);
    ::testing::Test::RecordProperty(
        "promote_ms", absl::ToInt64Milliseconds(absl::Now() - start));
    ASSERT_TRUE(s.ok()) << s.error_message();
    revision = response.deployment().revision();
    EXPECT_EQ(response.deployment().stable_version(), version->version());
  }
  ASSERT_GT(revision, 0);
  const absl::Time promoted = absl::Now();
  EXPECT_TRUE(WaitFor(
      [&] {
        return CountIf(watchers, [&](Watcher& w) {
                 return w.revision() >= revision;
               }) == kWatchers;
      },
      absl::Seconds(120)))
      << CountIf(watchers, [&](Watcher& w) { return w.revision() >= revision; })
      << " of " << kWatchers << " watchers saw revision " << revision;
  EXPECT_EQ(CountIf(watchers,
                    [&](Watcher& w) {
                      return w.revision() == revision && !w.done();
                    }),
            kWatchers);
  ::testing::Test::RecordProperty(
      "promotion_seen_by_all_ms",
      absl::ToInt64Milliseconds(absl::Now() - promoted));
  const int threads_after = ThreadsOf(pid);
  EXPECT_LT(threads_after, kMaxThreads)
      << "after the promotion reached " << kWatchers << " watches";

  // SIGTERM with every watch open: the drain ends them at its start.
  ASSERT_TRUE((*registry)->Signal(SIGTERM).ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        return CountIf(watchers, [](Watcher& w) { return w.done(); }) ==
               kWatchers;
      },
      absl::Seconds(120)))
      << CountIf(watchers, [](Watcher& w) { return w.done(); }) << " of "
      << kWatchers << " watches ended";
  int unavailable = 0;
  for (auto& w : watchers) {
    if (!w->done()) continue;
    grpc::Status status = w->status();
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
      ++unavailable;
    } else {
      ADD_FAILURE() << "a watch ended with " << status.error_code() << ": "
                    << status.error_message();
      break;
    }
  }
  EXPECT_EQ(unavailable, kWatchers);
  // Exits long before the hour's grace.
  absl::StatusOr<int> exit = (*registry)->Wait(absl::Seconds(120));
  ASSERT_TRUE(exit.ok()) << "the registry still runs: the drain waited";
  EXPECT_TRUE(WIFEXITED(*exit));
  EXPECT_EQ(WEXITSTATUS(*exit), 0) << (*registry)->ReadStderr();
}

}  // namespace
}  // namespace continuum
