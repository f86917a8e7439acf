// The streaming detectors of one model version: one lib/drift detector per
// DetectorConfig of the model's monitor (built through MakeDetector on the
// version's first observations, rebuilt after the configuration changes),
// their state and counts, and the alerts they raise. A detector on
// ERROR_RATE or ERROR_VALUE raises ALERT_TYPE_CONCEPT, on PREDICTION
// ALERT_TYPE_PREDICTION, on FEATURE ALERT_TYPE_DATA: on drift at its
// drift_severity, and on a warning (with alert_on_warning) at INFO. The
// alert's statistic is the detector's estimate of the stream's mean where
// it has one ("estimation", "x_mean").
//
// Not thread-safe: DriftMonitor holds its mutex around every call.
#ifndef CONTINUUM_SERVICES_DRIFT_DETECTOR_SET_H_
#define CONTINUUM_SERVICES_DRIFT_DETECTOR_SET_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "continuum/v1/drift.pb.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "lib/core/clock.h"
#include "lib/drift/streaming_detector.h"

namespace continuum::drift_service {

class DriftMetrics;

// The alert type of a detector watching `signal`.
v1::AlertType AlertTypeOf(v1::MonitoredSignal signal);

class DetectorSet {
 public:
  // Builds the detectors of `monitor` unless they are built. A detector
  // that does not build is skipped (ConfigureMonitor validated them).
  void Build(const v1::Monitor& monitor);
  // Drops the detectors; the next Build starts over.
  void Clear();

  // The default monitor's `error_adwin` watches whichever error stream the
  // version's outcomes carry (drift.proto: "adwin on ERROR_RATE or
  // ERROR_VALUE"): switches it to ERROR_VALUE.
  void FollowErrorValues();

  // The features that detectors watch, each once, in detector order.
  std::vector<int> WatchedFeatures() const;

  // Where a value comes from and what an alert needs.
  struct Context {
    absl::string_view model;
    int64_t version = 0;
    core::Clock* clock = nullptr;     // Alerts' create_time.
    DriftMetrics* metrics = nullptr;  // Optional.
  };
  // Feeds `x`, observation `index` of the stream, to the detectors on
  // `signal` (for FEATURE: those on `feature_index`); appends the alerts
  // they raise (no sequence yet) to `alerts`.
  void Feed(const Context& context, v1::MonitoredSignal signal,
            int feature_index, double x, int64_t index,
            std::vector<v1::Alert>& alerts);

  // Appends the status of each detector (GetDriftStatus).
  void AppendStatus(
      int64_t version,
      google::protobuf::RepeatedPtrField<v1::DetectorStatus>& out) const;

 private:
  struct Instance {
    v1::DetectorConfig config;
    v1::MonitoredSignal signal = v1::MONITORED_SIGNAL_UNSPECIFIED;
    std::unique_ptr<drift::StreamingDetector> detector;
    v1::DetectorState state = v1::DETECTOR_STATE_STABLE;
    int64_t observations = 0;
    int64_t drift_count = 0;
    int64_t warning_count = 0;
    int64_t last_drift_index = -1;
    absl::Time last_drift_time = absl::InfinitePast();
  };
  // Updates `d` with `x`; returns its alert if it raises one.
  static std::optional<v1::Alert> Update(Instance& d, const Context& context,
                                         int feature_index, double x,
                                         int64_t index);

  std::vector<Instance> detectors_;
  bool built_ = false;
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_DETECTOR_SET_H_
