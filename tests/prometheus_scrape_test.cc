// End to end with a real Prometheus (Debian's /usr/bin/prometheus, on
// 127.0.0.1 only): the five services run as real processes wired like
// deploy/local/continuum-up; Prometheus scrapes them every second and
// evaluates deploy/prometheus/continuum-rules.yml while a short run of the
// loop goes on (a data set, a registered model, a validated version
// deployed, predictions logged to the collector and the drift service, a
// second version swapped in). Its HTTP API must then show every target up,
// the key series present and moving, and every rule evaluated without
// error. Skipped when /usr/bin/prometheus is not installed.
#include <arpa/inet.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "continuum/v1/collector.grpc.pb.h"
#include "continuum/v1/inference.grpc.pb.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "lib/model/bundle.h"
#include "lib/model/model.h"
#include "lib/store/blob_store.h"
#include "tests/util/registry_upload.h"
#include "tests/util/subprocess.h"

namespace continuum {
namespace {

using ::continuum::testing::HttpGet;
using ::continuum::testing::Subprocess;
using ::continuum::testing::WaitFor;

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kModel[] = "fmnist";
constexpr int kInputs = 784;
constexpr int kClasses = 10;
// Started in this order (the registry first: drift and inference dial it);
// stopped in reverse.
const char* const kServices[] = {"registry", "collector", "drift", "trainer",
                                 "inference"};

// --- Prometheus HTTP API ----------------------------------------------------

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string UrlEncode(absl::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' ||
        c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

// GETs `path` from the Prometheus API and returns its "data" member, or an
// error if the call failed or the status is not "success".
absl::StatusOr<google::protobuf::Value> ApiGet(int port,
                                               const std::string& path) {
  absl::StatusOr<std::string> body = HttpGet("127.0.0.1", port, path);
  if (!body.ok()) return body.status();
  google::protobuf::Struct reply;
  if (auto s = google::protobuf::util::JsonStringToMessage(*body, &reply);
      !s.ok()) {
    return absl::InternalError(absl::StrCat("bad JSON from ", path, ": ",
                                            s.ToString(), ": ", *body));
  }
  const auto& fields = reply.fields();
  if (!fields.contains("status") ||
      fields.at("status").string_value() != "success" ||
      !fields.contains("data")) {
    return absl::InternalError(absl::StrCat(path, ": ", *body));
  }
  return fields.at("data");
}

struct Sample {
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Runs the instant query `promql`; returns its vector result.
absl::StatusOr<std::vector<Sample>> Query(int port, const std::string& promql) {
  absl::StatusOr<google::protobuf::Value> data =
      ApiGet(port, "/api/v1/query?query=" + UrlEncode(promql));
  if (!data.ok()) return data.status();
  const auto& fields = data->struct_value().fields();
  if (!fields.contains("resultType") ||
      fields.at("resultType").string_value() != "vector") {
    return absl::InternalError(
        absl::StrCat(promql, ": not a vector: ", data->DebugString()));
  }
  std::vector<Sample> samples;
  for (const auto& item : fields.at("result").list_value().values()) {
    const auto& f = item.struct_value().fields();
    Sample sample;
    for (const auto& [name, value] : f.at("metric").struct_value().fields()) {
      sample.labels[name] = value.string_value();
    }
    // "value": [<unix time>, "<value as a string>"].
    const auto& pair = f.at("value").list_value();
    if (pair.values_size() != 2 ||
        !absl::SimpleAtod(pair.values(1).string_value(), &sample.value)) {
      return absl::InternalError(
          absl::StrCat(promql, ": bad sample: ", item.DebugString()));
    }
    samples.push_back(std::move(sample));
  }
  return samples;
}

// The value of a query that yields exactly one sample (e.g. a sum(...));
// nullopt while it yields none (the series does not exist yet).
std::optional<double> QueryOne(int port, const std::string& promql) {
  absl::StatusOr<std::vector<Sample>> samples = Query(port, promql);
  if (!samples.ok() || samples->size() != 1) return std::nullopt;
  return (*samples)[0].value;
}

// A port nothing listens on now (bound to port 0, then released). Another
// process may take it before Prometheus does; the caller retries then.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// --- The services -------------------------------------------------------------

std::string BundleBytes(uint64_t seed) {
  v1::ArtifactManifest manifest;
  manifest.set_model(kModel);
  manifest.mutable_spec()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  manifest.mutable_spec()->set_input_dim(kInputs);
  manifest.mutable_spec()->set_output_dim(kClasses);
  manifest.mutable_spec()->add_hidden_sizes(16);
  auto bundle = model::Model::InitBundle(manifest, seed);
  EXPECT_TRUE(bundle.ok()) << bundle.status();
  auto bytes = model::SerializeBundle(*bundle);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return *bytes;
}

// Uploads `bytes` with a passing validation report: the registry marks the
// version VALIDATED and, with the immediate plan, deploys it. Returns the
// version number (0 on failure).
int64_t UploadValidated(v1::RegistryService::Stub& stub,
                        const std::string& bytes) {
  absl::StatusOr<v1::Version> v =
      testing::UploadValidatedVersion(stub, kModel, bytes);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? v->version() : 0;
}

v1::PredictRequest Request(int seed, bool force_log) {
  v1::PredictRequest request;
  request.set_model(kModel);
  request.set_force_log(force_log);
  request.mutable_inputs()->add_shape(1);
  request.mutable_inputs()->add_shape(kInputs);
  for (int i = 0; i < kInputs; ++i) {
    request.mutable_inputs()->add_data(((i * 7 + seed) % 255) / 255.0f);
  }
  return request;
}

struct Service {
  std::string name;
  std::string dir;
  std::unique_ptr<Subprocess> process;
  int port = 0;
  int metrics_port = 0;
  std::string target() const { return absl::StrCat("127.0.0.1:", port); }
};

class PrometheusScrapeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kPrometheus, X_OK) != 0) {
      GTEST_SKIP() << kPrometheus
                   << " is not installed (Debian package `prometheus`); "
                      "this end-to-end scrape test needs it";
    }
    root_ = testing::MakeTempDir("prometheus_scrape_");
    ASSERT_FALSE(root_.empty());
  }

