// Chaos: kill -9 of each of the five services in turn while the loop runs.
//
// The five services run as real processes wired like
// deploy/local/continuum-up, each on a fixed loopback port chosen up front
// and its own data directory, so that a restarted service comes back on the
// same address and its peers reconnect to it. The model is set up like the
// demo (Fashion-MNIST, 784-32-10 MLP, 1 epoch), cold-started through the
// trainer, and served by the inference pod. Then, for the collector, the
// registry, the trainer, the drift service and the pod in turn, under a
// background load (a thread predicting, every row logged to the collector
// and the drift service; a thread ingesting labelled batches and
// remembering the ids of every batch acknowledged OK):
// - the service is killed with SIGKILL (the registry right after it
//   acknowledged an upload, the trainer in the middle of a training run);
// - while it is down the others keep working: no Predict fails unless the
//   pod itself is down, and it answers with its current version; no
//   IngestBatch fails unless the collector itself is down;
// - it restarts on the same port and data directory and recovers: healthy,
//   the pod serving again, its peers reconnected (the pod's prediction log
//   reaching the restarted collector and drift service, its deployment
//   watch the restarted registry);
// - nothing acknowledged is lost: every acknowledged record id is in the
//   collector, every registered version in the registry, the trainer's runs
//   (completed, and the one interrupted shown FAILED) in the trainer, the
//   drift service's monitor and alerts in its SQLite store.
// Finally a new run trains on the data ingested under chaos, and the pod
// serves the version it produced: the loop still works end to end.
// Skipped when Debian's dataset-fashion-mnist package is not installed (any
// other error loading it fails the test).
#include <arpa/inet.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "continuum/v1/collector.grpc.pb.h"
#include "continuum/v1/drift.grpc.pb.h"
#include "continuum/v1/inference.grpc.pb.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "continuum/v1/trainer.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "lib/data/fashion_mnist.h"
#include "lib/model/bundle.h"
#include "lib/model/model.h"
#include "lib/store/blob_store.h"
#include "tests/util/registry_upload.h"
#include "tests/util/subprocess.h"
#include "tests/util/trainer_runs.h"

namespace continuum {
namespace {

using ::continuum::testing::Subprocess;
using ::continuum::testing::WaitFor;

constexpr char kModel[] = "fmnist";
constexpr int kInputs = 784;
constexpr int kClasses = 10;
constexpr int kRows = 1500;
// How long each service stays down, in load the others serve meanwhile:
// predictions (about 50 a second) or, with the pod down, ingested batches
// (about 15 a second). Some seconds: long enough for peers' calls to fail
// and their reconnect backoff to grow.
constexpr int kDownPredictions = 300;
constexpr int kDownBatches = 100;
// The registry stays down longer (about 30 s): long enough for a gRPC
// channel left at its default reconnect backoff (growing to 2 minutes) to
// come back noticeably late.
constexpr int kLongDownPredictions = 1500;
// How soon the pod must be watching the restarted registry again: its
// max_reconnect_backoff is 200 ms here, so this is fifty times that (room
// for a loaded machine); gRPC's default backoff, which the bound guards
// against, grows to 2 minutes (once measured here: 11.5 s late).
constexpr absl::Duration kPodReconnectBound = absl::Seconds(10);
// Started in this order (dependencies first, as continuum-up does).
const char* const kServices[] = {"registry", "collector", "trainer", "drift",
                                 "inference"};

std::chrono::system_clock::time_point Deadline(absl::Duration d) {
  return absl::ToChronoTime(absl::Now() + d);
}

google::protobuf::Timestamp Proto(absl::Time t) {
  const int64_t micros = absl::ToUnixMicros(t);
  google::protobuf::Timestamp p;
  p.set_seconds(micros / 1'000'000);
  p.set_nanos(static_cast<int32_t>(micros % 1'000'000) * 1000);
  return p;
}

// Whether nothing is bound to 127.0.0.1:`port` now (0: any free port,
// returned).
int TryBind(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t len = sizeof(addr);
  int bound = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    bound = ntohs(addr.sin_port);
  }
  ::close(fd);
  return bound;
}

// A free loopback port for a service to keep across its restarts. Taken
// below the kernel's ephemeral range where possible: no other process is
// handed it by bind(0) or connect() while the service is down.
int FreePort(const std::set<int>& taken) {
  int ephemeral_low = 32768;
  if (auto range = testing::ReadFile("/proc/sys/net/ipv4/ip_local_port_range");
      range.ok()) {
    ephemeral_low = std::atoi(range->c_str());
  }
  if (ephemeral_low > 4096) {
    std::mt19937 rng(std::random_device{}());
    std::uniform_int_distribution<int> pick(
        std::max(2048, ephemeral_low - 12000), ephemeral_low - 1);
    for (int attempt = 0; attempt < 100; ++attempt) {
      const int port = pick(rng);
      if (!taken.count(port) && TryBind(port) == port) return port;
    }
  }
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int port = TryBind(0);
    if (port > 0 && !taken.count(port)) return port;
  }
  return 0;
}

// A client channel that notices a restarted server quickly (gRPC's default
// reconnect backoff grows to 2 minutes). `own` gives it its own connection.
std::shared_ptr<grpc::Channel> Channel(const std::string& target,
                                       bool own = false) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 200);
  args.SetMaxReceiveMessageSize(64 << 20);
  if (own) args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

// A bundle with fresh weights for the model's shape.
std::string BundleBytes(uint64_t seed) {
  v1::ArtifactManifest manifest;
  manifest.set_model(kModel);
  manifest.mutable_spec()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  manifest.mutable_spec()->set_input_dim(kInputs);
  manifest.mutable_spec()->set_output_dim(kClasses);
  manifest.mutable_spec()->add_hidden_sizes(32);
  auto bundle = model::Model::InitBundle(manifest, seed);
  EXPECT_TRUE(bundle.ok()) << bundle.status();
  auto bytes = model::SerializeBundle(*bundle);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return *bytes;
}

struct Service {
  std::string name;
  int port = 0;
  std::string dir;
  std::unique_ptr<Subprocess> process;
  int starts = 0;
  std::string target() const { return absl::StrCat("127.0.0.1:", port); }
};

// The five processes on fixed ports.
class Cluster {
 public:
  explicit Cluster(std::string root) : root_(std::move(root)) {}

