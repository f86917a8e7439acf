#include "services/drift/monitor_test_util.h"

namespace continuum::drift_service {

v1::ObservationBatch Batch(const std::string& model, int64_t version,
                           const std::vector<bool>& correct) {
  v1::ObservationBatch batch;
  batch.set_model(model);
  batch.set_version(version);
  batch.set_num_rows(static_cast<int>(correct.size()));
  batch.set_feature_dim(2);
  for (size_t r = 0; r < correct.size(); ++r) {
    batch.add_features(1.0f);
    batch.add_features(2.0f);
    batch.add_confidences(0.9f);
    v1::ObservedOutcome* o = batch.add_outcomes();
    o->set_row(static_cast<int>(r));
    o->set_correct(correct[r]);
  }
  return batch;
}

std::vector<v1::Alert> AllAlerts(DriftMonitor& monitor) {
  return monitor.AlertsAfter(0, {}, v1::ALERT_SEVERITY_UNSPECIFIED, 1 << 30);
}

v1::ConfigureMonitorRequest ConfigureRequest(const std::string& model) {
  v1::ConfigureMonitorRequest request;
  request.mutable_monitor()->set_name("models/" + model + "/monitor");
  return request;
}

v1::ObservationBatch Outcomes(int64_t version, int n, int every) {
  v1::ObservationBatch batch;
  batch.set_model("m");
  batch.set_version(version);
  batch.set_kind(v1::OBSERVATION_KIND_OUTCOME);
  batch.set_num_rows(n);
  for (int r = 0; r < n; ++r) {
    v1::ObservedOutcome* o = batch.add_outcomes();
    o->set_row(r);
    o->set_correct(every == 0 || (r + 1) % every != 0);
  }
  return batch;
}

v1::ObservationBatch AllWrong(int64_t version, int n) {
  return Outcomes(version, n, /*every=*/1);
}

v1::ObservationBatch ErrorValues(int64_t version, int n, float value,
                                 float high, int every) {
  v1::ObservationBatch batch = Outcomes(version, n, 0);
  for (int r = 0; r < n; ++r) {
    batch.mutable_outcomes(r)->set_error_value(
        every != 0 && (r + 1) % every == 0 ? high : value);
  }
  return batch;
}

v1::ConfigureMonitorRequest PerformanceMonitor(bool dry_run) {
  v1::ConfigureMonitorRequest request;
  request.mutable_monitor()->set_name("models/m/monitor");
  auto* performance = request.mutable_monitor()->mutable_performance();
  performance->set_max_error_rate(0.2);
  performance->set_window_size(50);
  performance->set_min_outcomes(20);
  request.mutable_monitor()->mutable_actions()->set_dry_run(dry_run);
  return request;
}

absl::StatusOr<v1::ReferenceStatistics> FakeReferences::Fetch(
    const std::string& model, int64_t version) {
  absl::MutexLock lock(&mu_);
  fetches.push_back(absl::StrCat(model, "/", version));
  if (!errors.empty()) {
    absl::Status s = errors.front();
    errors.erase(errors.begin());
    return s;
  }
  v1::ReferenceStatistics stats;
  stats.set_sample_count(5000);
  stats.set_error_rate(0.1);
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0, 1);
  for (int f = 0; f < features; ++f) {
    v1::FeatureReference* ref = stats.add_features();
    ref->set_index(f);
    ref->set_name(absl::StrCat("f", f));
    for (int i = 0; i < 512; ++i) ref->add_sample(normal(rng));
  }
  std::uniform_real_distribution<float> confidence(0.6f, 1.0f);
  stats.mutable_predictions()->set_index(-1);
  for (int i = 0; i < 512; ++i) {
    stats.mutable_predictions()->add_sample(confidence(rng));
  }
  return stats;
}

v1::ObservationBatch FeatureRows(int64_t version, int rows, int shifted,
                                 uint32_t seed, int dim) {
  v1::ObservationBatch batch;
  batch.set_model("m");
  batch.set_version(version);
  batch.set_kind(v1::OBSERVATION_KIND_PREDICTION);
  batch.set_num_rows(rows);
  batch.set_feature_dim(dim);
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0, 1);
  std::uniform_real_distribution<float> confidence(0.6f, 1.0f);
  for (int r = 0; r < rows; ++r) {
    for (int f = 0; f < dim; ++f) {
      batch.add_features(normal(rng) + (f < shifted ? 3.0f : 0.0f));
    }
    batch.add_confidences(confidence(rng));
  }
  return batch;
}

}  // namespace continuum::drift_service
