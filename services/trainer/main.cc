// continuum-trainer: Fine-tunes deployed models on new and replayed data and
// validates candidates (continuum.v1.TrainerService).
//
// Wires the service together: the run store (SQLite under --data_dir), the
// registry and collector clients, the training executor, the scheduler
// (its workers and ticker start once the server listens and stop when the
// drain begins), and the gRPC handlers with their open WatchRun streams
// (ended at the start of a drain).
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "continuum/config/v1/trainer_config.pb.h"
#include "lib/core/build_info.h"
#include "lib/core/channel.h"
#include "lib/core/logging.h"
#include "lib/core/proto_time.h"
#include "lib/core/service_main.h"
#include "lib/core/watch_reactor.h"
#include "lib/model/torch_runtime.h"
#include "services/trainer/grpc_clients.h"
#include "services/trainer/scheduler.h"
#include "services/trainer/sqlite_run_store.h"
#include "services/trainer/trainer_metrics.h"
#include "services/trainer/trainer_service.h"
#include "services/trainer/training_executor.h"

using namespace continuum;  // NOLINT: this binary's wiring only.

namespace {

// The trainer's own settings, checked.
struct Settings {
  absl::Duration tick;
  absl::Duration rpc_timeout;
  int workers = 1;
  std::string db_path;
};

absl::StatusOr<Settings> CheckSettings(
    const config::v1::TrainerConfig& config) {
  if (config.workers() < 0) {
    return absl::InvalidArgumentError("workers must not be negative");
  }
  Settings s;
  s.tick = core::FromProtoOr(config.tick_interval(), absl::Seconds(1));
  s.rpc_timeout = core::FromProtoOr(config.rpc_timeout(), absl::Seconds(30));
  if (s.tick <= absl::ZeroDuration() || s.rpc_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "tick_interval and rpc_timeout must be positive");
  }
  s.workers = config.workers() > 0 ? config.workers() : 1;
  s.db_path = config.database_path().empty()
                  ? config.server().data_dir() + "/trainer.db"
                  : config.database_path();
  return s;
}

absl::StatusOr<std::unique_ptr<trainer::SqliteRunStore>> OpenStore(
    const std::string& path) {
  absl::StatusOr<std::unique_ptr<trainer::SqliteRunStore>> store =
      trainer::SqliteRunStore::Open(path, absl::Now());
  if (store.ok() && (*store)->recovered_runs() > 0) {
    spdlog::warn(
        "trainer: {} runs were interrupted by a restart and are now "
        "FAILED",
        (*store)->recovered_runs());
  }
  return store;
}

// The clients of the other services; null where no address is configured.
struct Clients {
  std::unique_ptr<trainer::GrpcRegistryClient> registry;
  std::unique_ptr<trainer::GrpcCollectorClient> collector;
};

Clients ConnectClients(const config::v1::TrainerConfig& config,
                       absl::Duration rpc_timeout) {
  Clients clients;
  if (!config.registry_address().empty()) {
    clients.registry = std::make_unique<trainer::GrpcRegistryClient>(
        core::CreateServiceChannel(config.registry_address()), rpc_timeout);
  } else {
    spdlog::warn(
        "trainer: no registry_address configured: runs cannot be "
        "triggered");
  }
  if (!config.collector_address().empty()) {
    clients.collector = std::make_unique<trainer::GrpcCollectorClient>(
        core::CreateServiceChannel(config.collector_address()), rpc_timeout);
  } else {
    spdlog::warn(
        "trainer: no collector_address configured: runs will fail "
        "to fetch data");
  }
  return clients;
}

int Serve(const config::v1::TrainerConfig& config, const Settings& settings,
          trainer::RunStore& store, const Clients& clients) {
  auto metrics_registry = std::make_shared<prometheus::Registry>();
  trainer::TrainerMetrics metrics(*metrics_registry);

  trainer::TrainingExecutorOptions executor_options;
  executor_options.registry = clients.registry.get();
  executor_options.collector = clients.collector.get();
  executor_options.code_version = absl::StrCat(
      "continuum-trainer ", core::kVersion, " (", core::kGitCommit, ")");
  trainer::TrainingExecutor executor(executor_options);

  trainer::SchedulerOptions scheduler_options;
  scheduler_options.store = &store;
  scheduler_options.executor = &executor;
  scheduler_options.registry = clients.registry.get();
  scheduler_options.collector = clients.collector.get();
  scheduler_options.metrics = &metrics;
  scheduler_options.workers = settings.workers;
  scheduler_options.tick_interval = settings.tick;
  trainer::Scheduler scheduler(scheduler_options);
  core::OpenStreams streams;
  trainer::TrainerServiceImpl service(&scheduler, &streams);

  core::ServiceServer::Options options;
  options.service = "trainer";
  options.config = config.server();
  options.services = {&service};
  options.metrics = metrics_registry;
  options.open_streams = &streams;
  core::ServeHooks hooks;
  hooks.on_started = [&](core::ServiceServer&) { return scheduler.Start(); };
  hooks.on_draining = [&] { scheduler.Stop(); };
  return core::ServeUntilSignal(std::move(options), hooks);
}

}  // namespace

int main(int argc, char** argv) {
  config::v1::TrainerConfig config;
  if (absl::Status s = core::InitService(
          argc, argv, "trainer",
          "Fine-tunes deployed models on new and replayed data and validates "
          "candidates.",
          &config, config.mutable_server());
      !s.ok()) {
    return core::ReportStartupError(s);
  }
  if (absl::Status s = model::InitTorchRuntime(config.torch()); !s.ok()) {
    return core::ReportStartupError(s);
  }
  absl::StatusOr<Settings> settings = CheckSettings(config);
  if (!settings.ok()) return core::ReportStartupError(settings.status());
  absl::StatusOr<std::unique_ptr<trainer::SqliteRunStore>> store =
      OpenStore(settings->db_path);
  if (!store.ok()) return core::ReportStartupError(store.status());
  const Clients clients = ConnectClients(config, settings->rpc_timeout);
  return Serve(config, *settings, **store, clients);
}