  absl::Status ChoosePorts() {
    std::set<int> used;
    for (const char* name : kServices) {
      const int port = FreePort(used);
      if (port <= 0) return absl::InternalError("no free loopback port");
      used.insert(port);
      Service& s = services_[name];
      s.name = name;
      s.port = port;
      s.dir = absl::StrCat(root_, "/", name);
    }
    return absl::OkStatus();
  }

  std::string Target(const std::string& name) const {
    return services_.at(name).target();
  }

  // Starts `name` on its port and data directory and waits until it
  // serves (the pod: until it answers; SERVING needs a model).
  absl::Status Start(const std::string& name) {
    Service& s = services_.at(name);
    const std::string port_file = s.dir + "/grpc.port";
    std::filesystem::create_directories(s.dir);
    std::filesystem::remove(port_file);
    std::vector<std::string> argv = {
        absl::StrCat(CONTINUUM_BIN_DIR, "/continuum-", name),
        "--data_dir=" + s.dir + "/data",
        absl::StrCat("--listen=", s.target()),
        "--port_file=" + port_file,
        "--metrics_listen=",
        "--shutdown_grace=1s"};
    const std::string config = ConfigText(name);
    if (!config.empty()) argv.push_back("--config_text=" + config);
    auto p = Subprocess::Start(argv, s.dir, absl::StrCat(name, ++s.starts));
    if (!p.ok()) return p.status();
    s.process = *std::move(p);
    const int port = testing::WaitForPortFile(port_file, *s.process);
    if (port != s.port) {
      return absl::InternalError(absl::StrCat(name, " did not start on port ",
                                              s.port, " (port file: ", port,
                                              "): ", s.process->ReadStderr()));
    }
    const bool up = WaitFor(
        [&] {
          auto status = Health(name);
          return status.has_value() &&
                 (name == "inference" ||
                  *status == grpc::health::v1::HealthCheckResponse::SERVING);
        },
        absl::Seconds(30));
    if (!up) {
      return absl::InternalError(absl::StrCat(
          name, " never reported SERVING: ", s.process->ReadStderr()));
    }
    return absl::OkStatus();
  }

  // SIGKILL, and the exit reaped.
  absl::Status Kill(const std::string& name) {
    Service& s = services_.at(name);
    if (absl::Status st = s.process->Signal(SIGKILL); !st.ok()) return st;
    absl::StatusOr<int> status = s.process->Wait(absl::Seconds(30));
    if (!status.ok()) return status.status();
    if (!WIFSIGNALED(*status) || WTERMSIG(*status) != SIGKILL) {
      return absl::InternalError(
          absl::StrCat(name, " ended with wait status ", *status));
    }
    return absl::OkStatus();
  }

  // The health status the service reports; nullopt when it does not answer.
  std::optional<grpc::health::v1::HealthCheckResponse::ServingStatus> Health(
      const std::string& name) {
    auto stub = grpc::health::v1::Health::NewStub(Channel(Target(name)));
    grpc::ClientContext context;
    context.set_deadline(Deadline(absl::Seconds(2)));
    grpc::health::v1::HealthCheckResponse response;
    if (!stub->Check(&context, grpc::health::v1::HealthCheckRequest(),
                     &response)
             .ok()) {
      return std::nullopt;
    }
    return response.status();
  }

  std::string Stderr(const std::string& name) const {
    const Service& s = services_.at(name);
    return s.process ? s.process->ReadStderr() : "";
  }

  // Every service's stderr, for failure messages.
  std::string Logs() const {
    std::string out;
    for (const char* name : kServices) {
      std::string err = Stderr(name);
      if (err.size() > 3000) err = "..." + err.substr(err.size() - 3000);
      absl::StrAppend(&out, "\n--- ", name, " ---\n", err);
    }
    return out;
  }

 private:
  std::string ConfigText(const std::string& name) const {
    const std::string registry =
        absl::StrCat("registry_address: \"", Target("registry"), "\"");
    if (name == "trainer") {
      return absl::StrCat(registry, " collector_address: \"",
                          Target("collector"), "\"");
    }
    if (name == "drift") {
      return absl::StrCat(registry, " trainer_address: \"", Target("trainer"),
                          "\"");
    }
    if (name == "inference") {
      return absl::StrCat(registry,
                          " pod_id: \"pod-a\" batching { workers: 1 } "
                          "max_reconnect_backoff { nanos: 200000000 } "
                          "prediction_log { collector_address: \"",
                          Target("collector"), "\" drift_address: \"",
                          Target("drift"),
                          "\" flush_interval { nanos: 100000000 } }");
    }
    return "";
  }

  std::string root_;
  std::map<std::string, Service> services_;
};

// Every record id the collector acknowledged, across the whole test.
class Ledger {
 public:
  void Ack(const std::vector<std::string>& ids) {
    absl::MutexLock lock(&mu_);
    acked_.insert(acked_.end(), ids.begin(), ids.end());
  }
  std::vector<std::string> acked() {
    absl::MutexLock lock(&mu_);
    return acked_;
  }
  std::atomic<int64_t> next_record{0};
  std::atomic<int64_t> next_prediction{0};

 private:
  absl::Mutex mu_;
  std::vector<std::string> acked_ ABSL_GUARDED_BY(mu_);
};

// The background load of one phase: one thread predicting (one row per
// call, logged under the id pred-N), one ingesting labelled batches of 5
// rows (ids load-N) into the model's data set. Both paced by a short pause
// between calls so the data set stays small.
class Load {
 public:
  Load(Cluster* cluster, const data::LabeledImages* images, Ledger* ledger)
      : cluster_(cluster), images_(images), ledger_(ledger) {}
  ~Load() { Stop(); }

