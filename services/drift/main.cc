// continuum-drift: Watches inputs, predictions and outcomes; raises drift
// alerts (continuum.v1.DriftService).
//
// Wires the service together and runs it until SIGTERM/SIGINT. Configured
// monitors, alerts and the actions' cool-down are kept in
// `--data_dir/drift.db` (SQLite) and survive a restart; detector state and
// windows live in memory and restart empty. Actions go to the registry and
// the trainer when their addresses are configured; versions' training
// references are downloaded from the registry.
#include <prometheus/registry.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "continuum/config/v1/drift_config.pb.h"
#include "lib/core/service_main.h"
#include "lib/core/watch_reactor.h"
#include "services/drift/drift_metrics.h"
#include "services/drift/drift_monitor.h"
#include "services/drift/drift_service.h"
#include "services/drift/grpc_action_target.h"
#include "services/drift/registry_reference_source.h"
#include "services/drift/sqlite_drift_store.h"

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
  if (config.max_alerts() < 0 || config.max_model_labels() < 0 ||
      config.max_feature_labels() < 0) {
    return continuum::core::ReportStartupError(absl::InvalidArgumentError(
        "max_alerts, max_model_labels and max_feature_labels must not be "
        "negative"));
  }

  auto metrics_registry = std::make_shared<prometheus::Registry>();
  continuum::drift_service::DriftMetrics metrics(
      *metrics_registry,
      config.max_model_labels() > 0 ? config.max_model_labels() : 100,
      config.max_feature_labels() > 0 ? config.max_feature_labels() : 32);
  continuum::drift_service::DriftMonitorOptions monitor_options;
  monitor_options.max_alerts =
      config.max_alerts() > 0 ? config.max_alerts() : 10000;
  monitor_options.metrics = &metrics;
  // Rollbacks and rollout aborts go to the registry, retraining requests to
  // the trainer, when their addresses are configured.
  continuum::drift_service::GrpcActionTarget actions(config.registry_address(),
                                                     config.trainer_address());
  if (!config.registry_address().empty() || !config.trainer_address().empty()) {
    monitor_options.actions = &actions;
  }
  std::unique_ptr<continuum::drift_service::RegistryReferenceSource>
      references;
  if (!config.registry_address().empty()) {
    references =
        std::make_unique<continuum::drift_service::RegistryReferenceSource>(
            config.registry_address());
    monitor_options.references = references.get();
  }
  absl::StatusOr<std::unique_ptr<continuum::drift_service::SqliteDriftStore>>
      store = continuum::drift_service::SqliteDriftStore::Open(
          config.server().data_dir() + "/drift.db", monitor_options.max_alerts);
  if (!store.ok()) return continuum::core::ReportStartupError(store.status());
  monitor_options.store = store->get();
  continuum::drift_service::DriftMonitor monitor(monitor_options);
  if (absl::Status s = monitor.Restore(); !s.ok()) {
    return continuum::core::ReportStartupError(s);
  }
  // WatchAlerts streams: a drain ends them at its start.
  continuum::core::OpenStreams streams;
  continuum::drift_service::DriftServiceImpl service(&monitor, &streams);

  continuum::core::ServiceServer::Options options;
  options.service = "drift";
  options.config = config.server();
  options.services = {&service};
  options.metrics = metrics_registry;
  options.open_streams = &streams;
  continuum::core::ServeHooks hooks;
  // A reference download in flight must not hold the drain up.
  hooks.on_draining = [&references] {
    if (references != nullptr) references->Shutdown();
  };
  return continuum::core::ServeUntilSignal(std::move(options), hooks);
}
