// continuum-inference: Serves predictions and hot-swaps to validated model
// versions (continuum.v1.InferenceService).
//
// Wires the pod together: the artifact cache and the last deployments under
// --data_dir, the ModelManager with its batchers, the registry watch that
// feeds it, the prediction log, and the gRPC handlers. Health turns SERVING
// once a model is loaded and warmed up.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "continuum/config/v1/inference_config.pb.h"
#include "lib/core/channel.h"
#include "lib/core/logging.h"
#include "lib/core/proto_time.h"
#include "lib/core/service_main.h"
#include "lib/model/torch_runtime.h"
#include "lib/store/blob_store.h"
#include "services/inference/cached_artifact_source.h"
#include "services/inference/deployment_cache.h"
#include "services/inference/inference_metrics.h"
#include "services/inference/inference_service.h"
#include "services/inference/model_manager.h"
#include "services/inference/prediction_logger.h"
#include "services/inference/prediction_sinks.h"
#include "services/inference/predictor.h"
#include "services/inference/registry_watcher.h"

namespace {

namespace core = continuum::core;
namespace inference = continuum::inference;
namespace v1 = continuum::v1;
using continuum::config::v1::InferenceConfig;

// max_reconnect_backoff when the config leaves it unset.
constexpr absl::Duration kDefaultMaxReconnectBackoff = absl::Seconds(5);

std::string PodId(const InferenceConfig& config) {
  if (!config.pod_id().empty()) return config.pod_id();
  if (const char* host = std::getenv("HOSTNAME"); host && *host) return host;
  return absl::StrCat("inference-", getpid());
}

// INVALID_ARGUMENT for a negative count or backoff.
absl::Status ValidateLimits(const InferenceConfig& config) {
  const continuum::config::v1::BatchingConfig& batching = config.batching();
  if (batching.max_batch_size() < 0 || batching.max_queued_rows() < 0 ||
      batching.workers() < 0 || config.max_request_rows() < 0 ||
      config.max_reconnect_backoff().seconds() < 0 ||
      config.max_reconnect_backoff().nanos() < 0) {
    return absl::InvalidArgumentError(
        "batching.max_batch_size, batching.max_queued_rows, "
        "batching.workers, max_request_rows and max_reconnect_backoff must "
        "not be negative");
  }
  return absl::OkStatus();
}

// Parses the flags and the config, starts logging and LibTorch, and checks
// the limits (ValidateLimits below).
absl::Status Init(int argc, char** argv, InferenceConfig* config) {
  if (absl::Status s = core::InitService(
          argc, argv, "inference",
          "Serves predictions and hot-swaps to validated model versions.",
          config, config->mutable_server());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = continuum::model::InitTorchRuntime(config->torch());
      !s.ok()) {
    return s;
  }
  return ValidateLimits(*config);
}

// The batching of every model: the config's values, else one worker per
// core, 64 rows a batch and 16 full batches a worker queued.
inference::BatchSchedulerOptions BatchingOptions(
    const continuum::config::v1::BatchingConfig& batching,
    inference::BatchObserver* observer) {
  inference::BatchSchedulerOptions options;
  const int cores =
      std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  options.workers = batching.workers() > 0 ? batching.workers() : cores;
  options.max_batch_size =
      batching.max_batch_size() > 0 ? batching.max_batch_size() : 64;
  options.batch_timeout =
      absl::Microseconds(std::max<int64_t>(0, batching.batch_timeout_micros()));
  options.max_queued_rows =
      batching.max_queued_rows() > 0
          ? batching.max_queued_rows()
          : 16 * options.max_batch_size * options.workers;
  options.observer = observer;
  return options;
}

// Sets continuum_inference_serving_version{model, role} to the versions
// available now (0 for a role without one).
void PublishServingVersions(const inference::ModelManager& manager,
                            inference::InferenceMetrics& metrics) {
  absl::StatusOr<std::vector<v1::ModelServingStatus>> models =
      manager.Status("");
  if (!models.ok()) return;
  for (const v1::ModelServingStatus& m : *models) {
    int64_t stable = 0, canary = 0, shadow = 0;
    for (const v1::VersionServingStatus& v : m.versions()) {
      if (v.state() != v1::SERVING_STATE_AVAILABLE) continue;
      if (v.role() == v1::SERVING_ROLE_STABLE) stable = v.version();
      if (v.role() == v1::SERVING_ROLE_CANARY) canary = v.version();
      if (v.role() == v1::SERVING_ROLE_SHADOW) shadow = v.version();
    }
    metrics.SetServingVersion(m.model(), v1::SERVING_ROLE_STABLE, stable);
    metrics.SetServingVersion(m.model(), v1::SERVING_ROLE_CANARY, canary);
    metrics.SetServingVersion(m.model(), v1::SERVING_ROLE_SHADOW, shadow);
  }
}

// The ModelManager's on_change, set once the server and the watcher exist
// and cleared when the pod drains.
class ChangeHook {
 public:
  void Set(std::function<void()> fn) {
    absl::MutexLock lock(&mu_);
    fn_ = std::move(fn);
  }
  void operator()() {
    absl::MutexLock lock(&mu_);
    if (fn_) fn_();
  }

