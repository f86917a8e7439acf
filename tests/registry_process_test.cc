// continuum-registry as a real process: streamed uploads and downloads,
// watchers that disconnect and resume, kill -9 in the middle of an upload,
// a corrupted blob, and the audit chain across restarts.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "lib/store/blob_store.h"
#include "services/registry/audit_chain.h"
#include "tests/util/subprocess.h"
#include "tests/util/plain_bundle.h"

namespace continuum {
namespace {

using ::continuum::testing::Subprocess;
using ::continuum::testing::WaitFor;

class RegistryProcess {
 public:
  explicit RegistryProcess(const std::string& dir) : dir_(dir) {}

  std::string Start() {
    std::string port_file = dir_ + "/port";
    std::remove(port_file.c_str());
    auto process = Subprocess::Start(
        {absl::StrCat(CONTINUUM_BIN_DIR, "/continuum-registry"),
         "--data_dir=" + dir_ + "/data", "--port_file=" + port_file,
         "--metrics_listen=", "--shutdown_grace=1s"},
        dir_, absl::StrCat("registry", ++starts_));
    if (!process.ok()) return "";
    process_ = *std::move(process);
    int port = 0;
    bool ready = WaitFor(
        [&] {
          return process_->Exited() ||
                 absl::SimpleAtoi(
                     absl::StripAsciiWhitespace(
                         testing::ReadFile(port_file).value_or("")),
                     &port);
        },
        absl::Seconds(60));
    if (!ready || process_->Exited()) return "";
    target_ = absl::StrCat("127.0.0.1:", port);
    return target_;
  }

  std::unique_ptr<v1::RegistryService::Stub> Stub() {
    return v1::RegistryService::NewStub(
        grpc::CreateChannel(target_, grpc::InsecureChannelCredentials()));
  }

  Subprocess& process() { return *process_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::string target_;
  int starts_ = 0;
  std::unique_ptr<Subprocess> process_;
};

grpc::Status Upload(v1::RegistryService::Stub& stub, const std::string& model,
                    const std::string& bytes,
                    v1::UploadVersionResponse* response,
                    const v1::ValidationReport* report = nullptr) {
  grpc::ClientContext context;
  auto writer = stub.UploadVersion(&context, response);
  v1::UploadVersionRequest request;
  request.mutable_metadata()->set_model(model);
  request.mutable_metadata()->set_sha256(store::Sha256Hex(bytes));
  request.mutable_metadata()->set_size_bytes(
      static_cast<int64_t>(bytes.size()));
  if (report)
    *request.mutable_metadata()->mutable_validation_report() = *report;
  writer->Write(request);
  for (size_t i = 0; i < bytes.size(); i += 65536) {
    request.set_chunk(bytes.substr(i, 65536));
    if (!writer->Write(request)) break;
  }
  writer->WritesDone();
  return writer->Finish();
}

v1::ValidationReport GoodReport() {
  v1::ValidationReport report;
  v1::Evaluation* e = report.add_evaluations();
  e->set_evaluation_set("held_out");
  e->mutable_candidate()->set_loss(0.3);
  e->mutable_candidate()->set_accuracy(0.9);
  e->mutable_candidate()->set_sample_count(1000);
  return report;
}

// Registers `model` with the immediate rollout plan.
grpc::Status RegisterImmediateModel(v1::RegistryService::Stub& stub,
                                    const std::string& model) {
  grpc::ClientContext context;
  v1::RegisterModelRequest request;
  request.set_model_id(model);
  request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  request.mutable_model()->mutable_rollout_plan()->mutable_immediate();
  v1::RegisterModelResponse response;
  return stub.RegisterModel(&context, request, &response);
}

TEST(RegistryProcessTest, UploadDownloadWatchResumeCrashAndAudit) {
  std::string dir = testing::MakeTempDir("registry_process_");
  RegistryProcess registry(dir);
  ASSERT_FALSE(registry.Start().empty()) << registry.process().ReadStderr();
  auto stub = registry.Stub();

  ASSERT_TRUE(RegisterImmediateModel(*stub, "fraud").ok());

  // A watcher from the start.
  grpc::ClientContext watch_context;
  v1::WatchDeploymentsRequest watch;
  watch.add_models("fraud");
  auto watcher = stub->WatchDeployments(&watch_context, watch);
  v1::WatchDeploymentsResponse event;
  ASSERT_TRUE(watcher->Read(&event));
  EXPECT_TRUE(event.caught_up());

  // Three versions, each uploaded in chunks with its report: each becomes
  // production at once (immediate plan) and makes a revision.
  std::vector<std::string> artifacts;
  for (int v = 1; v <= 3; ++v) {
    // About 300 KB each: a 784-96-10 classifier.
    artifacts.push_back(testing::PlainClassifierBytes(784, 10, 96, v));
    v1::ValidationReport report = GoodReport();
    v1::UploadVersionResponse response;
    grpc::Status s =
        Upload(*stub, "fraud", artifacts.back(), &response, &report);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(response.version().version(), v);
    EXPECT_TRUE(response.decision().approved());
  }
  // The watcher sees each revision once, in order; it disconnects after the
  // first.
  ASSERT_TRUE(watcher->Read(&event));
  int64_t first_revision = event.deployment().revision();
  EXPECT_EQ(event.deployment().stable_version(), 1);
  watch_context.TryCancel();
  (void)watcher->Finish();

  grpc::ClientContext resume_context;
  watch.set_since_revision(first_revision);
  auto resumed = stub->WatchDeployments(&resume_context, watch);
  std::vector<int64_t> versions;
  int64_t last = first_revision;
  while (resumed->Read(&event) && !event.caught_up()) {
    EXPECT_GT(event.deployment().revision(), last);
    last = event.deployment().revision();
    versions.push_back(event.deployment().stable_version());
  }
  EXPECT_EQ(versions, (std::vector<int64_t>{2, 3}));
  resume_context.TryCancel();
  (void)resumed->Finish();

  // Download version 2 in small chunks: the same bytes.
  {
    grpc::ClientContext context;
    v1::DownloadArtifactRequest request;
    request.set_name("models/fraud/versions/2");
    request.set_chunk_size(10000);
    auto reader = stub->DownloadArtifact(&context, request);
    v1::DownloadArtifactResponse chunk;
    std::string bytes;
    ASSERT_TRUE(reader->Read(&chunk));
    EXPECT_EQ(chunk.info().sha256(), store::Sha256Hex(artifacts[1]));
    while (reader->Read(&chunk)) bytes += chunk.chunk();
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_EQ(bytes, artifacts[1]);
  }

  // A wrong checksum stores nothing.
  {
    grpc::ClientContext context;
    v1::UploadVersionResponse response;
    auto writer = stub->UploadVersion(&context, &response);
    v1::UploadVersionRequest request;
    request.mutable_metadata()->set_model("fraud");
    request.mutable_metadata()->set_sha256(store::Sha256Hex("something else"));
    writer->Write(request);
    request.set_chunk("these bytes");
    writer->Write(request);
    writer->WritesDone();
    EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::DATA_LOSS);
  }

