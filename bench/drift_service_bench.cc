// drift_service_bench: rows per second through the drift service's Observe,
// each beside its reference measured in the same run on the same batches:
//   DriftMonitor::Observe in process (the default monitor: ADWIN on the
//     error stream, Page-Hinkley on the confidence, the performance window)
//     vs. a plain loop reading every value of the same batches;
//   the same with canary judgement (two versions, production known, a
//     judgement every --judge_every batches over up to 20,000 outcomes per
//     arm) vs. the same plain loop;
//   the gRPC Observe stream of continuum-drift's service over loopback
//     vs. a bare gRPC Observe stream of the same bytes whose server reads
//     and discards each message (the cost of gRPC and protobuf alone);
//   one reference-test run (KS and PSI per feature, Bonferroni, the
//     data-set verdict) over a window of --reference_window rows of
//     --reference_features features against a reference of 512 values per
//     feature (the trainer's), through DriftMonitor::RunReferenceWork
//     vs. copying and sorting the same window's columns and the reference
//     samples (what any rank test must do first).
// Batches: --rows rows of --features floats, a confidence and an outcome
// per row (classifier, 10 % errors). Each figure is the best of --repeats
// runs of --seconds. Prints a table; with --json also one JSON object as the
// last line.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "continuum/v1/drift.grpc.pb.h"
#include "lib/core/clock.h"
#include "lib/core/config.h"
#include "lib/core/server.h"
#include "services/drift/drift_actions.h"
#include "services/drift/drift_monitor.h"
#include "services/drift/drift_service.h"

ABSL_FLAG(bool, json, false, "Print one JSON object as the last line.");
ABSL_FLAG(double, seconds, 2.0, "Measuring time per run.");
ABSL_FLAG(int, repeats, 3, "Runs per figure; the best is reported.");
ABSL_FLAG(int, rows, 256, "Rows per observation batch.");
ABSL_FLAG(int, features, 16, "Features per row.");
ABSL_FLAG(int, reference_window, 1000, "Reference-test case: window rows.");
ABSL_FLAG(int, reference_features, 784,
          "Reference-test case: features (784 = a Fashion-MNIST image).");
ABSL_FLAG(int, judge_every, 16,
          "Canary case: batches between judgements (the interval, on a fake "
          "clock advanced one second per batch).");

