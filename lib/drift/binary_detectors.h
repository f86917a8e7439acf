// River's binary drift detectors (river/drift/binary): input 1 is an error,
// 0 a correct prediction. Each has a warning zone.
//
//  - Ddm:   Drift Detection Method (Gama et al. 2004): the error rate p and
//           its Bernoulli deviation s; warning when p + s exceeds
//           p_min + warning_threshold * s_min, drift above
//           p_min + drift_threshold * s_min (after `warm_start`).
//  - Eddm:  Early DDM (Baena-Garcia et al. 2006): the mean and deviation of
//           the distance between errors; warning/drift when
//           (p' + 2 s') / max(p' + 2 s') falls below alpha / beta.
//  - HddmA: Hoeffding-bound test on the running average (Frias-Blanco et
//           al. 2014, MOA's HDDM_A).
//  - HddmW: McDiarmid-bound test on exponentially weighted averages
//           (Frias-Blanco et al. 2014, MOA's HDDM_W).
//
// Each follows River's code line for line, including its quirks (noted
// where they matter): e.g. HDDM_W's EWMA starts over from the next value
// whenever it is exactly 0, as River's stats.EWMean does.
#ifndef CONTINUUM_LIB_DRIFT_BINARY_DETECTORS_H_
#define CONTINUUM_LIB_DRIFT_BINARY_DETECTORS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "lib/drift/streaming_detector.h"

namespace continuum::drift {

// River's stats.Mean with unit weights: n += 1; mean += (1 / n) * (x - mean).
struct RunningMean {
  double n = 0.0;
  double mean = 0.0;
  void Update(double x) {
    n += 1.0;
    mean += (1.0 / n) * (x - mean);
  }
};

struct DdmOptions {
  int64_t warm_start = 30;         // >= 0
  double warning_threshold = 2.0;  // > 0
  double drift_threshold = 3.0;    // > 0
  absl::Status Validate() const;
};

class Ddm final : public StreamingDetector {
 public:
  explicit Ddm(const DdmOptions& options = {});
  absl::string_view name() const override { return "ddm"; }
  void Update(double x) override;
  bool drift_detected() const override { return drift_detected_; }
  bool warning_detected() const override { return warning_detected_; }
  void Reset() override;
  std::vector<DetectorStatistic> Statistics() const override;

  double n() const { return p_.n; }
  // The error rate and its standard deviation after the last update.
  double p() const { return p_.mean; }
  double s() const { return s_; }
  double p_min() const { return p_min_; }
  double s_min() const { return s_min_; }

 private:
  DdmOptions options_;
  RunningMean p_;
  double s_ = 0.0;
  double p_min_ = 0.0;
  double s_min_ = 0.0;
  double ps_min_ = 0.0;
  bool drift_detected_ = false;
  bool warning_detected_ = false;
};

struct EddmOptions {
  int64_t warm_start = 30;  // >= 0
  double alpha = 0.95;      // warning level, 0 < alpha <= 1, alpha >= beta
  double beta = 0.9;        // drift level, 0 < beta <= 1
  absl::Status Validate() const;
};

class Eddm final : public StreamingDetector {
 public:
  explicit Eddm(const EddmOptions& options = {});
  absl::string_view name() const override { return "eddm"; }
  void Update(double x) override;
  bool drift_detected() const override { return drift_detected_; }
  bool warning_detected() const override { return warning_detected_; }
  void Reset() override;
  std::vector<DetectorStatistic> Statistics() const override;

  int64_t n() const { return n_; }
  int64_t n_errors() const { return n_errors_; }
  // Mean and (ddof = 1) variance of the distances between errors.
  double distance_mean() const { return distances_.mean; }
  double distance_variance() const;
  double p2s_max() const { return p2s_max_; }

 private:
  EddmOptions options_;
  RunningMean distances_;
  double distances_s_ = 0.0;  // River's stats.Var._S
  int64_t n_ = 0;
  int64_t last_error_ = 0;
  int64_t n_errors_ = 0;
  double p2s_max_ = -1.0;
  bool drift_detected_ = false;
  bool warning_detected_ = false;
};

struct HddmAOptions {
  double drift_confidence = 0.001;    // 0 < c < 1
  double warning_confidence = 0.005;  // 0 < c < 1
  bool two_sided_test = false;
  absl::Status Validate() const;
};

class HddmA final : public StreamingDetector {
 public:
  explicit HddmA(const HddmAOptions& options = {});
  absl::string_view name() const override { return "hddm_a"; }
  void Update(double x) override;
  bool drift_detected() const override { return drift_detected_; }
  bool warning_detected() const override { return warning_detected_; }
  void Reset() override;
  std::vector<DetectorStatistic> Statistics() const override;

  // The global mean and the cut points tracking increases and decreases.
  const RunningMean& z() const { return z_; }
  const RunningMean& x_min() const { return x_min_; }
  const RunningMean& x_max() const { return x_max_; }

 private:
  double HoeffdingBound(double n) const;
  bool MeanIncreased(double log_two_over_confidence) const;
  bool MeanDecreased(double log_two_over_confidence) const;

  HddmAOptions options_;
  // log(1 / drift_confidence), log(2 / drift_confidence) and
  // log(2 / warning_confidence), computed once (the same values River
  // computes on every update).
  double log_inverse_drift_confidence_;
  double log_two_over_drift_;
  double log_two_over_warning_;
  RunningMean z_, x_min_, x_max_;
  bool drift_detected_ = false;
  bool warning_detected_ = false;
};

struct HddmWOptions {
  double drift_confidence = 0.001;    // 0 < c < 1
  double warning_confidence = 0.005;  // 0 < c < 1
  double lambda_val = 0.05;           // EWMA weight, 0 < lambda <= 1
  bool two_sided_test = false;
  absl::Status Validate() const;
};

class HddmW final : public StreamingDetector {
 public:
  // An exponentially weighted sample (River's SampleInfo).
  struct Sample {
    double ewma = 0.0;
    double ibc = 1.0;  // independent bound condition
    bool is_init = false;
  };

  explicit HddmW(const HddmWOptions& options = {});
  absl::string_view name() const override { return "hddm_w"; }
  void Update(double x) override;
  bool drift_detected() const override { return drift_detected_; }
  bool warning_detected() const override { return warning_detected_; }
  void Reset() override;
  std::vector<DetectorStatistic> Statistics() const override;

  const Sample& total() const { return total_; }
  double incr_cutpoint() const { return incr_cutpoint_; }
  double decr_cutpoint() const { return decr_cutpoint_; }

 private:
  void UpdateSample(Sample* sample, double x) const;
  bool MeanChanged(const Sample& s1, const Sample& s2,
                   double log_inverse_confidence) const;

  HddmWOptions options_;
  double log_inverse_drift_;    // log(1 / drift_confidence)
  double log_inverse_warning_;  // log(1 / warning_confidence)
  double lambda_squared_;
  double complement_lambda_squared_;
  Sample total_, s1_decr_, s1_incr_, s2_decr_, s2_incr_;
  double incr_cutpoint_ = 0.0;
  double decr_cutpoint_ = 0.0;
  bool drift_detected_ = false;
  bool warning_detected_ = false;
};

}  // namespace continuum::drift

#endif  // CONTINUUM_LIB_DRIFT_BINARY_DETECTORS_H_
