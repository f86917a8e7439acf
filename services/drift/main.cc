// continuum-drift: Watches inputs, predictions and outcomes; raises drift
// alerts and acts on them.
//
// Wires the service together and runs it until SIGTERM/SIGINT. The gRPC
// handlers of continuum.v1.DriftService arrive with the drift issue; until
// then the binary serves health, reflection and /metrics.
#include "absl/status/status.h"
#include "continuum/config/v1/drift_config.pb.h"
#include "lib/core/service_main.h"

int main(int argc, char** argv) {
  continuum::config::v1::DriftConfig config;
  if (absl::Status s = continuum::core::InitService(
          argc, argv, "drift",
          "Watches inputs, predictions and outcomes; raises drift alerts and "
          "acts on them.",
          &config, config.mutable_server());
      !s.ok()) {
    return continuum::core::ReportStartupError(s);
  }

  continuum::core::ServiceServer::Options options;
  options.service = "drift";
  options.config = config.server();
  return continuum::core::ServeUntilSignal(std::move(options));
}
