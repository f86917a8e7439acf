#include "lib/core/server.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "continuum/testing/v1/echo.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "lib/core/config.h"
#include "tests/util/echo_service.h"
#include "tests/util/subprocess.h"

namespace continuum::core {
namespace {

using ::continuum::testing::FindSample;
using ::continuum::testing::HttpGet;
using ::continuum::testing::v1::EchoRequest;
using ::continuum::testing::v1::EchoResponse;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

class ServiceServerTest : public ::testing::Test {
 protected:
  ServiceServer::Options Options() {
    ServiceServer::Options options;
    options.service = "collector";
    options.config = DefaultServerConfig("collector");
    options.services = {&echo_};
    return options;
  }

  std::unique_ptr<ServiceServer> StartServer(ServiceServer::Options options) {
    auto server = ServiceServer::Start(std::move(options));
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? *std::move(server) : nullptr;
  }

  static HealthCheckResponse::ServingStatus Health(
      const std::string& target, const std::string& service = "") {
    auto stub = grpc::health::v1::Health::NewStub(
        grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    HealthCheckResponse response;
    HealthCheckRequest request;
    request.set_service(service);
    grpc::Status status = stub->Check(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.status();
  }

  continuum::testing::EchoService echo_;
};

TEST_F(ServiceServerTest, ServesHealthEchoAndMetricsOnEphemeralPorts) {
  auto server = StartServer(Options());
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->port(), 0);
  ASSERT_GT(server->metrics_port(), 0);
  EXPECT_EQ(server->address(), absl::StrCat("127.0.0.1:", server->port()));
  EXPECT_EQ(Health(server->address()), HealthCheckResponse::SERVING);

  auto stub = continuum::testing::v1::EchoService::NewStub(grpc::CreateChannel(
      server->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  EchoRequest request;
  request.set_payload("ping");
  EchoResponse response;
  ASSERT_TRUE(stub->Echo(&context, request, &response).ok());
  EXPECT_EQ(response.payload(), "ping");

  absl::StatusOr<std::string> body =
      HttpGet("127.0.0.1", server->metrics_port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(FindSample(*body, "continuum_collector_rpc_requests_total",
                       {"method=\"/continuum.testing.v1.EchoService/Echo\"",
                        "code=\"OK\""}),
            1.0)
      << *body;
  EXPECT_EQ(
      FindSample(*body, "continuum_collector_rpc_requests_total",
                 {"method=\"/grpc.health.v1.Health/Check\"", "code=\"OK\""}),
      1.0);
  EXPECT_EQ(FindSample(*body, "continuum_collector_build_info"), 1.0);
  EXPECT_TRUE(FindSample(*body, "process_resident_memory_bytes").has_value());
}

TEST_F(ServiceServerTest, FailedCallsAreCountedByCode) {
  auto server = StartServer(Options());
  ASSERT_NE(server, nullptr);
  auto stub = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      server->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  HealthCheckRequest request;
  request.set_service("no.such.Service");
  HealthCheckResponse response;
  EXPECT_EQ(stub->Check(&context, request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  auto body = HttpGet("127.0.0.1", server->metrics_port(), "/metrics");
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(FindSample(*body, "continuum_collector_rpc_requests_total",
                       {"method=\"/grpc.health.v1.Health/Check\"",
                        "code=\"NOT_FOUND\""}),
            1.0);
}

TEST_F(ServiceServerTest, ReadinessCanBeWithheld) {
  ServiceServer::Options options = Options();
  options.serving_at_start = false;
  auto server = StartServer(std::move(options));
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(Health(server->address()), HealthCheckResponse::NOT_SERVING);
  server->SetServing(true);
  EXPECT_EQ(Health(server->address()), HealthCheckResponse::SERVING);
}

// grpc.health.v1 clients ask for a service by its full name (grpcurl,
// Kubernetes' gRPC probes with `service:`, continuumctl health --service):
// each registered service answers, and follows the server's readiness.
TEST_F(ServiceServerTest, HealthKnowsEachServiceByName) {
  ServiceServer::Options options = Options();
  options.serving_at_start = false;
  auto server = StartServer(std::move(options));
  ASSERT_NE(server, nullptr);
  const std::string echo = "continuum.testing.v1.EchoService";
  EXPECT_EQ(Health(server->address(), echo),
            HealthCheckResponse::NOT_SERVING);
  server->SetServing(true);
  EXPECT_EQ(Health(server->address(), echo), HealthCheckResponse::SERVING);
  server->SetServing(false);
  EXPECT_EQ(Health(server->address(), echo),
            HealthCheckResponse::NOT_SERVING);
}

TEST_F(ServiceServerTest, WritesPortFiles) {
  std::string dir = continuum::testing::MakeTempDir("server_test");
  ServiceServer::Options options = Options();
  options.config.set_port_file(dir + "/grpc.port");
  options.config.set_metrics_port_file(dir + "/metrics.port");
  auto server = StartServer(std::move(options));
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(continuum::testing::ReadFile(dir + "/grpc.port").value_or(""),
            absl::StrCat(server->port(), "\n"));
  EXPECT_EQ(continuum::testing::ReadFile(dir + "/metrics.port").value_or(""),
            absl::StrCat(server->metrics_port(), "\n"));
}

TEST_F(ServiceServerTest, MetricsCanBeDisabled) {
  ServiceServer::Options options = Options();
  options.config.set_metrics_listen("");
  auto server = StartServer(std::move(options));
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->metrics_port(), 0);
}

TEST_F(ServiceServerTest, BadConfigAndBusyPortAreErrors) {
  ServiceServer::Options options = Options();
  options.config.set_listen("nonsense");
  EXPECT_EQ(ServiceServer::Start(std::move(options)).status().code(),
            absl::StatusCode::kInvalidArgument);

  options = Options();
  options.service = "Bad-Name";
  EXPECT_EQ(ServiceServer::Start(std::move(options)).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto first = StartServer(Options());
  ASSERT_NE(first, nullptr);
  options = Options();
  options.services = {};
  options.config.set_listen(first->address());
  EXPECT_EQ(ServiceServer::Start(std::move(options)).status().code(),
            absl::StatusCode::kUnavailable);
}

// Starts a held Echo call on its own thread; returns its final status.
struct HeldCall {
  explicit HeldCall(const std::string& target) {
    thread = std::thread([this, target] {
      auto stub = continuum::testing::v1::EchoService::NewStub(
          grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(60));
      EchoRequest request;
      request.set_payload("held");
      request.set_hold(true);
      EchoResponse response;
      status = stub->Echo(&context, request, &response);
      done.Notify();
    });
  }
  ~HeldCall() { thread.join(); }

  std::thread thread;
  grpc::Status status;
  absl::Notification done;
};

TEST_F(ServiceServerTest, ShutdownLetsInFlightCallsFinish) {
  auto server = StartServer(Options());
  ASSERT_NE(server, nullptr);
  HeldCall call(server->address());
  ASSERT_TRUE(echo_.WaitForHeld(1, absl::Seconds(10)));

  absl::Notification stopped;
  std::thread stopper([&] {
    server->Shutdown(absl::Seconds(60));
    stopped.Notify();
  });
  // The drain waits for the call: it has not finished yet.
  EXPECT_FALSE(stopped.WaitForNotificationWithTimeout(absl::Milliseconds(200)));
  echo_.Release();
  ASSERT_TRUE(call.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(call.status.ok()) << call.status.error_message();
  // ... and then returns well before the 60 s grace.
  EXPECT_TRUE(stopped.WaitForNotificationWithTimeout(absl::Seconds(10)));
  stopper.join();
}

TEST_F(ServiceServerTest, ShutdownCancelsCallsAfterTheGrace) {
  auto server = StartServer(Options());
  ASSERT_NE(server, nullptr);
  HeldCall call(server->address());
  ASSERT_TRUE(echo_.WaitForHeld(1, absl::Seconds(10)));
  absl::Time start = absl::Now();
  server->Shutdown(absl::Milliseconds(300));
  absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(call.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_FALSE(call.status.ok());
  // The drain waited for the held call until the grace was over (how soon
  // after it the server returns is a timing, not asserted here).
  EXPECT_GE(took, absl::Milliseconds(250));
  // A second Shutdown is a no-op.
  server->Shutdown(absl::Seconds(60));
}

// The synchronous API's echo (the shared EchoService is on the callback
// API), to see both kinds of handler answer an unparsable request alike.
class SyncEcho final : public continuum::testing::v1::EchoService::Service {
  grpc::Status Echo(grpc::ServerContext*, const EchoRequest* request,
                    EchoResponse* response) override {
    response->set_payload(request->payload());
    return grpc::Status::OK;
  }
};

// Sends `bytes` as the request of Echo through the generic stub.
grpc::Status SendRawEcho(const std::string& target, const std::string& bytes) {
  grpc::GenericStub stub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  grpc::Slice slice(bytes.data(), bytes.size());
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, "/continuum.testing.v1.EchoService/Echo",
                 grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   status = s;
                   done.Notify();
                 });
  done.WaitForNotification();
  return status;
}

TEST_F(ServiceServerTest, UnparsableRequestsAreInvalidArgumentOnBothApis) {
  const std::string garbage("\xff\xff\xff\xff not a message", 17);
  EchoRequest valid;
  valid.set_payload("ok");
  SyncEcho sync_echo;
  for (grpc::Service* service :
       std::vector<grpc::Service*>{&echo_, &sync_echo}) {
    ServiceServer::Options options = Options();
    options.services = {service};
    auto server = StartServer(std::move(options));
    ASSERT_NE(server, nullptr);
    grpc::Status s = SendRawEcho(server->address(), garbage);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(s.error_message(),
              "the request is not a valid continuum.testing.v1.EchoRequest "
              "(its bytes do not parse as that message)");
    // A valid request through the same path is answered as before.
    EXPECT_TRUE(SendRawEcho(server->address(), valid.SerializeAsString()).ok());
    server->Shutdown(absl::Seconds(5));
  }
}

TEST(WriteFileAtomicallyTest, WritesAndReplaces) {
  std::string dir = continuum::testing::MakeTempDir("atomic");
  std::string path = dir + "/f";
  ASSERT_TRUE(WriteFileAtomically(path, "one").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "two").ok());
  EXPECT_EQ(continuum::testing::ReadFile(path).value_or(""), "two");
  EXPECT_EQ(WriteFileAtomically("/nonexistent/dir/f", "x").code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace continuum::core
