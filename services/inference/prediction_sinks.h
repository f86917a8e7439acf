// The prediction log's gRPC sinks (prediction_sink.h): the collector and the
// drift service, over their public API.
//
// - CollectorSink: one CollectorService.IngestBatch per model (data set =
//   the model id); each record carries the row, the request's attributes
//   and a LoggedPrediction (version, revision, role, outputs, class, score,
//   anomaly flag, request id).
// - DriftSink: one short DriftService.Observe stream per (model, version,
//   row length) batch, opened and half-closed within the send. Short
//   streams instead of one long-lived stream: a batch the service rejects
//   ends only its own call, so every row is counted exactly as sent or
//   dropped, and nothing has to notice and reopen a broken stream.
// Requests are cut below gRPC's 4 MiB receive limit (ForEachChunk). Each
// call carries the deadline it is given and names the caller "inference"
// (core::PrepareCall); its status is reported as is (`unavailable` for a
// service that is down, `not_found` for a model without a data set,
// `invalid_argument` for rows that do not fit the data set's schema,
// `deadline_exceeded`, ...).
//
// Thread safety: Send is thread-safe (gRPC stubs are).
#ifndef CONTINUUM_SERVICES_INFERENCE_PREDICTION_SINKS_H_
#define CONTINUUM_SERVICES_INFERENCE_PREDICTION_SINKS_H_

#include <grpcpp/channel.h>

#include <memory>
#include <vector>

#include "continuum/config/v1/inference_config.pb.h"
#include "continuum/v1/collector.grpc.pb.h"
#include "continuum/v1/drift.grpc.pb.h"
#include "services/inference/prediction_sink.h"

namespace continuum::inference {

class CollectorSink final : public PredictionSink {
 public:
  explicit CollectorSink(
      const std::shared_ptr<grpc::ChannelInterface>& channel);

  // "collector".
  absl::string_view name() const override;
  void Send(absl::Span<const LoggedRowPtr> rows, absl::Time deadline,
            Report report) override;

 private:
  const std::unique_ptr<v1::CollectorService::Stub> stub_;
};

class DriftSink final : public PredictionSink {
 public:
  explicit DriftSink(const std::shared_ptr<grpc::ChannelInterface>& channel);

  // "drift".
  absl::string_view name() const override;
  void Send(absl::Span<const LoggedRowPtr> rows, absl::Time deadline,
            Report report) override;

 private:
  const std::unique_ptr<v1::DriftService::Stub> stub_;
};

// The sinks `config` turns on, in this order: the collector's when
// collector_address is set, the drift service's when drift_address is set.
// Their channels reconnect with a backoff capped at 5 s, so rows are sent
// again as soon as a service is back after an outage. Call
// ValidatePredictionLogConfig first.
std::vector<std::unique_ptr<PredictionSink>> NewPredictionSinks(
    const config::v1::PredictionLogConfig& config);

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_PREDICTION_SINKS_H_
