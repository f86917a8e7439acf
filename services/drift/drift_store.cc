#include "services/drift/drift_store.h"

namespace continuum::drift_service {

absl::StatusOr<DriftState> InMemoryDriftStore::Load() {
  absl::MutexLock lock(&mu_);
  DriftState state;
  state.monitors = monitors_;
  for (const auto& [sequence, alert] : alerts_) state.alerts.push_back(alert);
  state.last_actions = last_actions_;
  return state;
}

absl::Status InMemoryDriftStore::PutMonitor(const std::string& model,
                                            const v1::Monitor& monitor) {
  absl::MutexLock lock(&mu_);
  monitors_[model] = monitor;
  return absl::OkStatus();
}

absl::Status InMemoryDriftStore::PutAlert(const v1::Alert& alert) {
  absl::MutexLock lock(&mu_);
  alerts_[alert.sequence()] = alert;
  const int64_t newest = alerts_.rbegin()->first;
  while (!alerts_.empty() && alerts_.begin()->first <= newest - max_alerts_) {
    alerts_.erase(alerts_.begin());
  }
  return absl::OkStatus();
}

absl::Status InMemoryDriftStore::PutLastAction(const std::string& model,
                                               absl::Time time) {
  absl::MutexLock lock(&mu_);
  last_actions_[model] = time;
  return absl::OkStatus();
}

}  // namespace continuum::drift_service
