// continuum.v1.DriftService over gRPC, in process: the handlers, the
// server wiring and the service's metrics.
#include "services/drift/drift_service.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/sync_stream.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <cmath>
#include <functional>
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

using ::testing::HasSubstr;

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

  // Sends `messages` (serialized ObserveRequests or any bytes) on one
  // Observe stream as they are, and returns how the call ended.
  grpc::Status ObserveRaw(const std::vector<std::string>& messages) {
    std::shared_ptr<grpc::Channel> channel = grpc::CreateChannel(
        server_->address(), grpc::InsecureChannelCredentials());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    grpc::ByteBuffer response;
    const grpc::internal::RpcMethod method(
        "/continuum.v1.DriftService/Observe",
        grpc::internal::RpcMethod::CLIENT_STREAMING, channel);
    std::unique_ptr<grpc::ClientWriter<grpc::ByteBuffer>> writer(
        grpc::internal::ClientWriterFactory<grpc::ByteBuffer>::Create(
            channel.get(), method, &context, &response));
    for (const std::string& bytes : messages) {
      grpc::Slice slice(bytes.data(), bytes.size());
      if (!writer->Write(grpc::ByteBuffer(&slice, 1))) break;
    }
    writer->WritesDone();
    return writer->Finish();
  }

  // ConfigureMonitor's status for `request`.
  grpc::Status Configure(const v1::ConfigureMonitorRequest& request) {
    grpc::ClientContext context;
    v1::ConfigureMonitorResponse response;
    return stub_->ConfigureMonitor(&context, request, &response);
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

// Issue 14: a stream of [valid, unparsable, valid] ended OK after the first
// message (the typed reader ends on a message it cannot parse as on a
// half-close), the third was never processed and the client was told all
// was well.
TEST_F(DriftServiceTest, ObserveStreamBrokenMidWayFailsNamingTheMessage) {
  std::mt19937 rng(3);
  const std::string valid = Request("m", 1, 0, rng).SerializeAsString();
  const std::string garbage("\x0a\x7f\x01 not an ObserveRequest", 27);
  grpc::Status status = ObserveRaw({valid, garbage, valid});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "message 2 of the stream is not a valid "
            "continuum.v1.ObserveRequest (its bytes do not parse as that "
            "message); the 1 batch before it was processed");
  // The first batch was processed, the third was not.
  EXPECT_EQ(monitor_->GetDriftStatus("models/m", 0)->observations(), 100);

  // Valid streams answer as before: the counts of every batch.
  status = ObserveRaw({valid, valid});
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(monitor_->GetDriftStatus("models/m", 0)->observations(), 300);
}

TEST_F(DriftServiceTest, ObserveChecksEachMessagesFieldRules) {
  std::mt19937 rng(4);
  v1::ObserveRequest bad = Request("m", 1, 0, rng);
  bad.mutable_batch()->set_version(-2);
  grpc::Status status = ObserveRaw(
      {Request("m", 1, 0, rng).SerializeAsString(), bad.SerializeAsString()});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "batch 1: batch.version: must be >= 1 (got -2) (1 earlier batch "
            "of this stream was processed)");
  bad = Request("m", 1, 0, rng);
  bad.mutable_batch()->mutable_outcomes(5)->set_error_value(-1);
  status = ObserveRaw({bad.SerializeAsString()});
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(
      status.error_message(),
      HasSubstr("batch 0: batch.outcomes[5].error_value: must be >= 0"));
  status = ObserveRaw({v1::ObserveRequest().SerializeAsString()});
  EXPECT_THAT(status.error_message(), HasSubstr("batch 0: batch: required"));
}

