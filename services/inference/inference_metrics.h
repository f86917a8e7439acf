// The inference service's Prometheus metrics: requests and failures by
// model, role and code; queue time apart from compute time; batch sizes;
// swaps and their duration; load failures by stage; shadow disagreement.
// Versions are not labels (a model goes through hundreds): the gauge
// continuum_inference_serving_version{model,role} says which one serves.
#ifndef CONTINUUM_SERVICES_INFERENCE_INFERENCE_METRICS_H_
#define CONTINUUM_SERVICES_INFERENCE_INFERENCE_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

#include "absl/status/status.h"
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
};

// "stable", "canary", "shadow", "pinned" or "unspecified".
std::string RoleName(v1::ServingRole role);

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_INFERENCE_METRICS_H_
