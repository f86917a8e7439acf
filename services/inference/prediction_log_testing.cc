#include "services/inference/prediction_log_testing.h"

#include <gtest/gtest.h>

#include "lib/core/proto_time.h"
#include "tests/util/metric_values.h"

namespace continuum::inference::log_testing {

using ::continuum::testing::MetricSum;

double Sent(prometheus::Registry& registry, const std::string& sink) {
  return MetricSum(registry, "continuum_inference_log_sent_rows_total",
                   {{"sink", sink}});
}

double Dropped(prometheus::Registry& registry, const std::string& sink,
               const std::string& reason) {
  std::map<std::string, std::string> labels = {{"sink", sink}};
  if (!reason.empty()) labels["reason"] = reason;
  return MetricSum(registry, "continuum_inference_log_dropped_rows_total",
                   labels);
}

double Pending(prometheus::Registry& registry, const std::string& sink) {
  return MetricSum(registry, "continuum_inference_log_pending_rows",
                   {{"sink", sink}});
}

double PendingBytes(prometheus::Registry& registry, const std::string& sink) {
  return MetricSum(registry, "continuum_inference_log_pending_bytes",
                   {{"sink", sink}});
}

v1::PredictRequest Request(const std::string& model, int rows, int dim,
                           const std::vector<std::string>& ids,
                           bool force_log) {
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

v1::PredictResponse Response(const std::string& model, int64_t version,
                             const std::vector<float>& scores,
                             v1::ServingRole role, int64_t revision) {
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
  *config.mutable_flush_interval() = core::ToProtoDuration(flush_interval);
  return config;
}

void LogFraudRequests(PredictionLogger& logger) {
  v1::PredictRequest first = Request("fraud", 3, 3, {"a", "b", "c"});
  (*first.mutable_attributes())["site"] = "eu-1";
  first.set_request_id("req-1");
  v1::PredictResponse first_response =
      Response("fraud", 7, {0.9f, 0.8f, 0.7f}, v1::SERVING_ROLE_CANARY, 3);
  first_response.set_request_id("req-1");
  logger.Log(first, first_response);
  logger.Log(Request("fraud", 2, 3), Response("fraud", 7, {0.6f, 0.55f}));
}

void ExpectAllSent(prometheus::Registry& metrics, const std::string& sink,
                   double rows) {
  SCOPED_TRACE(sink);
  EXPECT_EQ(Sent(metrics, sink), rows);
  EXPECT_EQ(Dropped(metrics, sink), 0);
  EXPECT_EQ(Pending(metrics, sink), 0);
}

void ExpectAllDroppedWhileDown(prometheus::Registry& metrics,
                               const std::string& sink, double rows) {
  SCOPED_TRACE(sink);
  // Every row is accounted for: nothing sent, all dropped, most because
  // the queue was full while the sends failed.
  EXPECT_EQ(Sent(metrics, sink), 0);
  EXPECT_EQ(Dropped(metrics, sink), rows);
  EXPECT_EQ(Dropped(metrics, sink, "queue_full") +
                Dropped(metrics, sink, "unavailable"),
            rows);
  EXPECT_GE(Dropped(metrics, sink, "unavailable"), 1);
  EXPECT_GT(Dropped(metrics, sink, "queue_full"), 0);
  EXPECT_EQ(Pending(metrics, sink), 0);
}

}  // namespace continuum::inference::log_testing
