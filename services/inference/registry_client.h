// The inference pod's side of the registry: artifacts through a local
// verified cache, the last applied deployment per model on disk, and the
// watch that feeds deployments to the ModelManager and reports back.
#ifndef CONTINUUM_SERVICES_INFERENCE_REGISTRY_CLIENT_H_
#define CONTINUUM_SERVICES_INFERENCE_REGISTRY_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "lib/store/blob_store.h"
#include "services/inference/model_manager.h"

namespace continuum::inference {

// Artifacts from a content-addressed cache on local disk (lib/store's
// BlobStore: written to a temp file, checked against the SHA-256, renamed;
// re-verified on every read), downloaded from the registry on a miss. A
// cached copy is reused after a restart, with or without a registry.
class CachedArtifactSource : public ArtifactSource {
 public:
  // `cache` is not owned. `registry` may be null: cache only.
  CachedArtifactSource(store::BlobStore* cache,
                       std::shared_ptr<grpc::Channel> registry,
                       absl::Duration timeout = absl::Minutes(2));

  // DATA_LOSS if the cached copy or the download does not hash to
  // `sha256` (a corrupt cached copy is deleted so that the next try
  // downloads it again); the registry's error, or UNAVAILABLE without a
  // registry, on a miss that cannot be downloaded.
  absl::StatusOr<std::string> Fetch(const std::string& model, int64_t version,
                                    const std::string& sha256) override;

  // Deletes cached artifacts not in `keep`. Returns how many it deleted.
  absl::StatusOr<int> Prune(const std::vector<std::string>& keep);

 private:
  absl::StatusOr<std::string> ReadCached(const std::string& sha256);
  absl::StatusOr<std::string> Download(const std::string& model,
                                       int64_t version,
                                       const std::string& sha256);

  store::BlobStore* const cache_;
  const std::unique_ptr<v1::RegistryService::Stub> registry_;
  const absl::Duration timeout_;
};

// The last deployment applied per model, one file each under `dir`
// (written atomically), for starting without a registry.
class DeploymentCache {
 public:
  explicit DeploymentCache(std::string dir);
  absl::Status Save(const v1::Deployment& deployment);
  // Every cached deployment, by model. Unreadable files are skipped with a
  // warning.
  std::vector<v1::Deployment> LoadAll() const;

 private:
  const std::string dir_;
};

struct RegistryWatcherOptions {
  // Null = no registry: only the cached deployments are served.
  std::shared_ptr<grpc::Channel> registry;
  // Models to watch; empty = all.
  std::vector<std::string> models;
  std::string pod_id;
  // This pod's gRPC address, reported to the registry.
  std::string address;
  absl::Duration min_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
  // Report at least this often until the registry says otherwise.
  absl::Duration report_interval = absl::Seconds(10);
  // Not owned; must outlive the watcher.
  ModelManager* manager = nullptr;
  // Not owned; may be null (no deployments kept on disk).
  DeploymentCache* deployments = nullptr;
  // Not owned; may be null (cached artifacts are never pruned).
  CachedArtifactSource* artifacts = nullptr;
};

// Three threads: the watch (WatchDeployments, reconnecting with
// exponential backoff and resuming after the last revision received), the
// loader (applies the newest pending deployment of each model: a burst of
// revisions while one loads coalesces into the newest), and the reporter
// (ReportServingState on every change and at least every interval).
class RegistryWatcher {
 public:
  explicit RegistryWatcher(RegistryWatcherOptions options);
  // Stops and joins the threads.
  ~RegistryWatcher();

  RegistryWatcher(const RegistryWatcher&) = delete;
  RegistryWatcher& operator=(const RegistryWatcher&) = delete;

  // Queues the cached deployments for loading, then starts the threads.
  void Start();
  // Cancels the watch and stops the threads. Idempotent.
  void Stop();

  // Something the pod serves changed: report it.
  void NotifyChanged();

  // Whether the watch stream is connected now.
  bool connected() const;
  // True while what is served came from the on-disk cache and the
  // registry has not been heard from since start.
  bool from_cache() const;

 private:
  void WatchLoop();
  void LoadLoop();
  void ReportLoop();
  // Waits up to `d` unless stopping; returns false when stopping.
  bool SleepUnlessStopping(absl::Duration d);
  void Enqueue(const v1::Deployment& deployment, bool from_cache);

  const RegistryWatcherOptions options_;
  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;
  bool heard_from_registry_ ABSL_GUARDED_BY(mu_) = false;
  bool applied_from_cache_ ABSL_GUARDED_BY(mu_) = false;
  int64_t last_revision_ ABSL_GUARDED_BY(mu_) = 0;
  // Newest deployment not yet applied, per model, and whether it came from
  // the disk cache.
  std::map<std::string, std::pair<v1::Deployment, bool>> pending_
      ABSL_GUARDED_BY(mu_);
  uint64_t changes_ ABSL_GUARDED_BY(mu_) = 0;
  grpc::ClientContext* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::unique_ptr<v1::RegistryService::Stub> stub_;
  std::vector<std::thread> threads_;
};

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_REGISTRY_CLIENT_H_
