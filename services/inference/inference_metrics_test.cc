#include "services/inference/inference_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/util/metric_values.h"

namespace continuum::inference {
namespace {

using ::continuum::testing::MetricSum;

// How many series `name` exposes.
size_t Series(prometheus::Registry& registry, const std::string& name) {
  for (const prometheus::MetricFamily& family : registry.Collect()) {
    if (family.name == name) return family.metric.size();
  }
  return 0;
}

TEST(InferenceMetricsTest, RequestsAndRowsByModelRoleAndCode) {
  prometheus::Registry registry;
  InferenceMetrics metrics(registry);
  metrics.OnRequest("fraud", v1::SERVING_ROLE_STABLE, absl::StatusCode::kOk, 3);
  metrics.OnRequest("fraud", v1::SERVING_ROLE_STABLE, absl::StatusCode::kOk, 2);
  metrics.OnRequest("fraud", v1::SERVING_ROLE_CANARY, absl::StatusCode::kOk, 1);
  metrics.OnRequest("fraud", v1::SERVING_ROLE_STABLE,
                    absl::StatusCode::kInvalidArgument, 0);
  metrics.OnRequest("nope", v1::SERVING_ROLE_UNSPECIFIED,
                    absl::StatusCode::kNotFound, 0);
  const std::string requests = "continuum_inference_requests_total";
  EXPECT_EQ(MetricSum(registry, requests,
                  {{"model", "fraud"}, {"role", "stable"}, {"code", "OK"}}),
            2);
  EXPECT_EQ(MetricSum(registry, requests,
                  {{"model", "fraud"}, {"role", "canary"}, {"code", "OK"}}),
            1);
  EXPECT_EQ(MetricSum(registry, requests,
                  {{"model", "fraud"},
                   {"role", "stable"},
                   {"code", "INVALID_ARGUMENT"}}),
            1);
  EXPECT_EQ(MetricSum(registry, requests,
                  {{"model", "nope"},
                   {"role", "unspecified"},
                   {"code", "NOT_FOUND"}}),
            1);
  EXPECT_EQ(Series(registry, requests), 4u);
  const std::string rows = "continuum_inference_rows_total";
  EXPECT_EQ(MetricSum(registry, rows, {{"model", "fraud"}, {"role", "stable"}}),
            5);
  EXPECT_EQ(MetricSum(registry, rows, {{"model", "fraud"}, {"role", "canary"}}),
            1);
  // Failed requests count no rows.
  EXPECT_EQ(Series(registry, rows), 2u);
}

TEST(InferenceMetricsTest, BatchesAndQueueTimeByModel) {
  prometheus::Registry registry;
  InferenceMetrics metrics(registry);
  Servable a, b;
  a.model = "a";
  b.model = "b";
  metrics.OnQueued(a, absl::Microseconds(10));
  metrics.OnQueued(a, absl::Microseconds(20));
  metrics.OnBatch(a, 2, 7, absl::Microseconds(30));
  metrics.OnBatch(b, 1, 1, absl::Microseconds(30));
  EXPECT_EQ(MetricSum(registry, "continuum_inference_queue_seconds",
                  {{"model", "a"}}),
            2);
  EXPECT_EQ(Series(registry, "continuum_inference_queue_seconds"), 1u);
  EXPECT_EQ(MetricSum(registry, "continuum_inference_compute_seconds",
                  {{"model", "a"}}),
            1);
  EXPECT_EQ(MetricSum(registry, "continuum_inference_batch_rows",
                  {{"model", "b"}}),
            1);
  EXPECT_EQ(Series(registry, "continuum_inference_batch_rows"), 2u);
}

TEST(InferenceMetricsTest, ConcurrentFirstUsesCountEveryRequest) {
  prometheus::Registry registry;
  InferenceMetrics metrics(registry);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&metrics, t] {
      for (int i = 0; i < 1000; ++i) {
        metrics.OnRequest(t % 2 == 0 ? "even" : "odd",
                          v1::SERVING_ROLE_STABLE, absl::StatusCode::kOk, 1);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::string requests = "continuum_inference_requests_total";
  EXPECT_EQ(MetricSum(registry, requests, {{"model", "even"}}), 2000);
  EXPECT_EQ(MetricSum(registry, requests, {{"model", "odd"}}), 2000);
  EXPECT_EQ(Series(registry, requests), 2u);
  EXPECT_EQ(MetricSum(registry, "continuum_inference_rows_total", {}), 4000);
}

}  // namespace
}  // namespace continuum::inference
