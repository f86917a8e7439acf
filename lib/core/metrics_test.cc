#include "lib/core/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "continuum/testing/v1/echo.pb.h"
#include "lib/core/rpc_metrics.h"
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

TEST(MetricNameTest, PrefixAndValidation) {
  EXPECT_EQ(MetricName("registry", "watchers"), "continuum_registry_watchers");
  EXPECT_TRUE(ValidateServiceName("collector").ok());
  EXPECT_TRUE(ValidateServiceName("drift2").ok());
  EXPECT_FALSE(ValidateServiceName("").ok());
  EXPECT_FALSE(ValidateServiceName("Registry").ok());
  EXPECT_FALSE(ValidateServiceName("my-service").ok());
  EXPECT_FALSE(ValidateServiceName("2fast").ok());
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
