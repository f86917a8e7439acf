// continuum-trainer: Fine-tunes deployed models on new and replayed data and
// validates candidates (continuum.v1.TrainerService).
//
// Wires the service together: the run store (SQLite under --data_dir), the
// registry and collector clients, the training executor, the scheduler
// (its workers and ticker start once the server listens and stop when the
// drain begins), and the gRPC handlers.
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
#include "lib/core/service_main.h"
#include "lib/model/torch_runtime.h"
#include "services/trainer/grpc_clients.h"
#include "services/trainer/run_store.h"
#include "services/trainer/scheduler.h"
#include "services/trainer/trainer_metrics.h"
#include "services/trainer/trainer_service.h"
#include "services/trainer/training_executor.h"

namespace {

absl::Duration ToDuration(const google::protobuf::Duration& d,
                          absl::Duration fallback) {
  if (d.seconds() == 0 && d.nanos() == 0) return fallback;
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace continuum;  // NOLINT: main only.
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
  if (config.workers() < 0) {
    return core::ReportStartupError(
        absl::InvalidArgumentError("workers must not be negative"));
  }
  const absl::Duration tick = ToDuration(config.tick_interval(), absl::Seconds(1));
  const absl::Duration rpc_timeout =
      ToDuration(config.rpc_timeout(), absl::Seconds(30));
  if (tick <= absl::ZeroDuration() || rpc_timeout <= absl::ZeroDuration()) {
    return core::ReportStartupError(absl::InvalidArgumentError(
        "tick_interval and rpc_timeout must be positive"));
  }
  const std::string db_path = config.database_path().empty()
                                  ? config.server().data_dir() + "/trainer.db"
                                  : config.database_path();
  absl::StatusOr<std::unique_ptr<trainer::RunStore>> store =
      trainer::RunStore::Open(db_path, absl::Now());
  if (!store.ok()) return core::ReportStartupError(store.status());
  if ((*store)->recovered_runs() > 0) {
    spdlog::warn("trainer: {} runs were interrupted by a restart and are now "
                 "FAILED",
                 (*store)->recovered_runs());
  }

  std::unique_ptr<trainer::GrpcRegistryClient> registry;
  if (!config.registry_address().empty()) {
    registry = std::make_unique<trainer::GrpcRegistryClient>(
        core::CreateServiceChannel(config.registry_address()),
        rpc_timeout);
  } else {
    spdlog::warn("trainer: no registry_address configured: runs cannot be "
                 "triggered");
  }
  std::unique_ptr<trainer::GrpcCollectorClient> collector;
  if (!config.collector_address().empty()) {
    collector = std::make_unique<trainer::GrpcCollectorClient>(
        core::CreateServiceChannel(config.collector_address()),
        rpc_timeout);
  } else {
    spdlog::warn("trainer: no collector_address configured: runs will fail "
                 "to fetch data");
  }

  auto metrics_registry = std::make_shared<prometheus::Registry>();
  trainer::TrainerMetrics metrics(*metrics_registry);

  trainer::TrainingExecutorOptions executor_options;
  executor_options.registry = registry.get();
  executor_options.collector = collector.get();
  executor_options.code_version =
      absl::StrCat("continuum-trainer ", core::kVersion, " (", core::kGitCommit,
                   ")");
  trainer::TrainingExecutor executor(executor_options);

  trainer::SchedulerOptions scheduler_options;
  scheduler_options.store = store->get();
  scheduler_options.executor = &executor;
  scheduler_options.registry = registry.get();
  scheduler_options.collector = collector.get();
  scheduler_options.metrics = &metrics;
  scheduler_options.workers = config.workers() > 0 ? config.workers() : 1;
  scheduler_options.tick_interval = tick;
  trainer::Scheduler scheduler(scheduler_options);
  trainer::TrainerServiceImpl service(&scheduler);

  core::ServiceServer::Options options;
  options.service = "trainer";
  options.config = config.server();
  options.services = {&service};
  options.metrics = metrics_registry;
  core::ServeHooks hooks;
  hooks.on_started = [&](core::ServiceServer&) { return scheduler.Start(); };
  hooks.on_draining = [&] { scheduler.Stop(); };
  return core::ServeUntilSignal(std::move(options), hooks);
}