  // Children still running are killed by their destructors. The state and
  // logs are kept when the test failed, for a look.
  void TearDown() override {
    prometheus_.reset();
    services_.clear();
    if (!root_.empty() && !HasFailure()) {
      std::error_code ignored;
      std::filesystem::remove_all(root_, ignored);
    } else if (!root_.empty()) {
      std::cerr << "state and logs kept in " << root_ << "\n";
    }
  }

  // Starts `name` with metrics on 127.0.0.1 (an ephemeral port) and waits
  // for both port files.
  void StartService(const std::string& name, const std::string& config_text) {
    Service s;
    s.name = name;
    s.dir = absl::StrCat(root_, "/", name);
    ASSERT_EQ(mkdir(s.dir.c_str(), 0755), 0);
    std::vector<std::string> argv = {
        absl::StrCat(CONTINUUM_BIN_DIR, "/continuum-", name),
        "--data_dir=" + s.dir + "/data",
        "--port_file=" + s.dir + "/grpc.port",
        "--metrics_listen=127.0.0.1:0",
        "--metrics_port_file=" + s.dir + "/metrics.port",
        "--shutdown_grace=2s"};
    if (!config_text.empty()) argv.push_back("--config_text=" + config_text);
    auto process = Subprocess::Start(argv, s.dir, name);
    ASSERT_TRUE(process.ok()) << process.status();
    s.process = *std::move(process);
    s.port = testing::WaitForPortFile(s.dir + "/grpc.port", *s.process);
    ASSERT_GT(s.port, 0) << name << ": " << s.process->ReadStderr();
    s.metrics_port =
        testing::WaitForPortFile(s.dir + "/metrics.port", *s.process);
    ASSERT_GT(s.metrics_port, 0) << name << ": " << s.process->ReadStderr();
    services_[name] = std::move(s);
  }

