#include "lib/drift/binary_detectors.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace continuum::drift {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

bool OpenUnit(double v) { return v > 0.0 && v < 1.0; }

absl::Status OutOfRange(absl::string_view detector, absl::string_view param,
                        double value, absl::string_view allowed) {
  return absl::InvalidArgumentError(
      absl::StrCat(detector, ": ", param, "=", value,
                   " is out of range; allowed: ", allowed));
}

}  // namespace

// ---------------------------------------------------------------- DDM

absl::Status DdmOptions::Validate() const {
  if (warm_start < 0) {
    return OutOfRange("ddm", "warm_start", warm_start, "warm_start >= 0");
  }
  if (!(warning_threshold > 0.0) || warning_threshold == kInf) {
    return OutOfRange("ddm", "warning_threshold", warning_threshold,
                      "warning_threshold > 0");
  }
  if (!(drift_threshold > 0.0) || drift_threshold == kInf) {
    return OutOfRange("ddm", "drift_threshold", drift_threshold,
                      "drift_threshold > 0");
  }
  return absl::OkStatus();
}

Ddm::Ddm(const DdmOptions& options) : options_(options) { Reset(); }

void Ddm::Reset() {
  p_ = RunningMean();
  s_ = 0.0;
  p_min_ = kInf;
  s_min_ = kInf;
  ps_min_ = kInf;
  drift_detected_ = false;
  warning_detected_ = false;
}

void Ddm::Update(double x) {
  if (drift_detected_) Reset();
  p_.Update(x);
  const double p_i = p_.mean;
  const double n = p_.n;
  s_ = std::sqrt(p_i * (1 - p_i) / n);
  if (n > static_cast<double>(options_.warm_start)) {
    if (p_i + s_ <= ps_min_) {
      p_min_ = p_i;
      s_min_ = s_;
      ps_min_ = p_min_ + s_min_;
    }
    warning_detected_ = p_i + s_ > p_min_ + options_.warning_threshold * s_min_;
    if (p_i + s_ > p_min_ + options_.drift_threshold * s_min_) {
      drift_detected_ = true;
      warning_detected_ = false;
    }
  }
}

std::vector<DetectorStatistic> Ddm::Statistics() const {
  return {{"n", p_.n},
          {"p", p_.mean},
          {"s", s_},
          {"p_min", p_min_},
          {"s_min", s_min_}};
}

// ---------------------------------------------------------------- EDDM

absl::Status EddmOptions::Validate() const {
  if (warm_start < 0) {
    return OutOfRange("eddm", "warm_start", warm_start, "warm_start >= 0");
  }
  if (!(alpha > 0.0 && alpha <= 1.0)) {
    return OutOfRange("eddm", "alpha", alpha, "0 < alpha <= 1");
  }
  if (!(beta > 0.0 && beta <= 1.0)) {
    return OutOfRange("eddm", "beta", beta, "0 < beta <= 1");
  }
  if (alpha < beta) {
    return absl::InvalidArgumentError(
        absl::StrCat("eddm: alpha=", alpha, " is below beta=", beta,
                     "; allowed: alpha >= beta (the warning level is above the "
                     "drift level)"));
  }
  return absl::OkStatus();
}

Eddm::Eddm(const EddmOptions& options) : options_(options) { Reset(); }

void Eddm::Reset() {
  distances_ = RunningMean();
  distances_s_ = 0.0;
  n_ = 0;
  last_error_ = 0;
  n_errors_ = 0;
  p2s_max_ = -1.0;
  drift_detected_ = false;
  warning_detected_ = false;
}

double Eddm::distance_variance() const {
  return distances_.n > 1.0 ? distances_s_ / (distances_.n - 1.0) : 0.0;
}

