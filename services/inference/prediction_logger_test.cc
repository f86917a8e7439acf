// PredictionLogger against a real CollectorService and DriftService started
// in process on 127.0.0.1, and the RowSampler on its own.
#include "services/inference/prediction_logger.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "continuum/v1/collector.grpc.pb.h"
#include "continuum/v1/drift.grpc.pb.h"
#include "lib/core/clock.h"
#include "lib/core/config.h"
#include "lib/core/server.h"
#include "services/collector/collector.h"
#include "services/collector/collector_service.h"
#include "services/drift/drift_monitor.h"
#include "services/drift/drift_service.h"
#include "tests/util/subprocess.h"

namespace continuum::inference {
namespace {

constexpr absl::Duration kWait = absl::Seconds(30);

// The sum of the samples of `name` whose labels include `labels`.
double MetricValue(prometheus::Registry& registry, const std::string& name,
                   const std::map<std::string, std::string>& labels = {}) {
  double sum = 0;
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const prometheus::ClientMetric& metric : family.metric) {
      size_t matched = 0;
      for (const prometheus::ClientMetric::Label& label : metric.label) {
        auto it = labels.find(label.name);
        if (it != labels.end() && it->second == label.value) ++matched;
      }
      if (matched != labels.size()) continue;
      sum += family.type == prometheus::MetricType::Counter
                 ? metric.counter.value
                 : metric.gauge.value;
    }
  }
  return sum;
}

double Sent(prometheus::Registry& registry, const std::string& sink) {
  return MetricValue(registry, "continuum_inference_log_sent_rows_total",
                     {{"sink", sink}});
}

double Dropped(prometheus::Registry& registry, const std::string& sink,
               const std::string& reason = "") {
  std::map<std::string, std::string> labels = {{"sink", sink}};
  if (!reason.empty()) labels["reason"] = reason;
  return MetricValue(registry, "continuum_inference_log_dropped_rows_total",
                     labels);
}

double Pending(prometheus::Registry& registry, const std::string& sink) {
  return MetricValue(registry, "continuum_inference_log_pending_rows",
                     {{"sink", sink}});
}

// A port nothing listens on: bound, read, released.
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  EXPECT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  return ntohs(addr.sin_port);
}

// `rows` rows of `dim` features (row r, feature f = 10 r + f), with the
// given record ids (may be fewer than rows, or none).
v1::PredictRequest Request(const std::string& model, int rows, int dim,
                           const std::vector<std::string>& ids = {},
                           bool force_log = false) {
  v1::PredictRequest request;
  request.set_model(model);
  request.mutable_inputs()->add_shape(rows);
  request.mutable_inputs()->add_shape(dim);
  for (int r = 0; r < rows; ++r) {
    for (int f = 0; f < dim; ++f) {
      request.mutable_inputs()->add_data(static_cast<float>(10 * r + f));
    }
  }
  for (const std::string& id : ids) request.add_record_ids(id);
  request.set_force_log(force_log);
  return request;
}

// A binary classifier's answer: per row probabilities {1 - s, s}, class 1,
// score s.
v1::PredictResponse Response(const std::string& model, int64_t version,
                             const std::vector<float>& scores,
                             v1::ServingRole role = v1::SERVING_ROLE_STABLE,
                             int64_t revision = 1) {
  v1::PredictResponse response;
  response.set_model(model);
  response.mutable_version()->set_model(model);
  response.mutable_version()->set_version(version);
  response.set_role(role);
  response.set_revision(revision);
  response.mutable_outputs()->add_shape(static_cast<int64_t>(scores.size()));
  response.mutable_outputs()->add_shape(2);
  for (float s : scores) {
    response.mutable_outputs()->add_data(1 - s);
    response.mutable_outputs()->add_data(s);
    response.add_predicted_classes(1);
    response.add_scores(s);
  }
  return response;
}

config::v1::PredictionLogConfig Config(absl::Duration flush_interval) {
  config::v1::PredictionLogConfig config;
  config.mutable_flush_interval()->set_seconds(
      absl::ToInt64Seconds(flush_interval));
  config.mutable_flush_interval()->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(flush_interval % absl::Seconds(1))));
  return config;
}

