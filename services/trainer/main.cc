// continuum-trainer: Fine-tunes deployed models on new and replayed data and
// validates candidates.
//
// Wires the service together and runs it until SIGTERM/SIGINT. The gRPC
// handlers of continuum.v1.TrainerService arrive with the trainer issue; until
// then the binary serves health, reflection and /metrics.
#include "absl/status/status.h"
#include "continuum/config/v1/trainer_config.pb.h"
#include "lib/core/service_main.h"
#include "lib/model/torch_runtime.h"

int main(int argc, char** argv) {
  continuum::config::v1::TrainerConfig config;
  if (absl::Status s = continuum::core::InitService(
          argc, argv, "trainer",
          "Fine-tunes deployed models on new and replayed data and validates "
          "candidates.",
          &config, config.mutable_server());
      !s.ok()) {
    return continuum::core::ReportStartupError(s);
  }

  if (absl::Status s = continuum::model::InitTorchRuntime(config.torch());
      !s.ok()) {
    return continuum::core::ReportStartupError(s);
  }

  continuum::core::ServiceServer::Options options;
  options.service = "trainer";
  options.config = config.server();
  return continuum::core::ServeUntilSignal(std::move(options));
}
