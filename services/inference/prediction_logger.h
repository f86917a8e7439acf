// Prediction logging for learning: the inference pod forwards a sample of its
// predictions to its sinks (prediction_sink.h): the collector (inputs and
// outputs, stored as training data in the data set named like the model)
// and the drift service (observations: inputs, prediction, confidence,
// version); their gRPC implementations are in prediction_sinks.h. Plain
// C++: no gRPC here.
//
// Request path: PredictionLogger::Log runs after a successful prediction. It
// samples rows (RowSampler), copies the kept ones into a bounded queue per
// sink (SinkQueue) and returns; it never touches the network and allocates
// nothing when no row is kept. A full queue drops the row and counts it.
//
// Background: each sink has its own queue and thread, so a sink that is
// down or slow never delays the other. A thread sends when max_batch_rows
// rows are pending or flush_interval has passed since its last send, each
// call with a deadline (rpc_timeout). A failed batch is dropped, never
// retried, and counted with its reason. Memory is bounded by
// max_pending_rows per sink whatever the services do. The metrics are
// listed in sink_queue.h (continuum_inference_log_sent_rows_total,
// continuum_inference_log_dropped_rows_total,
// continuum_inference_log_pending_rows): every row a sink accepts from the
// sampler ends up counted exactly once, as sent or dropped.
#ifndef CONTINUUM_SERVICES_INFERENCE_PREDICTION_LOGGER_H_
#define CONTINUUM_SERVICES_INFERENCE_PREDICTION_LOGGER_H_

#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/config/v1/inference_config.pb.h"
#include "continuum/v1/inference.pb.h"
#include "lib/core/clock.h"
#include "services/inference/prediction_sink.h"
#include "services/inference/row_sampler.h"
#include "services/inference/sink_queue.h"

namespace continuum::inference {

// Checks a PredictionLogConfig: addresses HOST:PORT (or empty), sample_rate
// in [0, 1], confidence_below finite and >= 0, counts and flush_interval not
// negative. INVALID_ARGUMENT naming the field, e.g.
//   prediction_log.sample_rate must be in [0, 1], not 1.5
absl::Status ValidatePredictionLogConfig(
    const config::v1::PredictionLogConfig& config);

struct PredictionLoggerOptions {
  // This pod's id; generated record ids are "<pod_id>-<n>".
  std::string pod_id = "";
  // Event time of logged rows. Null = the real clock. Not owned. Flush
  // intervals and deadlines always use real time.
  core::Clock* clock = nullptr;
  // Seed of the sampler; 0 = random.
  uint64_t seed = 0;
  // Deadline of each call a sink makes (IngestBatch, Observe).
  absl::Duration rpc_timeout = absl::Seconds(5);
  // How long Stop may spend sending what is pending (on top of a call
  // already in flight, itself bounded by rpc_timeout).
  absl::Duration stop_timeout = absl::Seconds(5);
};

class PredictionLogger {
 public:
  // Logs to `sinks` (none: Log does nothing), configured by the sampling
  // and batching fields of `config` (its addresses are the sinks' business).
  // Values out of range are clamped; call ValidatePredictionLogConfig
  // first to refuse them instead. `metrics` must outlive the logger. Starts
  // one thread per sink.
  PredictionLogger(const config::v1::PredictionLogConfig& config,
                   std::vector<std::unique_ptr<PredictionSink>> sinks,
                   prometheus::Registry& metrics,
                   PredictionLoggerOptions options);
  // Stop().
  ~PredictionLogger();

  PredictionLogger(const PredictionLogger&) = delete;
  PredictionLogger& operator=(const PredictionLogger&) = delete;

  // Samples the rows of a successful prediction and queues the kept ones
  // for the sinks; returns whether any row was queued. The request's `log`
  // policy decides (LOG_POLICY_UNSPECIFIED: force_log's ALWAYS, else the
  // config's caller_policies[caller], else its default_policy, else
  // SAMPLED): NEVER queues nothing, ALWAYS every row, SAMPLED what the
  // sampler keeps. Never blocks on the
  // network; thread-safe. Rows are
  // `request.inputs` split along the first dimension (a [B, T, F] input
  // gives rows of T * F floats); outputs, predicted classes, scores and
  // anomaly flags are taken per row when the response has one per row.
  // Record ids: request.record_ids[r] when given and not empty, else
  // "<pod_id>-<n>" with n counting up from the logger's start time in
  // microseconds (unique across restarts of a pod).
  bool Log(const v1::PredictRequest& request,
           const v1::PredictResponse& response,
           absl::string_view caller = "");

  // Sends everything queued now and returns once every row logged before
  // the call is sent or dropped. For tests and orderly handovers; the
  // background threads send on their own.
  void Flush();

  // Stops taking rows (later ones are counted as `stopped`), sends what is
  // pending within stop_timeout (the rest is dropped as `shutdown`) and
  // joins the threads. Idempotent; concurrent callers wait for the first.
  void Stop();

  // Whether a sink of that name (e.g. "collector") is on.
  bool has_sink(absl::string_view name) const;
  const RowSampler& sampler() const { return sampler_; }

 private:
  // The rows of `kept` (row indices of `request`) as LoggedRows sharing
  // one LoggedRequest.
  std::vector<LoggedRowPtr> BuildRows(const v1::PredictRequest& request,
                                      const v1::PredictResponse& response,
                                      absl::Span<const int64_t> kept);

  const PredictionLoggerOptions options_;
  RowSampler sampler_;
  // The policy of requests that leave theirs unset (never UNSPECIFIED), by
  // caller, then for every other caller.
  const absl::flat_hash_map<std::string, v1::LogPolicy> caller_policies_;
  const v1::LogPolicy default_policy_;
  // Next generated record id number.
  std::atomic<int64_t> next_id_;
  SinkQueueMetrics metrics_;
  // One per sink, in the order given.
  std::vector<std::unique_ptr<SinkQueue>> queues_;

  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_PREDICTION_LOGGER_H_
