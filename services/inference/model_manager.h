// The versions an inference pod serves, per model, and how requests are
// routed to them. Plain C++ (no gRPC): the registry watcher feeds it
// deployments, the gRPC handlers ask it for routes.
//
// Hot swap: Apply loads every version a deployment names that is not held
// yet (fetch, verify, parse, validate, build, warm up), off the request
// path, and only then replaces the model's serving set in one pointer swap.
// Requests that already hold a version finish on it; a version swapped out
// is UNLOADING until the last such request lets go, then freed. A version
// that fails to load is FAILED with its reason and never served; the
// versions already serving keep serving.
#ifndef CONTINUUM_SERVICES_INFERENCE_MODEL_MANAGER_H_
#define CONTINUUM_SERVICES_INFERENCE_MODEL_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/common.pb.h"
#include "continuum/v1/registry.pb.h"
#include "lib/core/clock.h"
#include "services/inference/batcher.h"
#include "services/inference/servable.h"

namespace continuum::inference {

// Where artifacts come from (the registry through a local cache).
class ArtifactSource {
 public:
  virtual ~ArtifactSource() = default;
  // The artifact of `model` version `version`, whose SHA-256 must be
  // `sha256`. Implementations verify it: DATA_LOSS on a mismatch.
  virtual absl::StatusOr<std::string> Fetch(const std::string& model,
                                            int64_t version,
                                            const std::string& sha256) = 0;
};

// Events for metrics. Called on the thread that calls Apply.
class ModelManagerObserver {
 public:
  virtual ~ModelManagerObserver() = default;
  // A deployment was swapped in; `load` is the time spent loading and
  // warming up its new versions.
  virtual void OnSwap(const std::string& model, absl::Duration load) = 0;
  // A version failed to load; `stage` is fetch, parse, build or warmup.
  virtual void OnLoadFailure(const std::string& model,
                             const std::string& stage) = 0;
};

// Where one request goes.
struct Route {
  // The version that answers.
  ServableHandle servable;
  v1::ServingRole role = v1::SERVING_ROLE_UNSPECIFIED;
  // The deployment revision in force when the request was routed.
  int64_t revision = 0;
  // Set when the request is also copied to the shadow version.
  ServableHandle shadow;
  // The model's queue and workers. Lives as long as the manager.
  BatchScheduler* scheduler = nullptr;
};

struct ModelManagerOptions {
  // Batching and workers of each model.
  BatchSchedulerOptions batching;
  // Not owned; must outlive the manager.
  ArtifactSource* source = nullptr;
  // Not owned; may be null.
  ModelManagerObserver* observer = nullptr;
  // Not owned; null = the real clock. Stamps available_time.
  core::Clock* clock = nullptr;
  // Called (outside the manager's lock) after every change of what is
  // served or loading; the pod reports to the registry and updates its
  // readiness there.
  std::function<void()> on_change;
};

class ModelManager {
 public:
  explicit ModelManager(ModelManagerOptions options);
  ~ModelManager();

  ModelManager(const ModelManager&) = delete;
  ModelManager& operator=(const ModelManager&) = delete;

  // Applies a deployment: loads and warms up the versions it names that are
  // not held yet (blocking: call it off the request path), then swaps the
  // model's serving set. A version that failed before with the same
  // artifact is not retried. Returns OK when every version is served as
  // the deployment says; otherwise the first failure, and the model serves
  // what loaded: a failed stable version leaves the previous stable
  // serving, a failed canary or shadow is left out. The revision applied
  // already is a no-op; any other is applied, lower ones included (a
  // registry restored from a backup goes back, and the pod follows it).
  absl::Status Apply(const v1::Deployment& deployment);

  // Marks `revision` as being loaded for the model (GetModelStatus shows
  // it as pending_revision).
  void SetPending(const std::string& model, int64_t revision);