 private:
  absl::Mutex mu_;
  std::function<void()> fn_ ABSL_GUARDED_BY(mu_);
};

// The predictor over `manager`, logging what it answers to `logger`.
inference::PredictorOptions PredictorOptionsFor(
    const InferenceConfig& config, const std::string& pod_id,
    inference::ModelManager* manager, inference::InferenceMetrics* metrics,
    inference::PredictionLogger* logger) {
  inference::PredictorOptions options;
  options.manager = manager;
  options.metrics = metrics;
  options.pod_id = pod_id;
  options.max_request_rows =
      config.max_request_rows() > 0 ? config.max_request_rows() : 4096;
  // Shadow answers are not logged: their rows would be stored twice.
  options.log = [logger](const v1::PredictRequest& req,
                         const v1::PredictResponse& res,
                         absl::string_view caller) {
    return res.role() != v1::SERVING_ROLE_SHADOW &&
           logger->Log(req, res, caller);
  };
  return options;
}

// Runs the pod until a signal drains it; returns the exit code. `cache` is
// the artifact cache under --data_dir.
int Serve(const InferenceConfig& config, continuum::store::BlobStore* cache) {
  const std::string pod_id = PodId(config);
  const std::string data_dir = config.server().data_dir();
  const absl::Duration max_backoff = core::FromProtoOr(
      config.max_reconnect_backoff(), kDefaultMaxReconnectBackoff);

  auto metrics_registry = std::make_shared<prometheus::Registry>();
  inference::InferenceMetrics metrics(*metrics_registry);

  // Null without a registry. Reconnects as promptly as the watch retries,
  // so the pod follows a registry back from an outage at once.
  const std::shared_ptr<grpc::Channel> registry_channel =
      config.registry_address().empty()
          ? nullptr
          : core::CreateServiceChannel(config.registry_address(), max_backoff);
  inference::CachedArtifactSource artifacts(cache, registry_channel);
  inference::DeploymentCache deployments(data_dir + "/deployments");

  ChangeHook on_change;
  inference::ModelManagerOptions manager_options;
  manager_options.batching = BatchingOptions(config.batching(), &metrics);
  manager_options.source = &artifacts;
  manager_options.observer = &metrics;
  manager_options.on_change = [&on_change] { on_change(); };
  inference::ModelManager manager(manager_options);

  inference::PredictionLogger logger(
      config.prediction_log(),
      inference::NewPredictionSinks(config.prediction_log()),
      *metrics_registry, {.pod_id = pod_id});
  inference::Predictor predictor(
      PredictorOptionsFor(config, pod_id, &manager, &metrics, &logger));

  inference::RegistryWatcherOptions watcher_options;
  watcher_options.registry = registry_channel;
  watcher_options.models.assign(config.models().begin(),
                                config.models().end());
  watcher_options.pod_id = pod_id;
  watcher_options.max_backoff = max_backoff;
  watcher_options.manager = &manager;
  watcher_options.deployments = &deployments;
  watcher_options.artifacts = &artifacts;
  // Made once the server has its address (on_started).
  std::unique_ptr<inference::RegistryWatcher> watcher;
  inference::InferenceServiceImpl service(
      &predictor, [&watcher]() -> inference::RegistryState {
        if (watcher == nullptr) return {};
        return {watcher->connected(), watcher->from_cache()};
      });

  core::ServiceServer::Options options;
  options.service = "inference";
  options.config = config.server();
  options.services = {&service};
  options.metrics = metrics_registry;
  // SERVING once a model has a version available (on_change below).
  options.serving_at_start = false;
  core::ServeHooks hooks;
  hooks.on_started = [&](core::ServiceServer& server) {
    watcher_options.address = server.address();
    watcher = std::make_unique<inference::RegistryWatcher>(watcher_options);
    on_change.Set([&manager, &server, &metrics, w = watcher.get()] {
      server.SetServing(manager.ready());
      w->NotifyChanged();
      PublishServingVersions(manager, metrics);
    });
    watcher->Start();
    return absl::OkStatus();
  };
  hooks.on_draining = [&] {
    on_change.Set(nullptr);
    if (watcher != nullptr) watcher->Stop();
  };
  int code = core::ServeUntilSignal(std::move(options), hooks);
  logger.Stop();
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  InferenceConfig config;
  if (absl::Status s = Init(argc, argv, &config); !s.ok()) {
    return core::ReportStartupError(s);
  }
  absl::StatusOr<std::shared_ptr<const continuum::store::KeyRing>> keys =
      core::LoadEncryptionKeys(config.server(), "inference");
  if (!keys.ok()) return core::ReportStartupError(keys.status());
  absl::StatusOr<std::unique_ptr<continuum::store::BlobStore>> cache =
      continuum::store::BlobStore::Open(
          {.dir = config.server().data_dir() + "/cache", .keys = *keys});
  if (!cache.ok()) return core::ReportStartupError(cache.status());
  if (absl::Status s = (*cache)->CheckKeys(); !s.ok()) {
    return core::ReportStartupError(s);
  }
  if (absl::Status s =
          inference::ValidatePredictionLogConfig(config.prediction_log());
      !s.ok()) {
    return core::ReportStartupError(s);
  }
  return Serve(config, cache->get());
}