namespace {

using Clock = std::chrono::steady_clock;
namespace v1 = continuum::v1;
namespace ds = continuum::drift_service;

constexpr int kDistinctBatches = 64;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// The same data for every version (so a canary's error rate equals
// stable's).
std::vector<v1::ObserveRequest> MakeBatches(int rows, int features,
                                            int64_t version) {
  std::mt19937 rng(7);
  std::normal_distribution<float> feature(0.0f, 1.0f);
  std::uniform_real_distribution<float> confidence(0.5f, 1.0f);
  std::bernoulli_distribution wrong(0.1);
  std::vector<v1::ObserveRequest> out(kDistinctBatches);
  for (v1::ObserveRequest& request : out) {
    v1::ObservationBatch& b = *request.mutable_batch();
    b.set_model("bench");
    b.set_version(version);
    b.set_num_rows(rows);
    b.set_feature_dim(features);
    for (int r = 0; r < rows; ++r) {
      for (int f = 0; f < features; ++f) b.add_features(feature(rng));
      b.add_predicted_classes(r % 10);
      b.add_confidences(confidence(rng));
      v1::ObservedOutcome* o = b.add_outcomes();
      o->set_row(r);
      o->set_correct(!wrong(rng));
    }
  }
  return out;
}

// The production version is 1; every call succeeds.
class FixedTarget : public ds::ActionTarget {
 public:
  absl::StatusOr<int64_t> ProductionVersion(const std::string&) override {
    return 1;
  }
  absl::StatusOr<std::string> Rollback(const std::string& model, int64_t,
                                       int64_t, const std::string&) override {
    return absl::StrCat("models/", model, "/deployment@1");
  }
  absl::StatusOr<std::string> AbortRollout(const std::string& model, int64_t,
                                           const std::string&) override {
    return absl::StrCat("models/", model, "/deployment@1");
  }
  absl::StatusOr<std::string> TriggerRun(const std::string& model,
                                         const std::string&,
                                         const std::string&) override {
    return absl::StrCat("models/", model, "/runs/1");
  }
};

// Best rows/s of DriftMonitor::Observe over `batches` (cycled; with two
// sets, alternately), a fresh monitor per run.
double MeasureMonitor(const std::vector<std::vector<v1::ObserveRequest>>& sets,
                      bool canary, int repeats, double seconds,
                      int64_t* alerts) {
  double best = 0;
  for (int run = 0; run < repeats; ++run) {
    continuum::core::FakeClock clock;
    FixedTarget target;
    ds::DriftMonitorOptions options;
    options.clock = &clock;
    if (canary) options.actions = &target;
    ds::DriftMonitor monitor(options);
    if (canary) {
      v1::ConfigureMonitorRequest request;
      request.mutable_monitor()->set_name("models/bench/monitor");
      request.mutable_monitor()
          ->mutable_canary_judgement()
          ->mutable_interval()
          ->set_seconds(absl::GetFlag(FLAGS_judge_every));
      // Actions would only be recorded.
      request.mutable_monitor()->mutable_actions()->set_dry_run(true);
      if (!monitor.ConfigureMonitor(request).ok()) std::exit(1);
    }
    int64_t rows = 0;
    size_t i = 0;
    const auto start = Clock::now();
    auto now = start;
    while (Seconds(start, now) < seconds) {
      for (int k = 0; k < 16; ++k, ++i) {
        const auto& set = sets[i % sets.size()];
        const v1::ObservationBatch& b =
            set[(i / sets.size()) % set.size()].batch();
        absl::StatusOr<ds::ObserveResult> result = monitor.Observe(b);
        if (!result.ok()) {
          std::cerr << result.status() << "\n";
          std::exit(1);
        }
        rows += result->observations;
        clock.Advance(absl::Seconds(1));
      }
      now = Clock::now();
    }
    best = std::max(best, rows / Seconds(start, now));
    *alerts = 0;
    for (const v1::Alert& a :
         monitor.AlertsAfter(0, {}, v1::ALERT_SEVERITY_UNSPECIFIED, 1 << 30)) {
      *alerts += a.detector() == "canary_judgement" ? 1000 : 1;
    }
  }
  return best;
}

// A reference of `features` features, 512 standard-normal values each.
class BenchReferences : public ds::ReferenceSource {
 public:
  explicit BenchReferences(int features) : features_(features) {}
  absl::StatusOr<v1::ReferenceStatistics> Fetch(const std::string&,
                                                int64_t) override {
    v1::ReferenceStatistics stats;
    stats.set_sample_count(60000);
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int f = 0; f < features_; ++f) {
      v1::FeatureReference* ref = stats.add_features();
      ref->set_index(f);
      for (int i = 0; i < 512; ++i) ref->add_sample(normal(rng));
    }
    return stats;
  }

 private:
  const int features_;
};

// Best (lowest) seconds of one reference-test run over a full window, and
// in *reference the best seconds of copying and sorting the same columns
// and reference samples.
double MeasureReferenceRun(int window, int features, int repeats,
                           double* reference) {
  continuum::core::FakeClock clock;
  BenchReferences references(features);
  ds::DriftMonitorOptions options;
  options.clock = &clock;
  options.references = &references;
  options.reference_poll_interval = absl::ZeroDuration();  // No thread.
  ds::DriftMonitor monitor(options);
  v1::ConfigureMonitorRequest request;
  request.mutable_monitor()->set_name("models/bench/monitor");
  v1::ReferenceTestConfig* c =
      request.mutable_monitor()->mutable_reference_tests();
  c->mutable_interval()->set_seconds(1);
  c->set_window_size(window);
  c->set_min_samples(window);
  if (!monitor.ConfigureMonitor(request).ok()) std::exit(1);
  // The window, shifted by 0.05 standard deviations (some features drift).
  v1::ObservationBatch batch;
  batch.set_model("bench");
  batch.set_version(1);
  batch.set_num_rows(window);
  batch.set_feature_dim(features);
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.05f, 1.0f);
  std::vector<std::vector<double>> columns(features);
  for (int r = 0; r < window; ++r) {
    for (int f = 0; f < features; ++f) {
      const float x = normal(rng);
      batch.add_features(x);
      columns[f].push_back(x);
    }
  }
  v1::ReferenceStatistics stats = *references.Fetch("bench", 1);
  double best = 1e9;
  *reference = 1e9;
  for (int run = 0; run < repeats; ++run) {
    if (!monitor.Observe(batch).ok()) std::exit(1);  // New rows.
    clock.Advance(absl::Seconds(2));                 // Due.
    auto start = Clock::now();
    monitor.RunReferenceWork();
    best = std::min(best, Seconds(start, Clock::now()));
    // The reference: copy and sort every column and reference sample.
    start = Clock::now();
    double sum = 0;
    for (int f = 0; f < features; ++f) {
      std::vector<double> w = columns[f];
      std::sort(w.begin(), w.end());
      std::vector<double> ref(stats.features(f).sample().begin(),
                              stats.features(f).sample().end());
      std::sort(ref.begin(), ref.end());
      sum += w[w.size() / 2] + ref[ref.size() / 2];
    }
    volatile double sink = sum;
    (void)sink;
    *reference = std::min(*reference, Seconds(start, Clock::now()));
  }
  auto status = monitor.GetDriftStatus("models/bench", 1);
  if (!status.ok() || status->reference_tests().empty()) {
    std::cerr << "no reference-test run happened\n";
    std::exit(1);
  }
  return best;
}