// The real collector handlers, with every IngestBatch request kept so the
// test can look at the logged predictions (Scan does not return them).
class RecordingCollector final : public v1::CollectorService::Service {
 public:
  explicit RecordingCollector(collector::CollectorServiceImpl* real)
      : real_(real) {}

  grpc::Status CreateDataset(grpc::ServerContext* context,
                             const v1::CreateDatasetRequest* request,
                             v1::CreateDatasetResponse* response) override {
    return real_->CreateDataset(context, request, response);
  }
  grpc::Status IngestBatch(grpc::ServerContext* context,
                           const v1::IngestBatchRequest* request,
                           v1::IngestBatchResponse* response) override {
    grpc::Status status = real_->IngestBatch(context, request, response);
    if (status.ok()) {
      absl::MutexLock lock(&mu_);
      for (const v1::Record& record : request->records()) {
        records_[record.id()] = record;
      }
    }
    return status;
  }
  grpc::Status Scan(grpc::ServerContext* context,
                    const v1::ScanRequest* request,
                    grpc::ServerWriter<v1::ScanResponse>* writer) override {
    return real_->Scan(context, request, writer);
  }
  grpc::Status GetDatasetStats(
      grpc::ServerContext* context, const v1::GetDatasetStatsRequest* request,
      v1::GetDatasetStatsResponse* response) override {
    return real_->GetDatasetStats(context, request, response);
  }

  // The record stored under `id`, as the logger sent it.
  std::optional<v1::Record> Find(const std::string& id) {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(id);
    if (it == records_.end()) return std::nullopt;
    return it->second;
  }

 private:
  collector::CollectorServiceImpl* real_;
  absl::Mutex mu_;
  std::map<std::string, v1::Record> records_ ABSL_GUARDED_BY(mu_);
};

class PredictionLoggerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = testing::MakeTempDir("prediction_logger_test_");
    collector::CollectorOptions collector_options;
    collector_options.data_dir = data_dir_;
    collector_options.store.seed = 1;
    auto opened = collector::Collector::Open(collector_options);
    ASSERT_TRUE(opened.ok()) << opened.status();
    collector_ = *std::move(opened);
    collector_service_ =
        std::make_unique<collector::CollectorServiceImpl>(collector_.get());
    recording_ = std::make_unique<RecordingCollector>(collector_service_.get());
    collector_server_ = StartServer("collector", recording_.get());
    ASSERT_NE(collector_server_, nullptr);
    collector_stub_ = v1::CollectorService::NewStub(grpc::CreateChannel(
        collector_server_->address(), grpc::InsecureChannelCredentials()));

    monitor_ = std::make_unique<drift_service::DriftMonitor>();
    drift_service_ =
        std::make_unique<drift_service::DriftServiceImpl>(monitor_.get());
    drift_server_ = StartServer("drift", drift_service_.get());
    ASSERT_NE(drift_server_, nullptr);
    drift_stub_ = v1::DriftService::NewStub(grpc::CreateChannel(
        drift_server_->address(), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (collector_server_ != nullptr) collector_server_->Shutdown(absl::Seconds(5));
    if (drift_server_ != nullptr) drift_server_->Shutdown(absl::Seconds(5));
    collector_server_.reset();
    drift_server_.reset();
    collector_.reset();
    std::filesystem::remove_all(data_dir_);
  }

  static std::unique_ptr<core::ServiceServer> StartServer(
      const std::string& name, grpc::Service* service) {
    core::ServiceServer::Options options;
    options.service = name;
    options.config = core::DefaultServerConfig(name);
    options.config.clear_metrics_listen();
    options.services = {service};
    auto server = core::ServiceServer::Start(std::move(options));
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  void CreateDataset(const std::string& id, int feature_dim) {
    v1::CreateDatasetRequest request;
    request.set_dataset_id(id);
    v1::DatasetSchema* schema = request.mutable_dataset()->mutable_schema();
    schema->set_feature_dim(feature_dim);
    schema->set_label_kind(v1::LABEL_KIND_CLASS);
    schema->set_num_classes(2);
    grpc::ClientContext context;
    v1::CreateDatasetResponse response;
    grpc::Status status =
        collector_stub_->CreateDataset(&context, request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  int64_t StoredRecords(const std::string& dataset) {
    grpc::ClientContext context;
    v1::GetDatasetStatsRequest request;
    request.set_name(absl::StrCat("datasets/", dataset));
    v1::GetDatasetStatsResponse response;
    grpc::Status status =
        collector_stub_->GetDatasetStats(&context, request, &response);
    return status.ok() ? response.stats().record_count() : -1;
  }

  // Every row of the data set, with attributes.
  std::vector<v1::RecordBatch> Scan(const std::string& dataset) {
    grpc::ClientContext context;
    v1::ScanRequest request;
    request.set_dataset(dataset);
    request.set_include_attributes(true);
    std::unique_ptr<grpc::ClientReader<v1::ScanResponse>> reader =
        collector_stub_->Scan(&context, request);
    std::vector<v1::RecordBatch> batches;
    v1::ScanResponse response;
    while (reader->Read(&response)) batches.push_back(response.batch());
    grpc::Status status = reader->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    return batches;
  }

  std::set<std::string> StoredIds(const std::string& dataset) {
    std::set<std::string> ids;
    for (const v1::RecordBatch& batch : Scan(dataset)) {
      ids.insert(batch.ids().begin(), batch.ids().end());
    }
    return ids;
  }

  int64_t Observations(const std::string& model) {
    grpc::ClientContext context;
    v1::GetDriftStatusRequest request;
    request.set_name(absl::StrCat("models/", model));
    v1::GetDriftStatusResponse response;
    grpc::Status status =
        drift_stub_->GetDriftStatus(&context, request, &response);
    return status.ok() ? response.observations() : 0;
  }

  config::v1::PredictionLogConfig ConfigForBoth(
      absl::Duration flush_interval) {
    config::v1::PredictionLogConfig config = Config(flush_interval);
    config.set_collector_address(collector_server_->address());
    config.set_drift_address(drift_server_->address());
    return config;
  }

  std::string data_dir_;
  std::unique_ptr<collector::Collector> collector_;
  std::unique_ptr<collector::CollectorServiceImpl> collector_service_;
  std::unique_ptr<RecordingCollector> recording_;
  std::unique_ptr<core::ServiceServer> collector_server_;
  std::unique_ptr<v1::CollectorService::Stub> collector_stub_;
  std::unique_ptr<drift_service::DriftMonitor> monitor_;
  std::unique_ptr<drift_service::DriftServiceImpl> drift_service_;
  std::unique_ptr<core::ServiceServer> drift_server_;
  std::unique_ptr<v1::DriftService::Stub> drift_stub_;
};

TEST_F(PredictionLoggerTest, DeliversRowsToTheCollectorAndTheDriftService) {
  CreateDataset("fraud", 3);
  core::FakeClock clock(
      absl::FromUnixMicros(absl::ToUnixMicros(absl::Now() - absl::Minutes(1))));
  prometheus::Registry metrics;
  PredictionLogger logger(ConfigForBoth(absl::Milliseconds(10)), metrics,
                          {.pod_id = "pod-1", .clock = &clock, .seed = 1});
  ASSERT_TRUE(logger.collector_enabled());
  ASSERT_TRUE(logger.drift_enabled());

  v1::PredictRequest first = Request("fraud", 3, 3, {"a", "b", "c"});
  (*first.mutable_attributes())["site"] = "eu-1";
  first.set_request_id("req-1");
  v1::PredictResponse first_response =
      Response("fraud", 7, {0.9f, 0.8f, 0.7f}, v1::SERVING_ROLE_CANARY, 3);
  first_response.set_request_id("req-1");
  logger.Log(first, first_response);
  logger.Log(Request("fraud", 2, 3), Response("fraud", 7, {0.6f, 0.55f}));

  // Delivered in the background, without Flush.
  EXPECT_TRUE(testing::WaitFor([&] { return StoredRecords("fraud") == 5; },
                               kWait));
  EXPECT_TRUE(
      testing::WaitFor([&] { return Observations("fraud") == 5; }, kWait));

  // What the collector stored.
  std::map<std::string, std::vector<float>> features;
  std::map<std::string, std::map<std::string, std::string>> attributes;
  for (const v1::RecordBatch& batch : Scan("fraud")) {
    ASSERT_EQ(batch.feature_dim(), 3);
    for (int r = 0; r < batch.num_rows(); ++r) {
      features[batch.ids(r)].assign(batch.features().begin() + 3 * r,
                                    batch.features().begin() + 3 * r + 3);
      attributes[batch.ids(r)] = {batch.attributes(r).values().begin(),
                                  batch.attributes(r).values().end()};
      EXPECT_EQ(batch.event_time_unix_micros(r),
                absl::ToUnixMicros(clock.Now()));
    }
  }
  ASSERT_EQ(features.size(), 5u);
  EXPECT_EQ(features["a"], (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(features["b"], (std::vector<float>{10, 11, 12}));
  EXPECT_EQ(features["c"], (std::vector<float>{20, 21, 22}));
  EXPECT_EQ(attributes["b"]["site"], "eu-1");
  int generated = 0;
  for (const auto& [id, row] : features) {
    if (absl::StartsWith(id, "pod-1-")) ++generated;
  }
  EXPECT_EQ(generated, 2);

  // The prediction stored with a record.
  std::optional<v1::Record> b = recording_->Find("b");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->prediction().version().model(), "fraud");
  EXPECT_EQ(b->prediction().version().version(), 7);
  EXPECT_EQ(b->prediction().role(), v1::SERVING_ROLE_CANARY);
  EXPECT_EQ(b->prediction().revision(), 3);
  EXPECT_FLOAT_EQ(b->prediction().score(), 0.8f);
  EXPECT_EQ(b->prediction().predicted_class(), 1);
  ASSERT_EQ(b->prediction().outputs_size(), 2);
  EXPECT_FLOAT_EQ(b->prediction().outputs(1), 0.8f);
  EXPECT_EQ(b->prediction().request_id(), "req-1");
  EXPECT_FALSE(b->prediction().has_anomaly());

  // What the drift service saw.
  grpc::ClientContext context;
  v1::GetDriftStatusRequest status_request;
  status_request.set_name("models/fraud");
  v1::GetDriftStatusResponse status;
  ASSERT_TRUE(
      drift_stub_->GetDriftStatus(&context, status_request, &status).ok());
  ASSERT_EQ(status.performance_size(), 1);
  EXPECT_EQ(status.performance(0).version(), 7);
  EXPECT_EQ(status.performance(0).observations(), 5);

  logger.Stop();
  EXPECT_EQ(Sent(metrics, "collector"), 5);
  EXPECT_EQ(Sent(metrics, "drift"), 5);
  EXPECT_EQ(Dropped(metrics, "collector"), 0);
  EXPECT_EQ(Dropped(metrics, "drift"), 0);
  EXPECT_EQ(Pending(metrics, "collector"), 0);
  EXPECT_EQ(Pending(metrics, "drift"), 0);
}

TEST_F(PredictionLoggerTest, StopSendsWhatIsPendingOnceAndIsIdempotent) {
  CreateDataset("fraud", 3);
  prometheus::Registry metrics;
  // Neither the interval nor the batch size triggers a send.
  PredictionLogger logger(ConfigForBoth(absl::Hours(1)), metrics,
                          {.pod_id = "pod-1", .seed = 1});
  logger.Log(Request("fraud", 3, 3, {"a", "b", "c"}),
             Response("fraud", 2, {0.9f, 0.8f, 0.7f}));
  EXPECT_EQ(Pending(metrics, "collector"), 3);
  EXPECT_EQ(Pending(metrics, "drift"), 3);

  logger.Stop();
  EXPECT_EQ(StoredRecords("fraud"), 3);
  EXPECT_EQ(Observations("fraud"), 3);
  EXPECT_EQ(Pending(metrics, "collector"), 0);
  logger.Stop();

  // Rows logged after Stop are counted, not queued.
  logger.Log(Request("fraud", 2, 3), Response("fraud", 2, {0.9f, 0.8f}));
  EXPECT_EQ(Dropped(metrics, "collector", "stopped"), 2);
  EXPECT_EQ(Dropped(metrics, "drift", "stopped"), 2);
  EXPECT_EQ(Sent(metrics, "collector"), 3);
  EXPECT_EQ(Sent(metrics, "drift"), 3);
}

TEST_F(PredictionLoggerTest, RejectedBatchesAreDroppedWithTheirReason) {
  CreateDataset("fraud", 3);
  prometheus::Registry metrics;
  PredictionLogger logger(ConfigForBoth(absl::Hours(1)), metrics,
                          {.pod_id = "pod-1", .seed = 1});
  // No data set for this model: NOT_FOUND from the collector; the drift
  // service takes it.
  logger.Log(Request("nodata", 2, 3), Response("nodata", 1, {0.9f, 0.8f}));
  logger.Flush();
  EXPECT_EQ(Dropped(metrics, "collector", "not_found"), 2);
  EXPECT_EQ(Sent(metrics, "drift"), 2);
  EXPECT_EQ(Observations("nodata"), 2);

  // Rows that do not fit the data set's feature_dim: INVALID_ARGUMENT, and
  // only that batch is lost.
  logger.Log(Request("fraud", 4, 5), Response("fraud", 2, {0.9f, 0.8f, 0.7f,
                                                           0.6f}));
  logger.Flush();
  EXPECT_EQ(Dropped(metrics, "collector", "invalid_argument"), 4);
  logger.Log(Request("fraud", 1, 3, {"ok"}), Response("fraud", 1, {0.9f}));
  logger.Flush();
  EXPECT_EQ(StoredIds("fraud"), (std::set<std::string>{"ok"}));
  EXPECT_EQ(Sent(metrics, "collector"), 1);
  EXPECT_EQ(Dropped(metrics, "collector"), 6);
  EXPECT_EQ(Sent(metrics, "drift"), 7);
  EXPECT_EQ(Dropped(metrics, "drift"), 0);
}

TEST_F(PredictionLoggerTest, OneSinkDownDoesNotStopTheOther) {
  prometheus::Registry metrics;
  config::v1::PredictionLogConfig config = Config(absl::Hours(1));
  config.set_collector_address(absl::StrCat("127.0.0.1:", ClosedPort()));
  config.set_drift_address(drift_server_->address());
  PredictionLogger logger(config, metrics, {.pod_id = "pod-1", .seed = 1});
  logger.Log(Request("fraud", 4, 3), Response("fraud", 1, {1, 1, 1, 1}));
  logger.Flush();
  EXPECT_EQ(Dropped(metrics, "collector", "unavailable"), 4);
  EXPECT_EQ(Sent(metrics, "drift"), 4);
  EXPECT_EQ(Observations("fraud"), 4);
}

TEST_F(PredictionLoggerTest, DeliversAgainWhenAServiceComesBack) {
  const int port = ClosedPort();
  prometheus::Registry metrics;
  config::v1::PredictionLogConfig config = Config(absl::Hours(1));
  config.set_drift_address(absl::StrCat("127.0.0.1:", port));
  PredictionLogger logger(config, metrics, {.pod_id = "pod-1", .seed = 1});
  logger.Log(Request("fraud", 2, 3), Response("fraud", 1, {0.9f, 0.8f}));
  logger.Flush();
  EXPECT_EQ(Dropped(metrics, "drift", "unavailable"), 2);

  // The drift service starts on that port.
  drift_service::DriftServiceImpl service(monitor_.get());
  core::ServiceServer::Options options;
  options.service = "drift";
  options.config = core::DefaultServerConfig("drift");
  options.config.set_listen(absl::StrCat("127.0.0.1:", port));
  options.config.clear_metrics_listen();
  options.services = {&service};
  auto server = core::ServiceServer::Start(std::move(options));
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        logger.Log(Request("fraud", 1, 3), Response("fraud", 1, {0.9f}));
        logger.Flush();
        return Observations("fraud") > 0;
      },
      kWait));
  EXPECT_GT(Sent(metrics, "drift"), 0);
  logger.Stop();
  (*server)->Shutdown(absl::Seconds(5));
}

TEST_F(PredictionLoggerTest, DownServicesDropRowsWithoutHoldingUpLog) {
  prometheus::Registry metrics;
  config::v1::PredictionLogConfig config = Config(absl::Milliseconds(1));
  const std::string closed = absl::StrCat("127.0.0.1:", ClosedPort());
  config.set_collector_address(closed);
  config.set_drift_address(closed);
  config.set_max_pending_rows(4);
  config.set_max_batch_rows(2);
  PredictionLogger logger(config, metrics, {.pod_id = "pod-1", .seed = 1});
  const v1::PredictRequest request = Request("fraud", 1, 3);
  const v1::PredictResponse response = Response("fraud", 1, {0.5f});
  constexpr int kLogs = 10000;
  for (int i = 0; i < kLogs; ++i) logger.Log(request, response);
  // Queued (at most 4) plus in flight (at most one batch of 2).
  EXPECT_LE(Pending(metrics, "collector"), 6);
  EXPECT_LE(Pending(metrics, "drift"), 6);
  logger.Stop();
  for (const std::string sink : {"collector", "drift"}) {
    SCOPED_TRACE(sink);
    // Every row is accounted for: nothing sent, all dropped, most because
    // the queue was full while the sends failed.
    EXPECT_EQ(Sent(metrics, sink), 0);
    EXPECT_EQ(Dropped(metrics, sink), kLogs);
    EXPECT_EQ(Dropped(metrics, sink, "queue_full") +
                  Dropped(metrics, sink, "unavailable"),
              kLogs);
    EXPECT_GE(Dropped(metrics, sink, "unavailable"), 1);
    EXPECT_GT(Dropped(metrics, sink, "queue_full"), 0);
    EXPECT_EQ(Pending(metrics, sink), 0);
  }
}

TEST_F(PredictionLoggerTest, RateZeroLogsOnlyForcedRequests) {
  CreateDataset("fraud", 3);
  prometheus::Registry metrics;
  config::v1::PredictionLogConfig config = ConfigForBoth(absl::Hours(1));
  config.set_sample_rate(0);
  PredictionLogger logger(config, metrics, {.pod_id = "pod-1", .seed = 1});
  logger.Log(Request("fraud", 3, 3, {"a", "b", "c"}),
             Response("fraud", 1, {0.9f, 0.8f, 0.7f}));
  EXPECT_EQ(Pending(metrics, "collector"), 0);
  logger.Log(Request("fraud", 2, 3, {"x", "y"}, /*force_log=*/true),
             Response("fraud", 1, {0.9f, 0.8f}));
  logger.Flush();
  EXPECT_EQ(StoredIds("fraud"), (std::set<std::string>{"x", "y"}));
  EXPECT_EQ(Sent(metrics, "drift"), 2);
}

TEST_F(PredictionLoggerTest, ConfidenceBelowKeepsOnlyUncertainRows) {
  CreateDataset("fraud", 3);
  prometheus::Registry metrics;
  config::v1::PredictionLogConfig config = ConfigForBoth(absl::Hours(1));
  config.set_confidence_below(0.7);
  PredictionLogger logger(config, metrics, {.pod_id = "pod-1", .seed = 1});
  logger.Log(Request("fraud", 4, 3, {"sure", "edge", "unsure", "coin"}),
             Response("fraud", 1, {0.95f, 0.7f, 0.65f, 0.5f}));
  logger.Flush();
  EXPECT_EQ(StoredIds("fraud"), (std::set<std::string>{"unsure", "coin"}));
  EXPECT_EQ(Observations("fraud"), 2);
}

TEST_F(PredictionLoggerTest, TheSameSeedLogsTheSameRows) {
  CreateDataset("left", 3);
  CreateDataset("right", 3);
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i) ids.push_back(absl::StrCat("r", i));
  for (const std::string model : {"left", "right"}) {
    prometheus::Registry metrics;
    config::v1::PredictionLogConfig config = ConfigForBoth(absl::Hours(1));
    config.set_sample_rate(0.5);
    config.clear_drift_address();
    PredictionLogger logger(config, metrics, {.pod_id = "pod-1", .seed = 42});
    logger.Log(Request(model, 200, 3, ids),
               Response(model, 1, std::vector<float>(200, 0.9f)));
    logger.Flush();
  }
  const std::set<std::string> left = StoredIds("left");
  EXPECT_EQ(left, StoredIds("right"));
  EXPECT_GT(left.size(), 70u);
  EXPECT_LT(left.size(), 130u);
}

