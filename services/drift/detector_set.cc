#include "services/drift/detector_set.h"

#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "services/drift/drift_metrics.h"

namespace continuum::drift_service {

v1::AlertType AlertTypeOf(v1::MonitoredSignal signal) {
  switch (signal) {
    case v1::MONITORED_SIGNAL_ERROR_RATE:
    case v1::MONITORED_SIGNAL_ERROR_VALUE:
      return v1::ALERT_TYPE_CONCEPT;
    case v1::MONITORED_SIGNAL_PREDICTION:
      return v1::ALERT_TYPE_PREDICTION;
    case v1::MONITORED_SIGNAL_FEATURE:
      return v1::ALERT_TYPE_DATA;
    default:
      return v1::ALERT_TYPE_UNSPECIFIED;
  }
}

void DetectorSet::Build(const v1::Monitor& monitor) {
  if (built_) return;
  detectors_.clear();
  for (const v1::DetectorConfig& d : monitor.detectors()) {
    std::map<std::string, std::string> params(d.params().begin(),
                                              d.params().end());
    absl::StatusOr<std::unique_ptr<drift::StreamingDetector>> made =
        drift::MakeDetector(d.detector(), params);
    if (!made.ok()) continue;  // Validated at configuration; cannot happen.
    Instance instance;
    instance.config = d;
    instance.signal = d.signal();
    instance.detector = *std::move(made);
    detectors_.push_back(std::move(instance));
  }
  built_ = true;
}

void DetectorSet::Clear() {
  detectors_.clear();
  built_ = false;
}

void DetectorSet::FollowErrorValues() {
  for (Instance& d : detectors_) {
    if (d.config.id() == "error_adwin") {
      d.signal = v1::MONITORED_SIGNAL_ERROR_VALUE;
    }
  }
}

std::vector<int> DetectorSet::WatchedFeatures() const {
  std::vector<int> features;
  std::set<int> seen;
  for (const Instance& d : detectors_) {
    if (d.signal != v1::MONITORED_SIGNAL_FEATURE) continue;
    if (seen.insert(d.config.feature_index()).second) {
      features.push_back(d.config.feature_index());
    }
  }
  return features;
}

void DetectorSet::Feed(const Context& context, v1::MonitoredSignal signal,
                       int feature_index, double x, int64_t index,
                       std::vector<v1::Alert>& alerts) {
  for (Instance& d : detectors_) {
    if (d.signal != signal) continue;
    if (signal == v1::MONITORED_SIGNAL_FEATURE &&
        d.config.feature_index() != feature_index) {
      continue;
    }
    std::optional<v1::Alert> alert =
        Update(d, context, feature_index, x, index);
    if (alert.has_value()) alerts.push_back(*std::move(alert));
  }
}

std::optional<v1::Alert> DetectorSet::Update(Instance& d,
                                             const Context& context,
                                             int feature_index, double x,
                                             int64_t index) {
  const bool was_warning = d.state == v1::DETECTOR_STATE_WARNING;
  d.detector->Update(x);
  ++d.observations;
  const bool drift = d.detector->drift_detected();
  const bool warning = !drift && d.detector->warning_detected();
  d.state = drift     ? v1::DETECTOR_STATE_DRIFT
            : warning ? v1::DETECTOR_STATE_WARNING
                      : v1::DETECTOR_STATE_STABLE;
  if (warning && !was_warning) {
    ++d.warning_count;
    if (context.metrics != nullptr) {
      context.metrics->AddDetectorSignal(context.model, d.config.id(), true);
    }
  }
  const bool alert_warning =
      warning && !was_warning && d.config.alert_on_warning();
  if (!drift && !alert_warning) return std::nullopt;
  const absl::Time now = context.clock->Now();
  if (drift) {
    ++d.drift_count;
    d.last_drift_index = index;
    d.last_drift_time = now;
    if (context.metrics != nullptr) {
      context.metrics->AddDetectorSignal(context.model, d.config.id(), false);
    }
  }
  const v1::MonitoredSignal signal = d.signal;
  v1::Alert alert;
  alert.set_model(std::string(context.model));
  alert.set_version(context.version);
  alert.set_type(AlertTypeOf(signal));
  alert.set_severity(drift ? d.config.drift_severity()
                           : v1::ALERT_SEVERITY_INFO);
  alert.set_detector(d.config.id());
  alert.set_feature_index(
      signal == v1::MONITORED_SIGNAL_FEATURE ? feature_index : -1);
  alert.set_observation_index(index);
  *alert.mutable_create_time() = core::ToProto(now);
  // The detector's estimate of the stream's mean where it has one.
  for (const drift::DetectorStatistic& s : d.detector->Statistics()) {
    if (s.first == "estimation" || s.first == "x_mean") {
      alert.set_statistic(s.second);
      break;
    }
  }
  alert.set_message(
      absl::StrCat(d.config.detector(), " ", drift ? "drift" : "warning",
                   " on ", v1::MonitoredSignal_Name(signal),
                   signal == v1::MONITORED_SIGNAL_FEATURE
                       ? absl::StrCat(" feature ", feature_index)
                       : "",
                   " of version ", context.version, " at observation ", index));
  return alert;
}

void DetectorSet::AppendStatus(
    int64_t version,
    google::protobuf::RepeatedPtrField<v1::DetectorStatus>& out) const {
  for (const Instance& d : detectors_) {
    v1::DetectorStatus* s = out.Add();
    s->set_detector_id(d.config.id());
    s->set_detector(d.config.detector());
    s->set_signal(d.signal);
    s->set_feature_index(d.config.feature_index());
    s->set_version(version);
    s->set_state(d.state);
    s->set_observations(d.observations);
    s->set_drift_count(d.drift_count);
    s->set_warning_count(d.warning_count);
    s->set_last_drift_index(d.last_drift_index);
    if (d.last_drift_index >= 0) {
      *s->mutable_last_drift_time() = core::ToProto(d.last_drift_time);
    }
    for (const drift::DetectorStatistic& stat : d.detector->Statistics()) {
      (*s->mutable_statistics())[stat.first] = stat.second;
    }
  }
}

}  // namespace continuum::drift_service
