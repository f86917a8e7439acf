// continuum-collector: Durable, windowed store of production records, late
// outcomes and the replay buffer.
//
// Wires the service together and runs it until SIGTERM/SIGINT. The gRPC
// handlers of continuum.v1.CollectorService arrive with the collector issue;
// until then the binary serves health, reflection and /metrics.
#include "absl/status/status.h"
#include "continuum/config/v1/collector_config.pb.h"
#include "lib/core/service_main.h"

int main(int argc, char** argv) {
  continuum::config::v1::CollectorConfig config;
  if (absl::Status s = continuum::core::InitService(
          argc, argv, "collector",
          "Durable, windowed store of production records, late outcomes and "
          "the replay buffer.",
          &config, config.mutable_server());
      !s.ok()) {
    return continuum::core::ReportStartupError(s);
  }

  continuum::core::ServiceServer::Options options;
  options.service = "collector";
  options.config = config.server();
  return continuum::core::ServeUntilSignal(std::move(options));
}
