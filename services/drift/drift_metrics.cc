#include "services/drift/drift_metrics.h"

#include "lib/core/metrics.h"

namespace continuum::drift_service {
namespace {

template <typename Builder>
auto& Build(Builder builder, prometheus::Registry& registry, const char* name,
            const char* help) {
  return builder.Name(core::MetricName("drift", name))
      .Help(help)
      .Register(registry);
}

}  // namespace

DriftMetrics::DriftMetrics(prometheus::Registry& registry, int max_model_labels)
    : max_model_labels_(max_model_labels < 0 ? 0 : max_model_labels),
      observations_(Build(prometheus::BuildCounter(), registry,
                          "observations_total",
                          "Observations (rows) processed, by model.")),
      outcomes_(Build(prometheus::BuildCounter(), registry, "outcomes_total",
                      "Outcomes processed, by model.")),
      alerts_(Build(prometheus::BuildCounter(), registry, "alerts_total",
                    "Alerts raised, by model and type.")) {}

std::string DriftMetrics::ModelLabel(absl::string_view model) {
  absl::MutexLock lock(&mu_);
  if (labelled_.find(model) != labelled_.end()) return std::string(model);
  if (labelled_.size() < max_model_labels_) {
    labelled_.emplace(model);
    return std::string(model);
  }
  return "other";
}

void DriftMetrics::AddObservations(absl::string_view model,
                                   int64_t observations, int64_t outcomes) {
  const std::string label = ModelLabel(model);
  observations_.Add({{"model", label}})
      .Increment(static_cast<double>(observations));
  outcomes_.Add({{"model", label}}).Increment(static_cast<double>(outcomes));
}

void DriftMetrics::AddAlert(absl::string_view model, absl::string_view type) {
  alerts_.Add({{"model", ModelLabel(model)}, {"type", std::string(type)}})
      .Increment();
}

}  // namespace continuum::drift_service
