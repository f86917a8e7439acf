// The drift service's own Prometheus metrics (besides the per-RPC ones
// every service has). Model ids arrive from clients, so the `model` label
// is bounded: the first `max_model_labels` models get their own series,
// later ones share `model="other"`. Per-feature reference-test gauges
// exist for the first `max_feature_labels` features only (feature indices
// are bounded by the model's input width, which may be thousands).
#ifndef CONTINUUM_SERVICES_DRIFT_DRIFT_METRICS_H_
#define CONTINUUM_SERVICES_DRIFT_DRIFT_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "continuum/v1/drift.pb.h"

namespace continuum::drift_service {

class DriftMetrics {
 public:
  explicit DriftMetrics(prometheus::Registry& registry,
                        int max_model_labels = 100,
                        int max_feature_labels = 32);

  void AddObservations(absl::string_view model, int64_t observations,
                       int64_t outcomes);
  // `type` is the AlertType's name, e.g. ALERT_TYPE_CONCEPT.
  void AddAlert(absl::string_view model, absl::string_view type);
  // A streaming detector signalled drift or (`warning`) a warning.
  void AddDetectorSignal(absl::string_view model, absl::string_view detector,
                         bool warning);
  // An alert's action was decided: `action` is the DriftAction's name,
  // `outcome` one of done, failed, suppressed, dry_run, none.
  void AddAction(absl::string_view model, absl::string_view action,
                 absl::string_view outcome);
  // A reference-test run: its verdict, drifted share, and per feature (the
  // first max_feature_labels) the PSI and the adjusted KS p-value.
  void RecordReferenceRun(absl::string_view model,
                          const v1::ReferenceTestRun& run);

  // The label value used for `model`.
  std::string ModelLabel(absl::string_view model);

 private:
  const size_t max_model_labels_;
  const int max_feature_labels_;
  prometheus::Family<prometheus::Counter>& observations_;
  prometheus::Family<prometheus::Counter>& outcomes_;
  prometheus::Family<prometheus::Counter>& alerts_;
  prometheus::Family<prometheus::Counter>& detector_signals_;
  prometheus::Family<prometheus::Counter>& actions_;
  prometheus::Family<prometheus::Counter>& reference_runs_;
  prometheus::Family<prometheus::Gauge>& drifted_share_;
  prometheus::Family<prometheus::Gauge>& feature_psi_;
  prometheus::Family<prometheus::Gauge>& feature_p_value_;
  absl::Mutex mu_;
  std::set<std::string, std::less<>> labelled_ ABSL_GUARDED_BY(mu_);
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_DRIFT_METRICS_H_
