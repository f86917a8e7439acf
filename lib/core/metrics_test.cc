#include "lib/core/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "continuum/testing/v1/echo.pb.h"
#include "tests/util/subprocess.h"

namespace continuum::core {
namespace {

using ::continuum::testing::FindSample;
using ::continuum::testing::HttpGet;

// A method of a service linked into this test (its descriptor is
// registered by touching it below).
const char* const kEcho = "/continuum.testing.v1.EchoService/Echo";
const bool kEchoLinked =
    continuum::testing::v1::EchoRequest::descriptor() != nullptr;

std::string Serialize(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

TEST(MetricNameTest, PrefixAndValidation) {
  EXPECT_EQ(MetricName("registry", "watchers"), "continuum_registry_watchers");
  EXPECT_TRUE(ValidateServiceName("collector").ok());
  EXPECT_TRUE(ValidateServiceName("drift2").ok());
  EXPECT_FALSE(ValidateServiceName("").ok());
  EXPECT_FALSE(ValidateServiceName("Registry").ok());
  EXPECT_FALSE(ValidateServiceName("my-service").ok());
  EXPECT_FALSE(ValidateServiceName("2fast").ok());
}

TEST(MetricNameTest, StatusCodeNames) {
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::NOT_FOUND), "NOT_FOUND");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::UNAUTHENTICATED),
            "UNAUTHENTICATED");
  EXPECT_EQ(StatusCodeName(static_cast<grpc::StatusCode>(42)), "UNKNOWN_CODE");
}

TEST(RpcMetricsTest, RegistersConventionalNames) {
  prometheus::Registry registry;
  RpcMetrics metrics(registry, "registry");
  metrics.CallStarted("/continuum.testing.v1.EchoService/Echo");
  metrics.CallFinished("/continuum.testing.v1.EchoService/Echo",
                       grpc::StatusCode::OK, 0.001);
  std::string text = Serialize(registry);
  EXPECT_TRUE(absl::StrContains(
      text, "# TYPE continuum_registry_rpc_requests_total counter"));
  EXPECT_TRUE(absl::StrContains(
      text, "# TYPE continuum_registry_rpc_duration_seconds histogram"));
  EXPECT_TRUE(
      absl::StrContains(text, "# TYPE continuum_registry_rpc_in_flight gauge"));
}

TEST(RpcMetricsTest, CountsCallsByMethodAndCode) {
  prometheus::Registry registry;
  RpcMetrics metrics(registry, "registry");
  const std::string method = "/continuum.testing.v1.EchoService/Echo";
  metrics.CallStarted(method);
  metrics.CallStarted(method);
  std::string text = Serialize(registry);
  EXPECT_EQ(FindSample(text, "continuum_registry_rpc_in_flight",
                       {"method=\"" + method + "\""}),
            2.0);

  metrics.CallFinished(method, grpc::StatusCode::OK, 0.002);
  metrics.CallFinished(method, grpc::StatusCode::NOT_FOUND, 0.2);
  metrics.CallStarted(method);
  metrics.CallFinished(method, grpc::StatusCode::OK, 0.0001);
  text = Serialize(registry);
  EXPECT_EQ(FindSample(text, "continuum_registry_rpc_requests_total",
                       {"method=\"" + method + "\"", "code=\"OK\""}),
            2.0);
  EXPECT_EQ(FindSample(text, "continuum_registry_rpc_requests_total",
                       {"method=\"" + method + "\"", "code=\"NOT_FOUND\""}),
            1.0);
  EXPECT_EQ(FindSample(text, "continuum_registry_rpc_in_flight",
                       {"method=\"" + method + "\""}),
            0.0);
  EXPECT_EQ(FindSample(text, "continuum_registry_rpc_duration_seconds_count",
                       {"method=\"" + method + "\""}),
            3.0);
  // 0.0001 and 0.002 are at most 2.5 ms; 0.2 is not.
  EXPECT_EQ(FindSample(text, "continuum_registry_rpc_duration_seconds_bucket",
                       {"method=\"" + method + "\"", "le=\"0.0025\""}),
            2.0);
  // A code never seen has no series yet.
  EXPECT_FALSE(FindSample(text, "continuum_registry_rpc_requests_total",
                          {"code=\"INTERNAL\""})
                   .has_value());
}

TEST(RpcMetricsTest, UnknownMethodsShareOneSeries) {
  ASSERT_TRUE(kEchoLinked);
  prometheus::Registry registry;
  RpcMetrics metrics(registry, "registry");
  for (const char* path : {"/no.Such/Method", "/x/y", "garbage", "/a.B/C"}) {
    metrics.CallStarted(path);
    metrics.CallFinished(path, grpc::StatusCode::UNIMPLEMENTED, 0.001);
  }
  std::string text = Serialize(registry);
  EXPECT_EQ(FindSample(text, "continuum_registry_rpc_requests_total",
                       {"method=\"unknown\"", "code=\"UNIMPLEMENTED\""}),
            4.0)
      << text;
  EXPECT_FALSE(absl::StrContains(text, "no.Such"));
  EXPECT_FALSE(absl::StrContains(text, "garbage"));
}

TEST(RpcMetricsTest, BucketsAreIncreasing) {
  const std::vector<double>& buckets = RpcLatencyBuckets();
  ASSERT_GT(buckets.size(), 10u);
  for (size_t i = 1; i < buckets.size(); ++i) {
    EXPECT_LT(buckets[i - 1], buckets[i]);
  }
}

TEST(BuildInfoTest, HasVersionLabels) {
  prometheus::Registry registry;
  RegisterBuildInfo(registry, "drift");
  std::string text = Serialize(registry);
  EXPECT_EQ(FindSample(text, "continuum_drift_build_info",
                       {"version=\"", "grpc_version=\""}),
            1.0)
      << text;
}

TEST(ProcessCollectorTest, ReportsLiveValues) {
  prometheus::Registry registry;
  ProcessCollector collector;
  std::string text =
      prometheus::TextSerializer().Serialize(collector.Collect());
  auto rss = FindSample(text, "process_resident_memory_bytes");
  ASSERT_TRUE(rss.has_value()) << text;
  EXPECT_GT(*rss, 1e5);
  auto fds = FindSample(text, "process_open_fds");
  ASSERT_TRUE(fds.has_value());
  EXPECT_GE(*fds, 3);
  EXPECT_TRUE(FindSample(text, "process_cpu_seconds_total").has_value());
  EXPECT_GT(FindSample(text, "process_start_time_seconds").value_or(0), 1.6e9);
}

TEST(MetricsExposerTest, ServesMetricsOnAnEphemeralPort) {
  auto registry = std::make_shared<prometheus::Registry>();
  RpcMetrics metrics(*registry, "collector");
  metrics.CallStarted(kEcho);
  metrics.CallFinished(kEcho, grpc::StatusCode::OK, 0.001);
  auto exposer = MetricsExposer::Start("127.0.0.1:0", {registry});
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  ASSERT_GT((*exposer)->port(), 0);
  absl::StatusOr<std::string> body =
      HttpGet("127.0.0.1", (*exposer)->port(), "/metrics");
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(
      FindSample(*body, "continuum_collector_rpc_requests_total",
                 {"method=\"" + std::string(kEcho) + "\"", "code=\"OK\""}),
      1.0)
      << *body;
}

TEST(MetricsExposerTest, BusyPortIsUnavailable) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto first = MetricsExposer::Start("127.0.0.1:0", {registry});
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = MetricsExposer::Start(
      "127.0.0.1:" + std::to_string((*first)->port()), {registry});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace continuum::core