  void Start() {
    threads_.emplace_back([this] { PredictLoop(); });
    threads_.emplace_back([this] { IngestLoop(); });
  }
  void Stop() {
    stop_.store(true);
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  std::atomic<int64_t> predict_ok{0}, predict_failed{0};
  std::atomic<int64_t> ingest_ok{0}, ingest_failed{0};

  std::set<int64_t> versions() {
    absl::MutexLock lock(&mu_);
    return versions_;
  }
  std::string errors() {
    absl::MutexLock lock(&mu_);
    return absl::StrCat("last Predict error: ", predict_error_,
                        "; last IngestBatch error: ", ingest_error_);
  }

 private:
  const float* Row(int64_t i) const {
    return images_->pixels.data() + (i % images_->size()) * kInputs;
  }

  void PredictLoop() {
    auto stub =
        v1::InferenceService::NewStub(Channel(cluster_->Target("inference"),
                                              /*own=*/true));
    while (!stop_.load()) {
      const int64_t seq = ledger_->next_prediction++;
      v1::PredictRequest request;
      request.set_model(kModel);
      request.mutable_inputs()->add_shape(1);
      request.mutable_inputs()->add_shape(kInputs);
      request.mutable_inputs()->mutable_data()->Add(Row(seq),
                                                    Row(seq) + kInputs);
      request.add_record_ids(absl::StrCat("pred-", seq));
      grpc::ClientContext context;
      context.set_deadline(Deadline(absl::Seconds(10)));
      v1::PredictResponse response;
      grpc::Status s = stub->Predict(&context, request, &response);
      if (s.ok()) {
        ++predict_ok;
        absl::MutexLock lock(&mu_);
        versions_.insert(response.version().version());
      } else {
        ++predict_failed;
        absl::MutexLock lock(&mu_);
        predict_error_ = absl::StrCat(static_cast<int>(s.error_code()), ": ",
                                      s.error_message());
      }
      absl::SleepFor(absl::Milliseconds(20));  // Pacing, not synchronisation.
    }
  }

  void IngestLoop() {
    auto stub = v1::CollectorService::NewStub(
        Channel(cluster_->Target("collector"), /*own=*/true));
    while (!stop_.load()) {
      v1::IngestBatchRequest request;
      request.set_dataset(kModel);
      std::vector<std::string> ids;
      const absl::Time now = absl::Now();
      for (int i = 0; i < 5; ++i) {
        const int64_t seq = ledger_->next_record++;
        ids.push_back(absl::StrCat("load-", seq));
        v1::Record* r = request.add_records();
        r->set_id(ids.back());
        *r->mutable_event_time() = Proto(now);
        r->mutable_features()->Add(Row(seq), Row(seq) + kInputs);
        r->mutable_label()->set_class_index(
            images_->labels[seq % images_->size()]);
      }
      grpc::ClientContext context;
      context.set_deadline(Deadline(absl::Seconds(5)));
      v1::IngestBatchResponse response;
      grpc::Status s = stub->IngestBatch(&context, request, &response);
      if (s.ok()) {
        ledger_->Ack(ids);
        ++ingest_ok;
      } else {
        ++ingest_failed;
        absl::MutexLock lock(&mu_);
        ingest_error_ = absl::StrCat(static_cast<int>(s.error_code()), ": ",
                                     s.error_message());
      }
      absl::SleepFor(absl::Milliseconds(50));  // Pacing, not synchronisation.
    }
  }

  Cluster* cluster_;
  const data::LabeledImages* images_;
  Ledger* ledger_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  absl::Mutex mu_;
  std::set<int64_t> versions_ ABSL_GUARDED_BY(mu_);
  std::string predict_error_ ABSL_GUARDED_BY(mu_);
  std::string ingest_error_ ABSL_GUARDED_BY(mu_);
};

// What one kill showed.
struct PhaseReport {
  std::string service;
  int64_t predict_ok_while_down = 0;
  int64_t predict_failed = 0;
  int64_t ingest_ok_while_down = 0;
  int64_t ingest_failed = 0;
  absl::Duration down;      // From SIGKILL to the restart.
  absl::Duration recovery;  // From the restart to healthy (the pod: serving).
  std::string versions;     // Versions that answered during the phase.
  std::string note;         // Service-specific recovery, e.g. reconnects.
};

class ChaosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto images =
        data::LoadFashionMnist(data::FashionMnistSplit::kTrain, kRows);
    if (absl::IsNotFound(images.status())) GTEST_SKIP() << images.status();
    ASSERT_TRUE(images.ok()) << images.status();
    images_ = *std::move(images);
    root_ = testing::MakeTempDir("chaos_");
    ASSERT_FALSE(root_.empty());
    cluster_ = std::make_unique<Cluster>(root_);
  }

  // Children still running are killed by their destructors; the state and
  // logs are kept when the test failed.
  void TearDown() override {
    cluster_.reset();
    if (root_.empty()) return;
    if (HasFailure()) {
      std::cerr << "state and logs kept in " << root_ << "\n";
    } else {
      std::error_code ignored;
      std::filesystem::remove_all(root_, ignored);
    }
  }

  // --- Stubs (new channels each time: cheap, and never a stale one) -------

  std::unique_ptr<v1::CollectorService::Stub> Collector() {
    return v1::CollectorService::NewStub(
        Channel(cluster_->Target("collector")));
  }
  std::unique_ptr<v1::RegistryService::Stub> Registry() {
    return v1::RegistryService::NewStub(Channel(cluster_->Target("registry")));
  }
  std::unique_ptr<v1::TrainerService::Stub> Trainer() {
    return v1::TrainerService::NewStub(Channel(cluster_->Target("trainer")));
  }
  std::unique_ptr<v1::DriftService::Stub> Drift() {
    return v1::DriftService::NewStub(Channel(cluster_->Target("drift")));
  }
  std::unique_ptr<v1::InferenceService::Stub> Inference() {
    return v1::InferenceService::NewStub(
        Channel(cluster_->Target("inference")));
  }

  // --- Setup -------------------------------------------------------------

  void CreateDataset() {
    grpc::ClientContext context;
    context.set_deadline(Deadline(absl::Seconds(30)));
    v1::CreateDatasetRequest request;
    request.set_dataset_id(kModel);
    v1::DatasetSchema* schema = request.mutable_dataset()->mutable_schema();
    schema->set_feature_dim(kInputs);
    schema->set_label_kind(v1::LABEL_KIND_CLASS);
    schema->set_num_classes(kClasses);
    v1::CreateDatasetResponse response;
    grpc::Status s = Collector()->CreateDataset(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // The first kRows images, event times in the last hour.
  void IngestInitial() {
    const absl::Time base = absl::Now() - absl::Hours(1);
    auto stub = Collector();
    for (int at = 0; at < kRows; at += 500) {
      v1::IngestBatchRequest request;
      request.set_dataset(kModel);
      std::vector<std::string> ids;
      for (int i = at; i < std::min(kRows, at + 500); ++i) {
        v1::Record* r = request.add_records();
        ids.push_back(absl::StrCat("fm-", i));
        r->set_id(ids.back());
        *r->mutable_event_time() = Proto(base + absl::Milliseconds(i));
        r->mutable_features()->Add(images_.pixels.begin() + i * kInputs,
                                   images_.pixels.begin() + (i + 1) * kInputs);
        r->mutable_label()->set_class_index(images_.labels[i]);
      }
      grpc::ClientContext context;
      context.set_deadline(Deadline(absl::Seconds(60)));
      v1::IngestBatchResponse response;
      grpc::Status s = stub->IngestBatch(&context, request, &response);
      ASSERT_TRUE(s.ok()) << s.error_message();
      ledger_.Ack(ids);
    }
  }

  void RegisterModel() {
    grpc::ClientContext context;
    context.set_deadline(Deadline(absl::Seconds(30)));
    v1::RegisterModelRequest request;
    request.set_model_id(kModel);
    v1::Model* m = request.mutable_model();
    m->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    m->mutable_spec()->add_hidden_sizes(32);
    // A validated version goes to production at once: the test is about
    // the loop's mechanics under failures, not the quality gates, so they
    // are lenient (a version trained on the chaos-time data must pass).
    m->mutable_rollout_plan()->mutable_immediate();
    m->mutable_validation_policy()->set_max_accuracy_drop_points(100);
    m->mutable_validation_policy()->set_min_held_out_gain_points(-100);
    m->mutable_validation_policy()->set_max_loss_increase_percent(1e6);
    v1::RegisterModelResponse response;
    grpc::Status s = Registry()->RegisterModel(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  void ConfigureTraining() {
    grpc::ClientContext context;
    context.set_deadline(Deadline(absl::Seconds(30)));
    v1::ConfigureTrainingRequest request;
    v1::TrainingConfig* c = request.mutable_config();
    c->set_name(absl::StrCat("models/", kModel, "/trainingConfig"));
    c->set_dataset(kModel);
    c->mutable_optimizer()->set_learning_rate(1e-3);
    c->set_epochs(1);
    c->set_seed(42);
    v1::ConfigureTrainingResponse response;
    grpc::Status s = Trainer()->ConfigureTraining(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // --- The trainer -------------------------------------------------------

  // A manual run over the last two hours of data, with overrides.
  v1::Run Trigger(const v1::TrainingConfig& overrides,
                  const std::vector<std::string>& paths,
                  const std::string& reason) {
    grpc::ClientContext context;
    context.set_deadline(Deadline(absl::Seconds(30)));
    v1::TriggerRunRequest request;
    request.set_parent(absl::StrCat("models/", kModel));
    request.set_trigger(v1::RUN_TRIGGER_MANUAL);
    request.set_reason(reason);
    *request.mutable_overrides() = overrides;
    for (const std::string& p : paths) {
      request.mutable_override_mask()->add_paths(p);
    }
    *request.mutable_data_window()->mutable_start_time() =
        Proto(absl::Now() - absl::Hours(2));
    *request.mutable_data_window()->mutable_end_time() = Proto(absl::Now());
    v1::TriggerRunResponse response;
    grpc::Status s = Trainer()->TriggerRun(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.run();
  }

  absl::StatusOr<v1::Run> GetRun(const std::string& name) {
    return testing::GetRun(*Trainer(), name);
  }


  v1::Run WaitEnded(const std::string& name) {
    absl::StatusOr<v1::Run> run =
        testing::WaitRunEnded(*Trainer(), name, absl::Seconds(120));
    EXPECT_TRUE(run.ok()) << run.status();
    return run.value_or(v1::Run());
  }

  // Reads WatchRun until a progress message shows training under way.
  bool WatchUntilTraining(const std::string& name) {
    return testing::WatchUntilTraining(*Trainer(), name);
  }

  std::vector<v1::Run> ListRuns() {
    grpc::ClientContext context;
    context.set_deadline(Deadline(absl::Seconds(10)));
    v1::ListRunsRequest request;
    request.set_parent(absl::StrCat("models/", kModel));
    v1::ListRunsResponse response;
    grpc::Status s = Trainer()->ListRuns(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return {response.runs().begin(), response.runs().end()};
  }

  // --- The registry ------------------------------------------------------

  // Version number -> state, newest first as listed.
  absl::StatusOr<std::map<int64_t, v1::VersionState>> Versions() {
    grpc::ClientContext context;
    context.set_deadline(Deadline(absl::Seconds(10)));
    v1::ListVersionsRequest request;
    request.set_parent(absl::StrCat("models/", kModel));
    request.set_brief(true);
    v1::ListVersionsResponse response;
    grpc::Status s = Registry()->ListVersions(&context, request, &response);
    if (!s.ok()) return absl::UnavailableError(s.error_message());
    std::map<int64_t, v1::VersionState> out;
    for (const v1::Version& v : response.versions())
      out[v.version()] = v.state();
    return out;
  }

  int64_t ProductionVersion() {
    grpc::ClientContext context;
    context.set_deadline(Deadline(absl::Seconds(10)));
    v1::GetModelRequest request;
    request.set_name(absl::StrCat("models/", kModel));
    v1::GetModelResponse response;
    grpc::Status s = Registry()->GetModel(&context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.model().production_version();
  }

  // Uploads `bytes` with a passing validation report; with the immediate
  // plan the registry deploys it. Returns the acknowledged version (0 on
  // failure).
  int64_t UploadValidated(const std::string& bytes) {
    auto stub = Registry();
    absl::StatusOr<v1::Version> v =
        testing::UploadValidatedVersion(*stub, kModel, bytes);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? v->version() : 0;
  }

  // --- The inference pod -------------------------------------------------

  absl::StatusOr<v1::GetModelStatusResponse> PodStatus() {
    grpc::ClientContext context;
    context.set_deadline(Deadline(absl::Seconds(5)));
    v1::GetModelStatusRequest request;
    request.set_model(kModel);
    v1::GetModelStatusResponse response;
    grpc::Status s = Inference()->GetModelStatus(&context, request, &response);
    if (!s.ok()) return absl::UnavailableError(s.error_message());
    return response;
  }

  // Whether the pod is SERVING with `version` as its AVAILABLE stable
  // version.
  bool PodServes(int64_t version) {
    auto health = cluster_->Health("inference");
    if (!health.has_value() ||
        *health != grpc::health::v1::HealthCheckResponse::SERVING) {
      return false;
    }
    auto s = PodStatus();
    if (!s.ok() || s->models_size() != 1) return false;
    for (const auto& v : s->models(0).versions()) {
      if (v.version() == version && v.state() == v1::SERVING_STATE_AVAILABLE &&
          v.role() == v1::SERVING_ROLE_STABLE) {
        return true;
      }
    }
    return false;
  }

  bool WaitPodServes(int64_t version, absl::Duration timeout) {
    return WaitFor([&] { return PodServes(version); }, timeout);
  }

  // --- The collector -----------------------------------------------------

  // The ids of every record of the data set with an event time at or after
  // `since` (everything when unset).
  absl::StatusOr<std::unordered_set<std::string>> ScanIds(
      std::optional<absl::Time> since = std::nullopt) {
    auto stub = Collector();
    grpc::ClientContext context;
    context.set_deadline(Deadline(absl::Seconds(60)));
    v1::ScanRequest request;
    request.set_dataset(kModel);
    request.set_batch_size(512);
    if (since.has_value()) {
      *request.mutable_window()->mutable_start_time() = Proto(*since);
    }
    auto reader = stub->Scan(&context, request);
    std::unordered_set<std::string> ids;
    v1::ScanResponse response;
    while (reader->Read(&response)) {
      for (const std::string& id : response.batch().ids()) ids.insert(id);
    }
    grpc::Status s = reader->Finish();
    if (!s.ok()) return absl::UnavailableError(s.error_message());
    return ids;
  }

  // Every record id acknowledged so far is in the collector.
  void ExpectNoAcknowledgedRecordLost(const std::string& when) {
    // The ledger first: the load goes on meanwhile, and a record acknowledged
    // after the scan began need not be in it (a race of the test, which once
    // reported 5 records acknowledged during the scan as missing).
    const std::vector<std::string> acked = ledger_.acked();
    auto ids = ScanIds();
    ASSERT_TRUE(ids.ok()) << ids.status();
    std::vector<std::string> missing;
    for (const std::string& id : acked) {
      if (!ids->count(id)) missing.push_back(id);
    }
    EXPECT_TRUE(missing.empty())
        << missing.size() << " of " << acked.size()
        << " acknowledged records missing " << when << ", e.g. "
        << absl::StrJoin(missing.begin(),
                         missing.begin() + std::min<size_t>(10, missing.size()),
                         ", ");
    std::cout << "  " << when << ": all " << acked.size()
              << " acknowledged records present (" << ids->size()
              << " rows in the data set)\n";
  }

  // --- One kill ----------------------------------------------------------

  struct Hooks {
    std::function<void()> before_kill = [] {};
    std::function<void(PhaseReport&)> while_down = [](PhaseReport&) {};
    // Waits for the restarted service's own readiness beyond health (the
    // pod: serving); counted in the recovery time.
    std::function<void()> until_recovered = [] {};
    std::function<void(PhaseReport&)> after_restart = [](PhaseReport&) {};
    // Versions the pod may answer with during the phase.
    std::set<int64_t> allowed_versions;
    // Predictions the pod serves while the service is down.
    int down_predictions = kDownPredictions;
  };

  void KillAndRestart(const std::string& name, Hooks hooks) {
    std::cout << "--- kill -9 " << name << "\n";
    PhaseReport report;
    report.service = name;
    Load load(cluster_.get(), &images_, &ledger_);
    load.Start();
    // The load runs against the whole cluster first.
    ASSERT_TRUE(
        WaitFor([&] { return load.predict_ok >= 5 && load.ingest_ok >= 2; },
                absl::Seconds(30)))
        << load.errors() << cluster_->Logs();
    ASSERT_EQ(load.predict_failed.load(), 0) << load.errors();
    ASSERT_EQ(load.ingest_failed.load(), 0) << load.errors();
    ASSERT_NO_FATAL_FAILURE(hooks.before_kill());

    const absl::Time killed = absl::Now();
    {
      absl::Status s = cluster_->Kill(name);
      ASSERT_TRUE(s.ok()) << s;
    }
    const int64_t predict_before = load.predict_ok.load();
    const int64_t ingest_before = load.ingest_ok.load();
    // While it is down, the rest keeps working: the pod answers (unless it
    // is the one down) and the collector acknowledges (likewise).
    if (name != "inference") {
      EXPECT_TRUE(WaitFor(
          [&] {
            return load.predict_ok >= predict_before + hooks.down_predictions;
          },
          absl::Seconds(60)))
          << "predictions stalled with " << name << " down: " << load.errors();
    } else {
      EXPECT_TRUE(WaitFor(
          [&] {
            return load.predict_failed > 0 &&
                   load.ingest_ok >= ingest_before + kDownBatches;
          },
          absl::Seconds(60)))
          << "ingestion stalled with the pod down: " << load.errors();
    }
    if (name == "collector") {
      EXPECT_GT(load.ingest_failed.load(), 0);
    } else {
      EXPECT_GT(load.ingest_ok.load(), ingest_before) << load.errors();
    }
    ASSERT_NO_FATAL_FAILURE(hooks.while_down(report));
    report.predict_ok_while_down = load.predict_ok - predict_before;
    report.ingest_ok_while_down = load.ingest_ok - ingest_before;

    // Restart on the same port and data directory.
    const absl::Time restarted = absl::Now();
    report.down = restarted - killed;
    {
      absl::Status s = cluster_->Start(name);
      ASSERT_TRUE(s.ok()) << s;
    }
    ASSERT_NO_FATAL_FAILURE(hooks.until_recovered());
    report.recovery = absl::Now() - restarted;
    ASSERT_NO_FATAL_FAILURE(hooks.after_restart(report));

    // The load goes on against the whole cluster again.
    const int64_t predict_after = load.predict_ok.load();
    const int64_t ingest_after = load.ingest_ok.load();
    EXPECT_TRUE(WaitFor(
        [&] {
          return load.predict_ok >= predict_after + 10 &&
                 load.ingest_ok >= ingest_after + 3;
        },
        absl::Seconds(30)))
        << "the load did not resume after " << name
        << " restarted: " << load.errors();
    load.Stop();

    report.predict_failed = load.predict_failed.load();
    report.ingest_failed = load.ingest_failed.load();
    if (name != "inference") {
      EXPECT_EQ(report.predict_failed, 0)
          << "Predict failed with " << name << " down: " << load.errors();
    }
    if (name != "collector") {
      EXPECT_EQ(report.ingest_failed, 0)
          << "IngestBatch failed with " << name << " down: " << load.errors();
    }
    const std::set<int64_t> versions = load.versions();
    report.versions = absl::StrJoin(versions, ",");
    for (int64_t v : versions) {
      EXPECT_TRUE(hooks.allowed_versions.count(v))
          << "version " << v << " answered during the " << name << " phase";
    }
    std::cout << "  " << name << ": down " << absl::FormatDuration(report.down)
              << " (" << report.predict_ok_while_down << " predictions and "
              << report.ingest_ok_while_down
              << " ingested batches OK meanwhile), recovered in "
              << absl::FormatDuration(report.recovery) << "; "
              << report.predict_failed << " Predict and "
              << report.ingest_failed << " IngestBatch failures; versions "
              << report.versions << (report.note.empty() ? "" : "; ")
              << report.note << "\n";
    reports_.push_back(report);
  }

  data::LabeledImages images_;
  std::string root_;
  std::unique_ptr<Cluster> cluster_;
  Ledger ledger_;
  std::vector<PhaseReport> reports_;
};

TEST_F(ChaosTest, KillEachServiceInTurnDuringTheLoop) {
  const absl::Time start = absl::Now();
  ASSERT_TRUE(cluster_->ChoosePorts().ok());
  for (const char* name : kServices) {
    absl::Status s = cluster_->Start(name);
    ASSERT_TRUE(s.ok()) << s;
  }
  ASSERT_NO_FATAL_FAILURE(CreateDataset());
  ASSERT_NO_FATAL_FAILURE(IngestInitial());
  ASSERT_NO_FATAL_FAILURE(RegisterModel());
  ASSERT_NO_FATAL_FAILURE(ConfigureTraining());

  // Cold start: run 1 trains version 1, the registry deploys it.
  {
    grpc::ClientContext context;
    context.set_deadline(Deadline(absl::Seconds(30)));
    v1::TriggerRunRequest request;
    request.set_parent(absl::StrCat("models/", kModel));
    request.set_reason("cold start");
    v1::TriggerRunResponse response;
    grpc::Status s = Trainer()->TriggerRun(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    v1::Run run = WaitEnded(response.run().name());
    ASSERT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED)
        << run.DebugString() << cluster_->Logs();
    ASSERT_EQ(run.candidate_version().version(), 1);
  }
  ASSERT_TRUE(WaitPodServes(1, absl::Seconds(60))) << cluster_->Logs();
  std::cout << "setup and cold start: "
            << absl::FormatDuration(absl::Now() - start) << "\n";

  // 1. The collector. The pod keeps answering (its prediction log must not
  // block it); acknowledged records survive; the pod's log reconnects.
  {
    Hooks hooks;
    hooks.allowed_versions = {1};
    int64_t first_prediction_after = 0;
    absl::Time restarted;
    hooks.until_recovered = [&] {
      restarted = absl::Now();
      first_prediction_after = ledger_.next_prediction.load();
    };
    hooks.after_restart = [&](PhaseReport& report) {
      ExpectNoAcknowledgedRecordLost("after the collector's restart");
      // A row the pod logged after the restart arrives: its prediction log
      // reconnected to the new collector process.
      const absl::Time t0 = absl::Now();
      const bool logged = WaitFor(
          [&] {
            auto ids = ScanIds(restarted - absl::Seconds(1));
            if (!ids.ok()) return false;
            for (const std::string& id : *ids) {
              int64_t seq = 0;
              if (absl::StartsWith(id, "pred-") &&
                  absl::SimpleAtoi(id.substr(5), &seq) &&
                  seq >= first_prediction_after) {
                return true;
              }
            }
            return false;
          },
          absl::Seconds(30));
      EXPECT_TRUE(logged) << "no row logged by the pod reached the restarted "
                             "collector"
                          << cluster_->Logs();
      report.note = absl::StrCat("pod's prediction log reconnected ",
                                 absl::FormatDuration(absl::Now() - t0),
                                 " after recovery");
    };
    ASSERT_NO_FATAL_FAILURE(KillAndRestart("collector", hooks));
  }

  // 2. The registry, right after it acknowledged an upload (version 2,
  // deployed at once by the immediate plan). The pod keeps serving while
  // its deployment watch is down, then follows the restarted registry.
  {
    Hooks hooks;
    hooks.allowed_versions = {1, 2};
    hooks.down_predictions = kLongDownPredictions;
    hooks.before_kill = [&] { ASSERT_EQ(UploadValidated(BundleBytes(2)), 2); };
    hooks.while_down = [&](PhaseReport&) {
      EXPECT_TRUE(WaitFor(
          [&] {
            auto s = PodStatus();
            return s.ok() && !s->registry_connected() && s->ready();
          },
          absl::Seconds(30)))
          << "the pod did not notice the registry is gone, or stopped being "
             "ready";
    };
    hooks.after_restart = [&](PhaseReport& report) {
      auto versions = Versions();
      ASSERT_TRUE(versions.ok()) << versions.status();
      EXPECT_EQ(versions->size(), 2u);
      ASSERT_TRUE(versions->count(1) && versions->count(2));
      EXPECT_EQ(versions->at(2), v1::VERSION_STATE_PRODUCTION);
      EXPECT_EQ(ProductionVersion(), 2);
      // The pod's deployment watch reconnects within its backoff.
      const absl::Time t0 = absl::Now();
      EXPECT_TRUE(WaitFor(
          [&] {
            auto s = PodStatus();
            return s.ok() && s->registry_connected();
          },
          absl::Seconds(60)))
          << "the pod never reconnected to the restarted registry"
          << cluster_->Logs();
      const absl::Duration reconnect = absl::Now() - t0;
      EXPECT_LT(reconnect, kPodReconnectBound)
          << "the pod took " << reconnect
          << " to watch the restarted registry again; its registry channel's "
             "reconnect backoff is not bounded by max_reconnect_backoff";
      EXPECT_TRUE(WaitPodServes(2, absl::Seconds(60)))
          << "the pod did not follow the restarted registry to version 2"
          << cluster_->Logs();
      report.note = absl::StrCat(
          "pod's deployment watch reconnected ",
          absl::FormatDuration(reconnect), " after recovery, version 2 served ",
          absl::FormatDuration(absl::Now() - t0), " after");
    };
    ASSERT_NO_FATAL_FAILURE(KillAndRestart("registry", hooks));
  }

  // 3. The trainer, in the middle of a training run. The restarted trainer
  // still lists its completed run, shows the interrupted one FAILED, keeps
  // its configuration; nothing half-trained was registered.
  {
    Hooks hooks;
    hooks.allowed_versions = {2};
    std::string interrupted;
    hooks.before_kill = [&] {
      v1::TrainingConfig o;
      o.set_epochs(1000);
      o.mutable_early_stopping()->set_disabled(true);
      v1::Run run =
          Trigger(o, {"epochs", "early_stopping.disabled"}, "to be killed");
      ASSERT_FALSE(run.name().empty());
      interrupted = run.name();
      ASSERT_TRUE(WatchUntilTraining(run.name())) << cluster_->Logs();
    };
    hooks.after_restart = [&](PhaseReport&) {
      auto run = GetRun(interrupted);
      ASSERT_TRUE(run.ok()) << run.status();
      EXPECT_EQ(run->state(), v1::RUN_STATE_FAILED) << run->DebugString();
      EXPECT_TRUE(absl::StrContains(run->error().message(),
                                    "interrupted by a trainer restart"))
          << run->error().message();
      std::map<std::string, v1::RunState> runs;
      for (const v1::Run& r : ListRuns()) runs[r.name()] = r.state();
      EXPECT_EQ(runs.size(), 2u);
      EXPECT_EQ(runs[absl::StrCat("models/", kModel, "/runs/1")],
                v1::RUN_STATE_SUCCEEDED);
      grpc::ClientContext context;
      context.set_deadline(Deadline(absl::Seconds(10)));
      v1::GetTrainingConfigRequest request;
      request.set_name(absl::StrCat("models/", kModel, "/trainingConfig"));
      v1::GetTrainingConfigResponse response;
      grpc::Status s =
          Trainer()->GetTrainingConfig(&context, request, &response);
      ASSERT_TRUE(s.ok()) << s.error_message();
      EXPECT_EQ(response.config().epochs(), 1);
      auto versions = Versions();
      ASSERT_TRUE(versions.ok()) << versions.status();
      EXPECT_EQ(versions->size(), 2u);
    };
    ASSERT_NO_FATAL_FAILURE(KillAndRestart("trainer", hooks));
  }

  // 4. The drift service. Its monitors and alerts live in SQLite
  // (drift.db): a monitor whose detector alerts at once on the pod's
  // predictions, with a dry-run action, must come back from kill -9
  // exactly as it was, alerts included. The pod keeps answering while
  // its observations cannot be delivered, and delivers them to the
  // restarted process.
  {
    Hooks hooks;
    hooks.allowed_versions = {2};
    auto status = [&]() -> absl::StatusOr<v1::GetDriftStatusResponse> {
      grpc::ClientContext context;
      context.set_deadline(Deadline(absl::Seconds(5)));
      v1::GetDriftStatusRequest request;
      request.set_name(absl::StrCat("models/", kModel));
      v1::GetDriftStatusResponse response;
      grpc::Status s = Drift()->GetDriftStatus(&context, request, &response);
      if (!s.ok()) return absl::UnavailableError(s.error_message());
      return response;
    };
    auto observations = [&]() -> int64_t {
      auto s = status();
      return s.ok() ? s->observations() : 0;
    };
    auto monitor = [&]() -> absl::StatusOr<v1::Monitor> {
      grpc::ClientContext context;
      context.set_deadline(Deadline(absl::Seconds(5)));
      v1::GetMonitorRequest request;
      request.set_name(absl::StrCat("models/", kModel, "/monitor"));
      v1::GetMonitorResponse response;
      grpc::Status s = Drift()->GetMonitor(&context, request, &response);
      if (!s.ok()) return absl::UnavailableError(s.error_message());
      return response.monitor();
    };
    auto alerts = [&]() -> std::map<int64_t, v1::Alert> {
      grpc::ClientContext context;
      context.set_deadline(Deadline(absl::Seconds(5)));
      v1::ListAlertsRequest request;
      request.set_parent(absl::StrCat("models/", kModel));
      request.set_page_size(1000);
      v1::ListAlertsResponse response;
      std::map<int64_t, v1::Alert> out;
      if (!Drift()->ListAlerts(&context, request, &response).ok()) return out;
      for (const v1::Alert& a : response.alerts()) out[a.sequence()] = a;
      return out;
    };
    v1::Monitor monitor_before;
    std::map<int64_t, v1::Alert> alerts_before;
    v1::GetDriftStatusResponse status_before;
    hooks.before_kill = [&] {
      ASSERT_TRUE(
          WaitFor([&] { return observations() > 0; }, absl::Seconds(30)))
          << "the drift service never received the pod's observations";
      grpc::ClientContext context;
      context.set_deadline(Deadline(absl::Seconds(10)));
      v1::ConfigureMonitorRequest request;
      v1::Monitor* m = request.mutable_monitor();
      m->set_name(absl::StrCat("models/", kModel, "/monitor"));
      v1::DetectorConfig* d = m->add_detectors();
      d->set_id("chaos_page_hinkley");
      d->set_detector("page_hinkley");
      d->set_signal(v1::MONITORED_SIGNAL_PREDICTION);
      (*d->mutable_params())["min_instances"] = "1";
      (*d->mutable_params())["threshold"] = "0.0001";
      (*d->mutable_params())["delta"] = "0";
      v1::ActionRule* rule = m->mutable_actions()->add_rules();
      rule->set_alert_type(v1::ALERT_TYPE_PREDICTION);
      rule->set_min_severity(v1::ALERT_SEVERITY_INFO);
      rule->set_action(v1::DRIFT_ACTION_TRIGGER_RETRAIN);
      m->mutable_actions()->set_dry_run(true);
      m->mutable_actions()->mutable_cooldown()->set_seconds(3600);
      v1::ConfigureMonitorResponse response;
      grpc::Status s = Drift()->ConfigureMonitor(&context, request, &response);
      ASSERT_TRUE(s.ok()) << s.error_message();
      // The alert's (dry-run) action is final once it is listed with its
      // result; a dry run starts no cool-down (drift_rollback_test checks
      // that a real action's cool-down survives a kill -9).
      ASSERT_TRUE(WaitFor(
          [&] {
            for (const auto& [sequence, alert] : alerts()) {
              if (alert.action_result().dry_run()) return true;
            }
            return false;
          },
          absl::Seconds(60)))
          << "no alert with a dry-run action from the prediction detector"
          << cluster_->Logs();
      absl::StatusOr<v1::Monitor> m_now = monitor();
      ASSERT_TRUE(m_now.ok()) << m_now.status();
      monitor_before = *m_now;
      alerts_before = alerts();
      absl::StatusOr<v1::GetDriftStatusResponse> st = status();
      ASSERT_TRUE(st.ok()) << st.status();
      status_before = *st;
    };
    hooks.after_restart = [&](PhaseReport& report) {
      const absl::Time t0 = absl::Now();
      EXPECT_TRUE(
          WaitFor([&] { return observations() > 0; }, absl::Seconds(30)))
          << "the pod's observations never reached the restarted drift "
             "service"
          << cluster_->Logs();
      report.note = absl::StrCat("pod's observations reconnected ",
                                 absl::FormatDuration(absl::Now() - t0),
                                 " after recovery");
      // The monitor, every alert and the cool-down came back from drift.db.
      absl::StatusOr<v1::Monitor> m_after = monitor();
      ASSERT_TRUE(m_after.ok()) << m_after.status();
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
          *m_after, monitor_before))
          << "before:\n" << monitor_before.DebugString() << "after:\n"
          << m_after->DebugString();
      const std::map<int64_t, v1::Alert> alerts_after = alerts();
      ASSERT_FALSE(alerts_before.empty());
      for (const auto& [sequence, alert] : alerts_before) {
        auto it = alerts_after.find(sequence);
        ASSERT_TRUE(it != alerts_after.end())
            << "alert " << sequence << " lost in the kill -9";
        EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
            it->second, alert))
            << it->second.DebugString() << " vs " << alert.DebugString();
      }
      absl::StatusOr<v1::GetDriftStatusResponse> st = status();
      ASSERT_TRUE(st.ok()) << st.status();
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
          st->cooldown_until(), status_before.cooldown_until()))
          << st->cooldown_until().DebugString() << " vs "
          << status_before.cooldown_until().DebugString();
    };
    ASSERT_NO_FATAL_FAILURE(KillAndRestart("drift", hooks));
  }

  // 5. The inference pod. Predictions fail while it is down (counted, not
  // an error); everything else goes on; it comes back serving version 2.
  {
    Hooks hooks;
    hooks.allowed_versions = {2};
    hooks.while_down = [&](PhaseReport&) {
      auto versions = Versions();
      EXPECT_TRUE(versions.ok()) << versions.status();
    };
    hooks.until_recovered = [&] {
      ASSERT_TRUE(WaitPodServes(2, absl::Seconds(60))) << cluster_->Logs();
    };
    hooks.after_restart = [&](PhaseReport&) {
      // The restarted pod may serve version 2 from its on-disk cache before
      // its deployment watch has reconnected: wait for the watch.
      EXPECT_TRUE(WaitFor(
          [&] {
            auto s = PodStatus();
            return s.ok() && s->registry_connected();
          },
          absl::Seconds(30)))
          << cluster_->Logs();
    };
    ASSERT_NO_FATAL_FAILURE(KillAndRestart("inference", hooks));
  }

  // The loop end to end after all the restarts: a run over the data
  // ingested under chaos, incremental from version 2, produces version 3,
  // which the pod serves.
  {
    const absl::Time t0 = absl::Now();
    v1::Run run = Trigger(v1::TrainingConfig(), {}, "after the chaos");
    ASSERT_FALSE(run.name().empty());
    run = WaitEnded(run.name());
    ASSERT_EQ(run.state(), v1::RUN_STATE_SUCCEEDED)
        << run.DebugString() << cluster_->Logs();
    EXPECT_EQ(run.name(), absl::StrCat("models/", kModel, "/runs/3"));
    EXPECT_FALSE(run.cold_start());
    EXPECT_EQ(run.parent_version().version(), 2);
    ASSERT_EQ(run.candidate_version().version(), 3);
    EXPECT_GT(run.train_records() + run.holdout_records(), kRows);
    ASSERT_TRUE(WaitPodServes(3, absl::Seconds(60))) << cluster_->Logs();
    grpc::ClientContext context;
    context.set_deadline(Deadline(absl::Seconds(10)));
    v1::PredictRequest request;
    request.set_model(kModel);
    request.mutable_inputs()->add_shape(1);
    request.mutable_inputs()->add_shape(kInputs);
    request.mutable_inputs()->mutable_data()->Add(
        images_.pixels.begin(), images_.pixels.begin() + kInputs);
    v1::PredictResponse response;
    grpc::Status s = Inference()->Predict(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(response.version().version(), 3);
    std::cout << "final run over " << run.train_records() << "+"
              << run.holdout_records() << " rows, version 3 served: "
              << absl::FormatDuration(absl::Now() - t0) << "\n";
  }
  {
    auto versions = Versions();
    ASSERT_TRUE(versions.ok()) << versions.status();
    EXPECT_EQ(versions->size(), 3u);
    EXPECT_EQ(versions->count(1) + versions->count(2) + versions->count(3), 3u);
    EXPECT_EQ(ProductionVersion(), 3);
    EXPECT_EQ(ListRuns().size(), 3u);
  }
  ExpectNoAcknowledgedRecordLost("at the end");

  std::cout << "\nservice    down    OK while down (predict/ingest)  "
               "failures (predict/ingest)  recovery\n";
  for (const PhaseReport& r : reports_) {
    std::cout << absl::StrCat(
        r.service, std::string(11 - r.service.size(), ' '),
        absl::FormatDuration(r.down), "  ", r.predict_ok_while_down, "/",
        r.ingest_ok_while_down, "  ", r.predict_failed, "/", r.ingest_failed,
        "  ", absl::FormatDuration(r.recovery), "\n");
  }
  std::cout << "chaos test: " << absl::FormatDuration(absl::Now() - start)
            << " in all\n";
}

}  // namespace
}  // namespace continuum
