// The inference service's Prometheus metrics: requests and failures by
// model, role and code; queue time apart from compute time; batch sizes;
// swaps and their duration; load failures by stage; shadow disagreement.
// Versions are not labels (a model goes through hundreds): the gauge
// continuum_inference_serving_version{model,role} says which one serves.
//
// Request path: the children a successful request updates (requests and
// rows by role, queue and compute time, batch rows) are looked up once per
// model and kept, so a prediction builds no label set and takes no family
// lock; other codes (errors, where the model name may be anything a client
// sent) go through the families as before. A child appears in the
// exposition when it is first updated, as with prometheus-cpp's Add.
//
// Thread safety: every method is thread-safe.
#ifndef CONTINUUM_SERVICES_INFERENCE_INFERENCE_METRICS_H_
#define CONTINUUM_SERVICES_INFERENCE_INFERENCE_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "continuum/v1/common.pb.h"
#include "services/inference/batcher.h"
#include "services/inference/model_manager.h"

namespace continuum::inference {

class InferenceMetrics : public BatchObserver, public ModelManagerObserver {
 public:
  explicit InferenceMetrics(prometheus::Registry& registry);

  // One request answered with `code`, `rows` rows.
  void OnRequest(const std::string& model, v1::ServingRole role,
                 absl::StatusCode code, int rows);
  // Shadow rows run and how many of them disagreed with the answer.
  void OnShadow(const std::string& model, int rows, int disagreements);
  // The versions serving a model now (0 = none).
  void SetServingVersion(const std::string& model, v1::ServingRole role,
                         int64_t version);

  // BatchObserver.
  void OnBatch(const Servable& servable, int tasks, int rows,
               absl::Duration compute) override;
  void OnQueued(const Servable& servable, absl::Duration queued) override;
  // ModelManagerObserver.
  void OnSwap(const std::string& model, absl::Duration load) override;
  void OnLoadFailure(const std::string& model,
                     const std::string& stage) override;

 private:
  // Roles by number (v1::ServingRole 0-4); others count as unspecified.
  static constexpr int kRoles = 5;
  // One model's children on the request path, each made on first use.
  struct ModelChildren {
    std::array<std::atomic<prometheus::Counter*>, kRoles> ok_requests{};
    std::array<std::atomic<prometheus::Counter*>, kRoles> rows{};
    std::atomic<prometheus::Histogram*> queue_seconds{nullptr};
    std::atomic<prometheus::Histogram*> compute_seconds{nullptr};
    std::atomic<prometheus::Histogram*> batch_rows{nullptr};
  };

  // The children of `model`, made on first use; never freed (as the
  // families' children are not).
  ModelChildren& ChildrenOf(absl::string_view model);

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& rows_;
  prometheus::Family<prometheus::Histogram>& queue_seconds_;
  prometheus::Family<prometheus::Histogram>& compute_seconds_;
  prometheus::Family<prometheus::Histogram>& batch_rows_;
  prometheus::Family<prometheus::Counter>& swaps_;
  prometheus::Family<prometheus::Histogram>& swap_seconds_;
  prometheus::Family<prometheus::Counter>& load_failures_;
  prometheus::Family<prometheus::Gauge>& serving_version_;
  prometheus::Family<prometheus::Counter>& shadow_rows_;
  prometheus::Family<prometheus::Counter>& shadow_disagreements_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<ModelChildren>> children_
      ABSL_GUARDED_BY(mu_);
};

// "stable", "canary", "shadow", "pinned" or "unspecified".
std::string RoleName(v1::ServingRole role);

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_INFERENCE_METRICS_H_
