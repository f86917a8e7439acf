// DeploymentFeed: the deployment reads that WatchDeployments streams share.
// A new revision wakes every open watch at once, and watches of the same
// models at the same cursor then ask the same question ("revisions after
// N"); the feed reads the store once for all of them, on the publishing
// thread, instead of once per watch (a thousand watches: one store read).
//
// An answer is reused only while the registry's latest revision is the one
// it was read at, so it holds every revision up to that one; any newer
// revision starts a new read. Everything else goes to the Registry.
//
// Thread-safe.
#ifndef CONTINUUM_SERVICES_REGISTRY_DEPLOYMENT_FEED_H_
#define CONTINUUM_SERVICES_REGISTRY_DEPLOYMENT_FEED_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "continuum/v1/registry.pb.h"
#include "services/registry/registry.h"

namespace continuum::registry {

class DeploymentFeed {
 public:
  // `registry` must outlive the feed.
  explicit DeploymentFeed(Registry* registry) : registry_(registry) {}

  DeploymentFeed(const DeploymentFeed&) = delete;
  DeploymentFeed& operator=(const DeploymentFeed&) = delete;

  Registry& registry() { return *registry_; }

  // Registry::DeploymentsSince(since, models, limit), read when the
  // registry's latest revision was `latest` (what the caller read before
  // asking): answered from the last read when it asked the same at the
  // same latest revision.
  absl::StatusOr<std::shared_ptr<const std::vector<v1::Deployment>>> Since(
      int64_t since, const std::vector<std::string>& models, int limit,
      int64_t latest) ABSL_LOCKS_EXCLUDED(mu_);

  // Store reads made so far (for tests).
  int64_t reads() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Query {
    int64_t since = 0;
    std::vector<std::string> models;
    int limit = 0;
    int64_t latest = 0;
    bool operator==(const Query&) const = default;
  };

  Registry* const registry_;
  mutable absl::Mutex mu_;
  // The last read and its answer. Held across the read, so watches woken
  // together wait for the first one's read rather than read again.
  Query last_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const std::vector<v1::Deployment>> answer_
      ABSL_GUARDED_BY(mu_);
  int64_t reads_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_DEPLOYMENT_FEED_H_