// Best rows/s of a loop reading every value of the same batches.
double MeasureReadLoop(const std::vector<v1::ObserveRequest>& batches,
                       int repeats, double seconds) {
  double best = 0;
  for (int run = 0; run < repeats; ++run) {
    int64_t rows = 0;
    double sum = 0;
    size_t i = 0;
    const auto start = Clock::now();
    auto now = start;
    while (Seconds(start, now) < seconds) {
      for (int k = 0; k < 16; ++k, ++i) {
        const v1::ObservationBatch& b = batches[i % batches.size()].batch();
        for (float f : b.features()) sum += f;
        for (float c : b.confidences()) sum += c;
        for (int p : b.predicted_classes()) sum += p;
        for (const v1::ObservedOutcome& o : b.outcomes()) {
          sum += o.row() + (o.correct() ? 0 : 1);
        }
        rows += b.num_rows();
      }
      now = Clock::now();
    }
    volatile double sink = sum;
    (void)sink;
    best = std::max(best, rows / Seconds(start, now));
  }
  return best;
}

// Observe that reads and discards: the bare gRPC stream.
class DiscardingService final : public v1::DriftService::Service {
 public:
  grpc::Status Observe(grpc::ServerContext*,
                       grpc::ServerReader<v1::ObserveRequest>* reader,
                       v1::ObserveResponse* response) override {
    v1::ObserveRequest request;
    int64_t batches = 0;
    int64_t rows = 0;
    while (reader->Read(&request)) {
      ++batches;
      rows += request.batch().num_rows();
    }
    response->set_batches(batches);
    response->set_observations(rows);
    return grpc::Status::OK;
  }
};

