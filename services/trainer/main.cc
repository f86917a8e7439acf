// continuum-trainer: Fine-tunes deployed models on new and replayed data and
// validates candidates (continuum.v1.TrainerService).
//
// Wires the service together: the run store (SQLite under --data_dir), the
// registry and collector clients, the training executor, the scheduler
// (its workers and ticker start once the server listens and stop when the
// drain begins), and the gRPC handlers with their open WatchRun streams
// (ended at the start of a drain).
#include <spdlog/spdlog.h>

#include <functional>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <thread>

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
#include "lib/core/resource_names.h"
#include "lib/model/bundle.h"
#include "services/trainer/federated_coordinator.h"
#include "services/trainer/federated_run.h"
#include "services/trainer/federated_service.h"
#include "services/trainer/federated_site.h"
#include "services/trainer/federated_store.h"
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

// The coordinator's view of the registry: a model's production version
// and its parameter count (from the version's manifest), cached per
// version.
class ProductionLookup {
 public:
  explicit ProductionLookup(trainer::RegistryClient* registry)
      : registry_(registry) {}

  absl::StatusOr<trainer::FederatedBase> operator()(const std::string& model) {
    if (registry_ == nullptr) {
      return absl::FailedPreconditionError(
          "no registry is configured (registry_address)");
    }
    absl::StatusOr<v1::Model> m = registry_->GetModel(model);
    if (!m.ok()) return m.status();
    if (m->production_version() == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "model ", model, " has no production version to federate from"));
    }
    trainer::FederatedBase base;
    base.version.set_model(model);
    base.version.set_version(m->production_version());
    const std::string key = absl::StrCat(model, "/", m->production_version());
    {
      absl::MutexLock lock(&mu_);
      auto it = sizes_.find(key);
      if (it != sizes_.end()) {
        base.num_parameters = it->second;
        return base;
      }
    }
    absl::StatusOr<trainer::Artifact> artifact = registry_->DownloadArtifact(
        model, m->production_version(), absl::Now() + absl::Minutes(5));
    if (!artifact.ok()) return artifact.status();
    absl::StatusOr<internal::v1::ModelBundle> bundle =
        model::ParseBundle(artifact->bytes);
    if (!bundle.ok()) return bundle.status();
    base.num_parameters = trainer::ParameterCount(bundle->manifest());
    absl::MutexLock lock(&mu_);
    sizes_[key] = base.num_parameters;
    return base;
  }

 private:
  trainer::RegistryClient* const registry_;
  absl::Mutex mu_;
  std::map<std::string, int64_t> sizes_ ABSL_GUARDED_BY(mu_);
};

// Calls `fn` every `interval` on its own thread until stopped.
class Ticker {
 public:
  Ticker(absl::Duration interval, std::function<void()> fn)
      : interval_(interval), fn_(std::move(fn)) {}
  ~Ticker() { Stop(); }
  void Start() {
    thread_ = std::thread([this] {
      absl::MutexLock lock(&mu_);
      while (!stop_) {
        mu_.Unlock();
        fn_();
        mu_.Lock();
        cv_.WaitWithTimeout(&mu_, interval_);
      }
    });
  }
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
      cv_.SignalAll();
    }
    if (thread_.joinable()) thread_.join();
  }

 private:
  const absl::Duration interval_;
  const std::function<void()> fn_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

using FederatedRole = config::v1::FederatedRoleConfig;

absl::Status CheckFederatedRole(const config::v1::TrainerConfig& config) {
  const FederatedRole& f = config.federated();
  if (!FederatedRole::Role_IsValid(f.role())) {
    return absl::InvalidArgumentError(
        absl::StrCat("federated.role: ", f.role(), " is not a role"));
  }
  for (const std::string& m : f.scheduled_models()) {
    if (f.role() != FederatedRole::ROLE_COORDINATOR) {
      return absl::InvalidArgumentError(
          "federated.scheduled_models: only a coordinator opens rounds");
    }
    if (absl::Status s = core::ValidateResourceId("model", m); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("federated.scheduled_models: ", s.message()));
    }
  }
  if (f.role() == FederatedRole::ROLE_SITE) {
    if (f.coordinator_address().empty()) {
      return absl::InvalidArgumentError(
          "federated.coordinator_address: required in the site role");
    }
    if (absl::Status s = core::ValidateResourceId("site", f.site_id());
        !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("federated.site_id: ", s.message()));
    }
    if (f.models().empty()) {
      return absl::InvalidArgumentError(
          "federated.models: a site needs at least one model whose rounds "
          "it joins");
    }
    for (const std::string& m : f.models()) {
      if (absl::Status s = core::ValidateResourceId("model", m); !s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("federated.models: ", s.message()));
      }
    }
  }
  return absl::OkStatus();
}

