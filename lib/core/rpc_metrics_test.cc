#include "lib/core/rpc_metrics.h"

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

}  // namespace
}  // namespace continuum::core
