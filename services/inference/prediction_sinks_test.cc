// The prediction log's gRPC sinks against small fake CollectorService and
// DriftService servers on 127.0.0.1 (only IngestBatch and Observe), driven
// through a PredictionLogger as the pod drives them: what reaches each
// service, status codes as drop reasons, a service that is down or comes
// back.
#include "services/inference/prediction_sinks.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <sys/socket.h>
#include <unistd.h>

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
#include "lib/core/clock.h"
#include "lib/core/proto_time.h"
#include "services/inference/prediction_log_testing.h"
#include "services/inference/prediction_logger.h"
#include "tests/util/subprocess.h"

namespace continuum::inference {
namespace {

using log_testing::Config;
using log_testing::Dropped;
using log_testing::ExpectAllDroppedWhileDown;
using log_testing::ExpectAllSent;
using log_testing::LogFraudRequests;
using log_testing::Pending;
using log_testing::Request;
using log_testing::Response;
using log_testing::Sent;

constexpr absl::Duration kWait = absl::Seconds(30);

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

// IngestBatch as the collector answers it: NOT_FOUND for a data set that
// does not exist, INVALID_ARGUMENT (the whole batch) for a record whose
// features do not fit the data set's feature_dim; otherwise every record
// is kept.
class FakeCollector final : public v1::CollectorService::Service {
 public:
  void AddDataset(const std::string& id, int feature_dim) {
    absl::MutexLock lock(&mu_);
    feature_dims_[id] = feature_dim;
  }

  grpc::Status IngestBatch(grpc::ServerContext* /*context*/,
                           const v1::IngestBatchRequest* request,
                           v1::IngestBatchResponse* response) override {
    absl::MutexLock lock(&mu_);
    auto dim = feature_dims_.find(request->dataset());
    if (dim == feature_dims_.end()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND,
                          absl::StrCat("data set '", request->dataset(),
                                       "' not found"));
    }
    for (const v1::Record& record : request->records()) {
      if (record.features_size() != dim->second) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "features do not fit feature_dim");
      }
    }
    for (const v1::Record& record : request->records()) {
      records_[request->dataset()].push_back(record);
    }
    response->set_accepted_records(request->records_size());
    return grpc::Status::OK;
  }

  // The records stored in `dataset`.
  std::vector<v1::Record> Records(const std::string& dataset) {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(dataset);
    return it == records_.end() ? std::vector<v1::Record>{} : it->second;
  }
  int64_t StoredRecords(const std::string& dataset) {
    return static_cast<int64_t>(Records(dataset).size());
  }
  std::set<std::string> StoredIds(const std::string& dataset) {
    std::set<std::string> ids;
    for (const v1::Record& record : Records(dataset)) ids.insert(record.id());
    return ids;
  }
  // The record stored under `id` in `dataset`.
  std::optional<v1::Record> Find(const std::string& dataset,
                                 const std::string& id) {
    for (const v1::Record& record : Records(dataset)) {
      if (record.id() == id) return record;
    }
    return std::nullopt;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, int> feature_dims_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<v1::Record>> records_ ABSL_GUARDED_BY(mu_);
};

// Observe keeping every batch.
class FakeDrift final : public v1::DriftService::Service {
 public:
  grpc::Status Observe(grpc::ServerContext* /*context*/,
                       grpc::ServerReader<v1::ObserveRequest>* reader,
                       v1::ObserveResponse* /*response*/) override {
    v1::ObserveRequest request;
    while (reader->Read(&request)) {
      absl::MutexLock lock(&mu_);
      batches_.push_back(request.batch());
    }
    return grpc::Status::OK;
  }