// Issue 14: a negative cool-down (and any other negative Duration or
// number out of its range) was stored.
TEST_F(DriftServiceTest, ConfigureMonitorRejectsOutOfRangeSettings) {
  v1::ConfigureMonitorRequest request;
  request.mutable_monitor()->set_name("models/m/monitor");
  ASSERT_TRUE(Configure(request).ok());

  struct Case {
    std::function<void(v1::Monitor&)> edit;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](v1::Monitor& m) {
         m.mutable_actions()->mutable_cooldown()->set_seconds(-60);
       },
       "monitor.actions.cooldown: must not be negative (got -1m)"},
      {[](v1::Monitor& m) {
         m.mutable_reference_tests()->mutable_interval()->set_nanos(-5);
       },
       "monitor.reference_tests.interval: must not be negative (got -5ns)"},
      {[](v1::Monitor& m) {
         m.mutable_canary_judgement()->mutable_interval()->set_seconds(-1);
       },
       "monitor.canary_judgement.interval: must not be negative (got -1s)"},
      {[](v1::Monitor& m) {
         m.mutable_actions()->mutable_cooldown()->set_seconds(1);
         m.mutable_actions()->mutable_cooldown()->set_nanos(-1);
       },
       "monitor.actions.cooldown: not a valid google.protobuf.Duration "
       "(seconds 1, nanos -1)"},
      {[](v1::Monitor& m) { m.mutable_performance()->set_max_error_rate(1.5); },
       "monitor.performance.max_error_rate: must be <= 1 (got 1.5)"},
      {[](v1::Monitor& m) { m.mutable_performance()->set_min_outcomes(-1); },
       "monitor.performance.min_outcomes: must be >= 0 (got -1)"},
      {[](v1::Monitor& m) {
         m.mutable_reference_tests()->set_drifted_feature_share(-0.5);
       },
       "monitor.reference_tests.drifted_feature_share: must be > 0 (got "
       "-0.5)"},
      {[](v1::Monitor& m) {
         m.mutable_reference_tests()->set_critical_feature_share(1.5);
       },
       "monitor.reference_tests.critical_feature_share: must be <= 1 (got "
       "1.5)"},
      {[](v1::Monitor& m) { m.mutable_canary_judgement()->set_alpha(1); },
       "monitor.canary_judgement.alpha: must be < 1 (got 1)"},
      {[](v1::Monitor& m) { m.add_detectors()->set_id("x"); },
       "monitor.detectors[0].detector: required"},
      {[](v1::Monitor& m) {
         m.mutable_actions()->add_rules()->set_alert_type(v1::ALERT_TYPE_DATA);
       },
       "monitor.actions.rules[0].action: required"},
  };
  for (const Case& c : cases) {
    v1::ConfigureMonitorRequest bad = request;
    c.edit(*bad.mutable_monitor());
    grpc::Status status = Configure(bad);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << c.message;
    EXPECT_EQ(status.error_message(), c.message);
  }
  // Nothing was stored: the monitor keeps its one-hour cool-down.
  EXPECT_EQ(
      monitor_->GetMonitor("models/m/monitor")->actions().cooldown().seconds(),
      0);
  EXPECT_FALSE(
      monitor_->GetMonitor("models/m/monitor")->actions().has_cooldown());
}

