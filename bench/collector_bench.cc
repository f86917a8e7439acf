// collector_bench: durable ingest and window scans of the collector, each
// beside its reference measured in the same run on the same disk:
//   ingest MB/s (gRPC IngestBatch, fsync per batch, concurrent clients)
//     vs. the disk's own write+fdatasync rate with the same bytes per fsync;
//   scan MB/s (gRPC Scan of the whole window)
//     vs. a plain sequential read of the same segment files;
//   the 784-float ingest and scan with encryption at rest (AES-256-GCM)
//     vs. the same case in plaintext.
// Prints a table; with --json also one JSON object as the last line.
#include <fcntl.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "continuum/v1/collector.grpc.pb.h"
#include "lib/core/config.h"
#include "lib/core/server.h"
#include "services/collector/collector.h"
#include "lib/store/encryption.h"
#include "services/collector/collector_service.h"

ABSL_FLAG(bool, json, false, "Print one JSON object as the last line.");
ABSL_FLAG(double, seconds, 3.0, "Measuring time per case.");
ABSL_FLAG(int, clients, 4, "Concurrent ingest clients, one channel each.");
ABSL_FLAG(int, batch, 64, "Records per IngestBatch.");
ABSL_FLAG(std::string, dir, "",
          "Directory on the disk to measure; default /tmp.");

namespace {

using Clock = std::chrono::steady_clock;
using google::protobuf::util::TimeUtil;
namespace v1 = continuum::v1;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Sequential writes of `block` bytes, each followed by fdatasync.
double DiskFsyncMBps(const std::string& dir, size_t block, double seconds) {
  std::string path = dir + "/fsync_reference.bin";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (fd < 0) return 0;
  std::string data(block, 'x');
  uint64_t written = 0;
  auto start = Clock::now();
  while (Seconds(start, Clock::now()) < seconds) {
    if (::write(fd, data.data(), data.size()) !=
        static_cast<ssize_t>(data.size()))
      break;
    ::fdatasync(fd);
    written += data.size();
  }
  double took = Seconds(start, Clock::now());
  ::close(fd);
  ::unlink(path.c_str());
  return written / took / 1e6;
}

// Reads every regular file under `dir` sequentially.
double SequentialReadMBps(const std::string& dir, uint64_t* bytes_out) {
  std::vector<char> buffer(1 << 20);
  uint64_t bytes = 0;
  auto start = Clock::now();
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().extension() != ".log")
      continue;
    int fd = ::open(entry.path().c_str(), O_RDONLY);
    ssize_t n;
    while ((n = ::read(fd, buffer.data(), buffer.size())) > 0) bytes += n;
    ::close(fd);
  }
  *bytes_out = bytes;
  return bytes / Seconds(start, Clock::now()) / 1e6;
}

struct IngestFigures {
  double records_per_second = 0;
  double mb_per_second = 0;
  double fsync_reference_mb_per_second = 0;
  double scan_mb_per_second = 0;
  double scan_records_per_second = 0;
  double read_reference_mb_per_second = 0;
  size_t batch_bytes = 0;
};

