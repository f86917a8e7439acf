// continuum.v1.DriftService over gRPC, in process: the handlers, the
// server wiring and the service's metrics.
#include "services/drift/drift_service.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/config.h"
#include "lib/core/server.h"
#include "lib/core/watch_reactor.h"
#include "services/drift/drift_metrics.h"
#include "tests/util/subprocess.h"

namespace continuum::drift_service {
namespace {

// 100 rows with 2 features and one outcome each; `error_rate` of them wrong.
v1::ObserveRequest Request(const std::string& model, int64_t version,
                           double error_rate, std::mt19937& rng) {
  std::bernoulli_distribution wrong(error_rate);
  v1::ObserveRequest request;
  v1::ObservationBatch& batch = *request.mutable_batch();
  batch.set_model(model);
  batch.set_version(version);
  batch.set_num_rows(100);
  batch.set_feature_dim(2);
  for (int r = 0; r < 100; ++r) {
    batch.add_features(0.5f);
    batch.add_features(-1.0f);
    batch.add_confidences(0.8f);
    v1::ObservedOutcome* o = batch.add_outcomes();
    o->set_row(r);
    o->set_correct(!wrong(rng));
  }
  return request;
}

class DriftServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    registry_ = std::make_shared<prometheus::Registry>();
    metrics_ = std::make_unique<DriftMetrics>(*registry_, 1);
    monitor_ = std::make_unique<DriftMonitor>(
        DriftMonitorOptions{.metrics = metrics_.get()});
    service_ = std::make_unique<DriftServiceImpl>(monitor_.get(), &streams_);
    core::ServiceServer::Options options;
    options.service = "drift";
    options.config = core::DefaultServerConfig("drift");
    options.services = {service_.get()};
    options.metrics = registry_;
    options.open_streams = &streams_;
    auto server = core::ServiceServer::Start(std::move(options));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::DriftService::NewStub(grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
  }