  // The batches of `model` received.
  std::vector<v1::ObservationBatch> Batches(const std::string& model) {
    absl::MutexLock lock(&mu_);
    std::vector<v1::ObservationBatch> out;
    for (const v1::ObservationBatch& batch : batches_) {
      if (batch.model() == model) out.push_back(batch);
    }
    return out;
  }
  // Rows observed for `model`.
  int64_t Observations(const std::string& model) {
    int64_t rows = 0;
    for (const v1::ObservationBatch& batch : Batches(model)) {
      rows += batch.num_rows();
    }
    return rows;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::ObservationBatch> batches_ ABSL_GUARDED_BY(mu_);
};

// `service` served on `address` ("127.0.0.1:0" picks a port); sets *port.
std::unique_ptr<grpc::Server> StartServer(grpc::Service* service,
                                          const std::string& address,
                                          int* port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  EXPECT_NE(server, nullptr);
  EXPECT_GT(*port, 0);
  return server;
}

class PredictionSinksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int port = 0;
    collector_server_ = StartServer(&collector_, "127.0.0.1:0", &port);
    collector_address_ = absl::StrCat("127.0.0.1:", port);
    drift_server_ = StartServer(&drift_, "127.0.0.1:0", &port);
    drift_address_ = absl::StrCat("127.0.0.1:", port);
  }

  void TearDown() override {
    collector_server_->Shutdown();
    drift_server_->Shutdown();
  }

  config::v1::PredictionLogConfig ConfigForBoth(
      absl::Duration flush_interval) {
    config::v1::PredictionLogConfig config = Config(flush_interval);
    config.set_collector_address(collector_address_);
    config.set_drift_address(drift_address_);
    return config;
  }

  FakeCollector collector_;
  FakeDrift drift_;
  std::unique_ptr<grpc::Server> collector_server_;
  std::unique_ptr<grpc::Server> drift_server_;
  std::string collector_address_;
  std::string drift_address_;
};

