// registry_bench: artifact throughput and deployment fan-out of the
// registry, each beside a reference measured in the same run:
//   upload MB/s of a 100 MB model bundle (gRPC stream, SHA-256, fsync,
//     rename, then read back and checked as a pod would: artifact_check.h)
//     vs. a plain copy of the same file with fsync;
//   download MB/s (gRPC stream, SHA-256 re-verified) vs. a plain read;
//   upload and download with encryption at rest (AES-256-GCM, a second
//     registry) vs. the same on the plaintext one;
//   time from a promotion's commit to the 100th watcher receiving the new
//     revision vs. the unary call that made it.
// Prints a table; with --json also one JSON object as the last line.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "lib/core/config.h"
#include "lib/core/server.h"
#include "tests/util/plain_bundle.h"
#include "lib/store/blob_store.h"
#include "lib/store/encryption.h"
#include "services/registry/registry.h"
#include "services/registry/registry_service.h"
#include "services/registry/sqlite_registry_store.h"

ABSL_FLAG(bool, json, false, "Print one JSON object as the last line.");
ABSL_FLAG(int, megabytes, 100, "Artifact size in MB.");
ABSL_FLAG(int, watchers, 100, "WatchDeployments streams.");
ABSL_FLAG(int, promotions, 5, "Promotions timed (the median is reported).");

namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = continuum::v1;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

void Check(const grpc::Status& s, const char* what) {
  if (!s.ok()) {
    std::cerr << what << ": " << s.error_message() << "\n";
    std::exit(1);
  }
}

double CopyFileMBps(const std::string& from, const std::string& to) {
  auto start = Clock::now();
  int in = ::open(from.c_str(), O_RDONLY);
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char> buffer(1 << 20);
  ssize_t n;
  uint64_t total = 0;
  while ((n = ::read(in, buffer.data(), buffer.size())) > 0) {
    if (::write(out, buffer.data(), n) != n) break;
    total += n;
  }
  ::fdatasync(out);
  ::close(in);
  ::close(out);
  return total / Seconds(start, Clock::now()) / 1e6;
}

double ReadFileMBps(const std::string& path) {
  auto start = Clock::now();
  int in = ::open(path.c_str(), O_RDONLY);
  std::vector<char> buffer(1 << 20);
  ssize_t n;
  uint64_t total = 0;
  while ((n = ::read(in, buffer.data(), buffer.size())) > 0) total += n;
  ::close(in);
  return total / Seconds(start, Clock::now()) / 1e6;
}

}  // namespace

// The transport alone: an UploadVersion that reads every message and
// throws the bytes away, on a plain gRPC server.
class DiscardingUpload final : public v1::RegistryService::Service {
 public:
  grpc::Status UploadVersion(grpc::ServerContext*,
                             grpc::ServerReader<v1::UploadVersionRequest>* reader,
                             v1::UploadVersionResponse*) override {
    v1::UploadVersionRequest request;
    while (reader->Read(&request)) {
    }
    return grpc::Status::OK;
  }
};

// One registry served on loopback (state under `dir`, blobs encrypted with
// `keys` when not null) with the model "bench" registered; exits on error.
struct BenchRegistry {
  std::unique_ptr<continuum::registry::Registry> registry;
  std::unique_ptr<continuum::core::OpenStreams> open_streams =
      std::make_unique<continuum::core::OpenStreams>();
  std::unique_ptr<continuum::registry::RegistryServiceImpl> service;
  std::unique_ptr<continuum::core::ServiceServer> server;
  std::unique_ptr<v1::RegistryService::Stub> stub;
};

