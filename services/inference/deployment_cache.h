// The last deployment applied per model, kept on local disk so that a pod
// restarting without a registry serves what it served before (the registry
// watcher saves each deployment it applied and loads them all at start).
//
// Layout: one file per model, `<dir>/<model>.deployment.pb`, the serialized
// v1::Deployment, replaced atomically (FileSystem::WriteFileAtomically), so
// a crash leaves the old or the new deployment, never a torn one.
//
// Thread safety: thread-safe (each call is one file system operation on
// its own file; saves of the same model race last-writer-wins).
#ifndef CONTINUUM_SERVICES_INFERENCE_DEPLOYMENT_CACHE_H_
#define CONTINUUM_SERVICES_INFERENCE_DEPLOYMENT_CACHE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "continuum/v1/registry.pb.h"
#include "lib/store/file_system.h"

namespace continuum::inference {

class DeploymentCache {
 public:
  // Files go under `dir`, created on the first Save. `fs` is not owned.
  explicit DeploymentCache(std::string dir,
                           store::FileSystem* fs = store::DefaultFileSystem());

  // Replaces the cached deployment of `deployment.model()`. The file
  // system's errors (UNAVAILABLE, PERMISSION_DENIED).
  absl::Status Save(const v1::Deployment& deployment);

  // Every cached deployment, sorted by model. Unreadable files (and files
  // without a model) are skipped with a warning; a missing directory is
  // an empty cache.
  std::vector<v1::Deployment> LoadAll() const;

 private:
  const std::string dir_;
  store::FileSystem* const fs_;
};

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_DEPLOYMENT_CACHE_H_