TEST(PredictionLoggerNoSinksTest, LogIsANoOpWithoutAddresses) {
  prometheus::Registry metrics;
  PredictionLogger logger(Config(absl::Milliseconds(1)), metrics, {});
  EXPECT_FALSE(logger.collector_enabled());
  EXPECT_FALSE(logger.drift_enabled());
  logger.Log(Request("fraud", 2, 3), Response("fraud", 1, {0.9f, 0.8f}));
  logger.Flush();
  logger.Stop();
}

TEST(RowSamplerTest, RateZeroKeepsOnlyForcedRows) {
  RowSampler sampler(0, 0, 1);
  for (int i = 0; i < 100; ++i) {
    EXPECT_FALSE(sampler.Keep(false, 0.1f));
    EXPECT_TRUE(sampler.Keep(true, 0.1f));
  }
}

TEST(RowSamplerTest, RateOneKeepsEveryRow) {
  RowSampler sampler(1, 0, 1);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(sampler.Keep(false, std::nullopt));
}

TEST(RowSamplerTest, ConfidenceBelowKeepsOnlyLowerScores) {
  RowSampler sampler(1, 0.7, 1);
  EXPECT_TRUE(sampler.Keep(false, 0.5f));
  EXPECT_TRUE(sampler.Keep(false, 0.69f));
  EXPECT_FALSE(sampler.Keep(false, 0.7f));
  EXPECT_FALSE(sampler.Keep(false, 0.95f));
  EXPECT_FALSE(sampler.Keep(false, std::nullopt));
  EXPECT_TRUE(sampler.Keep(true, 0.95f));
  EXPECT_TRUE(sampler.Keep(true, std::nullopt));
}

