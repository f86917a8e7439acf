// continuum-registry: Versioned model artifacts, validation gates, rollouts,
// rollback and the audit log.
//
// Wires the service together and runs it until SIGTERM/SIGINT. The gRPC
// handlers of continuum.v1.RegistryService arrive with the registry issue;
// until then the binary serves health, reflection and /metrics.
#include "absl/status/status.h"
#include "continuum/config/v1/registry_config.pb.h"
#include "lib/core/service_main.h"

int main(int argc, char** argv) {
  continuum::config::v1::RegistryConfig config;
  if (absl::Status s = continuum::core::InitService(
          argc, argv, "registry",
          "Versioned model artifacts, validation gates, rollouts, rollback and "
          "the audit log.",
          &config, config.mutable_server());
      !s.ok()) {
    return continuum::core::ReportStartupError(s);
  }

  continuum::core::ServiceServer::Options options;
  options.service = "registry";
  options.config = config.server();
  return continuum::core::ServeUntilSignal(std::move(options));
}