  // kill -9 in the middle of an upload.
  {
    grpc::ClientContext context;
    v1::UploadVersionResponse response;
    auto writer = stub->UploadVersion(&context, &response);
    v1::UploadVersionRequest request;
    std::string big(8 << 20, 'z');
    request.mutable_metadata()->set_model("fraud");
    request.mutable_metadata()->set_sha256(store::Sha256Hex(big));
    ASSERT_TRUE(writer->Write(request));
    // More than the blob writer's 4 MiB buffer, so part of it reaches the
    // file before the kill.
    request.set_chunk(big.substr(0, 4 << 20));
    ASSERT_TRUE(writer->Write(request));
    request.set_chunk(big.substr(4 << 20, 1 << 20));
    ASSERT_TRUE(writer->Write(request));
    // Wait until the partial upload is on disk as a temporary file.
    ASSERT_TRUE(WaitFor(
        [&] {
          std::error_code error;
          for (const auto& entry : std::filesystem::directory_iterator(
                   dir + "/data/blobs/tmp", error)) {
            if (entry.file_size() > 0) return true;
          }
          return false;
        },
        absl::Seconds(30)));
    ASSERT_TRUE(registry.process().Signal(SIGKILL).ok());
    ASSERT_TRUE(registry.process().Wait(absl::Seconds(30)).ok());
    EXPECT_FALSE(writer->Finish().ok());
  }
  ASSERT_FALSE(registry.Start().empty()) << registry.process().ReadStderr();
  stub = registry.Stub();
  {
    grpc::ClientContext context;
    v1::GetModelRequest request;
    request.set_name("models/fraud");
    v1::GetModelResponse response;
    ASSERT_TRUE(stub->GetModel(&context, request, &response).ok());
    EXPECT_EQ(response.model().latest_version(), 3);
    EXPECT_EQ(response.model().production_version(), 3);
  }
  // The half-written upload left no temporary file and no blob behind.
  size_t temp_files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(dir + "/data/blobs/tmp")) {
    (void)entry;
    ++temp_files;
  }
  EXPECT_EQ(temp_files, 0u);