TEST(RowSamplerTest, DecisionsFollowTheSeedAndTheRate) {
  RowSampler a(0.25, 0, 42);
  RowSampler b(0.25, 0, 42);
  RowSampler c(0.25, 0, 43);
  int kept = 0;
  int differ = 0;
  constexpr int kDraws = 20000;
  for (int i = 0; i < kDraws; ++i) {
    const bool ka = a.Keep(false, std::nullopt);
    ASSERT_EQ(ka, b.Keep(false, std::nullopt)) << "draw " << i;
    if (ka != c.Keep(false, std::nullopt)) ++differ;
    kept += ka;
  }
  EXPECT_GT(differ, 0);
  EXPECT_GT(kept, kDraws * 0.23);
  EXPECT_LT(kept, kDraws * 0.27);
}

TEST(RowSamplerTest, RateOutOfRangeIsClamped) {
  EXPECT_EQ(RowSampler(1.5, 0, 1).sample_rate(), 1.0);
  EXPECT_EQ(RowSampler(-1, 0, 1).sample_rate(), 0.0);
}

TEST(ValidatePredictionLogConfigTest, RefusesOutOfRangeValues) {
  config::v1::PredictionLogConfig config;
  EXPECT_TRUE(ValidatePredictionLogConfig(config).ok());
  config.set_collector_address("127.0.0.1:7001");
  config.set_sample_rate(0.1);
  config.set_confidence_below(0.6);
  EXPECT_TRUE(ValidatePredictionLogConfig(config).ok());

  auto refused = [](const config::v1::PredictionLogConfig& c,
                    absl::string_view field) {
    absl::Status s = ValidatePredictionLogConfig(c);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(s.message(), field)) << s;
  };
  config::v1::PredictionLogConfig bad = config;
  bad.set_sample_rate(1.5);
  refused(bad, "sample_rate");
  bad = config;
  bad.set_confidence_below(-0.1);
  refused(bad, "confidence_below");
  bad = config;
  bad.set_drift_address("no-port");
  refused(bad, "drift_address");
  bad = config;
  bad.set_max_pending_rows(-1);
  refused(bad, "max_pending_rows");
  bad = config;
  bad.mutable_flush_interval()->set_seconds(-1);
  refused(bad, "flush_interval");
}

}  // namespace
}  // namespace continuum::inference
