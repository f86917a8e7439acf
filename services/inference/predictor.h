// One prediction, from request to response, without gRPC: validates the
// request against the version it is routed to, queues it on the model's
// batcher, fills the response when the batch has run, copies it to the
// shadow version when the deployment says so, and hands the pair to the
// prediction log. The gRPC handlers (inference_service.h) are thin over it.
#ifndef CONTINUUM_SERVICES_INFERENCE_PREDICTOR_H_
#define CONTINUUM_SERVICES_INFERENCE_PREDICTOR_H_

#include <functional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "continuum/v1/inference.pb.h"
#include "services/inference/inference_metrics.h"
#include "services/inference/model_manager.h"

namespace continuum::inference {

struct PredictorOptions {
  // Not owned; must outlive the predictor.
  ModelManager* manager = nullptr;
  // Not owned; may be null.
  InferenceMetrics* metrics = nullptr;
  std::string pod_id;
  // Most rows per request.
  int max_request_rows = 4096;
  // Called after every successful prediction (shadow ones too, with role
  // SHADOW), on a worker thread; must not block (the prediction log queues
  // and returns). `caller` is the request's caller (Predict's). Returns
  // whether rows were queued: the answer's `logged`.
  std::function<bool(const v1::PredictRequest&, const v1::PredictResponse&,
                     absl::string_view caller)>
      log;
};

// The checks of a request that need no model: inference.proto's field
// rules (model id, pin >= 0, inputs present, record ids up to 128 bytes,
// request_id, the log policy), record ids not empty, force_log not with
// LOG_POLICY_NEVER, and a Record's attribute rules (the collector's), so
// that a request whose logged rows the collector would refuse is refused
// here, never in a batch with other requests' rows. INVALID_ARGUMENT
// naming the field.
absl::Status CheckRequest(const v1::PredictRequest& request);

class Predictor {
 public:
  explicit Predictor(PredictorOptions options);

  // Answers `request` into `*response` and then calls `done` exactly once
  // (on a worker thread, or on this thread for errors found before
  // queueing). `request` and `response` must stay valid until then.
  // `caller` (x-continuum-actor) is passed to the log callback.
  void Predict(const v1::PredictRequest* request,
               v1::PredictResponse* response, absl::Time deadline,
               absl::AnyInvocable<void(const absl::Status&)> done,
               std::string caller = "");

  ModelManager& manager() { return *options_.manager; }
  const std::string& pod_id() const { return options_.pod_id; }

 private:
  // Checks the request's shape, values and limits against `servable`.
  absl::Status Validate(const v1::PredictRequest& request,
                        const Servable& servable) const;
  void RunShadow(const Route& route, const v1::PredictRequest& request,
                 const v1::PredictResponse& answer);

  const PredictorOptions options_;
};

// Fills the per-family fields of `response` (outputs tensor, predicted
// classes, scores, anomalies) from the model's `outputs` for `rows` rows.
void FillOutputs(const Servable& servable, int rows,
                 absl::Span<const float> outputs,
                 v1::PredictResponse* response);

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_PREDICTOR_H_
