// continuum-inference: Serves predictions and hot-swaps to validated model
// versions.
//
// Wires the service together and runs it until SIGTERM/SIGINT. The gRPC
// handlers of continuum.v1.InferenceService arrive with the inference issue;
// until then the binary serves health, reflection and /metrics.
#include "absl/status/status.h"
#include "continuum/config/v1/inference_config.pb.h"
#include "lib/core/service_main.h"
#include "lib/model/torch_runtime.h"

int main(int argc, char** argv) {
  continuum::config::v1::InferenceConfig config;
  if (absl::Status s = continuum::core::InitService(
          argc, argv, "inference",
          "Serves predictions and hot-swaps to validated model versions.",
          &config, config.mutable_server());
      !s.ok()) {
    return continuum::core::ReportStartupError(s);
  }

  if (absl::Status s = continuum::model::InitTorchRuntime(config.torch());
      !s.ok()) {
    return continuum::core::ReportStartupError(s);
  }

  continuum::core::ServiceServer::Options options;
  options.service = "inference";
  options.config = config.server();
  return continuum::core::ServeUntilSignal(std::move(options));
}