  // Writes prometheus.yml (a job `continuum-<service>` per service, scraped
  // and evaluated every second, the repository's rules loaded) and starts
  // Prometheus on a free loopback port, retrying if another process took
  // the port first.
  void StartPrometheus() {
    std::string config = absl::StrCat(
        "global:\n"
        "  scrape_interval: 1s\n"
        "  scrape_timeout: 1s\n"
        "  evaluation_interval: 1s\n"
        "rule_files:\n"
        "  - ",
        CONTINUUM_SOURCE_DIR, "/deploy/prometheus/continuum-rules.yml\n",
        "scrape_configs:\n");
    for (const char* name : kServices) {
      absl::StrAppend(&config, "  - job_name: continuum-", name,
                      "\n    static_configs:\n      - targets: ['127.0.0.1:",
                      services_.at(name).metrics_port, "']\n");
    }
    const std::string dir = root_ + "/prometheus";
    ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
    ASSERT_TRUE(testing::WriteFile(dir + "/prometheus.yml", config).ok());
    for (int attempt = 1; attempt <= 5; ++attempt) {
      prometheus_port_ = FreePort();
      ASSERT_GT(prometheus_port_, 0);
      auto process = Subprocess::Start(
          {kPrometheus, "--config.file=" + dir + "/prometheus.yml",
           "--storage.tsdb.path=" + dir + "/tsdb",
           absl::StrCat("--web.listen-address=127.0.0.1:", prometheus_port_),
           "--log.level=warn"},
          dir, absl::StrCat("prometheus", attempt));
      ASSERT_TRUE(process.ok()) << process.status();
      prometheus_ = *std::move(process);
      // /-/ready answers 200 once the TSDB is open and rules are loaded.
      const bool ready = WaitFor(
          [&] {
            return prometheus_->Exited() ||
                   HttpGet("127.0.0.1", prometheus_port_, "/-/ready",
                           absl::Seconds(2))
                       .ok();
          },
          absl::Seconds(30));
      if (ready && !prometheus_->Exited()) return;
      const std::string err = prometheus_->ReadStderr();
      ASSERT_TRUE(absl::StrContains(err, "address already in use"))
          << "prometheus did not become ready: " << err;
      prometheus_.reset();
    }
    FAIL() << "no free port for prometheus after 5 attempts";
  }

  // SIGTERM and the exit status; expects exit code 0.
  void Stop(const std::string& name, std::unique_ptr<Subprocess>& p) {
    ASSERT_TRUE(p->Signal(SIGTERM).ok());
    auto status = p->Wait(absl::Seconds(30));
    ASSERT_TRUE(status.ok()) << name << ": " << status.status();
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << name << " exited with status " << *status << ": "
        << p->ReadStderr();
    p.reset();
  }

  // Waits until `promql` yields one sample satisfying `ok`; on timeout
  // records a failure naming the query and the last value seen.
  double WaitForValue(const std::string& promql,
                      const std::function<bool(double)>& ok,
                      const std::string& expected) {
    std::optional<double> last;
    bool held = WaitFor(
        [&] {
          last = QueryOne(prometheus_port_, promql);
          return last.has_value() && ok(*last);
        },
        absl::Seconds(20));
    EXPECT_TRUE(held) << promql << " never became " << expected << "; last: "
                      << (last ? absl::StrCat(*last) : "no series");
    return last.value_or(NAN);
  }

  std::string root_;
  std::map<std::string, Service> services_;
  std::unique_ptr<Subprocess> prometheus_;
  int prometheus_port_ = 0;
};

