// continuum-inference: Serves predictions and hot-swaps to validated model
// versions (continuum.v1.InferenceService).
//
// Wires the pod together: the artifact cache and the last deployments under
// --data_dir, the ModelManager with its batchers, the registry watch that
// feeds it, the prediction log, and the gRPC handlers. Health turns SERVING
// once a model is loaded and warmed up.
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "continuum/config/v1/inference_config.pb.h"
#include "lib/core/channel.h"
#include "lib/core/logging.h"
#include "lib/core/service_main.h"
#include "lib/model/torch_runtime.h"
#include "lib/store/blob_store.h"
#include "services/inference/inference_metrics.h"
#include "services/inference/inference_service.h"
#include "services/inference/model_manager.h"
#include "services/inference/prediction_logger.h"
#include "services/inference/predictor.h"
#include "services/inference/registry_client.h"

namespace {

using continuum::config::v1::InferenceConfig;

std::string PodId(const InferenceConfig& config) {
  if (!config.pod_id().empty()) return config.pod_id();
  if (const char* host = std::getenv("HOSTNAME"); host && *host) return host;
  return absl::StrCat("inference-", getpid());
}

absl::Duration ToDuration(const google::protobuf::Duration& d,
                          absl::Duration fallback) {
  if (d.seconds() == 0 && d.nanos() == 0) return fallback;
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace

int main(int argc, char** argv) {
  InferenceConfig config;
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
  const continuum::config::v1::BatchingConfig& batching = config.batching();
  if (batching.max_batch_size() < 0 || batching.max_queued_rows() < 0 ||
      batching.workers() < 0 || config.max_request_rows() < 0 ||
      config.max_reconnect_backoff().seconds() < 0 ||
      config.max_reconnect_backoff().nanos() < 0) {
    return continuum::core::ReportStartupError(absl::InvalidArgumentError(
        "batching.max_batch_size, batching.max_queued_rows, "
        "batching.workers, max_request_rows and max_reconnect_backoff must "
        "not be negative"));
  }
  const std::string pod_id = PodId(config);
  const std::string data_dir = config.server().data_dir();

  auto metrics_registry = std::make_shared<prometheus::Registry>();
  continuum::inference::InferenceMetrics metrics(*metrics_registry);

  absl::StatusOr<std::unique_ptr<continuum::store::BlobStore>> cache =
      continuum::store::BlobStore::Open({.dir = data_dir + "/cache"});
  if (!cache.ok()) return continuum::core::ReportStartupError(cache.status());
  std::shared_ptr<grpc::Channel> registry_channel;
  if (!config.registry_address().empty()) {
    // Reconnects as promptly as the watch retries, so the pod follows a
    // registry back from an outage at once.
    registry_channel = continuum::core::CreateServiceChannel(
        config.registry_address(),
        ToDuration(config.max_reconnect_backoff(), absl::Seconds(5)));
  }
  continuum::inference::CachedArtifactSource artifacts(cache->get(),
                                                       registry_channel);
  continuum::inference::DeploymentCache deployments(data_dir +
                                                    "/deployments");

  continuum::inference::ModelManagerOptions manager_options;
  const int cores =
      std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  manager_options.batching.workers =
      batching.workers() > 0 ? batching.workers() : cores;
  manager_options.batching.max_batch_size =
      batching.max_batch_size() > 0 ? batching.max_batch_size() : 64;
  manager_options.batching.batch_timeout =
      absl::Microseconds(std::max<int64_t>(0, batching.batch_timeout_micros()));
  manager_options.batching.max_queued_rows =
      batching.max_queued_rows() > 0
          ? batching.max_queued_rows()
          : 16 * manager_options.batching.max_batch_size *
                manager_options.batching.workers;
  manager_options.batching.observer = &metrics;
  manager_options.source = &artifacts;
  manager_options.observer = &metrics;
  // Set once the server and the watcher exist (below).
  std::function<void()> on_change;
  absl::Mutex on_change_mu;
  manager_options.on_change = [&] {
    absl::MutexLock lock(&on_change_mu);
    if (on_change) on_change();
  };
  continuum::inference::ModelManager manager(manager_options);

  if (absl::Status s = continuum::inference::ValidatePredictionLogConfig(
          config.prediction_log());
      !s.ok()) {
    return continuum::core::ReportStartupError(s);
  }
  continuum::inference::PredictionLoggerOptions logger_options;
  logger_options.pod_id = pod_id;
  continuum::inference::PredictionLogger logger(
      config.prediction_log(), *metrics_registry, logger_options);
  continuum::inference::PredictorOptions predictor_options;
  predictor_options.manager = &manager;
  predictor_options.metrics = &metrics;
  predictor_options.pod_id = pod_id;
  predictor_options.max_request_rows =
      config.max_request_rows() > 0 ? config.max_request_rows() : 4096;
  // Shadow answers are not logged: their rows would be stored twice.
  predictor_options.log = [&logger](const continuum::v1::PredictRequest& req,
                                    const continuum::v1::PredictResponse& res) {
    if (res.role() != continuum::v1::SERVING_ROLE_SHADOW) logger.Log(req, res);
  };
  continuum::inference::Predictor predictor(predictor_options);

  std::unique_ptr<continuum::inference::RegistryWatcher> watcher;
  continuum::inference::InferenceServiceImpl service(
      &predictor, [&watcher]() -> continuum::inference::RegistryState {
        if (watcher == nullptr) return {};
        return {watcher->connected(), watcher->from_cache()};
      });

  continuum::core::ServiceServer::Options options;
  options.service = "inference";
  options.config = config.server();
  options.services = {&service};
  options.metrics = metrics_registry;
  options.serving_at_start = false;
  continuum::core::ServeHooks hooks;
  hooks.on_started = [&](continuum::core::ServiceServer& server) {
    continuum::inference::RegistryWatcherOptions w;
    w.registry = registry_channel;
    w.models.assign(config.models().begin(), config.models().end());
    w.pod_id = pod_id;
    w.address = server.address();
    w.max_backoff =
        ToDuration(config.max_reconnect_backoff(), absl::Seconds(5));
    w.manager = &manager;
    w.deployments = &deployments;
    w.artifacts = &artifacts;
    watcher = std::make_unique<continuum::inference::RegistryWatcher>(w);
    {
      absl::MutexLock lock(&on_change_mu);
      on_change = [&manager, &server, &metrics, w = watcher.get()] {
        server.SetServing(manager.ready());
        w->NotifyChanged();
        if (auto models = manager.Status(""); models.ok()) {
          for (const continuum::v1::ModelServingStatus& m : *models) {
            int64_t stable = 0, canary = 0, shadow = 0;
            for (const auto& v : m.versions()) {
              if (v.state() != continuum::v1::SERVING_STATE_AVAILABLE) continue;
              if (v.role() == continuum::v1::SERVING_ROLE_STABLE) stable = v.version();
              if (v.role() == continuum::v1::SERVING_ROLE_CANARY) canary = v.version();
              if (v.role() == continuum::v1::SERVING_ROLE_SHADOW) shadow = v.version();
            }
            metrics.SetServingVersion(m.model(), continuum::v1::SERVING_ROLE_STABLE, stable);
            metrics.SetServingVersion(m.model(), continuum::v1::SERVING_ROLE_CANARY, canary);
            metrics.SetServingVersion(m.model(), continuum::v1::SERVING_ROLE_SHADOW, shadow);
          }
        }
      };
    }
    watcher->Start();
    return absl::OkStatus();
  };
  hooks.on_draining = [&] {
    {
      absl::MutexLock lock(&on_change_mu);
      on_change = nullptr;
    }
    if (watcher != nullptr) watcher->Stop();
  };
  int code = continuum::core::ServeUntilSignal(std::move(options), hooks);
  logger.Stop();
  return code;
}