BenchRegistry StartRegistry(const std::string& dir,
                            std::shared_ptr<const continuum::store::KeyRing> keys,
                            const grpc::ChannelArguments& args) {
  std::filesystem::create_directories(dir);
  auto store = continuum::registry::SqliteRegistryStore::Open(dir + "/registry.db");
  continuum::store::BlobStoreOptions blob_options;
  blob_options.dir = dir + "/blobs";
  blob_options.keys = std::move(keys);
  auto blobs = continuum::store::BlobStore::Open(blob_options);
  if (!store.ok() || !blobs.ok()) {
    std::cerr << "cannot open the registry's storage in " << dir << "\n";
    std::exit(1);
  }
  auto created =
      continuum::registry::Registry::Create(*std::move(store), *std::move(blobs));
  if (!created.ok()) {
    std::cerr << created.status() << "\n";
    std::exit(1);
  }
  BenchRegistry r;
  r.registry = *std::move(created);
  r.service = std::make_unique<continuum::registry::RegistryServiceImpl>(
      r.registry.get(), r.open_streams.get());
  continuum::core::ServiceServer::Options options;
  options.service = "registry";
  options.config = continuum::core::DefaultServerConfig("registry");
  options.config.set_metrics_listen("");
  options.config.set_max_message_bytes(16 << 20);
  options.services = {r.service.get()};
  options.open_streams = r.open_streams.get();
  auto server = continuum::core::ServiceServer::Start(std::move(options));
  if (!server.ok()) {
    std::cerr << server.status() << "\n";
    std::exit(1);
  }
  r.server = *std::move(server);
  r.stub = v1::RegistryService::NewStub(grpc::CreateCustomChannel(
      r.server->address(), grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext context;
  v1::RegisterModelRequest request;
  request.set_model_id("bench");
  request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  request.mutable_model()->mutable_rollout_plan()->mutable_immediate();
  v1::RegisterModelResponse response;
  Check(r.stub->RegisterModel(&context, request, &response), "register");
  return r;
}

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string root =
      absl::StrCat("/tmp/continuum_registry_bench_", getpid());
  std::filesystem::create_directories(root);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  BenchRegistry plain = StartRegistry(root + "/plain", nullptr, args);
  continuum::registry::Registry& registry = *plain.registry;
  const std::string target = plain.server->address();
  auto& stub = plain.stub;
  // A second registry whose blob store encrypts (AES-256-GCM).
  auto keys = continuum::store::KeyRing::Parse(
      "bench 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
      "bench", "registry_bench's key");
  if (!keys.ok()) {
    std::cerr << keys.status() << "\n";
    return 1;
  }
  BenchRegistry sealed = StartRegistry(root + "/sealed", *keys, args);
  auto& sealed_stub = sealed.stub;

  // The artifact, as a file, for the references.
  const size_t wanted = static_cast<size_t>(absl::GetFlag(FLAGS_megabytes))
                        << 20;
  // A classifier of 1024 inputs and one hidden layer sized to `bytes`.
  v1::ModelSpec spec;
  spec.set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  spec.set_input_dim(1024);
  spec.set_output_dim(10);
  spec.add_hidden_sizes(
      std::max<int>(1, static_cast<int>(wanted / (4 * (1024 + 10 + 1)))));
  const std::string artifact = continuum::testing::PlainBundleBytes(spec);
  const size_t bytes = artifact.size();
  const std::string source = root + "/artifact.bin";
  {
    FILE* f = std::fopen(source.c_str(), "wb");
    std::fwrite(artifact.data(), 1, artifact.size(), f);
    std::fclose(f);
  }
  // Upload, download and their references, three rounds interleaved (the
  // machine is shared); medians are reported. Repeated uploads of the same
  // bytes do all the work of the first (stream, hash, write, fsync) and
  // then find the blob already stored.
  const std::string digest = continuum::store::Sha256Hex(artifact);
  DiscardingUpload discard;
  int discard_port = 0;
  grpc::ServerBuilder discard_builder;
  discard_builder.AddListeningPort("127.0.0.1:0",
                                   grpc::InsecureServerCredentials(),
                                   &discard_port);
  discard_builder.SetMaxReceiveMessageSize(16 << 20);
  discard_builder.RegisterService(&discard);
  std::unique_ptr<grpc::Server> discard_server =
      discard_builder.BuildAndStart();
  auto discard_stub = v1::RegistryService::NewStub(grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", discard_port),
      grpc::InsecureChannelCredentials(), args));
  std::vector<double> copies, reads, uploads, downloads, streams;
  std::vector<double> sealed_uploads, sealed_downloads;
  for (int round = 0; round < 3; ++round) {
    copies.push_back(CopyFileMBps(source, root + "/copy.bin"));
    reads.push_back(ReadFileMBps(root + "/copy.bin"));
    auto start = Clock::now();
    for (auto* target_stub :
         {discard_stub.get(), stub.get(), sealed_stub.get()}) {
      if (target_stub == stub.get()) {
        streams.push_back(bytes / Seconds(start, Clock::now()) / 1e6);
        start = Clock::now();
      } else if (target_stub == sealed_stub.get()) {
        uploads.push_back(bytes / Seconds(start, Clock::now()) / 1e6);
        start = Clock::now();
      }
      grpc::ClientContext context;
      v1::UploadVersionResponse response;
      auto writer = target_stub->UploadVersion(&context, &response);
      v1::UploadVersionRequest request;
      request.mutable_metadata()->set_model("bench");
      request.mutable_metadata()->set_sha256(digest);
      request.mutable_metadata()->set_size_bytes(static_cast<int64_t>(bytes));
      writer->Write(request);
      int in = ::open(source.c_str(), O_RDONLY);
      std::string chunk(4 << 20, '\0');
      ssize_t n;
      while ((n = ::read(in, chunk.data(), chunk.size())) > 0) {
        request.set_chunk(chunk.data(), n);
        writer->Write(request);
      }
      ::close(in);
      writer->WritesDone();
      Check(writer->Finish(), "upload");
    }
    sealed_uploads.push_back(bytes / Seconds(start, Clock::now()) / 1e6);
    for (auto* target_stub : {stub.get(), sealed_stub.get()}) {
      start = Clock::now();
      grpc::ClientContext context;
      v1::DownloadArtifactRequest request;
      request.set_name("models/bench/versions/1");
      request.set_chunk_size(4 << 20);
      auto reader = target_stub->DownloadArtifact(&context, request);
      v1::DownloadArtifactResponse response;
      size_t received = 0;
      while (reader->Read(&response)) received += response.chunk().size();
      Check(reader->Finish(), "download");
      if (received != bytes) {
        std::cerr << "download returned " << received << " bytes\n";
        return 1;
      }
      (target_stub == stub.get() ? downloads : sealed_downloads)
          .push_back(bytes / Seconds(start, Clock::now()) / 1e6);
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double copy_mbps = median(copies);
  const double read_mbps = median(reads);
  const double upload_mbps = median(uploads);
  const double download_mbps = median(downloads);
  const double stream_mbps = median(streams);
  const double sealed_upload_mbps = median(sealed_uploads);
  const double sealed_download_mbps = median(sealed_downloads);
  discard_server->Shutdown();
  sealed.server->Shutdown(absl::Seconds(1));

  // Fan-out: watchers on their own channels; each promotion uploads a small
  // version and validates it (immediate plan: a new revision).
  const int watchers = absl::GetFlag(FLAGS_watchers);
  std::atomic<int64_t> target_revision{0};
  std::vector<std::atomic<int64_t>> seen(watchers);
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::thread> threads;
  std::atomic<int> caught_up{0};
  for (int w = 0; w < watchers; ++w) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    threads.emplace_back([&, w] {
      auto own = v1::RegistryService::NewStub(
          grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
      v1::WatchDeploymentsRequest request;
      request.add_models("bench");
      request.set_since_revision(registry.latest_revision());
      auto reader = own->WatchDeployments(contexts[w].get(), request);
      v1::WatchDeploymentsResponse event;
      while (reader->Read(&event)) {
        if (event.caught_up()) caught_up.fetch_add(1);
        if (event.has_deployment())
          seen[w].store(event.deployment().revision());
      }
      (void)reader->Finish();
    });
  }
  while (caught_up.load() < watchers)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::vector<double> fanout_ms;
  std::vector<double> call_ms;
  for (int p = 0; p < absl::GetFlag(FLAGS_promotions); ++p) {
    std::string bytes_p =
        continuum::testing::PlainClassifierBytes(4, 3, 8, p + 2);
    {
      grpc::ClientContext context;
      v1::UploadVersionResponse response;
      auto writer = stub->UploadVersion(&context, &response);
      v1::UploadVersionRequest request;
      request.mutable_metadata()->set_model("bench");
      request.mutable_metadata()->set_sha256(
          continuum::store::Sha256Hex(bytes_p));
      writer->Write(request);
      request.set_chunk(bytes_p);
      writer->Write(request);
      writer->WritesDone();
      Check(writer->Finish(), "upload");
    }
    grpc::ClientContext context;
    v1::SubmitValidationRequest request;
    request.set_name(absl::StrCat("models/bench/versions/", p + 2));
    v1::Evaluation* e = request.mutable_report()->add_evaluations();
    e->set_evaluation_set("held_out");
    e->mutable_candidate()->set_sample_count(1000);
    e->mutable_candidate()->set_loss(0.1);
    v1::SubmitValidationResponse response;
    auto call_start = Clock::now();
    Check(stub->SubmitValidation(&context, request, &response), "validate");
    auto committed = Clock::now();
    const int64_t revision = registry.latest_revision();
    bool all = false;
    while (!all) {
      all = true;
      for (int w = 0; w < watchers && all; ++w)
        all = seen[w].load() >= revision;
      if (!all) std::this_thread::yield();
    }
    auto done = Clock::now();
    call_ms.push_back(Seconds(call_start, committed) * 1e3);
    fanout_ms.push_back(Seconds(committed, done) * 1e3);
  }
  for (auto& c : contexts) c->TryCancel();
  for (auto& t : threads) t.join();
  std::sort(fanout_ms.begin(), fanout_ms.end());
  std::sort(call_ms.begin(), call_ms.end());
  const double fanout = fanout_ms[fanout_ms.size() / 2];
  const double call = call_ms[call_ms.size() / 2];

  plain.server->Shutdown(absl::Seconds(1));
  std::filesystem::remove_all(root);

  std::printf("registry_bench: %d MB artifact, %d watchers\n\n",
              absl::GetFlag(FLAGS_megabytes), watchers);
  std::printf("%-36s %12s %16s %8s\n", "case", "figure", "reference", "ratio");
  std::printf("%-36s %9.1f MB/s %11.1f MB/s %8.2f\n",
              "upload (vs file copy + fsync)", upload_mbps, copy_mbps,
              upload_mbps / copy_mbps);
  std::printf("%-36s %9.1f MB/s %11.1f MB/s %8.2f\n",
              "upload (vs bare gRPC stream)", upload_mbps, stream_mbps,
              upload_mbps / stream_mbps);
  std::printf("%-36s %9.1f MB/s %11.1f MB/s %8.2f\n",
              "bare gRPC stream (vs file copy)", stream_mbps, copy_mbps,
              stream_mbps / copy_mbps);
  std::printf("%-36s %9.1f MB/s %11.1f MB/s %8.2f\n",
              "download (vs file copy + fsync)", download_mbps, copy_mbps,
              download_mbps / copy_mbps);
  std::printf("%-36s %9.1f MB/s %11.1f MB/s %8.2f\n",
              "download (vs page-cache read)", download_mbps, read_mbps,
              download_mbps / read_mbps);
  std::printf("%-36s %9.1f MB/s %11.1f MB/s %8.2f\n",
              "upload AES-256-GCM (vs plaintext)", sealed_upload_mbps,
              upload_mbps, sealed_upload_mbps / upload_mbps);
  std::printf("%-36s %9.1f MB/s %11.1f MB/s %8.2f\n",
              "download AES-256-GCM (vs plaintext)", sealed_download_mbps,
              download_mbps, sealed_download_mbps / download_mbps);
  std::printf("%-36s %12.2f ms %13.2f ms %8.2f\n",
              "promotion -> 100th watcher (median)", fanout, call,
              fanout / call);
  std::printf(
      "\nreference of the fan-out: the unary SubmitValidation call that made "
      "the revision.\n");
  if (absl::GetFlag(FLAGS_json)) {
    std::printf(
        "{\"bench\":\"registry\",\"artifact_mb\":%d,\"watchers\":%d,"
        "\"upload_mb_per_s\":%.1f,\"copy_reference_mb_per_s\":%.1f,"
        "\"upload_ratio\":%.3f,\"bare_stream_mb_per_s\":%.1f,"
        "\"upload_vs_stream_ratio\":%.3f,\"download_mb_per_s\":%.1f,"
        "\"read_reference_mb_per_s\":%.1f,\"download_ratio\":%.3f,"
        "\"download_vs_read_ratio\":%.3f,"
        "\"encrypted_upload_mb_per_s\":%.1f,\"encrypted_upload_ratio\":%.3f,"
        "\"encrypted_download_mb_per_s\":%.1f,"
        "\"encrypted_download_ratio\":%.3f,"
        "\"fanout_ms\":%.3f,\"promote_call_ms\":%.3f,\"fanout_ratio\":%.3f}\n",
        absl::GetFlag(FLAGS_megabytes), watchers, upload_mbps, copy_mbps,
        upload_mbps / copy_mbps, stream_mbps, upload_mbps / stream_mbps,
        download_mbps, read_mbps,
        download_mbps / copy_mbps, download_mbps / read_mbps,
        sealed_upload_mbps, sealed_upload_mbps / upload_mbps,
        sealed_download_mbps, sealed_download_mbps / download_mbps, fanout,
        call, fanout / call);
  }
  return 0;
}