  // Streams 10 good batches then 10 at a 50 % error rate.
  v1::ObserveResponse ObserveErrorJump(const std::string& model) {
    std::mt19937 rng(11);
    grpc::ClientContext context;
    v1::ObserveResponse response;
    auto writer = stub_->Observe(&context, &response);
    for (int b = 0; b < 20; ++b) {
      EXPECT_TRUE(writer->Write(Request(model, 1, b < 10 ? 0 : 0.5, rng)));
    }
    writer->WritesDone();
    grpc::Status status = writer->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // Waits (at most 10 s) until `n` watches are open on the server: a watch
  // has read its cursor once it is.
  bool AwaitOpenWatches(int n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (streams_.size() != n) {
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return true;
  }

  core::OpenStreams streams_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<DriftMetrics> metrics_;
  std::unique_ptr<DriftMonitor> monitor_;
  std::unique_ptr<DriftServiceImpl> service_;
  std::unique_ptr<core::ServiceServer> server_;
  std::unique_ptr<v1::DriftService::Stub> stub_;
};

TEST_F(DriftServiceTest, ObserveStatusAlertsAndMetrics) {
  v1::ObserveResponse response = ObserveErrorJump("fraud");
  EXPECT_EQ(response.batches(), 20);
  EXPECT_EQ(response.observations(), 2000);
  EXPECT_EQ(response.outcomes(), 2000);

  grpc::ClientContext status_context;
  v1::GetDriftStatusRequest status_request;
  status_request.set_name("models/fraud");
  v1::GetDriftStatusResponse status;
  ASSERT_TRUE(
      stub_->GetDriftStatus(&status_context, status_request, &status).ok());
  EXPECT_EQ(status.observations(), 2000);
  ASSERT_EQ(status.performance_size(), 1);
  EXPECT_GT(status.performance(0).error_rate(), 0.3);

  grpc::ClientContext list_context;
  v1::ListAlertsRequest list_request;
  list_request.set_parent("models/-");
  list_request.set_filter("type = ALERT_TYPE_CONCEPT");
  v1::ListAlertsResponse alerts;
  ASSERT_TRUE(stub_->ListAlerts(&list_context, list_request, &alerts).ok());
  ASSERT_EQ(alerts.alerts_size(), 1);
  EXPECT_EQ(alerts.alerts(0).detector(), "error_adwin");

  grpc::ClientContext get_context;
  v1::GetAlertRequest get_request;
  get_request.set_name(alerts.alerts(0).name());
  v1::GetAlertResponse got;
  ASSERT_TRUE(stub_->GetAlert(&get_context, get_request, &got).ok());
  EXPECT_EQ(got.alert().sequence(), alerts.alerts(0).sequence());

  grpc::ClientContext missing_context;
  v1::GetMonitorRequest missing;
  missing.set_name("models/unknown/monitor");
  v1::GetMonitorResponse monitor;
  EXPECT_EQ(stub_->GetMonitor(&missing_context, missing, &monitor).error_code(),
            grpc::StatusCode::NOT_FOUND);

  // A second model shares the bounded label "other" (max_model_labels 1).
  std::mt19937 rng(1);
  {
    grpc::ClientContext context;
    v1::ObserveResponse r;
    auto writer = stub_->Observe(&context, &r);
    writer->Write(Request("spam", 1, 0, rng));
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
  }
  absl::StatusOr<std::string> body =
      testing::HttpGet("127.0.0.1", server_->metrics_port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_TRUE(absl::StrContains(
      *body, "continuum_drift_observations_total{model=\"fraud\"} 2000"))
      << *body;
  EXPECT_TRUE(absl::StrContains(
      *body, "continuum_drift_observations_total{model=\"other\"} 100"))
      << *body;
  EXPECT_TRUE(absl::StrContains(*body,
                                "continuum_drift_alerts_total{model=\"fraud\","
                                "type=\"ALERT_TYPE_CONCEPT\"} 1"))
      << *body;
}

TEST_F(DriftServiceTest, BadBatchEndsObserveNamingBatchAndRow) {
  std::mt19937 rng(2);
  grpc::ClientContext context;
  v1::ObserveResponse response;
  auto writer = stub_->Observe(&context, &response);
  writer->Write(Request("m", 1, 0, rng));
  writer->Write(Request("m", 1, 0, rng));
  v1::ObserveRequest bad = Request("m", 1, 0, rng);
  bad.mutable_batch()->set_features(7, std::nanf(""));
  writer->Write(bad);
  writer->WritesDone();
  grpc::Status status = writer->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(status.error_message(), "batch 2: row 3"))
      << status.error_message();
  EXPECT_EQ(monitor_->GetDriftStatus("models/m", 0)->observations(), 200);
}

TEST_F(DriftServiceTest, WatchAlertsStreamsNewAlertsAndEndsOnCancel) {
  grpc::ClientContext watch_context;
  v1::WatchAlertsRequest watch_request;
  watch_request.add_models("fraud");
  auto reader = stub_->WatchAlerts(&watch_context, watch_request);
  // The watch only sends alerts raised after it began.
  ASSERT_TRUE(AwaitOpenWatches(1));

  std::thread observer([&] { ObserveErrorJump("fraud"); });
  v1::WatchAlertsResponse first;
  ASSERT_TRUE(reader->Read(&first));
  EXPECT_EQ(first.alert().model(), "fraud");
  EXPECT_EQ(first.alert().sequence(), 1);
  observer.join();

  const absl::Time cancelled_at = absl::Now();
  watch_context.TryCancel();
  v1::WatchAlertsResponse more;
  while (reader->Read(&more)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_LT(absl::Now() - cancelled_at, absl::Seconds(3));

  // A reconnect with since_sequence gets the kept alerts after it.
  grpc::ClientContext resume_context;
  resume_context.set_deadline(std::chrono::system_clock::now() +
                              std::chrono::seconds(2));
  v1::WatchAlertsRequest resume;
  resume.set_since_sequence(0);
  resume.set_min_severity(v1::ALERT_SEVERITY_INFO);
  ObserveErrorJump("other");
  resume.set_since_sequence(1);
  auto resumed = stub_->WatchAlerts(&resume_context, resume);
  v1::WatchAlertsResponse next;
  ASSERT_TRUE(resumed->Read(&next));
  EXPECT_EQ(next.alert().sequence(), 2);
  EXPECT_EQ(next.alert().model(), "other");
  resume_context.TryCancel();
  while (resumed->Read(&next)) {
  }
  resumed->Finish();
}

TEST_F(DriftServiceTest, ShutdownEndsWatchers) {
  grpc::ClientContext watch_context;
  auto reader = stub_->WatchAlerts(&watch_context, v1::WatchAlertsRequest());
  ASSERT_TRUE(AwaitOpenWatches(1));
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Milliseconds(500));
  server_.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  v1::WatchAlertsResponse response;
  EXPECT_FALSE(reader->Read(&response));
  EXPECT_FALSE(reader->Finish().ok());
}

}  // namespace
}  // namespace continuum::drift_service
