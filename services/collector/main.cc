// continuum-collector: the durable, windowed store of production records,
// late outcomes and the replay buffer (continuum.v1.CollectorService).
#include <prometheus/registry.h>

#include <memory>

#include "absl/status/status.h"
#include "continuum/config/v1/collector_config.pb.h"
#include "lib/core/proto_time.h"
#include "lib/core/service_main.h"
#include "lib/core/watch_reactor.h"
#include "services/collector/collector.h"
#include "services/collector/collector_metrics.h"
#include "services/collector/collector_service.h"

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
  if (config.max_batch_records() < 0 || config.max_segment_bytes() < 0 ||
      config.default_replay_size() < 0 ||
      config.replay_snapshot_every_batches() < 0) {
    return continuum::core::ReportStartupError(absl::InvalidArgumentError(
        "max_batch_records, max_segment_bytes, default_replay_size and "
        "replay_snapshot_every_batches must not be negative"));
  }

  auto metrics_registry = std::make_shared<prometheus::Registry>();
  continuum::collector::CollectorMetrics metrics(*metrics_registry);
  continuum::collector::CollectorOptions options;
  options.data_dir = config.server().data_dir();
  options.maintenance_interval = continuum::core::FromProtoOr(
      config.maintenance_interval(), absl::Seconds(60));
  options.store.metrics = &metrics;
  options.store.limits.max_batch_records =
      config.max_batch_records() > 0 ? config.max_batch_records() : 10000;
  options.store.limits.max_clock_skew =
      continuum::core::FromProtoOr(config.max_clock_skew(), absl::Minutes(5));
  if (config.max_segment_bytes() > 0) {
    options.store.max_segment_bytes = config.max_segment_bytes();
  }
  absl::StatusOr<std::shared_ptr<const continuum::store::KeyRing>> keys =
      continuum::core::LoadEncryptionKeys(config.server(), "collector");
  if (!keys.ok()) return continuum::core::ReportStartupError(keys.status());
  options.store.keys = *keys;
  if (config.default_replay_size() > 0) {
    options.store.default_replay_size = config.default_replay_size();
  }
  if (config.replay_snapshot_every_batches() > 0) {
    options.store.replay_snapshot_every_batches =
        config.replay_snapshot_every_batches();
  }
  absl::StatusOr<std::unique_ptr<continuum::collector::Collector>> collector =
      continuum::collector::Collector::Open(options);
  if (!collector.ok()) {
    return continuum::core::ReportStartupError(collector.status());
  }
  (*collector)->StartBackground();
  // Scans and replay samples in flight; a drain ends them at its start.
  continuum::core::OpenStreams streams;
  continuum::collector::CollectorServiceImpl service(collector->get(),
                                                     &streams);

  continuum::core::ServiceServer::Options server_options;
  server_options.service = "collector";
  server_options.config = config.server();
  server_options.services = {&service};
  server_options.metrics = metrics_registry;
  server_options.open_streams = &streams;
  return continuum::core::ServeUntilSignal(std::move(server_options));
}
