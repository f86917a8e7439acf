// The inference pod's side of the registry's deployments: the watch that
// feeds deployments to the ModelManager, the on-disk copy of the last ones
// applied (DeploymentCache), and the reports of what the pod serves.
//
// Three threads: the watch (WatchDeployments, reconnecting with
// exponential backoff from min_backoff to max_backoff and resuming after
// the last revision received), the loader (applies the newest pending
// deployment of each model: a burst of revisions while one loads coalesces
// into the newest; a deployment whose artifact could not be fetched for
// now, UNAVAILABLE or DEADLINE_EXCEEDED, is tried again a second later
// unless a newer one arrived), and the reporter (ReportServingState on
// every change and at least every report_interval, or the interval the
// registry asks for). Every call names the caller "inference".
//
// Thread safety: every method is thread-safe.
#ifndef CONTINUUM_SERVICES_INFERENCE_REGISTRY_WATCHER_H_
#define CONTINUUM_SERVICES_INFERENCE_REGISTRY_WATCHER_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "services/inference/cached_artifact_source.h"
#include "services/inference/deployment_cache.h"
#include "services/inference/model_manager.h"

namespace continuum::inference {

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
  // Not owned; may be null (cached artifacts are never pruned). Pruned to
  // the artifacts of the deployments cached and pending after every apply.
  CachedArtifactSource* artifacts = nullptr;
};

class RegistryWatcher {
 public:
  explicit RegistryWatcher(RegistryWatcherOptions options);
  // Stops and joins the threads.
  ~RegistryWatcher();

  RegistryWatcher(const RegistryWatcher&) = delete;
  RegistryWatcher& operator=(const RegistryWatcher&) = delete;

  // Queues the cached deployments for loading, then starts the threads
  // (the loader only, without a registry).
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
  // Waits for a pending deployment and takes it; false when stopping.
  bool TakePending(v1::Deployment* deployment, bool* from_cache);
  // Applies one deployment (marking it from_cache first when it came from
  // the disk) and saves it to the disk cache when it came from the registry
  // and applied.
  absl::Status Apply(const v1::Deployment& deployment, bool from_cache);
  // Deletes the cached artifacts that no deployment cached, pending or
  // just `applied` names.
  void PruneArtifacts(const v1::Deployment& applied);
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

#endif  // CONTINUUM_SERVICES_INFERENCE_REGISTRY_WATCHER_H_
