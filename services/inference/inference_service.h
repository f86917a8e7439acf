// gRPC handlers of continuum.v1.InferenceService (callback API): thin over
// Predictor and ModelManager. No thread blocks on a prediction: the handler
// queues it and the batcher's worker finishes the call.
//
// PredictStream reads and writes raw bytes (WithRawCallbackMethod_
// PredictStream): gRPC's typed reader ends a read alike on the client's
// half-close and on a message that does not parse, and the stream would
// end OK with the messages after the bad one never answered. Each message
// is parsed here (core::ParseStreamMessage); one that does not parse ends
// the call INVALID_ARGUMENT, naming it, once every earlier one is answered.
#ifndef CONTINUUM_SERVICES_INFERENCE_INFERENCE_SERVICE_H_
#define CONTINUUM_SERVICES_INFERENCE_INFERENCE_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <functional>

#include "continuum/v1/inference.grpc.pb.h"
#include "services/inference/predictor.h"

namespace continuum::inference {

// What GetModelStatus reports about the registry connection.
struct RegistryState {
  bool connected = false;
  bool from_cache = false;
};

class InferenceServiceImpl final
    : public v1::InferenceService::WithCallbackMethod_Predict<
          v1::InferenceService::WithRawCallbackMethod_PredictStream<
              v1::InferenceService::WithCallbackMethod_GetModelStatus<
                  v1::InferenceService::Service>>> {
 public:
  // `predictor` is not owned. `registry_state` may be empty (no registry).
  InferenceServiceImpl(Predictor* predictor,
                       std::function<RegistryState()> registry_state);

  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const v1::PredictRequest* request,
                                    v1::PredictResponse* response) override;

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* PredictStream(
      grpc::CallbackServerContext* context) override;

  grpc::ServerUnaryReactor* GetModelStatus(
      grpc::CallbackServerContext* context,
      const v1::GetModelStatusRequest* request,
      v1::GetModelStatusResponse* response) override;

 private:
  Predictor* const predictor_;
  const std::function<RegistryState()> registry_state_;
};

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_INFERENCE_SERVICE_H_