// Issue 14: ListMonitors took any page token (the bare model id), and
// ListAlerts any number.
TEST_F(DriftServiceTest, PageTokensAreOpaqueAndBoundToTheirQuery) {
  for (const char* model : {"a", "b", "c"}) {
    v1::ConfigureMonitorRequest request;
    request.mutable_monitor()->set_name(
        absl::StrCat("models/", model, "/monitor"));
    ASSERT_TRUE(Configure(request).ok());
  }
  v1::ListMonitorsRequest list;
  list.set_page_size(2);
  v1::ListMonitorsResponse page;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListMonitors(&context, list, &page).ok());
  }
  ASSERT_EQ(page.monitors_size(), 2);
  ASSERT_FALSE(page.next_page_token().empty());
  EXPECT_NE(page.next_page_token(), "b");
  const std::string token = page.next_page_token();
  list.set_page_token(token);
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListMonitors(&context, list, &page).ok());
  }
  ASSERT_EQ(page.monitors_size(), 1);
  EXPECT_EQ(page.monitors(0).name(), "models/c/monitor");

  for (const std::string& bad : {std::string("b"), std::string("zzz"),
                                 token.substr(0, token.size() - 1)}) {
    list.set_page_token(bad);
    grpc::ClientContext context;
    grpc::Status status = stub_->ListMonitors(&context, list, &page);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << bad;
    EXPECT_THAT(status.error_message(), HasSubstr("page_token"));
  }
  // The token of another filter.
  list.set_page_token(token);
  list.set_filter("disabled = false");
  {
    grpc::ClientContext context;
    EXPECT_EQ(stub_->ListMonitors(&context, list, &page).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }

  ObserveErrorJump("a");
  ObserveErrorJump("b");
  v1::ListAlertsRequest alerts;
  alerts.set_parent("models/-");
  alerts.set_page_size(1);
  v1::ListAlertsResponse listed;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListAlerts(&context, alerts, &listed).ok());
  }
  ASSERT_EQ(listed.alerts_size(), 1);
  ASSERT_FALSE(listed.next_page_token().empty());
  const int64_t newest = listed.alerts(0).sequence();
  const std::string alerts_token = listed.next_page_token();
  alerts.set_page_token(alerts_token);
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListAlerts(&context, alerts, &listed).ok());
  }
  ASSERT_EQ(listed.alerts_size(), 1);
  EXPECT_LT(listed.alerts(0).sequence(), newest);
  for (const std::string& bad : {absl::StrCat(newest), std::string("x")}) {
    alerts.set_page_token(bad);
    grpc::ClientContext context;
    EXPECT_EQ(stub_->ListAlerts(&context, alerts, &listed).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT)
        << bad;
  }
  // The token of another parent.
  alerts.set_page_token(alerts_token);
  alerts.set_parent("models/a");
  {
    grpc::ClientContext context;
    EXPECT_EQ(stub_->ListAlerts(&context, alerts, &listed).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
}

// Issue 14: WatchAlerts on a model id that is not an id opened and stayed
// open.
TEST_F(DriftServiceTest, WatchAlertsRejectsAnInvalidModelIdAtOnce) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  v1::WatchAlertsRequest request;
  request.add_models("fraud");
  request.add_models("Not An Id");
  const absl::Time start = absl::Now();
  auto reader = stub_->WatchAlerts(&context, request);
  v1::WatchAlertsResponse response;
  EXPECT_FALSE(reader->Read(&response));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("models[1]: model id"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

// Issue 14: a misspelt enum value in ListAlerts' filter matched nothing.
TEST_F(DriftServiceTest, ListAlertsFilterValuesAreChecked) {
  ObserveErrorJump("fraud");
  auto list = [&](const std::string& filter, v1::ListAlertsResponse* out) {
    v1::ListAlertsRequest request;
    request.set_parent("models/fraud");
    request.set_filter(filter);
    grpc::ClientContext context;
    return stub_->ListAlerts(&context, request, out);
  };
  v1::ListAlertsResponse response;
  for (const char* filter :
       {"type = ALERT_TYPE_CONCEPTT", "severity = WARNINGG",
        "action_result.action = DRIFT_ACTION_RETRAIN",
        "severity >= ALERT_SEVERITY_WARNIN", "version >= two",
        "create_time > \"yesterday\"", "type > ALERT_TYPE_DATA"}) {
    grpc::Status status = list(filter, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << filter;
    EXPECT_THAT(status.error_message(), HasSubstr("filter: ")) << filter;
  }
  // The documented forms match.
  for (const char* filter :
       {"type = ALERT_TYPE_CONCEPT", "type = CONCEPT",
        "type = ALERT_TYPE_CONCEPT AND severity >= ALERT_SEVERITY_WARNING AND "
        "create_time > \"2020-01-01T00:00:00Z\"",
        "action_result.action = DRIFT_ACTION_TRIGGER_RETRAIN",
        "version <= 1"}) {
    grpc::Status status = list(filter, &response);
    ASSERT_TRUE(status.ok()) << filter << ": " << status.error_message();
    EXPECT_EQ(response.alerts_size(), 1) << filter;
  }
  ASSERT_TRUE(list("severity > ALERT_SEVERITY_WARNING", &response).ok());
  EXPECT_EQ(response.alerts_size(), 0);
}

}  // namespace
}  // namespace continuum::drift_service