int Serve(const config::v1::TrainerConfig& config, const Settings& settings,
          trainer::RunStore& store, const Clients& clients) {
  auto metrics_registry = std::make_shared<prometheus::Registry>();
  trainer::TrainerMetrics metrics(*metrics_registry);
  const FederatedRole& federated = config.federated();

  // Federated learning: the coordinator and the site are made once the
  // scheduler exists; the executor reaches them through these.
  std::unique_ptr<trainer::FederatedStore> federated_store;
  std::unique_ptr<trainer::FederatedCoordinator> coordinator;
  std::unique_ptr<trainer::FederatedSite> site;
  std::unique_ptr<trainer::FederatedMetrics> federated_metrics;
  if (federated.role() == FederatedRole::ROLE_COORDINATOR) {
    federated_metrics =
        std::make_unique<trainer::FederatedMetrics>(*metrics_registry);
  }

  trainer::TrainingExecutorOptions executor_options;
  executor_options.registry = clients.registry.get();
  executor_options.collector = clients.collector.get();
  executor_options.code_version = absl::StrCat(
      "continuum-trainer ", core::kVersion, " (", core::kGitCommit, ")");
  if (federated.role() == FederatedRole::ROLE_COORDINATOR) {
    executor_options.federated_aggregate = [&](const std::string& round) {
      return coordinator->AggregateOf(round);
    };
  } else if (federated.role() == FederatedRole::ROLE_SITE) {
    executor_options.federated_site_round = [&](const std::string& round) {
      return site->SiteRound(round);
    };
    executor_options.federated_submit =
        [&](const trainer::FederatedSiteUpdate& update) {
          return site->Submit(update);
        };
  }
  trainer::TrainingExecutor executor(executor_options);

  trainer::SchedulerOptions scheduler_options;
  scheduler_options.store = &store;
  scheduler_options.executor = &executor;
  scheduler_options.registry = clients.registry.get();
  scheduler_options.collector = clients.collector.get();
  scheduler_options.metrics = &metrics;
  scheduler_options.workers = settings.workers;
  scheduler_options.tick_interval = settings.tick;
  // A coordinator's scheduled models open rounds on their schedule.
  const std::set<std::string> scheduled_rounds(
      federated.scheduled_models().begin(), federated.scheduled_models().end());
  if (federated.role() == FederatedRole::ROLE_COORDINATOR &&
      !scheduled_rounds.empty()) {
    scheduler_options.take_scheduled_slot = [&](const std::string& model,
                                                const std::string& reason) {
      if (scheduled_rounds.count(model) == 0) return false;
      v1::StartRoundRequest request;
      request.set_parent(absl::StrCat("models/", model));
      request.set_reason(reason);
      absl::StatusOr<v1::Round> round = coordinator->StartRound(request);
      if (round.ok()) {
        spdlog::info("trainer: {} opened {}", reason, round->name());
      } else {
        spdlog::warn("trainer: scheduled round of model {} not opened: {}",
                     model, round.status().ToString());
      }
      return true;
    };
  }
  trainer::Scheduler scheduler(scheduler_options);
  core::OpenStreams streams;
  trainer::TrainerServiceImpl service(&scheduler, &streams);

  ProductionLookup production(clients.registry.get());
  std::unique_ptr<Ticker> ticker;
  if (federated.role() == FederatedRole::ROLE_COORDINATOR) {
    const std::string path = federated.database_path().empty()
                                 ? config.server().data_dir() + "/federated.db"
                                 : federated.database_path();
    absl::StatusOr<std::unique_ptr<trainer::FederatedStore>> opened =
        trainer::FederatedStore::Open(path);
    if (!opened.ok()) return core::ReportStartupError(opened.status());
    federated_store = *std::move(opened);
    trainer::FederatedCoordinatorOptions c;
    c.store = federated_store.get();
    c.production = [&](const std::string& model) { return production(model); };
    c.model_config = [&](const std::string& model)
        -> absl::StatusOr<v1::FederatedConfig> {
      absl::StatusOr<v1::TrainingConfig> stored = scheduler.GetTrainingConfig(
          absl::StrCat("models/", model, "/trainingConfig"));
      if (!stored.ok()) return stored.status();
      return stored->federated();
    };
    c.trigger_run = [&](const v1::Round& round) -> absl::StatusOr<std::string> {
      absl::StatusOr<v1::Run> run = scheduler.TriggerFederatedRun(
          round.model(), round.name(),
          absl::StrCat("federated ", round.name(), ": evaluate and upload "
                       "the aggregate"),
          v1::TrainingConfig(), google::protobuf::FieldMask());
      if (!run.ok()) return run.status();
      return run->name();
    };
    c.get_run = [&](const std::string& run) { return scheduler.GetRun(run); };
    c.evaluation_ready = [&](const std::string& model) -> absl::Status {
      absl::StatusOr<v1::TrainingConfig> stored = scheduler.GetTrainingConfig(
          absl::StrCat("models/", model, "/trainingConfig"));
      const std::string dataset =
          stored.ok() && !stored->dataset().empty() ? stored->dataset() : model;
      const std::string how = absl::StrCat(
          "the coordinator evaluates each round's candidate on data set ",
          dataset, " of its own collector (the model's TrainingConfig.dataset), "
          "and the registry requires that held_out evaluation: ");
      if (clients.collector == nullptr) {
        return absl::FailedPreconditionError(
            absl::StrCat(how, "no collector_address is configured"));
      }
      absl::StatusOr<v1::DatasetStats> stats =
          clients.collector->GetDatasetStats(dataset, v1::TimeWindow());
      if (!stats.ok()) {
        return absl::FailedPreconditionError(
            absl::StrCat(how, stats.status().message()));
      }
      if (stats->labeled_count() == 0) {
        return absl::FailedPreconditionError(
            absl::StrCat(how, "it holds no labelled record yet"));
      }
      return absl::OkStatus();
    };
    if (clients.registry != nullptr) {
      c.record_audit = [&](const v1::RecordAuditEventRequest& event) {
        return clients.registry->RecordAuditEvent(
            event, absl::Now() + settings.rpc_timeout);
      };
    }
    c.noise_seed = federated.noise_seed();
    c.metrics = federated_metrics.get();
    absl::StatusOr<std::unique_ptr<trainer::FederatedCoordinator>> made =
        trainer::FederatedCoordinator::Create(std::move(c));
    if (!made.ok()) return core::ReportStartupError(made.status());
    coordinator = *std::move(made);
    ticker = std::make_unique<Ticker>(
        core::FromProtoOr(federated.tick_interval(), absl::Milliseconds(200)),
        [&] { coordinator->Tick(); });
    spdlog::info("trainer: federated coordinator ({})", path);
  } else if (federated.role() == FederatedRole::ROLE_SITE) {
    trainer::FederatedSiteOptions s;
    s.scheduler = &scheduler;
    s.coordinator_address = federated.coordinator_address();
    s.site_id = federated.site_id();
    s.models = {federated.models().begin(), federated.models().end()};
    s.channel_to = [](const std::string& address) {
      return core::CreateServiceChannel(address);
    };
    s.rpc_timeout = settings.rpc_timeout;
    site = std::make_unique<trainer::FederatedSite>(std::move(s));
    spdlog::info("trainer: federated site {} of {}", federated.site_id(),
                 federated.coordinator_address());
  }
  trainer::FederatedServiceImpl federated_service(coordinator.get());

  core::ServiceServer::Options options;
  options.service = "trainer";
  options.config = config.server();
  options.services = {&service};
  if (federated.role() != FederatedRole::ROLE_UNSPECIFIED) {
    options.services.push_back(&federated_service);
  }
  options.metrics = metrics_registry;
  options.open_streams = &streams;
  core::ServeHooks hooks;
  hooks.on_started = [&](core::ServiceServer&) {
    absl::Status s = scheduler.Start();
    if (s.ok() && ticker) ticker->Start();
    if (s.ok() && site) site->Start();
    return s;
  };
  hooks.on_draining = [&] {
    if (site) site->Stop();
    if (ticker) ticker->Stop();
    scheduler.Stop();
  };
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
  if (absl::Status s = CheckFederatedRole(config); !s.ok()) {
    return core::ReportStartupError(s);
  }
  absl::StatusOr<std::unique_ptr<trainer::SqliteRunStore>> store =
      OpenStore(settings->db_path);
  if (!store.ok()) return core::ReportStartupError(store.status());
  const Clients clients = ConnectClients(config, settings->rpc_timeout);
  return Serve(config, *settings, **store, clients);
}
