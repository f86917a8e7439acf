// continuum-registry: versioned model artifacts, validation gates, rollouts,
// rollback and the audit log (continuum.v1.RegistryService).
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "continuum/config/v1/registry_config.pb.h"
#include "lib/core/logging.h"
#include "lib/core/proto_time.h"
#include "lib/core/service_main.h"
#include "lib/core/watch_reactor.h"
#include "lib/store/blob_store.h"
#include "services/registry/registry.h"
#include "services/registry/registry_service.h"
#include "services/registry/sqlite_registry_store.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  namespace core = continuum::core;
  namespace registry = continuum::registry;
  continuum::config::v1::RegistryConfig config;
  if (absl::Status s = core::InitService(
          argc, argv, "registry",
          "Versioned model artifacts, validation gates, rollouts, rollback and "
          "the audit log.",
          &config, config.mutable_server());
      !s.ok()) {
    return core::ReportStartupError(s);
  }
  const std::string& data_dir = config.server().data_dir();
  auto store = registry::SqliteRegistryStore::Open(data_dir + "/registry.db");
  if (!store.ok()) return core::ReportStartupError(store.status());
  absl::StatusOr<std::shared_ptr<const continuum::store::KeyRing>> keys =
      core::LoadEncryptionKeys(config.server(), "registry");
  if (!keys.ok()) return core::ReportStartupError(keys.status());
  continuum::store::BlobStoreOptions blob_options;
  blob_options.dir = data_dir + "/blobs";
  blob_options.keys = *keys;
  auto blobs = continuum::store::BlobStore::Open(blob_options);
  if (!blobs.ok()) return core::ReportStartupError(blobs.status());
  // Every key the stored artifacts need must be listed, with the right
  // bytes: refuse the start now rather than the first download.
  if (absl::Status s = (*blobs)->CheckKeys(); !s.ok()) {
    return core::ReportStartupError(s);
  }
  if (config.max_artifact_bytes() < 0) {
    return core::ReportStartupError(absl::InvalidArgumentError(
        "max_artifact_bytes: must be >= 0 (0 = 2 GiB)"));
  }
  registry::RegistryOptions registry_options;
  if (config.max_artifact_bytes() > 0) {
    registry_options.max_artifact_bytes = config.max_artifact_bytes();
  }
  absl::StatusOr<std::unique_ptr<registry::Registry>> reg =
      registry::Registry::Create(*std::move(store), *std::move(blobs),
                                 registry_options);
  if (!reg.ok()) return core::ReportStartupError(reg.status());
  // The open WatchDeployments streams: the drain ends them at its start.
  core::OpenStreams streams;
  registry::RegistryServiceImpl service(reg->get(), &streams);

  absl::Duration tick = core::FromProto(config.tick_interval());
  if (tick <= absl::ZeroDuration()) tick = absl::Seconds(1);
  absl::Notification stop;
  std::thread ticker([&] {
    while (!stop.WaitForNotificationWithTimeout(tick)) {
      if (absl::Status s = (*reg)->Tick(); !s.ok()) {
        spdlog::error("rollout tick failed: {}", s.message());
      }
    }
  });

  core::ServiceServer::Options options;
  options.service = "registry";
  options.config = config.server();
  options.services = {&service};
  options.open_streams = &streams;
  int code = core::ServeUntilSignal(std::move(options));
  stop.Notify();
  ticker.join();
  return code;
}
