// Prediction logging for learning: the inference pod forwards a sample of its
// predictions to the collector (inputs and outputs, stored as training data
// in the data set named like the model) and to the drift service
// (observations: inputs, prediction, confidence, version).
//
// Request path: PredictionLogger::Log runs after a successful prediction. It
// samples rows (RowSampler), copies the kept ones into a bounded queue per
// sink and returns; it never touches the network and allocates nothing when
// no row is kept. A full queue drops the row and counts it.
//
// Background: each sink (collector, drift) has its own queue and thread, so a
// sink that is down or slow never delays the other. A thread sends when
// max_batch_rows rows are pending or flush_interval has passed since its last
// send:
// - collector: one IngestBatch per model (data set = the model id);
// - drift: one Observe stream per (model, version) batch, opened and
//   half-closed within the flush. Short streams instead of one long-lived
//   stream: a batch the service rejects ends only its own call, so every
//   row is counted exactly as sent or dropped, and nothing has to notice and
//   reopen a broken stream.
// Every RPC has a deadline (rpc_timeout). A failed batch is dropped, never
// retried, and counted with reason = the gRPC code name in lower case
// (`unavailable` for a service that is down, `not_found` for a model without
// a data set, `invalid_argument` for rows that do not fit the data set's
// schema, `deadline_exceeded`, ...). Memory is bounded by max_pending_rows
// per sink whatever the services do.
//
// Metrics (sink = collector | drift):
//   continuum_inference_log_sent_rows_total{sink}             counter
//   continuum_inference_log_dropped_rows_total{sink, reason}  counter
//     reason: queue_full, stopped (logged after Stop), shutdown (still
//     pending when Stop's deadline passed), or a gRPC code name
//   continuum_inference_log_pending_rows{sink}                gauge
//     rows queued or being sent.
// Every row a sink accepts from the sampler ends up counted exactly once, as
// sent or dropped.
#ifndef CONTINUUM_SERVICES_INFERENCE_PREDICTION_LOGGER_H_
#define CONTINUUM_SERVICES_INFERENCE_PREDICTION_LOGGER_H_

#include <grpcpp/channel.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/config/v1/inference_config.pb.h"
#include "continuum/v1/inference.pb.h"
#include "lib/core/clock.h"

namespace continuum::inference {

// Checks a PredictionLogConfig: addresses HOST:PORT (or empty), sample_rate
// in [0, 1], confidence_below finite and >= 0, counts and flush_interval not
// negative. INVALID_ARGUMENT naming the field.
absl::Status ValidatePredictionLogConfig(
    const config::v1::PredictionLogConfig& config);

// Decides, row by row, which predictions are logged: rows of a force_log
// request always; otherwise with probability sample_rate, then, when
// confidence_below > 0, only if the row has a score below it (rows without
// a score, e.g. the forecaster's, are then not logged). Draws come from a
// counter-based generator (SplitMix64) seeded at construction: the same
// seed gives the same decisions for the same sequence of calls. Thread-safe
// and lock-free.
class RowSampler {
 public:
  // `sample_rate` is clamped to [0, 1]. `seed` 0 = a random seed.
  RowSampler(double sample_rate, double confidence_below, uint64_t seed);

  RowSampler(const RowSampler&) = delete;
  RowSampler& operator=(const RowSampler&) = delete;

  // Whether to log a row with this score (nullopt: the row has none).
  // Consumes one draw only when 0 < sample_rate < 1 and not forced.
  bool Keep(bool force_log, std::optional<float> score);

  double sample_rate() const { return sample_rate_; }
  double confidence_below() const { return confidence_below_; }

 private:
  const double sample_rate_;
  const double confidence_below_;
  const uint64_t seed_;
  std::atomic<uint64_t> draws_{0};
};

struct PredictionLoggerOptions {
  // This pod's id; generated record ids are "<pod_id>-<n>".
  std::string pod_id = "";
  // Event time of logged rows. Null = the real clock. Not owned. Flush
  // intervals and deadlines always use real time.
  core::Clock* clock = nullptr;
  // Seed of the sampler; 0 = random.
  uint64_t seed = 0;
  // Deadline of each IngestBatch and Observe call.
  absl::Duration rpc_timeout = absl::Seconds(5);
  // How long Stop may spend sending what is pending (on top of an RPC
  // already in flight, itself bounded by rpc_timeout).
  absl::Duration stop_timeout = absl::Seconds(5);
  // Channels to use instead of ones made from the config's addresses (for
  // tests); a non-null channel turns its sink on.
  std::shared_ptr<grpc::ChannelInterface> collector_channel = nullptr;
  std::shared_ptr<grpc::ChannelInterface> drift_channel = nullptr;
};

namespace logging_internal {
class LogSink;
}  // namespace logging_internal

class PredictionLogger {
 public:
  // Sinks whose address is empty (and whose channel option is null) are
  // off. Values out of range are clamped; call ValidatePredictionLogConfig
  // first to refuse them instead. `metrics` must outlive the logger. Starts
  // one thread per sink that is on.
  PredictionLogger(const config::v1::PredictionLogConfig& config,
                   prometheus::Registry& metrics,
                   PredictionLoggerOptions options);
  // Stop().
  ~PredictionLogger();

  PredictionLogger(const PredictionLogger&) = delete;
  PredictionLogger& operator=(const PredictionLogger&) = delete;

  // Samples the rows of a successful prediction and queues the kept ones
  // for the sinks. Never blocks on the network; thread-safe. Rows are
  // `request.inputs` split along the first dimension (a [B, T, F] input
  // gives rows of T * F floats); outputs, predicted classes, scores and
  // anomaly flags are taken per row when the response has one per row.
  // Record ids: request.record_ids[r] when given and not empty, else
  // "<pod_id>-<n>" with n counting up from the logger's start time in
  // microseconds (unique across restarts of a pod).
  void Log(const v1::PredictRequest& request,
           const v1::PredictResponse& response);

  // Sends everything queued now and returns once every row logged before
  // the call is sent or dropped. For tests and orderly handovers; the
  // background threads send on their own.
  void Flush();

  // Stops taking rows (later ones are counted as `stopped`), sends what is
  // pending within stop_timeout (the rest is dropped as `shutdown`) and
  // joins the threads. Idempotent; concurrent callers wait for the first.
  void Stop();

  bool collector_enabled() const { return collector_ != nullptr; }
  bool drift_enabled() const { return drift_ != nullptr; }
  const RowSampler& sampler() const { return sampler_; }

 private:
  const PredictionLoggerOptions options_;
  RowSampler sampler_;
  // Next generated record id number.
  std::atomic<int64_t> next_id_;
  // Null when off.
  std::unique_ptr<logging_internal::LogSink> collector_;
  std::unique_ptr<logging_internal::LogSink> drift_;
  // The sinks that are on (collector_ and/or drift_), for Log's loops.
  std::vector<logging_internal::LogSink*> sinks_;

  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_PREDICTION_LOGGER_H_
