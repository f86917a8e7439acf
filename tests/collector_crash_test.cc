// End to end with real processes: clients ingest into continuum-collector
// over real sockets while it is killed with SIGKILL; after a restart every
// acknowledged record is present exactly once and every stored record is
// whole.
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "continuum/v1/collector.grpc.pb.h"
#include "tests/util/subprocess.h"

namespace continuum {
namespace {

using ::continuum::testing::Subprocess;
using ::continuum::testing::WaitFor;
using google::protobuf::util::TimeUtil;

constexpr int kFeatures = 16;

std::string Binary(const std::string& name) {
  return absl::StrCat(CONTINUUM_BIN_DIR, "/", name);
}

int ReadPort(const std::string& path) {
  int port = 0;
  std::string text = testing::ReadFile(path).value_or("");
  if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port)) return 0;
  return port;
}

class CollectorProcess {
 public:
  CollectorProcess(const std::string& dir, const std::string& name) {
    port_file_ = absl::StrCat(dir, "/", name, ".port");
    std::remove(port_file_.c_str());
    auto process = Subprocess::Start(
        {Binary("continuum-collector"), "--data_dir=" + dir + "/data",
         "--port_file=" + port_file_, "--metrics_listen="},
        dir, name);
    EXPECT_TRUE(process.ok()) << process.status();
    if (process.ok()) process_ = *std::move(process);
  }

  // Waits for the port file; returns the target or "" if the process died.
  std::string WaitReady() {
    bool ready =
        WaitFor([&] { return process_->Exited() || ReadPort(port_file_) > 0; },
                absl::Seconds(60));
    if (!ready || process_->Exited()) return "";
    return absl::StrCat("127.0.0.1:", ReadPort(port_file_));
  }

  Subprocess& process() { return *process_; }

 private:
  std::string port_file_;
  std::unique_ptr<Subprocess> process_;
};

v1::Record MakeRecord(const std::string& id, int seed) {
  v1::Record r;
  r.set_id(id);
  *r.mutable_event_time() = TimeUtil::GetCurrentTime();
  for (int f = 0; f < kFeatures; ++f) r.add_features(seed * 0.5f + f);
  r.mutable_label()->set_class_index(seed % 10);
  return r;
}

TEST(CollectorCrashTest, KillNineLosesNoAcknowledgedRecord) {
  std::string dir = testing::MakeTempDir("collector_crash_");
  CollectorProcess first(dir, "first");
  std::string target = first.WaitReady();
  ASSERT_FALSE(target.empty()) << first.process().ReadStderr();

  {
    auto stub = v1::CollectorService::NewStub(
        grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    v1::CreateDatasetRequest request;
    request.set_dataset_id("crash");
    request.mutable_dataset()->mutable_schema()->set_feature_dim(kFeatures);
    request.mutable_dataset()->mutable_schema()->set_label_kind(
        v1::LABEL_KIND_CLASS);
    request.mutable_dataset()->mutable_schema()->set_num_classes(10);
    v1::CreateDatasetResponse response;
    grpc::Status status = stub->CreateDataset(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // Four clients, each on its own channel (its own connection), ingest
  // batches of 25 and remember what was acknowledged.
  absl::Mutex mu;
  std::set<std::string> acked;
  std::atomic<int> acked_batches{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      auto stub = v1::CollectorService::NewStub(
          grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
      for (int b = 0; !stop.load(); ++b) {
        v1::IngestBatchRequest request;
        request.set_dataset("crash");
        for (int i = 0; i < 25; ++i) {
          *request.add_records() =
              MakeRecord(absl::StrCat(c, "-", b, "-", i), b + i);
        }
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(10));
        v1::IngestBatchResponse response;
        grpc::Status status = stub->IngestBatch(&context, request, &response);
        if (!status.ok()) return;  // The server is gone.
        absl::MutexLock lock(&mu);
        for (const auto& r : request.records()) acked.insert(r.id());
        acked_batches.fetch_add(1);
      }
    });
  }
  // Kill while the clients are busy: after at least 40 acknowledged batches.
  ASSERT_TRUE(
      WaitFor([&] { return acked_batches.load() >= 40; }, absl::Seconds(120)));
  ASSERT_TRUE(first.process().Signal(SIGKILL).ok());
  ASSERT_TRUE(first.process().Wait(absl::Seconds(30)).ok());
  stop = true;
  for (auto& t : clients) t.join();

  CollectorProcess second(dir, "second");
  target = second.WaitReady();
  ASSERT_FALSE(target.empty()) << second.process().ReadStderr();
  auto stub = v1::CollectorService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  v1::ScanRequest scan;
  scan.set_dataset("crash");
  auto reader = stub->Scan(&context, scan);
  v1::ScanResponse response;
  std::map<std::string, int> seen;
  while (reader->Read(&response)) {
    const v1::RecordBatch& batch = response.batch();
    ASSERT_EQ(batch.feature_dim(), kFeatures);
    ASSERT_EQ(batch.features_size(), batch.num_rows() * kFeatures);
    for (int r = 0; r < batch.num_rows(); ++r) {
      ++seen[batch.ids(r)];
      // Whole records only: every feature and the label are the ones sent
      // for this id ("client-batch-index", made by MakeRecord(id, b + i)).
      const std::vector<std::string> parts = absl::StrSplit(batch.ids(r), '-');
      int b = 0, i = 0;
      ASSERT_EQ(parts.size(), 3u) << batch.ids(r);
      ASSERT_TRUE(absl::SimpleAtoi(parts[1], &b) &&
                  absl::SimpleAtoi(parts[2], &i))
          << batch.ids(r);
      const v1::Record sent = MakeRecord(batch.ids(r), b + i);
      for (int f = 0; f < kFeatures; ++f) {
        EXPECT_EQ(batch.features(r * kFeatures + f), sent.features(f))
            << batch.ids(r) << " feature " << f;
      }
      EXPECT_TRUE(batch.labeled(r));
      ASSERT_EQ(batch.class_indices_size(), batch.num_rows());
      EXPECT_EQ(batch.class_indices(r), sent.label().class_index())
          << batch.ids(r);
    }
  }
  grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();

  absl::MutexLock lock(&mu);
  int missing = 0;
  for (const std::string& id : acked) missing += seen.count(id) == 0;
  EXPECT_EQ(missing, 0) << "of " << acked.size() << " acknowledged records";
  for (const auto& [id, count] : seen) EXPECT_EQ(count, 1) << id;
  EXPECT_GE(seen.size(), acked.size());

  ASSERT_TRUE(second.process().Signal(SIGTERM).ok());
  auto exit_status = second.process().Wait(absl::Seconds(30));
  ASSERT_TRUE(exit_status.ok());
  EXPECT_TRUE(WIFEXITED(*exit_status) && WEXITSTATUS(*exit_status) == 0)
      << second.process().ReadStderr();
}

}  // namespace
}  // namespace continuum