void Eddm::Update(double x) {
  if (drift_detected_) Reset();
  ++n_;
  if (x == 1.0) {
    ++n_errors_;
    // stats.Var (ddof = 1): S += (x - mean_old) * (x - mean_new).
    const double distance = static_cast<double>(n_ - last_error_);
    const double mean_old = distances_.mean;
    distances_.Update(distance);
    distances_s_ += (distance - mean_old) * (distance - distances_.mean);
    if (n_ > options_.warm_start) {
      const double pi_prime = distances_.mean;
      const double si_prime = std::pow(distance_variance(), 0.5);
      const double p2s_prime = pi_prime + 2 * si_prime;
      if (p2s_prime > p2s_max_) {
        p2s_max_ = p2s_prime;
      } else if (n_errors_ > options_.warm_start) {
        const double level = p2s_prime / p2s_max_;
        if (level < options_.beta) {
          // River leaves the warning flag as it was when drift is found.
          drift_detected_ = true;
        } else if (level < options_.alpha) {
          warning_detected_ = true;
        } else {
          warning_detected_ = false;
        }
      }
    }
    last_error_ = n_;
  }
}

std::vector<DetectorStatistic> Eddm::Statistics() const {
  return {{"n", static_cast<double>(n_)},
          {"n_errors", static_cast<double>(n_errors_)},
          {"distance_mean", distances_.mean},
          {"distance_std", std::sqrt(distance_variance())},
          {"p2s_max", p2s_max_}};
}

// ---------------------------------------------------------------- HDDM_A

absl::Status HddmAOptions::Validate() const {
  if (!OpenUnit(drift_confidence)) {
    return OutOfRange("hddm_a", "drift_confidence", drift_confidence,
                      "0 < drift_confidence < 1");
  }
  if (!OpenUnit(warning_confidence)) {
    return OutOfRange("hddm_a", "warning_confidence", warning_confidence,
                      "0 < warning_confidence < 1");
  }
  return absl::OkStatus();
}

HddmA::HddmA(const HddmAOptions& options)
    : options_(options),
      log_inverse_drift_confidence_(std::log(1.0 / options.drift_confidence)),
      log_two_over_drift_(std::log(2.0 / options.drift_confidence)),
      log_two_over_warning_(std::log(2.0 / options.warning_confidence)) {
  Reset();
}

void HddmA::Reset() {
  z_ = x_min_ = x_max_ = RunningMean();
  drift_detected_ = false;
  warning_detected_ = false;
}

double HddmA::HoeffdingBound(double n) const {
  return std::sqrt(1.0 / (2 * n) * log_inverse_drift_confidence_);
}

bool HddmA::MeanIncreased(double log_two_over_confidence) const {
  if (x_min_.n == z_.n) return false;
  const double m = (z_.n - x_min_.n) / x_min_.n * (1.0 / z_.n);
  const double eps = std::sqrt(m / 2 * log_two_over_confidence);
  return z_.mean - x_min_.mean >= eps;
}

bool HddmA::MeanDecreased(double log_two_over_confidence) const {
  if (x_max_.n == z_.n) return false;
  const double m = (z_.n - x_max_.n) / x_max_.n * (1.0 / z_.n);
  const double eps = std::sqrt(m / 2 * log_two_over_confidence);
  return x_max_.mean - z_.mean >= eps;
}

void HddmA::Update(double x) {
  if (drift_detected_) Reset();
  z_.Update(x);
  if (x_min_.n == 0) x_min_ = z_;
  if (x_max_.n == 0) x_max_ = z_;
  const double eps_z = HoeffdingBound(z_.n);
  double eps_x = HoeffdingBound(x_min_.n);
  if (x_min_.mean + eps_x >= z_.mean + eps_z) x_min_ = z_;
  eps_x = HoeffdingBound(x_max_.n);
  if (x_max_.mean - eps_x <= z_.mean - eps_z) x_max_ = z_;

  if (MeanIncreased(log_two_over_drift_)) {
    warning_detected_ = false;
    drift_detected_ = true;
  } else if (MeanIncreased(log_two_over_warning_)) {
    warning_detected_ = true;
    drift_detected_ = false;
  } else {
    warning_detected_ = false;
    drift_detected_ = false;
  }
  if (options_.two_sided_test) {
    if (MeanDecreased(log_two_over_drift_)) {
      drift_detected_ = true;
    } else if (MeanDecreased(log_two_over_warning_)) {
      warning_detected_ = true;
    }
  }
}

std::vector<DetectorStatistic> HddmA::Statistics() const {
  return {{"n", z_.n},           {"mean", z_.mean},
          {"x_min_n", x_min_.n}, {"x_min_mean", x_min_.mean},
          {"x_max_n", x_max_.n}, {"x_max_mean", x_max_.mean}};
}