TEST_F(PrometheusScrapeTest, ScrapesAllFiveServicesDuringTheLoop) {
  const absl::Time start = absl::Now();
  // The services, wired like deploy/local/continuum-up.
  ASSERT_NO_FATAL_FAILURE(StartService("registry", ""));
  const std::string registry = services_["registry"].target();
  ASSERT_NO_FATAL_FAILURE(StartService("collector", ""));
  ASSERT_NO_FATAL_FAILURE(StartService(
      "drift", absl::StrCat("registry_address: \"", registry, "\"")));
  ASSERT_NO_FATAL_FAILURE(StartService("trainer", ""));
  ASSERT_NO_FATAL_FAILURE(StartService(
      "inference",
      absl::StrCat("registry_address: \"", registry,
                   "\" pod_id: \"pod-a\" batching { workers: 1 } "
                   "max_reconnect_backoff { nanos: 200000000 } "
                   "prediction_log { collector_address: \"",
                   services_["collector"].target(), "\" drift_address: \"",
                   services_["drift"].target(),
                   "\" flush_interval { nanos: 100000000 } }")));

  // The data set the pod logs into (named like the model).
  {
    auto collector = v1::CollectorService::NewStub(grpc::CreateChannel(
        services_["collector"].target(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::CreateDatasetRequest request;
    request.set_dataset_id(kModel);
    v1::DatasetSchema* schema = request.mutable_dataset()->mutable_schema();
    schema->set_feature_dim(kInputs);
    schema->set_label_kind(v1::LABEL_KIND_CLASS);
    schema->set_num_classes(kClasses);
    v1::CreateDatasetResponse response;
    grpc::Status s = collector->CreateDataset(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // The model, immediate rollout, version 1 validated and deployed.
  auto registry_stub = v1::RegistryService::NewStub(
      grpc::CreateChannel(registry, grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    v1::RegisterModelRequest request;
    request.set_model_id(kModel);
    request.mutable_model()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
    request.mutable_model()->mutable_rollout_plan()->mutable_immediate();
    v1::RegisterModelResponse response;
    grpc::Status s = registry_stub->RegisterModel(&context, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_EQ(UploadValidated(*registry_stub, BundleBytes(1)), 1);

  const std::string inference = services_["inference"].target();
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(inference, grpc::InsecureChannelCredentials()));
  auto predict = v1::InferenceService::NewStub(
      grpc::CreateChannel(inference, grpc::InsecureChannelCredentials()));
  ASSERT_TRUE(WaitFor(
      [&] {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(2));
        grpc::health::v1::HealthCheckResponse response;
        return health
                   ->Check(&context, grpc::health::v1::HealthCheckRequest(),
                           &response)
                   .ok() &&
               response.status() ==
                   grpc::health::v1::HealthCheckResponse::SERVING;
      },
      absl::Seconds(60)))
      << services_["inference"].process->ReadStderr();

  ASSERT_NO_FATAL_FAILURE(StartPrometheus());
  const int port = prometheus_port_;

  // Every target scraped and up, one series per job.
  {
    std::vector<Sample> up;
    const bool all_up = WaitFor(
        [&] {
          auto samples = Query(port, "up");
          if (!samples.ok()) return false;
          up = *samples;
          if (up.size() != std::size(kServices)) return false;
          for (const Sample& s : up) {
            if (s.value != 1) return false;
          }
          return true;
        },
        absl::Seconds(20));
    std::vector<std::string> seen;
    for (const Sample& s : up) {
      auto job = s.labels.find("job");
      seen.push_back(absl::StrCat(
          job == s.labels.end() ? "?" : job->second, "=", s.value));
    }
    ASSERT_TRUE(all_up) << "up: " << absl::StrJoin(seen, ", ") << "\n"
                        << prometheus_->ReadStderr();
    for (const char* name : kServices) {
      EXPECT_EQ(QueryOne(port, absl::StrCat("up{job=\"continuum-", name,
                                            "\"}")),
                1.0)
          << name;
      EXPECT_EQ(QueryOne(port, absl::StrCat("continuum_", name, "_build_info")),
                1.0)
          << name;
    }
  }

  // Traffic, first part; then the counters as Prometheus has them, to
  // compare with after the swap.
  auto predict_n = [&](int n, int seed) {
    int ok = 0;
    for (int i = 0; i < n; ++i) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(10));
      v1::PredictResponse response;
      grpc::Status s = predict->Predict(&context, Request(seed + i, i % 3 == 0),
                                        &response);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (s.ok()) ++ok;
    }
    return ok;
  };
  const std::string requests_ok = absl::StrCat(
      "sum(continuum_inference_requests_total{model=\"", kModel,
      "\",code=\"OK\"})");
  const std::string swaps = absl::StrCat(
      "sum(continuum_inference_swaps_total{model=\"", kModel, "\"})");
  const int first = predict_n(150, 0);
  ASSERT_EQ(first, 150);
  const double requests_before = WaitForValue(
      requests_ok, [&](double v) { return v >= first; }, ">= 150");
  const double swaps_before =
      WaitForValue(swaps, [](double v) { return v >= 1; }, ">= 1");

  // Version 2: the pod swaps it in; predictions go on under it.
  ASSERT_EQ(UploadValidated(*registry_stub, BundleBytes(2)), 2);
  ASSERT_TRUE(WaitFor(
      [&] {
        grpc::ClientContext context;
        v1::PredictResponse response;
        return predict->Predict(&context, Request(0, false), &response).ok() &&
               response.version().version() == 2;
      },
      absl::Seconds(60)))
      << services_["inference"].process->ReadStderr();
  const int second = predict_n(150, 1000);
  ASSERT_EQ(second, 150);

  // The key series exist and moved during the run.
  const double requests_after = WaitForValue(
      requests_ok,
      [&](double v) { return v >= requests_before + second; },
      absl::StrCat(">= ", requests_before + second));
  EXPECT_GT(requests_after, requests_before);
  WaitForValue(absl::StrCat("sum(increase(continuum_inference_requests_total{",
                            "code=\"OK\"}[30s]))"),
               [](double v) { return v > 0; }, "> 0");
  WaitForValue(swaps, [&](double v) { return v > swaps_before; },
               absl::StrCat("> ", swaps_before));
  WaitForValue(
      "sum(continuum_inference_log_sent_rows_total{sink=\"collector\"})",
      [](double v) { return v > 0; }, "> 0");
  WaitForValue("sum(continuum_inference_log_sent_rows_total{sink=\"drift\"})",
               [](double v) { return v > 0; }, "> 0");
  WaitForValue(absl::StrCat("sum(continuum_collector_ingested_records_total{",
                            "dataset=\"", kModel, "\"})"),
               [](double v) { return v > 0; }, "> 0");
  WaitForValue(
      "sum(continuum_registry_rpc_requests_total{method=\"/"
      "continuum.v1.RegistryService/UploadVersion\",code=\"OK\"})",
      [](double v) { return v >= 2; }, ">= 2");
  WaitForValue(absl::StrCat("sum(continuum_drift_observations_total{model=\"",
                            kModel, "\"})"),
               [](double v) { return v > 0; }, "> 0");
  // Nothing the pod logged was dropped.
  EXPECT_EQ(QueryOne(port,
                     "sum(continuum_inference_log_dropped_rows_total) or "
                     "vector(0)"),
            0.0);

  // The repository's rules load and evaluate without errors.
  {
    std::string last;
    const bool healthy = WaitFor(
        [&] {
          auto data = ApiGet(port, "/api/v1/rules");
          if (!data.ok()) return false;
          last = data->DebugString();
          const auto& top = data->struct_value().fields();
          if (!top.contains("groups")) return false;
          int rules = 0;
          for (const auto& group : top.at("groups").list_value().values()) {
            const auto& g = group.struct_value().fields();
            if (!g.contains("rules")) return false;
            for (const auto& rule : g.at("rules").list_value().values()) {
              const auto& f = rule.struct_value().fields();
              if (!f.contains("health") ||
                  f.at("health").string_value() != "ok") {
                return false;
              }
              ++rules;
            }
          }
          return rules > 0;
        },
        absl::Seconds(20));
    EXPECT_TRUE(healthy) << "rules not all evaluated with health ok: " << last;
  }

  // Stop Prometheus, then the services, the pod first (it drains its
  // prediction log to the collector and the drift service); all exit 0.
  ASSERT_NO_FATAL_FAILURE(Stop("prometheus", prometheus_));
  for (int i = static_cast<int>(std::size(kServices)) - 1; i >= 0; --i) {
    ASSERT_NO_FATAL_FAILURE(
        Stop(kServices[i], services_[kServices[i]].process));
  }
  std::cout << "prometheus scrape test: " << requests_after
            << " OK predictions seen by Prometheus, "
            << absl::FormatDuration(absl::Now() - start) << " in all\n";
}

}  // namespace
}  // namespace continuum
