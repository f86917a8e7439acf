#include "services/drift/drift_metrics.h"

#include <map>
#include <string>

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

DriftMetrics::DriftMetrics(prometheus::Registry& registry, int max_model_labels,
                           int max_feature_labels)
    : max_model_labels_(max_model_labels < 0 ? 0 : max_model_labels),
      max_feature_labels_(max_feature_labels < 0 ? 0 : max_feature_labels),
      observations_(Build(prometheus::BuildCounter(), registry,
                          "observations_total",
                          "Observations (rows) processed, by model.")),
      outcomes_(Build(prometheus::BuildCounter(), registry, "outcomes_total",
                      "Outcomes processed, by model.")),
      alerts_(Build(prometheus::BuildCounter(), registry, "alerts_total",
                    "Alerts raised, by model and type.")),
      detector_signals_(Build(
          prometheus::BuildCounter(), registry, "detector_signals_total",
          "Drift and warning signals of streaming detectors, by model, "
          "detector id and kind (drift, warning).")),
      actions_(Build(prometheus::BuildCounter(), registry, "actions_total",
                     "Actions decided for alerts, by model, action and "
                     "outcome (done, failed, suppressed, dry_run, none).")),
      reference_runs_(Build(prometheus::BuildCounter(), registry,
                            "reference_runs_total",
                            "Reference-test runs, by model and result "
                            "(drift, no_drift).")),
      drifted_share_(Build(prometheus::BuildGauge(), registry,
                           "reference_drifted_share",
                           "Share of features drifted in the latest "
                           "reference-test run, by model.")),
      feature_psi_(Build(prometheus::BuildGauge(), registry, "feature_psi",
                         "PSI of a feature in the latest reference-test run "
                         "(the first features only), by model and feature.")),
      feature_p_value_(Build(prometheus::BuildGauge(), registry,
                             "feature_p_value",
                             "Adjusted KS p-value of a feature in the latest "
                             "reference-test run (the first features only), "
                             "by model and feature.")) {}

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

void DriftMetrics::AddDetectorSignal(absl::string_view model,
                                     absl::string_view detector, bool warning) {
  detector_signals_
      .Add({{"model", ModelLabel(model)},
            {"detector", std::string(detector)},
            {"kind", warning ? "warning" : "drift"}})
      .Increment();
}

void DriftMetrics::AddAction(absl::string_view model, absl::string_view action,
                             absl::string_view outcome) {
  actions_
      .Add({{"model", ModelLabel(model)},
            {"action", std::string(action)},
            {"outcome", std::string(outcome)}})
      .Increment();
}

void DriftMetrics::RecordReferenceRun(absl::string_view model,
                                      const v1::ReferenceTestRun& run) {
  const std::string label = ModelLabel(model);
  reference_runs_
      .Add({{"model", label},
            {"result", run.dataset_drifted() ? "drift" : "no_drift"}})
      .Increment();
  drifted_share_.Add({{"model", label}}).Set(run.drifted_share());
  for (const v1::FeatureTestResult& r : run.results()) {
    if (r.feature_index() < 0 || r.feature_index() >= max_feature_labels_) {
      continue;
    }
    const std::map<std::string, std::string> labels = {
        {"model", label}, {"feature", std::to_string(r.feature_index())}};
    if (r.test() == v1::REFERENCE_TEST_PSI) {
      feature_psi_.Add(labels).Set(r.statistic());
    } else if (r.test() == v1::REFERENCE_TEST_KS) {
      feature_p_value_.Add(labels).Set(r.adjusted_p_value());
    }
  }
}

}  // namespace continuum::drift_service