TEST_F(PredictionSinksTest, DeliversRowsToTheCollectorAndTheDriftService) {
  collector_.AddDataset("fraud", 3);
  core::FakeClock clock(
      absl::FromUnixMicros(absl::ToUnixMicros(absl::Now() - absl::Minutes(1))));
  prometheus::Registry metrics;
  const config::v1::PredictionLogConfig config =
      ConfigForBoth(absl::Milliseconds(10));
  PredictionLogger logger(config, NewPredictionSinks(config), metrics,
                          {.pod_id = "pod-1", .clock = &clock, .seed = 1});
  ASSERT_TRUE(logger.has_sink("collector"));
  ASSERT_TRUE(logger.has_sink("drift"));

  LogFraudRequests(logger);

  // Delivered in the background, without Flush.
  EXPECT_TRUE(testing::WaitFor(
      [&] { return collector_.StoredRecords("fraud") == 5; }, kWait));
  EXPECT_TRUE(testing::WaitFor(
      [&] { return drift_.Observations("fraud") == 5; }, kWait));

  // What the collector stored.
  std::map<std::string, std::vector<float>> features;
  std::map<std::string, std::map<std::string, std::string>> attributes;
  for (const v1::Record& record : collector_.Records("fraud")) {
    ASSERT_EQ(record.features_size(), 3);
    features[record.id()].assign(record.features().begin(),
                                 record.features().end());
    attributes[record.id()] = {record.attributes().begin(),
                               record.attributes().end()};
    EXPECT_EQ(core::ToUnixMicros(record.event_time()),
              absl::ToUnixMicros(clock.Now()));
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
  std::optional<v1::Record> b = collector_.Find("fraud", "b");
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

  // What the drift service saw: predictions of version 7, with classes,
  // confidences, ids and event times per row.
  int64_t observed = 0;
  for (const v1::ObservationBatch& batch : drift_.Batches("fraud")) {
    EXPECT_EQ(batch.version(), 7);
    EXPECT_EQ(batch.kind(), v1::OBSERVATION_KIND_PREDICTION);
    EXPECT_EQ(batch.feature_dim(), 3);
    EXPECT_EQ(batch.features_size(), 3 * batch.num_rows());
    EXPECT_EQ(batch.predicted_classes_size(), batch.num_rows());
    EXPECT_EQ(batch.confidences_size(), batch.num_rows());
    EXPECT_EQ(batch.predicted_values_size(), 0);
    EXPECT_EQ(batch.ids_size(), batch.num_rows());
    for (int64_t micros : batch.event_time_unix_micros()) {
      EXPECT_EQ(micros, absl::ToUnixMicros(clock.Now()));
    }
    observed += batch.num_rows();
  }
  EXPECT_EQ(observed, 5);

  logger.Stop();
  ExpectAllSent(metrics, "collector", 5);
  ExpectAllSent(metrics, "drift", 5);
}

TEST_F(PredictionSinksTest, OneCallPerModelAndPerVersionAndRowLength) {
  collector_.AddDataset("fraud", 3);
  collector_.AddDataset("churn", 2);
  const config::v1::PredictionLogConfig config = ConfigForBoth(absl::Hours(1));
  std::vector<std::unique_ptr<PredictionSink>> sinks =
      NewPredictionSinks(config);
  ASSERT_EQ(sinks.size(), 2u);
  EXPECT_EQ(sinks[0]->name(), "collector");
  EXPECT_EQ(sinks[1]->name(), "drift");

  auto rows = [](const std::string& model, int64_t version, size_t dim,
                 int n, bool with_class) {
    auto request = std::make_shared<LoggedRequest>();
    request->model = model;
    request->version = version;
    std::vector<LoggedRowPtr> out;
    for (int i = 0; i < n; ++i) {
      auto row = std::make_shared<LoggedRow>();
      row->request = request;
      row->id = absl::StrCat(model, "-", version, "-", dim, "-", i);
      row->features.assign(dim, 1.0f);
      if (with_class) row->predicted_class = 0;
      row->score = 0.5f;
      out.push_back(std::move(row));
    }
    return out;
  };
  std::vector<LoggedRowPtr> all;
  for (auto part :
       {rows("fraud", 1, 3, 2, true), rows("churn", 1, 2, 1, false),
        rows("fraud", 2, 3, 3, true), rows("fraud", 2, 4, 1, true),
        rows("nodata", 1, 3, 2, true)}) {
    all.insert(all.end(), part.begin(), part.end());
  }
  std::map<std::string, std::vector<std::pair<int64_t, std::string>>> reports;
  for (const std::unique_ptr<PredictionSink>& sink : sinks) {
    sink->Send(all, absl::Now() + absl::Seconds(10),
               [&](int64_t n, const absl::Status& status,
                   absl::string_view what) {
                 reports[std::string(sink->name())].emplace_back(
                     n, absl::StrCat(what, ": ",
                                     absl::StatusCodeToString(status.code())));
               });
  }
  // The collector: one IngestBatch per data set, each reported with the
  // service's status. The 4-feature row does not fit "fraud": the
  // collector refuses that whole batch, which is split in halves and sent
  // again ([6] -> [3] OK, [3] -> [1] OK, [2] -> [1] OK, [1] refused) until
  // only that row is dropped; "nodata" has no data set.
  EXPECT_EQ(reports["collector"],
            (std::vector<std::pair<int64_t, std::string>>{
                {1, "data set 'churn': OK"},
                {3, "data set 'fraud': OK"},
                {1, "data set 'fraud': OK"},
                {1, "data set 'fraud': OK"},
                {1, "data set 'fraud': INVALID_ARGUMENT"},
                {2, "data set 'nodata': NOT_FOUND"}}));
  EXPECT_EQ(collector_.StoredIds("churn"),
            (std::set<std::string>{"churn-1-2-0"}));
  EXPECT_EQ(collector_.StoredIds("fraud"),
            (std::set<std::string>{"fraud-1-3-0", "fraud-1-3-1", "fraud-2-3-0",
                                   "fraud-2-3-1", "fraud-2-3-2"}));
  // The drift service: one Observe per (model, version, row length).
  EXPECT_EQ(reports["drift"],
            (std::vector<std::pair<int64_t, std::string>>{
                {1, "model 'churn' version 1: OK"},
                {2, "model 'fraud' version 1: OK"},
                {3, "model 'fraud' version 2: OK"},
                {1, "model 'fraud' version 2: OK"},
                {2, "model 'nodata' version 1: OK"}}));
  // Rows without a class carry their score as the predicted value.
  std::vector<v1::ObservationBatch> churn = drift_.Batches("churn");
  ASSERT_EQ(churn.size(), 1u);
  EXPECT_EQ(churn[0].predicted_classes_size(), 0);
  EXPECT_EQ(churn[0].confidences_size(), 0);
  ASSERT_EQ(churn[0].predicted_values_size(), 1);
  EXPECT_FLOAT_EQ(churn[0].predicted_values(0), 0.5f);
}

TEST_F(PredictionSinksTest, NoAddressNoSink) {
  EXPECT_TRUE(NewPredictionSinks(Config(absl::Seconds(1))).empty());
  config::v1::PredictionLogConfig config = Config(absl::Seconds(1));
  config.set_drift_address(drift_address_);
  std::vector<std::unique_ptr<PredictionSink>> sinks =
      NewPredictionSinks(config);
  ASSERT_EQ(sinks.size(), 1u);
  EXPECT_EQ(sinks[0]->name(), "drift");
}

TEST_F(PredictionSinksTest, OneSinkDownDoesNotStopTheOther) {
  prometheus::Registry metrics;
  config::v1::PredictionLogConfig config = Config(absl::Hours(1));
  config.set_collector_address(absl::StrCat("127.0.0.1:", ClosedPort()));
  config.set_drift_address(drift_address_);
  PredictionLogger logger(config, NewPredictionSinks(config), metrics,
                          {.pod_id = "pod-1", .seed = 1});
  logger.Log(Request("fraud", 4, 3), Response("fraud", 1, {1, 1, 1, 1}));
  logger.Flush();
  EXPECT_EQ(Dropped(metrics, "collector", "unavailable"), 4);
  EXPECT_EQ(Sent(metrics, "drift"), 4);
  EXPECT_EQ(drift_.Observations("fraud"), 4);
}

TEST_F(PredictionSinksTest, DeliversAgainWhenAServiceComesBack) {
  const int port = ClosedPort();
  prometheus::Registry metrics;
  config::v1::PredictionLogConfig config = Config(absl::Hours(1));
  config.set_drift_address(absl::StrCat("127.0.0.1:", port));
  PredictionLogger logger(config, NewPredictionSinks(config), metrics,
                          {.pod_id = "pod-1", .seed = 1});
  logger.Log(Request("fraud", 2, 3), Response("fraud", 1, {0.9f, 0.8f}));
  logger.Flush();
  EXPECT_EQ(Dropped(metrics, "drift", "unavailable"), 2);

  // A drift service starts on that port.
  FakeDrift drift;
  int bound = 0;
  std::unique_ptr<grpc::Server> server =
      StartServer(&drift, absl::StrCat("127.0.0.1:", port), &bound);
  ASSERT_EQ(bound, port);
  EXPECT_TRUE(testing::WaitFor(
      [&] {
        logger.Log(Request("fraud", 1, 3), Response("fraud", 1, {0.9f}));
        logger.Flush();
        return drift.Observations("fraud") > 0;
      },
      kWait));
  EXPECT_GT(Sent(metrics, "drift"), 0);
  logger.Stop();
  server->Shutdown();
}

TEST_F(PredictionSinksTest, DownServicesDropRowsWithoutHoldingUpLog) {
  prometheus::Registry metrics;
  config::v1::PredictionLogConfig config = Config(absl::Milliseconds(1));
  const std::string closed = absl::StrCat("127.0.0.1:", ClosedPort());
  config.set_collector_address(closed);
  config.set_drift_address(closed);
  config.set_max_pending_rows(4);
  config.set_max_batch_rows(2);
  PredictionLogger logger(config, NewPredictionSinks(config), metrics,
                          {.pod_id = "pod-1", .seed = 1});
  const v1::PredictRequest request = Request("fraud", 1, 3);
  const v1::PredictResponse response = Response("fraud", 1, {0.5f});
  constexpr int kLogs = 10000;
  for (int i = 0; i < kLogs; ++i) logger.Log(request, response);
  // Queued (at most 4) plus in flight (at most one batch of 2).
  EXPECT_LE(Pending(metrics, "collector"), 6);
  EXPECT_LE(Pending(metrics, "drift"), 6);
  logger.Stop();
  ExpectAllDroppedWhileDown(metrics, "collector", kLogs);
  ExpectAllDroppedWhileDown(metrics, "drift", kLogs);
}

}  // namespace
}  // namespace continuum::inference
