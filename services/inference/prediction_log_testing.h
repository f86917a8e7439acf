// Test helpers of the prediction log (prediction_logger_test.cc,
// prediction_sinks_test.cc): requests and answers to log, a config, and
// the log's metrics read back from a registry.
#ifndef CONTINUUM_SERVICES_INFERENCE_PREDICTION_LOG_TESTING_H_
#define CONTINUUM_SERVICES_INFERENCE_PREDICTION_LOG_TESTING_H_

#include <prometheus/registry.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "continuum/config/v1/inference_config.pb.h"
#include "continuum/v1/inference.pb.h"
#include "services/inference/prediction_logger.h"

namespace continuum::inference::log_testing {

// continuum_inference_log_sent_rows_total{sink}.
double Sent(prometheus::Registry& registry, const std::string& sink);
// continuum_inference_log_dropped_rows_total{sink[, reason]}.
double Dropped(prometheus::Registry& registry, const std::string& sink,
               const std::string& reason = "");
// continuum_inference_log_pending_rows{sink}.
double Pending(prometheus::Registry& registry, const std::string& sink);
// continuum_inference_log_pending_bytes of `sink`.
double PendingBytes(prometheus::Registry& registry, const std::string& sink);

// `rows` rows of `dim` features (row r, feature f = 10 r + f), with the
// given record ids (may be fewer than rows, or none).
v1::PredictRequest Request(const std::string& model, int rows, int dim,
                           const std::vector<std::string>& ids = {},
                           bool force_log = false);

// A binary classifier's answer: per row probabilities {1 - s, s}, class 1,
// score s.
v1::PredictResponse Response(const std::string& model, int64_t version,
                             const std::vector<float>& scores,
                             v1::ServingRole role = v1::SERVING_ROLE_STABLE,
                             int64_t revision = 1);

// A config with this flush interval and everything else default.
config::v1::PredictionLogConfig Config(absl::Duration flush_interval);

// Logs two requests of model "fraud" answered by version 7: rows "a", "b"
// and "c" of request "req-1" (attribute site = eu-1, role CANARY, revision
// 3, scores 0.9, 0.8, 0.7), then two rows with generated ids (role STABLE,
// scores 0.6, 0.55). Row r has features {10 r, 10 r + 1, 10 r + 2}.
void LogFraudRequests(PredictionLogger& logger);

// Expects (gtest) `rows` rows sent by `sink` and none dropped or pending.
void ExpectAllSent(prometheus::Registry& metrics, const std::string& sink,
                   double rows);

// Expects (gtest) `rows` rows offered to `sink` all dropped, most of them
// as queue_full and the others as unavailable, and none pending: what
// sinks that are down do to a steady stream of rows.
void ExpectAllDroppedWhileDown(prometheus::Registry& metrics,
                               const std::string& sink, double rows);

}  // namespace continuum::inference::log_testing

#endif  // CONTINUUM_SERVICES_INFERENCE_PREDICTION_LOG_TESTING_H_