// Best rows/s of one Observe stream to `service`, counted once the server
// has answered (every batch processed).
double MeasureStream(grpc::Service* service,
                     const std::vector<v1::ObserveRequest>& batches,
                     int repeats, double seconds) {
  continuum::core::ServiceServer::Options server_options;
  server_options.service = "drift";
  server_options.config = continuum::core::DefaultServerConfig("drift");
  server_options.config.set_metrics_listen("");
  server_options.services = {service};
  auto server =
      continuum::core::ServiceServer::Start(std::move(server_options));
  if (!server.ok()) {
    std::cerr << server.status() << "\n";
    std::exit(1);
  }
  auto stub = v1::DriftService::NewStub(grpc::CreateChannel(
      (*server)->address(), grpc::InsecureChannelCredentials()));
  double best = 0;
  for (int run = 0; run < repeats; ++run) {
    grpc::ClientContext context;
    v1::ObserveResponse response;
    std::unique_ptr<grpc::ClientWriter<v1::ObserveRequest>> writer =
        stub->Observe(&context, &response);
    size_t i = 0;
    const auto start = Clock::now();
    while (Seconds(start, Clock::now()) < seconds) {
      for (int k = 0; k < 16; ++k, ++i) {
        if (!writer->Write(batches[i % batches.size()])) break;
      }
    }
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    const auto end = Clock::now();
    if (!s.ok()) {
      std::cerr << "Observe: " << s.error_message() << "\n";
      std::exit(1);
    }
    best = std::max(best, response.observations() / Seconds(start, end));
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int rows = std::max(1, absl::GetFlag(FLAGS_rows));
  const int features = std::max(1, absl::GetFlag(FLAGS_features));
  const int repeats = std::max(1, absl::GetFlag(FLAGS_repeats));
  const double seconds = std::max(0.1, absl::GetFlag(FLAGS_seconds));
  const std::vector<v1::ObserveRequest> stable = MakeBatches(rows, features, 1);
  const std::vector<v1::ObserveRequest> canary = MakeBatches(rows, features, 2);
  const size_t batch_bytes = stable[0].ByteSizeLong();

  int64_t alerts = 0;
  int64_t canary_alerts = 0;
  const double read_loop = MeasureReadLoop(stable, repeats, seconds);
  const double monitor =
      MeasureMonitor({stable}, false, repeats, seconds, &alerts);
  const double judged =
      MeasureMonitor({stable, canary}, true, repeats, seconds, &canary_alerts);
  DiscardingService bare;
  const double bare_stream = MeasureStream(&bare, stable, repeats, seconds);
  double sort_reference = 0;
  const double reference_run = MeasureReferenceRun(
      std::max(1, absl::GetFlag(FLAGS_reference_window)),
      std::max(1, absl::GetFlag(FLAGS_reference_features)), repeats,
      &sort_reference);
  ds::DriftMonitor service_monitor;
  ds::DriftServiceImpl service(&service_monitor);
  const double grpc_stream = MeasureStream(&service, stable, repeats, seconds);

  std::printf(
      "drift_service_bench: %d rows x %d features per batch (%zu B), best of "
      "%d runs of %.1f s\n\n",
      rows, features, batch_bytes, repeats, seconds);
  std::printf("%-36s %14s %10s %18s %8s\n", "case", "rows/s", "MB/s",
              "reference rows/s", "ratio");
  const double bytes_per_row = static_cast<double>(batch_bytes) / rows;
  auto row = [&](const char* name, double rps, double ref) {
    std::printf("%-36s %14.0f %10.1f %18.0f %8.3f\n", name, rps,
                rps * bytes_per_row / 1e6, ref, ref > 0 ? rps / ref : 0);
  };
  row("DriftMonitor::Observe", monitor, read_loop);
  row("DriftMonitor::Observe + canary", judged, read_loop);
  row("gRPC Observe stream", grpc_stream, bare_stream);
  row("bare gRPC stream (discard)", bare_stream, bare_stream);
  std::printf(
      "\nreferences: in-process cases, a loop reading every value of the "
      "same batches (%.0f rows/s);\ngRPC case, the bare stream of the same "
      "bytes. Canary case: judged every %d batches. Alerts in the last run "
      "(both arms 10 %% errors:\nnone expected, false positives possible): "
      "detectors %lld and %lld, canary FAILs %lld.\n",
      read_loop, absl::GetFlag(FLAGS_judge_every),
      static_cast<long long>(alerts % 1000),
      static_cast<long long>(canary_alerts % 1000),
      static_cast<long long>(canary_alerts / 1000));
  std::printf(
      "\n%-36s %14s %18s %8s\n%-36s %14.2f %18.2f %8.2f\n", "case",
      "ms per run", "reference ms", "ratio",
      absl::StrCat("reference tests ", absl::GetFlag(FLAGS_reference_window),
                   " x ", absl::GetFlag(FLAGS_reference_features))
          .c_str(),
      reference_run * 1e3, sort_reference * 1e3,
      sort_reference > 0 ? reference_run / sort_reference : 0);
  std::printf(
      "reference: copying and sorting the window's columns and the "
      "reference samples (KS needs both sorted).\n");

  if (absl::GetFlag(FLAGS_json)) {
    std::vector<std::string> fields = {
        "\"bench\":\"drift_service\"",
        absl::StrCat("\"rows_per_batch\":", rows),
        absl::StrCat("\"features\":", features),
        absl::StrCat("\"batch_bytes\":", batch_bytes),
        absl::StrCat("\"monitor_rows_per_s\":", monitor),
        absl::StrCat("\"monitor_canary_rows_per_s\":", judged),
        absl::StrCat("\"read_loop_reference_rows_per_s\":", read_loop),
        absl::StrCat("\"monitor_ratio\":", monitor / read_loop),
        absl::StrCat("\"grpc_observe_rows_per_s\":", grpc_stream),
        absl::StrCat("\"bare_grpc_reference_rows_per_s\":", bare_stream),
        absl::StrCat("\"grpc_observe_ratio\":", grpc_stream / bare_stream),
        absl::StrCat("\"detector_alerts\":",
                     alerts % 1000 + canary_alerts % 1000),
        absl::StrCat("\"canary_fails\":", canary_alerts / 1000),
        absl::StrCat("\"reference_run_ms\":", reference_run * 1e3),
        absl::StrCat("\"sort_reference_ms\":", sort_reference * 1e3),
        absl::StrCat("\"reference_run_ratio\":",
                     sort_reference > 0 ? reference_run / sort_reference
                                        : 0)};
    std::printf("{%s}\n", absl::StrJoin(fields, ",").c_str());
  }
  return 0;
}
