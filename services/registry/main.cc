// continuum-registry: versioned model artifacts, validation gates, rollouts,
// rollback and the audit log (continuum.v1.RegistryService).
#include <atomic>
#include <memory>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "continuum/config/v1/registry_config.pb.h"
#include "lib/core/logging.h"
#include "lib/core/service_main.h"
#include "lib/store/blob_store.h"
#include "services/registry/registry.h"
#include "services/registry/registry_service.h"
#include "services/registry/sqlite_registry_store.h"
#include "spdlog/spdlog.h"

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
  const std::string& data_dir = config.server().data_dir();
  auto store =
      continuum::registry::SqliteRegistryStore::Open(data_dir + "/registry.db");
  if (!store.ok()) return continuum::core::ReportStartupError(store.status());
  continuum::store::BlobStoreOptions blob_options;
  blob_options.dir = data_dir + "/blobs";
  auto blobs = continuum::store::BlobStore::Open(blob_options);
  if (!blobs.ok()) return continuum::core::ReportStartupError(blobs.status());
  continuum::registry::Registry registry(*std::move(store), *std::move(blobs),
                                         {});
  continuum::registry::RegistryServiceImpl service(&registry);

  absl::Duration tick = absl::Seconds(config.tick_interval().seconds()) +
                        absl::Nanoseconds(config.tick_interval().nanos());
  if (tick <= absl::ZeroDuration()) tick = absl::Seconds(1);
  absl::Notification stop;
  std::thread ticker([&] {
    while (!stop.WaitForNotificationWithTimeout(tick)) {
      if (absl::Status s = registry.Tick(); !s.ok()) {
        spdlog::error("rollout tick failed: {}", s.message());
      }
    }
  });

  continuum::core::ServiceServer::Options options;
  options.service = "registry";
  options.config = config.server();
  options.services = {&service};
  int code = continuum::core::ServeUntilSignal(std::move(options));
  stop.Notify();
  ticker.join();
  return code;
}