  // Routes one request. `pinned` > 0 asks for that version (role PINNED);
  // else the canary answers canary_percent % of requests, by a hash of
  // `routing_key` when the routing is sticky and the key is set, at random
  // otherwise; the shadow gets a copy of shadow_percent % of requests.
  // NOT_FOUND for a model the pod does not serve or a pinned version it
  // does not hold (the message lists those it holds); UNAVAILABLE while no
  // version of the model is available.
  absl::StatusOr<Route> RouteRequest(absl::string_view model, int64_t pinned,
                                     absl::string_view routing_key) const;

  // Per model (all when `model` is empty): the revision applied, the one
  // loading, and every version held with its state and role; FAILED
  // versions of the latest deployment with their reasons. NOT_FOUND for a
  // model the pod does not serve.
  absl::StatusOr<std::vector<v1::ModelServingStatus>> Status(
      absl::string_view model) const;

  // True once any model has an available version.
  bool ready() const;

  // The models the pod knows, sorted.
  std::vector<std::string> models() const;

 private:
  struct ServingSet {
    int64_t revision = 0;
    ServableHandle stable, canary, shadow;
    int canary_percent = 0;
    int shadow_percent = 0;
    v1::RoutingMode routing = v1::ROUTING_MODE_STICKY;
  };
  struct ModelEntry {
    std::unique_ptr<BatchScheduler> scheduler;
    std::shared_ptr<const ServingSet> serving;
    int64_t pending_revision = 0;
    // Versions of the latest deployment that failed: version -> reason.
    std::map<int64_t, std::string> failed;
    // Artifacts that failed, by SHA-256 -> reason; not retried.
    absl::flat_hash_map<std::string, std::string> failed_artifacts;
    // Versions swapped out, alive while requests hold them.
    std::vector<std::weak_ptr<const Servable>> retired;
  };

  // What the versions of a deployment came to.
  struct LoadOutcome {
    // Held already with the same artifact, or newly loaded; by version.
    std::map<int64_t, ServableHandle> loaded;
    // Versions that failed: version -> reason.
    std::map<int64_t, std::string> failed;
    // Artifacts that failed for good (not at fetch): SHA-256 -> reason.
    absl::flat_hash_map<std::string, std::string> newly_failed;
    // The first failure, as Apply returns it; OK when none failed.
    absl::Status first_failure;
    // Whether a version was loaded (not only taken from `held`).
    bool loaded_new = false;
  };

  // Loads the versions of `deployment` that are not in `held` with the same
  // artifact, skipping the artifacts in `failed_before`. Blocking.
  LoadOutcome LoadVersions(
      const v1::Deployment& deployment,
      const std::map<int64_t, ServableHandle>& held,
      const absl::flat_hash_map<std::string, std::string>& failed_before);
  // The serving set `deployment` asks for, made of what loaded; a stable
  // version that failed leaves `current`'s stable serving, and the
  // revision stays `current`'s unless every version loaded.
  static std::shared_ptr<const ServingSet> NextServingSet(
      const v1::Deployment& deployment, const ServingSet& current,
      const LoadOutcome& outcome);
  // Swaps in `next` (versions it drops are retired), records the failures
  // of `outcome` (moved from) and clears the pending revision it covers.
  void Install(const v1::Deployment& deployment,
               std::shared_ptr<const ServingSet> next, LoadOutcome& outcome)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Loads one version: fetch, parse, validate, build, warm up.
  absl::StatusOr<ServableHandle> Load(const std::string& model,
                                      int64_t version,
                                      const std::string& sha256,
                                      std::string* stage);
  ModelEntry& EntryLocked(const std::string& model)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Changed() const;

  const ModelManagerOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<ModelEntry>> models_
      ABSL_GUARDED_BY(mu_);
};

// Lowers the calling thread's scheduling priority (nice 10), for the thread
// that calls ModelManager::Apply: loading and warming up a version then
// yields the CPU to the request path, so a swap does not stretch the
// latency of the requests being served meanwhile. Best effort: a failure
// is logged and ignored.
void LowerThreadPriority();

// OK if every value is finite (warm-up outputs); otherwise
// INTERNAL naming the first bad value.
absl::Status CheckFinite(absl::Span<const float> values);

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_MODEL_MANAGER_H_