  // Corrupt version 1's blob: its download ends with DATA_LOSS.
  {
    std::string sha = store::Sha256Hex(artifacts[0]);
    std::string path = absl::StrCat(dir, "/data/blobs/sha256/",
                                    sha.substr(0, 2), "/", sha.substr(2));
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(1234);
    f.put('!');
    f.close();
    grpc::ClientContext context;
    v1::DownloadArtifactRequest request;
    request.set_name("models/fraud/versions/1");
    auto reader = stub->DownloadArtifact(&context, request);
    v1::DownloadArtifactResponse chunk;
    while (reader->Read(&chunk)) {
    }
    grpc::Status s = reader->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS) << s.error_message();
  }

  // The audit chain, exported as a stream, verifies across the crash.
  {
    grpc::ClientContext context;
    v1::ExportAuditRequest request;
    auto reader = stub->ExportAudit(&context, request);
    v1::ExportAuditResponse entry;
    std::vector<v1::AuditEntry> entries;
    while (reader->Read(&entry)) entries.push_back(entry.entry());
    ASSERT_TRUE(reader->Finish().ok());
    ASSERT_GE(entries.size(), 10u);
    EXPECT_EQ(registry::FindBrokenLink(entries), 0);
  }

  ASSERT_TRUE(registry.process().Signal(SIGTERM).ok());
  auto status = registry.process().Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(WEXITSTATUS(*status), 0) << registry.process().ReadStderr();
}

// kill -9 while versions are being validated and promoted in a loop: after
// the restart the metadata is consistent (one production version, the
// deployment pointing at it) and the audit chain verifies.
TEST(RegistryProcessTest, KillNineDuringTransitionsLeavesConsistentMetadata) {
  std::string dir = testing::MakeTempDir("registry_kill_");
  RegistryProcess registry(dir);
  ASSERT_FALSE(registry.Start().empty()) << registry.process().ReadStderr();
  auto stub = registry.Stub();
  ASSERT_TRUE(RegisterImmediateModel(*stub, "fraud").ok());
  std::atomic<int> promoted{0};
  std::thread client([&] {
    for (int v = 1; v < 10000; ++v) {
      v1::ValidationReport report = GoodReport();
      v1::UploadVersionResponse response;
      if (!Upload(*stub, "fraud", testing::PlainClassifierBytes(4, 3, 8, v),
                  &response, &report)
               .ok()) {
        return;  // The registry is gone.
      }
      promoted.fetch_add(1);
    }
  });
  ASSERT_TRUE(
      WaitFor([&] { return promoted.load() >= 20; }, absl::Seconds(120)));
  ASSERT_TRUE(registry.process().Signal(SIGKILL).ok());
  ASSERT_TRUE(registry.process().Wait(absl::Seconds(30)).ok());
  client.join();

  ASSERT_FALSE(registry.Start().empty()) << registry.process().ReadStderr();
  stub = registry.Stub();
  v1::Model model;
  {
    grpc::ClientContext context;
    v1::GetModelRequest request;
    request.set_name("models/fraud");
    v1::GetModelResponse response;
    ASSERT_TRUE(stub->GetModel(&context, request, &response).ok());
    model = response.model();
  }
  EXPECT_GE(model.latest_version(), promoted.load());
  int production = 0;
  {
    grpc::ClientContext context;
    v1::ListVersionsRequest request;
    request.set_parent("models/fraud");
    request.set_page_size(1000);
    v1::ListVersionsResponse response;
    ASSERT_TRUE(stub->ListVersions(&context, request, &response).ok());
    for (const v1::Version& v : response.versions()) {
      if (v.state() == v1::VERSION_STATE_PRODUCTION) {
        ++production;
        EXPECT_EQ(v.version(), model.production_version());
      }
    }
  }
  EXPECT_EQ(production, 1);
  {
    grpc::ClientContext context;
    v1::WatchDeploymentsRequest request;
    request.add_models("fraud");
    auto reader = stub->WatchDeployments(&context, request);
    v1::WatchDeploymentsResponse event;
    ASSERT_TRUE(reader->Read(&event));
    EXPECT_EQ(event.deployment().stable_version(), model.production_version());
    EXPECT_EQ(event.deployment().revision(), model.deployment_revision());
    context.TryCancel();
    (void)reader->Finish();
  }
  {
    grpc::ClientContext context;
    v1::ExportAuditRequest request;
    auto reader = stub->ExportAudit(&context, request);
    v1::ExportAuditResponse entry;
    std::vector<v1::AuditEntry> entries;
    while (reader->Read(&entry)) entries.push_back(entry.entry());
    ASSERT_TRUE(reader->Finish().ok());
    EXPECT_EQ(registry::FindBrokenLink(entries), 0);
  }
  ASSERT_TRUE(registry.process().Signal(SIGTERM).ok());
  ASSERT_TRUE(registry.process().Wait(absl::Seconds(30)).ok());
}

}  // namespace
}  // namespace continuum