IngestFigures RunCase(
    const std::string& root, int features,
    std::shared_ptr<const continuum::store::KeyRing> keys = nullptr) {
  IngestFigures figures;
  std::string data_dir = absl::StrCat(root, "/collector_", features);
  std::filesystem::remove_all(data_dir);
  continuum::collector::CollectorOptions options;
  options.data_dir = data_dir;
  options.store.keys = std::move(keys);
  auto collector = continuum::collector::Collector::Open(options);
  if (!collector.ok()) {
    std::cerr << collector.status() << "\n";
    std::exit(1);
  }
  continuum::collector::CollectorServiceImpl service(collector->get());
  continuum::core::ServiceServer::Options server_options;
  server_options.service = "collector";
  server_options.config = continuum::core::DefaultServerConfig("collector");
  server_options.config.set_metrics_listen("");
  server_options.services = {&service};
  auto server =
      continuum::core::ServiceServer::Start(std::move(server_options));
  if (!server.ok()) {
    std::cerr << server.status() << "\n";
    std::exit(1);
  }
  const std::string target = (*server)->address();

  auto stub = v1::CollectorService::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext context;
    v1::CreateDatasetRequest request;
    request.set_dataset_id("bench");
    request.mutable_dataset()->mutable_schema()->set_feature_dim(features);
    request.mutable_dataset()->mutable_schema()->set_label_kind(
        v1::LABEL_KIND_CLASS);
    request.mutable_dataset()->mutable_schema()->set_num_classes(10);
    v1::CreateDatasetResponse response;
    grpc::Status s = stub->CreateDataset(&context, request, &response);
    if (!s.ok()) {
      std::cerr << s.error_message() << "\n";
      std::exit(1);
    }
  }

  const int clients = absl::GetFlag(FLAGS_clients);
  const int batch = absl::GetFlag(FLAGS_batch);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  std::atomic<int64_t> records{0};
  std::atomic<int64_t> bytes{0};
  std::vector<std::thread> threads;
  auto start = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto client = v1::CollectorService::NewStub(
          grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
      v1::IngestBatchRequest request;
      request.set_dataset("bench");
      for (int i = 0; i < batch; ++i) {
        v1::Record* r = request.add_records();
        *r->mutable_event_time() = TimeUtil::GetCurrentTime();
        for (int f = 0; f < features; ++f) r->add_features(0.001f * (i + f));
        r->mutable_label()->set_class_index(i % 10);
      }
      for (int64_t b = 0; Seconds(start, Clock::now()) < seconds; ++b) {
        for (int i = 0; i < batch; ++i) {
          request.mutable_records(i)->set_id(absl::StrCat(c, "-", b, "-", i));
        }
        grpc::ClientContext context;
        v1::IngestBatchResponse response;
        grpc::Status s = client->IngestBatch(&context, request, &response);
        if (!s.ok()) {
          std::cerr << "ingest failed: " << s.error_message() << "\n";
          return;
        }
        records += response.accepted_records();
        bytes += response.stored_bytes();
      }
    });
  }
  for (auto& t : threads) t.join();
  double took = Seconds(start, Clock::now());
  figures.records_per_second = records / took;
  figures.mb_per_second = bytes / took / 1e6;
  figures.batch_bytes =
      static_cast<size_t>(bytes / std::max<int64_t>(records, 1) * batch);
  figures.fsync_reference_mb_per_second =
      DiskFsyncMBps(root, figures.batch_bytes, seconds);

  // Scan everything back, then read the same files plainly.
  start = Clock::now();
  grpc::ClientContext context;
  v1::ScanRequest scan;
  scan.set_dataset("bench");
  auto reader = stub->Scan(&context, scan);
  v1::ScanResponse response;
  int64_t scanned = 0;
  while (reader->Read(&response)) scanned += response.batch().num_rows();
  (void)reader->Finish();
  double scan_took = Seconds(start, Clock::now());
  uint64_t file_bytes = 0;
  figures.read_reference_mb_per_second =
      SequentialReadMBps(data_dir + "/datasets/bench/records", &file_bytes);
  figures.scan_mb_per_second = file_bytes / scan_took / 1e6;
  figures.scan_records_per_second = scanned / scan_took;
  (*server)->Shutdown(absl::Seconds(1));
  server->reset();
  collector->reset();
  std::filesystem::remove_all(data_dir);
  return figures;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::string root = absl::GetFlag(FLAGS_dir);
  if (root.empty()) root = "/tmp";
  root = absl::StrCat(root, "/continuum_collector_bench_", getpid());
  std::filesystem::create_directories(root);

  IngestFigures wide = RunCase(root, 784);
  IngestFigures narrow = RunCase(root, 16);
  auto keys = continuum::store::KeyRing::Parse(
      "bench 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
      "bench", "collector_bench's key");
  if (!keys.ok()) {
    std::cerr << keys.status() << "\n";
    return 1;
  }
  IngestFigures sealed = RunCase(root, 784, *keys);
  std::filesystem::remove_all(root);

  std::printf(
      "collector_bench: %d clients, %d records per batch, fsync per batch\n\n",
      absl::GetFlag(FLAGS_clients), absl::GetFlag(FLAGS_batch));
  std::printf("%-28s %14s %12s %16s %8s\n", "case", "records/s", "MB/s",
              "reference MB/s", "ratio");
  auto row = [](const char* name, double rps, double mbps, double ref) {
    std::printf("%-28s %14.0f %12.1f %16.1f %8.2f\n", name, rps, mbps, ref,
                ref > 0 ? mbps / ref : 0);
  };
  row("ingest 784 floats", wide.records_per_second, wide.mb_per_second,
      wide.fsync_reference_mb_per_second);
  row("ingest 16 floats", narrow.records_per_second, narrow.mb_per_second,
      narrow.fsync_reference_mb_per_second);
  row("scan 784 floats", wide.scan_records_per_second, wide.scan_mb_per_second,
      wide.read_reference_mb_per_second);
  row("scan 16 floats", narrow.scan_records_per_second,
      narrow.scan_mb_per_second, narrow.read_reference_mb_per_second);
  auto vs_plain = [](const char* name, double value, double plain) {
    std::printf("%-28s %14.0f %12s %16.0f %8.2f\n", name, value, "", plain,
                plain > 0 ? value / plain : 0);
  };
  vs_plain("ingest 784, AES-256-GCM", sealed.records_per_second,
           wide.records_per_second);
  vs_plain("scan 784, AES-256-GCM", sealed.scan_records_per_second,
           wide.scan_records_per_second);
  std::printf(
      "\ningest reference: write+fdatasync of one batch's bytes (%zu and %zu "
      "B);\n"
      "scan reference: sequential read of the same segment files;\n"
      "AES-256-GCM rows: records/s with encryption at rest beside the "
      "plaintext 784-float case above (reference column, records/s).\n",
      wide.batch_bytes, narrow.batch_bytes);
  if (absl::GetFlag(FLAGS_json)) {
    std::printf(
        "{\"bench\":\"collector\",\"clients\":%d,\"batch\":%d,"
        "\"ingest_784_records_per_s\":%.0f,\"ingest_784_mb_per_s\":%.2f,"
        "\"fsync_reference_784_mb_per_s\":%.2f,\"ingest_784_ratio\":%.3f,"
        "\"ingest_16_records_per_s\":%.0f,\"ingest_16_mb_per_s\":%.3f,"
        "\"fsync_reference_16_mb_per_s\":%.3f,\"ingest_16_ratio\":%.3f,"
        "\"scan_784_mb_per_s\":%.1f,\"read_reference_784_mb_per_s\":%.1f,"
        "\"scan_784_ratio\":%.3f,\"scan_16_mb_per_s\":%.1f,"
        "\"read_reference_16_mb_per_s\":%.1f,\"scan_16_ratio\":%.3f,"
        "\"ingest_784_encrypted_records_per_s\":%.0f,"
        "\"ingest_784_encrypted_ratio\":%.3f,"
        "\"scan_784_encrypted_records_per_s\":%.0f,"
        "\"scan_784_encrypted_ratio\":%.3f}\n",
        absl::GetFlag(FLAGS_clients), absl::GetFlag(FLAGS_batch),
        wide.records_per_second, wide.mb_per_second,
        wide.fsync_reference_mb_per_second,
        wide.mb_per_second / wide.fsync_reference_mb_per_second,
        narrow.records_per_second, narrow.mb_per_second,
        narrow.fsync_reference_mb_per_second,
        narrow.mb_per_second / narrow.fsync_reference_mb_per_second,
        wide.scan_mb_per_second, wide.read_reference_mb_per_second,
        wide.scan_mb_per_second / wide.read_reference_mb_per_second,
        narrow.scan_mb_per_second, narrow.read_reference_mb_per_second,
        narrow.scan_mb_per_second / narrow.read_reference_mb_per_second,
        sealed.records_per_second,
        sealed.records_per_second / wide.records_per_second,
        sealed.scan_records_per_second,
        sealed.scan_records_per_second / wide.scan_records_per_second);
  }
  return 0;
}
