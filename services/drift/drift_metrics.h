// The drift service's own Prometheus metrics (besides the per-RPC ones
// every service has). Model ids arrive from clients, so the `model` label
// is bounded: the first `max_model_labels` models get their own series,
// later ones share `model="other"`.
#ifndef CONTINUUM_SERVICES_DRIFT_DRIFT_METRICS_H_
#define CONTINUUM_SERVICES_DRIFT_DRIFT_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace continuum::drift_service {

class DriftMetrics {
 public:
  explicit DriftMetrics(prometheus::Registry& registry,
                        int max_model_labels = 100);

  void AddObservations(absl::string_view model, int64_t observations,
                       int64_t outcomes);
  // `type` is the AlertType's name, e.g. ALERT_TYPE_CONCEPT.
  void AddAlert(absl::string_view model, absl::string_view type);

  // The label value used for `model`.
  std::string ModelLabel(absl::string_view model);

 private:
  const size_t max_model_labels_;
  prometheus::Family<prometheus::Counter>& observations_;
  prometheus::Family<prometheus::Counter>& outcomes_;
  prometheus::Family<prometheus::Counter>& alerts_;
  absl::Mutex mu_;
  std::set<std::string, std::less<>> labelled_ ABSL_GUARDED_BY(mu_);
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_DRIFT_METRICS_H_