// ---------------------------------------------------------------- HDDM_W

absl::Status HddmWOptions::Validate() const {
  if (!OpenUnit(drift_confidence)) {
    return OutOfRange("hddm_w", "drift_confidence", drift_confidence,
                      "0 < drift_confidence < 1");
  }
  if (!OpenUnit(warning_confidence)) {
    return OutOfRange("hddm_w", "warning_confidence", warning_confidence,
                      "0 < warning_confidence < 1");
  }
  if (!(lambda_val > 0.0 && lambda_val <= 1.0)) {
    return OutOfRange("hddm_w", "lambda_val", lambda_val,
                      "0 < lambda_val <= 1");
  }
  return absl::OkStatus();
}

HddmW::HddmW(const HddmWOptions& options)
    : options_(options),
      log_inverse_drift_(std::log(1 / options.drift_confidence)),
      log_inverse_warning_(std::log(1 / options.warning_confidence)),
      lambda_squared_(options.lambda_val * options.lambda_val),
      complement_lambda_squared_(std::pow(1 - options.lambda_val, 2)) {
  Reset();
}

void HddmW::Reset() {
  total_ = s1_decr_ = s1_incr_ = s2_decr_ = s2_incr_ = Sample();
  incr_cutpoint_ = kInf;
  decr_cutpoint_ = -kInf;
  drift_detected_ = false;
  warning_detected_ = false;
}

void HddmW::UpdateSample(Sample* sample, double x) const {
  // stats.EWMean: the mean restarts from x whenever it is exactly 0.
  const double alpha = options_.lambda_val;
  sample->ewma =
      sample->ewma != 0.0 ? alpha * x + (1.0 - alpha) * sample->ewma : x;
  sample->is_init = true;
  sample->ibc = lambda_squared_ + complement_lambda_squared_ * sample->ibc;
}

namespace {

// River: sqrt(ibc * log(1 / confidence) / 2), the logarithm precomputed.
double McDiarmidBound(double ibc, double log_inverse_confidence) {
  return std::sqrt(ibc * log_inverse_confidence / 2);
}

}  // namespace

bool HddmW::MeanChanged(const Sample& s1, const Sample& s2,
                        double log_inverse_confidence) const {
  if (!(s1.is_init && s2.is_init)) return false;
  const double bound = McDiarmidBound(s1.ibc + s2.ibc, log_inverse_confidence);
  return s2.ewma - s1.ewma > bound;
}

void HddmW::Update(double x) {
  if (drift_detected_) Reset();
  UpdateSample(&total_, x);

  // Increases.
  double eps = McDiarmidBound(total_.ibc, log_inverse_drift_);
  if (total_.ewma + eps < incr_cutpoint_) {
    incr_cutpoint_ = total_.ewma + eps;
    s1_incr_ = total_;
    s2_incr_ = Sample();
  } else {
    UpdateSample(&s2_incr_, x);
  }
  if (MeanChanged(s1_incr_, s2_incr_, log_inverse_drift_)) {
    warning_detected_ = false;
    drift_detected_ = true;
  } else if (MeanChanged(s1_incr_, s2_incr_, log_inverse_warning_)) {
    warning_detected_ = true;
    drift_detected_ = false;
  } else {
    warning_detected_ = false;
    drift_detected_ = false;
  }

  // Decreases.
  eps = McDiarmidBound(total_.ibc, log_inverse_drift_);
  if (total_.ewma - eps > decr_cutpoint_) {
    decr_cutpoint_ = total_.ewma - eps;
    s1_decr_ = total_;
    s2_decr_ = Sample();
  } else {
    UpdateSample(&s2_decr_, x);
  }
  if (options_.two_sided_test) {
    if (MeanChanged(s2_decr_, s1_decr_, log_inverse_drift_)) {
      drift_detected_ = true;
    } else if (MeanChanged(s2_decr_, s1_decr_, log_inverse_warning_)) {
      warning_detected_ = true;
    }
  }
}

std::vector<DetectorStatistic> HddmW::Statistics() const {
  return {{"ewma", total_.ewma},
          {"ibc", total_.ibc},
          {"incr_cutpoint", incr_cutpoint_},
          {"decr_cutpoint", decr_cutpoint_}};
}

}  // namespace continuum::drift
