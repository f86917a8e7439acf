// Streaming drift detectors with River's semantics (online-ml/river,
// river/drift): each consumes one observation at a time and says whether
// drift (and, where the method has one, a warning) was detected after it.
//
// Reset behaviour follows River: after an update that detected drift, the
// next Update() first resets the detector to its initial state (River's
// `_reset()`), then consumes the new observation. Reset() does the same at
// any time.
//
// A detector is not thread-safe: one owner updates and reads it.
//
// The binary detectors (DDM, EDDM, HDDM_A, HDDM_W) expect 0/1 input (1 is an
// error); like River they use any other value as given (EDDM counts an
// error exactly when x == 1).
//
// MakeDetector builds one by name with River's parameter names:
//   adwin         delta clock max_buckets min_window_length grace_period
//   page_hinkley  min_instances delta threshold alpha mode
//   ddm           warm_start warning_threshold drift_threshold
//   eddm          warm_start alpha beta
//   hddm_a        drift_confidence warning_confidence two_sided_test
//   hddm_w        drift_confidence warning_confidence lambda_val
//                 two_sided_test
//   kswin         alpha window_size stat_size seed
#ifndef CONTINUUM_LIB_DRIFT_STREAMING_DETECTOR_H_
#define CONTINUUM_LIB_DRIFT_STREAMING_DETECTOR_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace continuum::drift {

// One named internal statistic of a detector (for status pages and logs).
using DetectorStatistic = std::pair<std::string, double>;

class StreamingDetector {
 public:
  virtual ~StreamingDetector() = default;

  // The detector's name as MakeDetector knows it ("adwin", ...).
  virtual absl::string_view name() const = 0;
  // Consumes one observation.
  virtual void Update(double x) = 0;
  // Whether the last Update() detected drift.
  virtual bool drift_detected() const = 0;
  // Whether the detector is in its warning zone after the last Update();
  // always false for detectors without one (ADWIN, Page-Hinkley, KSWIN).
  virtual bool warning_detected() const { return false; }
  // Back to the state right after construction.
  virtual void Reset() = 0;
  // The detector's internal statistics, by name, in a fixed order.
  virtual std::vector<DetectorStatistic> Statistics() const = 0;
};

// The names MakeDetector accepts, in a fixed order.
const std::vector<std::string>& DetectorNames();

// The parameter names of detector `name` (empty if unknown).
std::vector<std::string> DetectorParameterNames(absl::string_view name);

// Builds detector `name` with River's defaults overridden by `params`
// (parameter name -> value as text). INVALID_ARGUMENT, naming the problem
// and the allowed values, for an unknown detector, an unknown parameter, a
// value that does not parse or one out of range.
absl::StatusOr<std::unique_ptr<StreamingDetector>> MakeDetector(
    absl::string_view name, const std::map<std::string, std::string>& params);

}  // namespace continuum::drift

#endif  // CONTINUUM_LIB_DRIFT_STREAMING_DETECTOR_H_
