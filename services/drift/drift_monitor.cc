#include "services/drift/drift_monitor.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "lib/core/filter.h"
#include "lib/core/resource_names.h"
#include "lib/drift/ks.h"
#include "lib/drift/reference_tests.h"
#include "services/drift/drift_metrics.h"

namespace continuum::drift_service {
namespace {

using google::protobuf::util::TimeUtil;

constexpr int64_t kDefaultPerformanceWindow = 500;
constexpr int64_t kDefaultMinOutcomes = 100;
constexpr double kDefaultCanaryAlpha = 0.05;
constexpr int64_t kDefaultCanaryMinOutcomes = 200;
constexpr absl::Duration kDefaultCanaryInterval = absl::Minutes(1);
constexpr char kCanaryDetector[] = "canary_judgement";
constexpr char kActionPending[] = "action pending";
constexpr char kReferenceDetector[] = "reference_tests";
constexpr absl::Duration kDefaultReferenceInterval = absl::Minutes(10);
constexpr int64_t kDefaultReferenceWindow = 1000;
constexpr int64_t kMaxReferenceWindow = 100000;
constexpr int64_t kDefaultReferenceMinSamples = 200;
constexpr double kDefaultErrorRateIncreasePoints = 10;
constexpr absl::Duration kMinReferenceRetry = absl::Seconds(5);
constexpr absl::Duration kMaxReferenceRetry = absl::Minutes(5);

google::protobuf::Timestamp ToProto(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

absl::Duration FromProto(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// The policy's cool-down (drift.proto: unset = 1 hour).
absl::Duration CooldownOf(const v1::ActionPolicy& policy) {
  return policy.has_cooldown() ? FromProto(policy.cooldown()) : absl::Hours(1);
}

// Fills the defaults of drift.proto into a canary judgement configuration.
void FillCanaryDefaults(v1::CanaryJudgementConfig& c) {
  if (c.alpha() == 0) c.set_alpha(kDefaultCanaryAlpha);
  if (c.min_outcomes() == 0) c.set_min_outcomes(kDefaultCanaryMinOutcomes);
  if (!c.has_interval()) {
    c.mutable_interval()->set_seconds(
        absl::ToInt64Seconds(kDefaultCanaryInterval));
  }
}

// Fills the defaults of drift.proto into a reference-test configuration.
void FillReferenceDefaults(v1::ReferenceTestConfig& c) {
  if (!c.has_interval() ||
      (c.interval().seconds() == 0 && c.interval().nanos() == 0)) {
    c.mutable_interval()->set_seconds(
        absl::ToInt64Seconds(kDefaultReferenceInterval));
    c.mutable_interval()->set_nanos(0);
  }
  if (c.window_size() == 0) c.set_window_size(kDefaultReferenceWindow);
  if (c.min_samples() == 0) {
    c.set_min_samples(std::min(kDefaultReferenceMinSamples, c.window_size()));
  }
  if (c.tests().empty()) {
    c.add_tests(v1::REFERENCE_TEST_KS);
    c.add_tests(v1::REFERENCE_TEST_PSI);
  }
  if (c.correction() == v1::MULTIPLE_TEST_CORRECTION_UNSPECIFIED) {
    c.set_correction(v1::MULTIPLE_TEST_CORRECTION_BONFERRONI);
  }
  if (c.p_value_threshold() == 0) c.set_p_value_threshold(0.05);
  if (c.psi_threshold() == 0) c.set_psi_threshold(0.2);
  if (c.jensen_shannon_threshold() == 0) c.set_jensen_shannon_threshold(0.1);
  if (c.wasserstein_threshold() == 0) c.set_wasserstein_threshold(0.1);
  if (c.drifted_feature_share() == 0) c.set_drifted_feature_share(0.5);
  if (c.critical_feature_share() == 0) c.set_critical_feature_share(0.75);
}

absl::Status ValidateReferenceTests(v1::ReferenceTestConfig& c) {
  auto bad = [](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("reference_tests.", what));
  };
  if (c.has_interval() &&
      (c.interval().seconds() < 0 || c.interval().nanos() < 0)) {
    return bad("interval must not be negative");
  }
  if (c.window_size() < 0 || c.window_size() > kMaxReferenceWindow) {
    return bad(absl::StrCat("window_size must be in [0, ", kMaxReferenceWindow,
                            "] (0 = ", kDefaultReferenceWindow, ")"));
  }
  if (c.min_samples() < 0) return bad("min_samples must be >= 0");
  std::set<int> seen;
  for (int t : c.tests()) {
    if (!v1::ReferenceTest_IsValid(t) || t == v1::REFERENCE_TEST_UNSPECIFIED) {
      return bad(absl::StrCat("tests: unknown test ", t));
    }
    if (t == v1::REFERENCE_TEST_CHI_SQUARED) {
      return bad(
          "tests: REFERENCE_TEST_CHI_SQUARED is for categorical features, "
          "which always use it; list the tests of continuous features");
    }
    if (!seen.insert(t).second) {
      return bad(absl::StrCat(
          "tests: ", v1::ReferenceTest_Name(static_cast<v1::ReferenceTest>(t)),
          " is listed twice"));
    }
  }
  if (!v1::MultipleTestCorrection_IsValid(c.correction())) {
    return bad("correction is unknown");
  }
  if (!(c.p_value_threshold() >= 0 && c.p_value_threshold() < 1)) {
    return bad("p_value_threshold must be in (0, 1) (0 = 0.05)");
  }
  if (!(c.psi_threshold() >= 0 && std::isfinite(c.psi_threshold()))) {
    return bad("psi_threshold must be finite and > 0 (0 = 0.2)");
  }
  if (!(c.jensen_shannon_threshold() >= 0 &&
        c.jensen_shannon_threshold() <= 1)) {
    return bad("jensen_shannon_threshold must be in (0, 1] (0 = 0.1)");
  }
  if (!(c.wasserstein_threshold() >= 0 &&
        std::isfinite(c.wasserstein_threshold()))) {
    return bad("wasserstein_threshold must be finite and > 0 (0 = 0.1)");
  }
  if (!(c.drifted_feature_share() >= 0 && c.drifted_feature_share() <= 1)) {
    return bad("drifted_feature_share must be in (0, 1] (0 = 0.5)");
  }
  if (!(c.critical_feature_share() >= 0 && c.critical_feature_share() <= 1)) {
    return bad("critical_feature_share must be in (0, 1] (0 = 0.75)");
  }
  FillReferenceDefaults(c);
  if (c.min_samples() > c.window_size()) {
    return bad(absl::StrCat("min_samples ", c.min_samples(),
                            " exceeds window_size ", c.window_size()));
  }
  return absl::OkStatus();
}

// The one-sided upper tail of the standard normal distribution.
double NormalSurvival(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

struct TestOutcome {
  double statistic = 0;
  double p_value = 1;
};

// Two-proportion z-test with the pooled variance; one-sided, H1: the
// canary's error rate is greater; `errors_*` out of `n_*` outcomes per arm
// (both >= 1). No variance (every outcome the same): z 0, p 1.
TestOutcome TwoProportionZ(double errors_c, double n_c, double errors_s,
                           double n_s) {
  const double pooled = (errors_c + errors_s) / (n_c + n_s);
  const double variance = pooled * (1 - pooled) * (1 / n_c + 1 / n_s);
  TestOutcome out;
  if (!(variance > 0)) return out;
  out.statistic = (errors_c / n_c - errors_s / n_s) / std::sqrt(variance);
  out.p_value = NormalSurvival(out.statistic);
  return out;
}

// Mann-Whitney U of the canary's error values against stable's; one-sided,
// H1: the canary's values tend to be greater. Normal approximation with the
// tie correction and SciPy's continuity correction (use_continuity=True).
// The statistic is the canary's U. Every value equal: p 1.
TestOutcome MannWhitneyU(const std::vector<double>& canary,
                         const std::vector<double>& stable) {
  std::vector<std::pair<double, bool>> all;  // (value, is canary)
  all.reserve(canary.size() + stable.size());
  for (double v : canary) all.emplace_back(v, true);
  for (double v : stable) all.emplace_back(v, false);
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const double n = static_cast<double>(all.size());
  double rank_sum = 0;
  double ties = 0;  // Sum of t^3 - t over groups of t equal values.
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    while (j < all.size() && all[j].first == all[i].first) ++j;
    const double t = static_cast<double>(j - i);
    const double average_rank = (static_cast<double>(i + 1 + j)) / 2;
    for (size_t k = i; k < j; ++k) {
      if (all[k].second) rank_sum += average_rank;
    }
    ties += t * t * t - t;
    i = j;
  }
  const double n_c = static_cast<double>(canary.size());
  const double n_s = static_cast<double>(stable.size());
  TestOutcome out;
  out.statistic = rank_sum - n_c * (n_c + 1) / 2;
  const double variance =
      n_c * n_s / 12 * ((n + 1) - (n > 1 ? ties / (n * (n - 1)) : 0));
  if (!(variance > 0)) return out;
  const double z = (out.statistic - n_c * n_s / 2 - 0.5) / std::sqrt(variance);
  out.p_value = NormalSurvival(z);
  return out;
}

bool IsDetectorId(absl::string_view id) {
  if (id.empty() || id.size() > 63) return false;
  if (id[0] < 'a' || id[0] > 'z') return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

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

// `models/{model}` + suffix -> model id.
absl::StatusOr<std::string> ParseModelName(absl::string_view name,
                                           absl::string_view suffix,
                                           absl::string_view form) {
  absl::string_view rest = name;
  if (!absl::ConsumePrefix(&rest, "models/") ||
      !absl::ConsumeSuffix(&rest, suffix) || rest.empty() ||
      rest.find('/') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("name '", name, "' is not of the form ", form));
  }
  if (absl::Status s = core::ValidateResourceId("model", rest); !s.ok()) {
    return s;
  }
  return std::string(rest);
}

absl::Status ValidateMonitor(v1::Monitor& monitor) {
  std::set<std::string> ids;
  for (int i = 0; i < monitor.detectors_size(); ++i) {
    v1::DetectorConfig& d = *monitor.mutable_detectors(i);
    const std::string where = absl::StrCat("detectors[", i, "]");
    if (!IsDetectorId(d.id())) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": id '", d.id(), "' must match [a-z][a-z0-9_]{0,62}"));
    }
    if (!ids.insert(d.id()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": id '", d.id(), "' is used twice"));
    }
    std::map<std::string, std::string> params(d.params().begin(),
                                              d.params().end());
    absl::StatusOr<std::unique_ptr<drift::StreamingDetector>> made =
        drift::MakeDetector(d.detector(), params);
    if (!made.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " (", d.id(), "): ", made.status().message()));
    }
    if (d.signal() == v1::MONITORED_SIGNAL_UNSPECIFIED ||
        !v1::MonitoredSignal_IsValid(d.signal())) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " (", d.id(),
                       "): signal must be one of ERROR_RATE, "
                       "ERROR_VALUE, PREDICTION, FEATURE"));
    }
    if (d.signal() == v1::MONITORED_SIGNAL_FEATURE && d.feature_index() < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " (", d.id(), "): feature_index must be >= 0"));
    }
    if (d.signal() != v1::MONITORED_SIGNAL_FEATURE && d.feature_index() != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, " (", d.id(),
          "): feature_index is only for MONITORED_SIGNAL_FEATURE"));
    }
    if (!v1::AlertSeverity_IsValid(d.drift_severity())) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, " (", d.id(), "): unknown drift_severity"));
    }
    if (d.drift_severity() == v1::ALERT_SEVERITY_UNSPECIFIED) {
      d.set_drift_severity(v1::ALERT_SEVERITY_WARNING);
    }
  }
  v1::PerformanceThresholds& p = *monitor.mutable_performance();
  if (p.has_max_error_rate() &&
      !(p.max_error_rate() >= 0 && p.max_error_rate() <= 1)) {
    return absl::InvalidArgumentError(
        "performance.max_error_rate must be in [0, 1]");
  }
  if (p.has_max_mean_error_value() &&
      !(p.max_mean_error_value() >= 0 &&
        std::isfinite(p.max_mean_error_value()))) {
    return absl::InvalidArgumentError(
        "performance.max_mean_error_value must be finite and >= 0");
  }
  if (p.has_max_error_rate_increase_points() &&
      !(p.max_error_rate_increase_points() >= 0 &&
        std::isfinite(p.max_error_rate_increase_points()))) {
    return absl::InvalidArgumentError(
        "performance.max_error_rate_increase_points must be finite and >= 0");
  }
  if (p.window_size() < 0 || p.window_size() > 1'000'000) {
    return absl::InvalidArgumentError(
        "performance.window_size must be in [0, 1000000]");
  }
  if (p.min_outcomes() < 0) {
    return absl::InvalidArgumentError("performance.min_outcomes must be >= 0");
  }
  if (p.window_size() == 0) p.set_window_size(kDefaultPerformanceWindow);
  if (p.min_outcomes() == 0) p.set_min_outcomes(kDefaultMinOutcomes);
  if (p.min_outcomes() > p.window_size()) {
    return absl::InvalidArgumentError(
        "performance.min_outcomes must not exceed performance.window_size");
  }
  v1::CanaryJudgementConfig& c = *monitor.mutable_canary_judgement();
  if (!(c.alpha() >= 0 && c.alpha() < 1)) {
    return absl::InvalidArgumentError(
        "canary_judgement.alpha must be in (0, 1) (0 = 0.05)");
  }
  if (c.min_outcomes() < 0) {
    return absl::InvalidArgumentError(
        "canary_judgement.min_outcomes must be >= 0 (0 = 200)");
  }
  if (c.has_interval() &&
      (c.interval().seconds() < 0 || c.interval().nanos() < 0)) {
    return absl::InvalidArgumentError(
        "canary_judgement.interval must not be negative");
  }
  if (!(c.min_effect_points() >= 0 && c.min_effect_points() <= 100)) {
    return absl::InvalidArgumentError(
        "canary_judgement.min_effect_points must be in [0, 100]");
  }
  FillCanaryDefaults(c);
  return ValidateReferenceTests(*monitor.mutable_reference_tests());
}

// The model id of a monitor (its name is models/{model}/monitor).
absl::string_view ModelIdOf(const v1::Monitor& monitor) {
  return absl::StripPrefix(absl::StripSuffix(monitor.name(), "/monitor"),
                           "models/");
}

std::string SeverityName(v1::AlertSeverity s) {
  return v1::AlertSeverity_Name(s);
}

}  // namespace

// One detector instance of one version.
struct DriftMonitor::DetectorInstance {
  const v1::DetectorConfig* config = nullptr;  // In the model's monitor.
  v1::MonitoredSignal signal = v1::MONITORED_SIGNAL_UNSPECIFIED;
  std::unique_ptr<drift::StreamingDetector> detector;
  v1::DetectorState state = v1::DETECTOR_STATE_STABLE;
  int64_t observations = 0;
  int64_t drift_count = 0;
  int64_t warning_count = 0;
  int64_t last_drift_index = -1;
  absl::Time last_drift_time = absl::InfinitePast();
};

struct DriftMonitor::VersionState {
  int64_t observations = 0;
  int64_t outcomes = 0;
  int32_t feature_dim = -1;  // Unknown until the first batch with features.
  // 0 unknown, 1 classifier outcomes (correct), 2 error values.
  int outcome_kind = 0;
  int64_t prediction_index = 0;  // Stream index of the prediction signal.
  // Built lazily from the model's monitor; cleared when it changes.
  std::vector<DetectorInstance> detectors;
  bool detectors_built = false;
  // Performance window: per outcome 1/0 (classifiers) or the error value.
  std::deque<double> window;
  double window_sum = 0;
  // The window's error rate or mean error value (window not empty).
  double WindowMean() const {
    return window_sum / static_cast<double>(window.size());
  }
  bool performance_alerting = false;  // Bound crossed, not yet back under.
  // Reference tests: the training reference and where its fetch stands.
  enum class Reference { kNone, kNeeded, kFetching, kRetry, kReady, kAbsent };
  Reference reference_state = Reference::kNone;
  std::shared_ptr<const PreparedReference> reference;
  std::string reference_status;
  absl::Time reference_retry_at = absl::InfinitePast();
  absl::Duration reference_backoff = absl::ZeroDuration();
  // The most recent rows with features, a ring of `ring_rows` rows:
  // features row-major, the prediction score (NaN if none) and the event
  // time of each row.
  int64_t ring_rows = 0;
  std::vector<float> ring_features;
  std::vector<double> ring_scores;
  std::vector<int64_t> ring_micros;
  int64_t ring_next = 0;
  int64_t ring_count = 0;
  int64_t window_rows_total = 0;   // Rows ever appended.
  int64_t tested_rows_total = -1;  // window_rows_total at the latest run.
  absl::Time last_reference_run = absl::InfinitePast();
  std::optional<v1::ReferenceTestRun> latest_reference_run;
  bool data_alerting = false;        // Data-set drift alerted, not re-armed.
  bool prediction_alerting = false;  // Likewise for the prediction test.
  // Canary judgement: the most recent outcomes (time of receipt, 1/0 or
  // error value) and ModelState::outcome_seq at the latest one.
  std::deque<std::pair<absl::Time, double>> canary_samples;
  int64_t last_outcome_seq = 0;
};

// ModelState and VersionState are reached only through models_, so mu_
// guards them too (a nested struct cannot name mu_ in ABSL_GUARDED_BY).
struct DriftMonitor::ModelState {
  v1::Monitor monitor;
  int64_t observations = 0;
  std::map<int64_t, VersionState> versions;
  // Canary judgement.
  int64_t outcome_seq = 0;  // Outcomes of any version, counted.
  int64_t judged_seq = 0;   // outcome_seq at the latest judgement.
  absl::Time last_judgement = absl::InfinitePast();
  // The production version as last looked up (0: none or lookup failed),
  // and when: looked up again once older than the interval.
  int64_t production = 0;
  absl::Time production_time = absl::InfinitePast();
  std::optional<v1::CanaryJudgement> latest_judgement;
  std::set<int64_t> failed_canaries;  // Versions alerted on, once each.
  // Judgements with enough outcomes per canary version (the looks that
  // spend its alpha).
  std::map<int64_t, int64_t> canary_looks;
};

// A version's training reference, ready for the tests: finite sample
// values as doubles, sorted ascending.
struct DriftMonitor::PreparedReference {
  struct Feature {
    std::vector<double> sample;
    bool categorical = false;
    std::string name;
  };
  std::vector<Feature> features;
  std::vector<double> predictions;
  std::optional<double> error_rate;
  int64_t sample_count = 0;
};

namespace {

std::vector<double> SortedFinite(
    const google::protobuf::RepeatedField<float>& in) {
  std::vector<double> out;
  out.reserve(static_cast<size_t>(in.size()));
  for (float v : in) {
    if (std::isfinite(v)) out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

DriftMonitor::DriftMonitor(DriftMonitorOptions options)
    : options_(std::move(options)) {
  if (options_.references != nullptr &&
      options_.reference_poll_interval > absl::ZeroDuration()) {
    worker_ = std::thread([this] { ReferenceWorkerLoop(); });
  }
}

DriftMonitor::~DriftMonitor() {
  {
    absl::MutexLock lock(&worker_mu_);
    stop_worker_ = true;
  }
  if (worker_.joinable()) worker_.join();
}

void DriftMonitor::ReferenceWorkerLoop() {
  while (true) {
    {
      absl::MutexLock lock(&worker_mu_);
      worker_mu_.AwaitWithTimeout(absl::Condition(&stop_worker_),
                                  options_.reference_poll_interval);
      if (stop_worker_) return;
    }
    RunReferenceWork();
  }
}

v1::Monitor DriftMonitor::DefaultMonitor(absl::string_view model) {
  v1::Monitor monitor;
  monitor.set_name(absl::StrCat("models/", model, "/monitor"));
  v1::DetectorConfig* error = monitor.add_detectors();
  error->set_id("error_adwin");
  error->set_detector("adwin");
  error->set_signal(v1::MONITORED_SIGNAL_ERROR_RATE);
  error->set_drift_severity(v1::ALERT_SEVERITY_WARNING);
  v1::DetectorConfig* prediction = monitor.add_detectors();
  prediction->set_id("prediction_page_hinkley");
  prediction->set_detector("page_hinkley");
  prediction->set_signal(v1::MONITORED_SIGNAL_PREDICTION);
  prediction->set_drift_severity(v1::ALERT_SEVERITY_WARNING);
  monitor.mutable_performance()->set_window_size(kDefaultPerformanceWindow);
  monitor.mutable_performance()->set_min_outcomes(kDefaultMinOutcomes);
  FillCanaryDefaults(*monitor.mutable_canary_judgement());
  FillReferenceDefaults(*monitor.mutable_reference_tests());
  monitor.set_is_default(true);
  return monitor;
}

DriftMonitor::ModelState& DriftMonitor::GetOrCreateModel(
    const std::string& model) {
  std::unique_ptr<ModelState>& state = models_[model];
  if (state == nullptr) {
    state = std::make_unique<ModelState>();
    state->monitor = DefaultMonitor(model);
    *state->monitor.mutable_update_time() = ToProto(options_.clock->Now());
  }
  return *state;
}

// ---------------------------------------------------------------------------
// Monitors

absl::StatusOr<v1::Monitor> DriftMonitor::ConfigureMonitor(
    const v1::ConfigureMonitorRequest& request) {
  absl::StatusOr<std::string> model = ParseModelName(
      request.monitor().name(), "/monitor", "models/{model}/monitor");
  if (!model.ok()) return model.status();

  absl::MutexLock lock(&mu_);
  auto it = models_.find(*model);
  v1::Monitor next;
  if (request.update_mask().paths().empty()) {
    next = request.monitor();
    if (next.detectors().empty()) {
      *next.mutable_detectors() = DefaultMonitor(*model).detectors();
    }
  } else {
    next = it != models_.end() ? it->second->monitor : DefaultMonitor(*model);
    for (const std::string& path : request.update_mask().paths()) {
      const v1::Monitor& in = request.monitor();
      if (path == "detectors") {
        *next.mutable_detectors() = in.detectors().empty()
                                        ? DefaultMonitor(*model).detectors()
                                        : in.detectors();
      } else if (path == "reference_tests") {
        *next.mutable_reference_tests() = in.reference_tests();
      } else if (path == "performance") {
        *next.mutable_performance() = in.performance();
      } else if (path == "canary_judgement") {
        *next.mutable_canary_judgement() = in.canary_judgement();
      } else if (path == "actions") {
        *next.mutable_actions() = in.actions();
      } else if (path == "disabled") {
        next.set_disabled(in.disabled());
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("update_mask: unknown or unchangeable field '", path,
                         "' (allowed: detectors, reference_tests, performance, "
                         "canary_judgement, actions, disabled)"));
      }
    }
  }
  next.set_name(absl::StrCat("models/", *model, "/monitor"));
  next.set_is_default(false);
  if (absl::Status s = ValidateMonitor(next); !s.ok()) return s;
  *next.mutable_update_time() = ToProto(options_.clock->Now());
  // Stored first: a configuration the store did not take changes nothing.
  if (options_.store != nullptr) {
    if (absl::Status s = options_.store->PutMonitor(*model, next); !s.ok()) {
      return s;
    }
  }

  ModelState& state = GetOrCreateModel(*model);
  const bool reference_tests_changed =
      state.monitor.reference_tests().SerializeAsString() !=
      next.reference_tests().SerializeAsString();
  state.monitor = next;
  // Detectors start over under the new configuration; counts and the
  // performance window stay. Reference-test windows start over when their
  // configuration changed (the loaded references stay).
  for (auto& [id, version] : state.versions) {
    if (reference_tests_changed) {
      version.ring_rows = 0;
      version.ring_count = 0;
      version.ring_next = 0;
      version.tested_rows_total = -1;
      version.last_reference_run = absl::InfinitePast();
      version.data_alerting = false;
      version.prediction_alerting = false;
    }
    version.detectors.clear();
    version.detectors_built = false;
    version.performance_alerting = false;
    version.prediction_index = 0;
  }
  return state.monitor;
}

absl::Status DriftMonitor::Restore() {
  if (options_.store == nullptr) return absl::OkStatus();
  absl::StatusOr<DriftState> stored = options_.store->Load();
  if (!stored.ok()) return stored.status();
  absl::MutexLock lock(&mu_);
  for (auto& [model, monitor] : stored->monitors) {
    // The checks of ConfigureMonitor; the stored update_time stays.
    absl::StatusOr<std::string> parsed =
        ParseModelName(monitor.name(), "/monitor", "models/{model}/monitor");
    absl::Status valid =
        parsed.ok() ? ValidateMonitor(monitor) : parsed.status();
    if (valid.ok() && *parsed != model) {
      valid = absl::InvalidArgumentError(
          absl::StrCat("it is named '", monitor.name(), "'"));
    }
    if (!valid.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("the stored monitor of model '", model,
                       "' is no longer valid: ", valid.message()));
    }
    monitor.set_is_default(false);
    GetOrCreateModel(model).monitor = std::move(monitor);
  }
  for (v1::Alert& alert : stored->alerts) {
    last_sequence_ = std::max(last_sequence_, alert.sequence());
    if (alert.action_result().succeeded()) {
      // Oldest first: the last wins.
      last_action_alert_[alert.model()] = alert;
    }
    if (alert.action_result().message() == kActionPending) {
      alert.mutable_action_result()->set_message(
          "action outcome unknown: the drift service stopped before "
          "recording it");
    }
    alerts_.push_back(std::move(alert));
  }
  while (static_cast<int64_t>(alerts_.size()) >
         std::max<int64_t>(1, options_.max_alerts)) {
    alerts_.pop_front();
  }
  for (const auto& [model, time] : stored->last_actions) {
    last_action_[model] = time;
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Monitor> DriftMonitor::GetMonitor(absl::string_view name) {
  absl::StatusOr<std::string> model =
      ParseModelName(name, "/monitor", "models/{model}/monitor");
  if (!model.ok()) return model.status();
  absl::MutexLock lock(&mu_);
  auto it = models_.find(*model);
  if (it == models_.end()) {
    return absl::NotFoundError(absl::StrCat("model '", *model,
                                            "' has never been observed or "
                                            "configured"));
  }
  return it->second->monitor;
}

absl::StatusOr<v1::ListMonitorsResponse> DriftMonitor::ListMonitors(
    const v1::ListMonitorsRequest& request) {
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size must be >= 0");
  }
  const int page_size =
      request.page_size() == 0 ? 100 : std::min(request.page_size(), 1000);
  absl::StatusOr<core::Filter> filter =
      core::Filter::Parse(request.filter(), [](absl::string_view key) {
        return key == "name" || key == "disabled" || key == "is_default";
      });
  if (!filter.ok()) return filter.status();

  v1::ListMonitorsResponse response;
  std::string last_model;  // The token: the last model id returned.
  absl::MutexLock lock(&mu_);
  auto it = request.page_token().empty()
                ? models_.begin()
                : models_.upper_bound(request.page_token());
  for (; it != models_.end(); ++it) {
    const v1::Monitor& m = it->second->monitor;
    const bool match = filter->Matches(
        [&](absl::string_view key) -> std::optional<std::string> {
          if (key == "name") return m.name();
          if (key == "disabled") return m.disabled() ? "true" : "false";
          return m.is_default() ? "true" : "false";
        });
    if (!match) continue;
    if (response.monitors_size() == page_size) {
      response.set_next_page_token(last_model);
      break;
    }
    *response.add_monitors() = m;
    last_model = it->first;
  }
  return response;
}

// ---------------------------------------------------------------------------
// Observations

absl::Status DriftMonitor::ValidateBatch(const v1::ObservationBatch& batch,
                                         const ModelState* model) const {
  if (absl::Status s = core::ValidateResourceId("model", batch.model());
      !s.ok()) {
    return s;
  }
  if (batch.version() < 1) {
    return absl::InvalidArgumentError("version must be >= 1");
  }
  if (!v1::ObservationKind_IsValid(batch.kind())) {
    return absl::InvalidArgumentError("unknown kind");
  }
  const bool outcome_kind = batch.kind() == v1::OBSERVATION_KIND_OUTCOME;
  const int64_t rows = batch.num_rows();
  if (rows < 1) return absl::InvalidArgumentError("num_rows must be >= 1");
  const int64_t dim = batch.feature_dim();
  if (dim < 0) return absl::InvalidArgumentError("feature_dim must be >= 0");
  if (dim == 0 && !outcome_kind) {
    return absl::InvalidArgumentError(
        "feature_dim must be >= 1 (0 only for OBSERVATION_KIND_OUTCOME "
        "batches without features)");
  }
  if (batch.features_size() != rows * dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "features holds ", batch.features_size(), " values, expected num_rows ",
        rows, " * feature_dim ", dim, " = ", rows * dim));
  }
  const VersionState* version = nullptr;
  if (model != nullptr) {
    auto it = model->versions.find(batch.version());
    if (it != model->versions.end()) version = &it->second;
  }
  if (dim > 0 && version != nullptr && version->feature_dim >= 0 &&
      version->feature_dim != dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("feature_dim ", dim, " differs from the ",
                     version->feature_dim, " of earlier batches of model '",
                     batch.model(), "' version ", batch.version()));
  }
  if (dim > 0 && model != nullptr) {
    for (const v1::DetectorConfig& d : model->monitor.detectors()) {
      if (d.signal() == v1::MONITORED_SIGNAL_FEATURE &&
          d.feature_index() >= dim) {
        return absl::InvalidArgumentError(absl::StrCat(
            "feature_dim ", dim, " has no feature ", d.feature_index(),
            " watched by detector '", d.id(), "'"));
      }
    }
  }
  auto check_column = [&](absl::string_view column, int size) {
    if (size != 0 && size != rows) {
      return absl::InvalidArgumentError(absl::StrCat(column, " holds ", size,
                                                     " entries, expected 0 or "
                                                     "num_rows ",
                                                     rows));
    }
    return absl::OkStatus();
  };
  for (absl::Status s :
       {check_column("predicted_classes", batch.predicted_classes_size()),
        check_column("predicted_values", batch.predicted_values_size()),
        check_column("confidences", batch.confidences_size()),
        check_column("ids", batch.ids_size()),
        check_column("event_time_unix_micros",
                     batch.event_time_unix_micros_size())}) {
    if (!s.ok()) return s;
  }
  for (int64_t i = 0; i < batch.features_size(); ++i) {
    if (!std::isfinite(batch.features(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("row ", i / dim, ": feature ", i % dim, " is ",
                       batch.features(i), " (must be finite)"));
    }
  }
  for (int i = 0; i < batch.predicted_values_size(); ++i) {
    if (!std::isfinite(batch.predicted_values(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("row ", i, ": predicted value is ",
                       batch.predicted_values(i), " (must be finite)"));
    }
  }
  for (int i = 0; i < batch.confidences_size(); ++i) {
    if (!std::isfinite(batch.confidences(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("row ", i, ": confidence is ", batch.confidences(i),
                       " (must be finite)"));
    }
  }
  int kind = version != nullptr ? version->outcome_kind : 0;
  for (int i = 0; i < batch.outcomes_size(); ++i) {
    const v1::ObservedOutcome& o = batch.outcomes(i);
    if (o.row() < 0 || o.row() >= rows) {
      return absl::InvalidArgumentError(absl::StrCat(
          "outcomes[", i, "]: row ", o.row(), " is outside [0, ", rows, ")"));
    }
    int this_kind = 0;
    if (o.result_case() == v1::ObservedOutcome::kCorrect) {
      this_kind = 1;
    } else if (o.result_case() == v1::ObservedOutcome::kErrorValue) {
      this_kind = 2;
      if (!std::isfinite(o.error_value()) || o.error_value() < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("row ", o.row(), ": error_value is ", o.error_value(),
                         " (must be finite and >= 0)"));
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "row ", o.row(), ": outcome has neither correct nor error_value"));
    }
    if (kind != 0 && kind != this_kind) {
      return absl::InvalidArgumentError(absl::StrCat(
          "row ", o.row(), ": outcome is ",
          this_kind == 1 ? "correct/wrong" : "an error value", " but model '",
          batch.model(), "' version ", batch.version(), " reports ",
          kind == 1 ? "correct/wrong" : "error values"));
    }
    kind = this_kind;
  }
  return absl::OkStatus();
}

void DriftMonitor::EnsureDetectors(const ModelState& model,
                                   VersionState& version) {
  if (version.detectors_built) return;
  version.detectors.clear();
  for (const v1::DetectorConfig& d : model.monitor.detectors()) {
    std::map<std::string, std::string> params(d.params().begin(),
                                              d.params().end());
    absl::StatusOr<std::unique_ptr<drift::StreamingDetector>> made =
        drift::MakeDetector(d.detector(), params);
    if (!made.ok()) continue;  // Validated at configuration; cannot happen.
    DetectorInstance instance;
    instance.config = &d;
    instance.signal = d.signal();
    instance.detector = *std::move(made);
    version.detectors.push_back(std::move(instance));
  }
  version.detectors_built = true;
}

int DriftMonitor::FeedSignal(const ModelState& model, int64_t version_id,
                             VersionState& version, v1::MonitoredSignal signal,
                             int feature_index, double x, int64_t index) {
  int raised = 0;
  for (DetectorInstance& d : version.detectors) {
    if (d.signal != signal) continue;
    if (signal == v1::MONITORED_SIGNAL_FEATURE &&
        d.config->feature_index() != feature_index) {
      continue;
    }
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
      if (options_.metrics != nullptr) {
        options_.metrics->AddDetectorSignal(ModelIdOf(model.monitor),
                                            d.config->id(), true);
      }
    }
    const bool alert_warning =
        warning && !was_warning && d.config->alert_on_warning();
    if (!drift && !alert_warning) continue;
    const absl::Time now = options_.clock->Now();
    if (drift) {
      ++d.drift_count;
      d.last_drift_index = index;
      d.last_drift_time = now;
      if (options_.metrics != nullptr) {
        options_.metrics->AddDetectorSignal(ModelIdOf(model.monitor),
                                            d.config->id(), false);
      }
    }
    v1::Alert alert;
    alert.set_model(std::string(ModelIdOf(model.monitor)));
    alert.set_version(version_id);
    alert.set_type(AlertTypeOf(signal));
    alert.set_severity(drift ? d.config->drift_severity()
                             : v1::ALERT_SEVERITY_INFO);
    alert.set_detector(d.config->id());
    alert.set_feature_index(
        signal == v1::MONITORED_SIGNAL_FEATURE ? feature_index : -1);
    alert.set_observation_index(index);
    *alert.mutable_create_time() = ToProto(now);
    // The detector's estimate of the stream's mean where it has one.
    for (const drift::DetectorStatistic& s : d.detector->Statistics()) {
      if (s.first == "estimation" || s.first == "x_mean") {
        alert.set_statistic(s.second);
        break;
      }
    }
    alert.set_message(
        absl::StrCat(d.config->detector(), " ", drift ? "drift" : "warning",
                     " on ", v1::MonitoredSignal_Name(signal),
                     signal == v1::MONITORED_SIGNAL_FEATURE
                         ? absl::StrCat(" feature ", feature_index)
                         : "",
                     " of version ", version_id, " at observation ", index));
    RaiseAlert(std::move(alert));
    ++raised;
  }
  return raised;
}

int DriftMonitor::FeedOutcome(const ModelState& model, int64_t version_id,
                              VersionState& version, bool is_error_value,
                              double value) {
  const int64_t index = version.outcomes++;
  version.outcome_kind = is_error_value ? 2 : 1;
  int raised = 0;
  // The default `error_adwin` watches whichever error stream the version's
  // outcomes carry (drift.proto: "adwin on ERROR_RATE or ERROR_VALUE").
  const v1::MonitoredSignal signal = is_error_value
                                         ? v1::MONITORED_SIGNAL_ERROR_VALUE
                                         : v1::MONITORED_SIGNAL_ERROR_RATE;
  if (model.monitor.is_default() && is_error_value) {
    for (DetectorInstance& d : version.detectors) {
      if (d.config->id() == "error_adwin") d.signal = signal;
    }
  }
  raised += FeedSignal(model, version_id, version, signal, -1, value, index);

  // Performance bounds over the sliding window.
  const v1::PerformanceThresholds& p = model.monitor.performance();
  const size_t window_size = static_cast<size_t>(
      p.window_size() > 0 ? p.window_size() : kDefaultPerformanceWindow);
  version.window.push_back(value);
  version.window_sum += value;
  while (version.window.size() > window_size) {
    version.window_sum -= version.window.front();
    version.window.pop_front();
  }
  if (version.window.size() == window_size) {
    // Recompute now and then so rounding does not accumulate.
    if (index % static_cast<int64_t>(window_size) == 0) {
      version.window_sum = 0;
      for (double v : version.window) version.window_sum += v;
    }
  }
  // The bound: the absolute one, and for error rates the version's
  // reference error rate plus the allowed increase; the lower one counts.
  std::optional<double> bound;
  std::string bound_name;
  if (is_error_value) {
    if (p.has_max_mean_error_value()) {
      bound = p.max_mean_error_value();
      bound_name = absl::StrCat("max_mean_error_value ", *bound);
    }
  } else {
    if (p.has_max_error_rate()) {
      bound = p.max_error_rate();
      bound_name = absl::StrCat("max_error_rate ", *bound);
    }
    if (version.reference != nullptr &&
        version.reference->error_rate.has_value()) {
      const double points = p.has_max_error_rate_increase_points()
                                ? p.max_error_rate_increase_points()
                                : kDefaultErrorRateIncreasePoints;
      const double relative = *version.reference->error_rate + points / 100;
      if (!bound.has_value() || relative < *bound) {
        bound = relative;
        bound_name = absl::StrCat("the reference error rate ",
                                  *version.reference->error_rate, " + ", points,
                                  " points");
      }
    }
  }
  const int64_t min_outcomes =
      p.min_outcomes() > 0 ? p.min_outcomes() : kDefaultMinOutcomes;
  if (!bound.has_value() ||
      static_cast<int64_t>(version.window.size()) < min_outcomes) {
    return raised;
  }
  const double mean = version.WindowMean();
  if (mean <= *bound) {
    version.performance_alerting = false;
    return raised;
  }
  if (version.performance_alerting) return raised;
  version.performance_alerting = true;
  v1::Alert alert;
  alert.set_model(std::string(ModelIdOf(model.monitor)));
  alert.set_version(version_id);
  alert.set_type(v1::ALERT_TYPE_PERFORMANCE);
  alert.set_severity(v1::ALERT_SEVERITY_CRITICAL);
  alert.set_detector("performance");
  alert.set_feature_index(-1);
  alert.set_observation_index(index);
  *alert.mutable_create_time() = ToProto(options_.clock->Now());
  alert.set_statistic(mean);
  alert.set_threshold(*bound);
  alert.set_message(absl::StrCat(
      is_error_value ? "mean error value " : "error rate ", mean,
      " over the last ", version.window.size(), " outcomes of version ",
      version_id, " exceeds ", bound_name));
  RaiseAlert(std::move(alert));
  return raised + 1;
}

absl::StatusOr<ObserveResult> DriftMonitor::Observe(
    const v1::ObservationBatch& batch) {
  ObserveResult result;
  {
    absl::MutexLock lock(&mu_);
    auto existing = models_.find(batch.model());
    if (absl::Status s = ValidateBatch(batch, existing == models_.end()
                                                  ? nullptr
                                                  : existing->second.get());
        !s.ok()) {
      return s;
    }
    if (existing == models_.end() &&
        static_cast<int64_t>(models_.size()) >= options_.max_models) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the drift service monitors at most ", options_.max_models,
          " models; model '", batch.model(), "' is not monitored"));
    }
    ModelState& model = GetOrCreateModel(batch.model());
    if (!model.versions.contains(batch.version()) &&
        static_cast<int>(model.versions.size()) >=
            options_.max_versions_per_model) {
      // Versions only grow: the oldest one no longer serves.
      if (batch.version() < model.versions.begin()->first) {
        return absl::FailedPreconditionError(
            absl::StrCat("version ", batch.version(), " of model '",
                         batch.model(), "' is older than the ",
                         options_.max_versions_per_model, " versions tracked"));
      }
      model.versions.erase(model.versions.begin());
    }
    VersionState& version = model.versions[batch.version()];
    const bool predictions = batch.kind() != v1::OBSERVATION_KIND_OUTCOME;
    const int64_t rows = batch.num_rows();
    if (predictions) {
      result.observations = rows;
      model.observations += rows;
      version.observations += rows;
    }
    result.outcomes = batch.outcomes_size();
    if (batch.feature_dim() > 0) version.feature_dim = batch.feature_dim();
    RecordWindow(model, version, batch);
    if (model.monitor.disabled()) {
      // Counted and dropped, as drift.proto says.
      version.outcomes += batch.outcomes_size();
    } else {
      EnsureDetectors(model, version);
      // Outcomes in row order (stable for equal rows).
      std::vector<int> order(batch.outcomes_size());
      for (int i = 0; i < batch.outcomes_size(); ++i) order[i] = i;
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
        return batch.outcomes(a).row() < batch.outcomes(b).row();
      });
      size_t next_outcome = 0;
      const bool canary_samples =
          !model.monitor.canary_judgement().disabled() &&
          options_.actions != nullptr && !batch.outcomes().empty();
      const absl::Time received =
          canary_samples ? options_.clock->Now() : absl::InfinitePast();
      const size_t max_samples = static_cast<size_t>(
          std::max<int64_t>(1, options_.max_canary_samples));
      bool has_feature_detectors = false;
      for (const DetectorInstance& d : version.detectors) {
        has_feature_detectors |= d.signal == v1::MONITORED_SIGNAL_FEATURE;
      }
      const int dim = batch.feature_dim();
      for (int64_t r = 0; r < rows; ++r) {
        if (predictions) {
          if (has_feature_detectors) {
            // Each watched feature once per row, in detector order.
            std::set<int> fed;
            for (size_t k = 0; k < version.detectors.size(); ++k) {
              const DetectorInstance& d = version.detectors[k];
              if (d.signal != v1::MONITORED_SIGNAL_FEATURE) continue;
              const int f = d.config->feature_index();
              if (!fed.insert(f).second) continue;
              result.alerts += FeedSignal(
                  model, batch.version(), version, v1::MONITORED_SIGNAL_FEATURE,
                  f, batch.features(static_cast<int>(r * dim + f)),
                  version.observations - rows + r);
            }
          }
          double prediction = 0;
          bool has_prediction = true;
          if (batch.confidences_size() > 0) {
            prediction = batch.confidences(static_cast<int>(r));
          } else if (batch.predicted_values_size() > 0) {
            prediction = batch.predicted_values(static_cast<int>(r));
          } else {
            has_prediction = false;
          }
          if (has_prediction) {
            result.alerts += FeedSignal(model, batch.version(), version,
                                        v1::MONITORED_SIGNAL_PREDICTION, -1,
                                        prediction, version.prediction_index++);
          }
        }
        while (next_outcome < order.size() &&
               batch.outcomes(order[next_outcome]).row() == r) {
          const v1::ObservedOutcome& o = batch.outcomes(order[next_outcome]);
          ++next_outcome;
          const bool is_value =
              o.result_case() == v1::ObservedOutcome::kErrorValue;
          const double value = is_value ? static_cast<double>(o.error_value())
                                        : (o.correct() ? 0.0 : 1.0);
          result.alerts +=
              FeedOutcome(model, batch.version(), version, is_value, value);
          if (canary_samples) {
            version.canary_samples.emplace_back(received, value);
            if (version.canary_samples.size() > max_samples) {
              version.canary_samples.pop_front();
            }
            version.last_outcome_seq = ++model.outcome_seq;
          }
        }
      }
    }
  }
  if (options_.metrics != nullptr) {
    options_.metrics->AddObservations(batch.model(), result.observations,
                                      result.outcomes);
  }
  if (result.outcomes > 0) MaybeJudgeCanary(batch.model());
  RunPendingActions();
  return result;
}

// ---------------------------------------------------------------------------
// Canary judgement

void DriftMonitor::MaybeJudgeCanary(const std::string& model_id) {
  if (options_.actions == nullptr) return;  // Production unknown.
  bool look_up = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = models_.find(model_id);
    if (it == models_.end()) return;
    ModelState& model = *it->second;
    const v1::CanaryJudgementConfig& config = model.monitor.canary_judgement();
    if (model.monitor.disabled() || config.disabled()) return;
    const absl::Time now = options_.clock->Now();
    const absl::Duration interval = config.has_interval()
                                        ? FromProto(config.interval())
                                        : kDefaultCanaryInterval;
    if (model.last_judgement != absl::InfinitePast() &&
        now - model.last_judgement < interval) {
      return;
    }
    // A canary runs only while two versions report outcomes, and there is
    // something new to judge only after new outcomes.
    int with_outcomes = 0;
    for (const auto& [id, version] : model.versions) {
      if (!version.canary_samples.empty()) ++with_outcomes;
    }
    if (with_outcomes < 2 || model.outcome_seq == model.judged_seq) return;
    // One registry lookup per interval at most (a failed one too).
    look_up = model.production_time == absl::InfinitePast() ||
              now - model.production_time >= interval;
    if (look_up) model.production_time = now;
  }
  if (look_up) {
    // The registry call happens outside the lock.
    absl::StatusOr<int64_t> found =
        options_.actions->ProductionVersion(model_id);
    absl::MutexLock lock(&mu_);
    auto it = models_.find(model_id);
    if (it == models_.end()) return;
    it->second->production = found.ok() ? *found : 0;
  }

  absl::MutexLock lock(&mu_);
  auto it = models_.find(model_id);
  if (it == models_.end()) return;
  ModelState& model = *it->second;
  const v1::CanaryJudgementConfig& config = model.monitor.canary_judgement();
  if (model.monitor.disabled() || config.disabled()) return;
  const std::optional<int64_t> production =
      model.production > 0 ? std::optional<int64_t>(model.production)
                           : std::nullopt;
  if (!production.has_value()) return;  // Looked up again next interval.
  auto stable_it = model.versions.find(*production);
  if (stable_it == model.versions.end() ||
      stable_it->second.canary_samples.empty()) {
    return;
  }
  // The canary: of the versions newer than production (an older one still
  // reporting is the previous stable draining after a promotion), the one
  // served most recently, if it reported outcomes since the previous
  // judgement (an aborted canary that no longer serves is not judged again).
  int64_t canary_id = 0;
  const VersionState* canary = nullptr;
  for (const auto& [id, version] : model.versions) {
    if (id <= *production || version.canary_samples.empty()) continue;
    if (canary == nullptr ||
        version.last_outcome_seq > canary->last_outcome_seq) {
      canary_id = id;
      canary = &version;
    }
  }
  if (canary == nullptr || canary->last_outcome_seq <= model.judged_seq) {
    return;
  }
  const VersionState& stable = stable_it->second;
  if (canary->outcome_kind != stable.outcome_kind) return;  // Incomparable.
  model.judged_seq = model.outcome_seq;
  const absl::Time now = options_.clock->Now();
  model.last_judgement = now;

  // The common period: from when both arms have (kept) outcomes.
  const absl::Time start = std::max(stable.canary_samples.front().first,
                                    canary->canary_samples.front().first);
  const bool error_values = canary->outcome_kind == 2;
  struct Arm {
    int64_t n = 0;
    double sum = 0;
    std::vector<double> values;  // Error values only (Mann-Whitney U).
    double mean() const { return n == 0 ? 0.0 : sum / static_cast<double>(n); }
  };
  auto in_period = [&](const VersionState& v) {
    Arm arm;
    for (const auto& [time, value] : v.canary_samples) {
      if (time < start) continue;
      ++arm.n;
      arm.sum += value;
      if (error_values) arm.values.push_back(value);
    }
    return arm;
  };
  const Arm canary_arm = in_period(*canary);
  const Arm stable_arm = in_period(stable);
  v1::CanaryJudgement judgement;
  judgement.set_model(model_id);
  judgement.set_canary_version(canary_id);
  judgement.set_stable_version(*production);
  *judgement.mutable_window()->mutable_start_time() = ToProto(start);
  *judgement.mutable_window()->mutable_end_time() = ToProto(now);
  judgement.set_canary_outcomes(canary_arm.n);
  judgement.set_stable_outcomes(stable_arm.n);
  judgement.set_canary_error(canary_arm.mean());
  judgement.set_stable_error(stable_arm.mean());
  judgement.set_test(error_values ? "mann_whitney_u" : "two_proportion_z");
  TestOutcome test;
  if (canary_arm.n > 0 && stable_arm.n > 0) {
    test =
        error_values
            ? MannWhitneyU(canary_arm.values, stable_arm.values)
            : TwoProportionZ(canary_arm.sum, static_cast<double>(canary_arm.n),
                             stable_arm.sum, static_cast<double>(stable_arm.n));
  }
  judgement.set_statistic(test.statistic);
  judgement.set_p_value(test.p_value);
  *judgement.mutable_judge_time() = ToProto(now);
  const double alpha =
      config.alpha() > 0 ? config.alpha() : kDefaultCanaryAlpha;
  const int64_t min_outcomes = config.min_outcomes() > 0
                                   ? config.min_outcomes()
                                   : kDefaultCanaryMinOutcomes;
  const double difference = judgement.canary_error() - judgement.stable_error();
  // The minimum effect is in percentage points of error rate; for error
  // values only the direction counts.
  const double min_difference =
      error_values ? 0.0 : config.min_effect_points() / 100;
  // A canary is judged again every interval on a growing window: to keep
  // the chance of aborting a canary that is not worse at most `alpha` over
  // all its judgements, look k tests at alpha * 6 / (pi^2 k^2) (these sum
  // to alpha).
  double look_alpha = alpha;
  const bool enough = judgement.canary_outcomes() >= min_outcomes &&
                      judgement.stable_outcomes() >= min_outcomes;
  if (enough) {
    const double k = static_cast<double>(++model.canary_looks[canary_id]);
    look_alpha = alpha * 6 / (std::numbers::pi * std::numbers::pi * k * k);
  }
  if (!enough) {
    judgement.set_verdict(v1::CANARY_VERDICT_INCONCLUSIVE);
  } else if (test.p_value < look_alpha && difference > 0 &&
             difference >= min_difference) {
    judgement.set_verdict(v1::CANARY_VERDICT_FAIL);
  } else {
    judgement.set_verdict(v1::CANARY_VERDICT_PASS);
  }
  model.latest_judgement = judgement;
  if (judgement.verdict() != v1::CANARY_VERDICT_FAIL ||
      !model.failed_canaries.insert(canary_id).second) {
    return;
  }
  v1::Alert alert;
  alert.set_model(model_id);
  alert.set_version(canary_id);
  alert.set_type(v1::ALERT_TYPE_PERFORMANCE);
  alert.set_severity(v1::ALERT_SEVERITY_CRITICAL);
  alert.set_detector(kCanaryDetector);
  alert.set_feature_index(-1);
  alert.set_observation_index(canary->outcomes - 1);
  *alert.mutable_create_time() = ToProto(now);
  alert.set_statistic(judgement.canary_error());
  alert.set_threshold(judgement.stable_error() + min_difference);
  alert.set_p_value(test.p_value);
  alert.set_message(absl::StrCat(
      "canary version ", canary_id, " is worse than stable version ",
      *production, ": ", error_values ? "mean error value " : "error rate ",
      judgement.canary_error(), " vs ", judgement.stable_error(), " over ",
      judgement.canary_outcomes(), " / ", judgement.stable_outcomes(),
      " outcomes (", judgement.test(), " p = ", test.p_value, " < ", look_alpha,
      ", alpha ", alpha, " spent over ", model.canary_looks[canary_id],
      " judgements)"));
  *alert.mutable_canary_judgement() = std::move(judgement);
  RaiseAlert(std::move(alert));
}

// ---------------------------------------------------------------------------
// Status

absl::StatusOr<v1::GetDriftStatusResponse> DriftMonitor::GetDriftStatus(
    absl::string_view name, int64_t version_filter) {
  absl::StatusOr<std::string> model_id =
      ParseModelName(name, "", "models/{model}");
  if (!model_id.ok()) return model_id.status();
  if (version_filter < 0) {
    return absl::InvalidArgumentError("version must be >= 0");
  }
  absl::MutexLock lock(&mu_);
  auto it = models_.find(*model_id);
  if (it == models_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "model '", *model_id, "' has never been observed or configured"));
  }
  const ModelState& model = *it->second;
  if (version_filter != 0 && !model.versions.contains(version_filter)) {
    return absl::NotFoundError(absl::StrCat("model '", *model_id,
                                            "' has no observations of "
                                            "version ",
                                            version_filter));
  }
  v1::GetDriftStatusResponse response;
  response.set_model(*model_id);
  response.set_observations(model.observations);
  for (const auto& [id, version] : model.versions) {
    if (version_filter != 0 && id != version_filter) continue;
    for (const DetectorInstance& d : version.detectors) {
      v1::DetectorStatus* s = response.add_detectors();
      s->set_detector_id(d.config->id());
      s->set_detector(d.config->detector());
      s->set_signal(d.signal);
      s->set_feature_index(d.config->feature_index());
      s->set_version(id);
      s->set_state(d.state);
      s->set_observations(d.observations);
      s->set_drift_count(d.drift_count);
      s->set_warning_count(d.warning_count);
      s->set_last_drift_index(d.last_drift_index);
      if (d.last_drift_index >= 0) {
        *s->mutable_last_drift_time() = ToProto(d.last_drift_time);
      }
      for (const drift::DetectorStatistic& stat : d.detector->Statistics()) {
        (*s->mutable_statistics())[stat.first] = stat.second;
      }
    }
    v1::VersionPerformance* p = response.add_performance();
    p->set_version(id);
    p->set_observations(version.observations);
    p->set_outcomes(version.outcomes);
    if (!version.window.empty()) {
      const double mean = version.WindowMean();
      if (version.outcome_kind == 1) p->set_error_rate(mean);
      if (version.outcome_kind == 2) p->set_mean_error_value(mean);
    }
    if (version.reference != nullptr &&
        version.reference->error_rate.has_value()) {
      p->set_reference_error_rate(*version.reference->error_rate);
    }
    p->set_reference_status(version.reference_status);
    if (version.latest_reference_run.has_value()) {
      *response.add_reference_tests() = *version.latest_reference_run;
    }
  }
  if (auto last = last_action_.find(*model_id); last != last_action_.end()) {
    const v1::ActionPolicy& policy = model.monitor.actions();
    const absl::Time until = last->second + CooldownOf(policy);
    if (until > options_.clock->Now()) {
      *response.mutable_cooldown_until() = ToProto(until);
    }
  }
  if (auto alert = last_action_alert_.find(*model_id);
      alert != last_action_alert_.end()) {
    *response.mutable_last_action_alert() = alert->second;
  }
  if (model.latest_judgement.has_value() &&
      (version_filter == 0 ||
       model.latest_judgement->canary_version() == version_filter ||
       model.latest_judgement->stable_version() == version_filter)) {
    *response.mutable_latest_canary_judgement() = *model.latest_judgement;
  }
  return response;
}

// ---------------------------------------------------------------------------
// Alerts

namespace {

// The policy's rules, or the defaults of drift.proto: DATA and CONCEPT at
// WARNING or above -> retrain; PERFORMANCE at CRITICAL on production ->
// rollback.
std::vector<v1::ActionRule> EffectiveRules(const v1::ActionPolicy& policy) {
  if (!policy.rules().empty()) {
    return {policy.rules().begin(), policy.rules().end()};
  }
  std::vector<v1::ActionRule> rules(3);
  rules[0].set_alert_type(v1::ALERT_TYPE_DATA);
  rules[0].set_min_severity(v1::ALERT_SEVERITY_WARNING);
  rules[0].set_action(v1::DRIFT_ACTION_TRIGGER_RETRAIN);
  rules[1].set_alert_type(v1::ALERT_TYPE_CONCEPT);
  rules[1].set_min_severity(v1::ALERT_SEVERITY_WARNING);
  rules[1].set_action(v1::DRIFT_ACTION_TRIGGER_RETRAIN);
  rules[2].set_alert_type(v1::ALERT_TYPE_PERFORMANCE);
  rules[2].set_min_severity(v1::ALERT_SEVERITY_CRITICAL);
  rules[2].set_action(v1::DRIFT_ACTION_ROLLBACK);
  rules[2].set_production_only(true);
  return rules;
}

}  // namespace

absl::StatusOr<std::pair<int64_t, std::string>>
DriftMonitor::EarlierVersionThatDidBetter(const std::string& model_id,
                                          int64_t version_id) {
  absl::MutexLock lock(&mu_);
  auto model_it = models_.find(model_id);
  if (model_it == models_.end()) {
    return absl::FailedPreconditionError("the model is no longer monitored");
  }
  const ModelState& model = *model_it->second;
  auto current = model.versions.find(version_id);
  if (current == model.versions.end() || current->second.window.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "version ", version_id, " has no recent outcomes to compare"));
  }
  const VersionState& now = current->second;
  const double now_mean = now.WindowMean();
  const int64_t min_outcomes = model.monitor.performance().min_outcomes() > 0
                                   ? model.monitor.performance().min_outcomes()
                                   : kDefaultMinOutcomes;
  const char* what = now.outcome_kind == 2 ? "mean error value" : "error rate";
  // The newest earlier version with enough recent outcomes of the same kind.
  for (auto it = std::make_reverse_iterator(current);
       it != model.versions.rend(); ++it) {
    const VersionState& earlier = it->second;
    if (earlier.outcome_kind != now.outcome_kind ||
        static_cast<int64_t>(earlier.window.size()) < min_outcomes) {
      continue;
    }
    const double earlier_mean = earlier.WindowMean();
    if (earlier_mean < now_mean) {
      return std::make_pair(
          it->first,
          absl::StrCat("version ", it->first, " did better: ", what, " ",
                       earlier_mean, " over its last ", earlier.window.size(),
                       " outcomes vs ", now_mean, " of version ", version_id));
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "no rollback: version ", it->first, " did no better on its last ",
        earlier.window.size(), " outcomes (", what, " ", earlier_mean, " vs ",
        now_mean, " of version ", version_id, ")"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "no rollback: no earlier version has ", min_outcomes,
      " recent outcomes to compare version ", version_id, " with"));
}

void DriftMonitor::RunPendingActions() {
  std::vector<v1::Alert> work;
  {
    absl::MutexLock lock(&mu_);
    work.swap(pending_actions_);
  }
  // Store errors do not stop actions: the alert stays in memory.
  auto store = [this](const v1::Alert& alert) {
    if (options_.store == nullptr) return;
    if (absl::Status s = options_.store->PutAlert(alert); !s.ok()) {
      spdlog::error("drift: cannot store alert {}: {}", alert.name(),
                    s.ToString());
    }
  };
  for (v1::Alert& alert : work) {
    // Stored before the action runs, so a restart does not forget an alert
    // that was acted on (unless the store failed, which is logged).
    store(alert);
    v1::ActionPolicy policy;
    {
      absl::MutexLock lock(&mu_);
      auto it = models_.find(alert.model());
      if (it != models_.end()) policy = it->second->monitor.actions();
    }
    v1::ActionResult result;
    result.set_action(v1::DRIFT_ACTION_NONE);
    result.set_target(absl::StrCat("models/", alert.model()));
    const absl::Time now = options_.clock->Now();
    *result.mutable_action_time() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
            absl::ToUnixMicros(now));
    std::optional<int64_t> production;
    absl::Status lookup;
    // A failed canary judgement always aborts the rollout (drift.proto);
    // the rules decide everything else.
    const bool canary = alert.detector() == kCanaryDetector;
    if (canary) result.set_action(v1::DRIFT_ACTION_ABORT_ROLLOUT);
    for (const v1::ActionRule& rule : EffectiveRules(policy)) {
      if (canary) break;
      if (rule.alert_type() != alert.type() ||
          alert.severity() < rule.min_severity() ||
          rule.action() == v1::DRIFT_ACTION_UNSPECIFIED) {
        continue;
      }
      if (rule.production_only()) {
        if (!production.has_value() && lookup.ok()) {
          if (options_.actions == nullptr) {
            lookup = absl::FailedPreconditionError(
                "no registry is configured to tell the production version");
          } else {
            absl::StatusOr<int64_t> p =
                options_.actions->ProductionVersion(alert.model());
            if (p.ok())
              production = *p;
            else
              lookup = p.status();
          }
        }
        if (!production.has_value() || *production != alert.version()) continue;
      }
      result.set_action(rule.action());
      break;
    }
    std::string reason =
        absl::StrCat("drift alert ", alert.name(), ": ", alert.message());
    const absl::Duration cooldown = CooldownOf(policy);
    // Aborting a canary the judgement failed is never held back by the
    // cool-down of another action (drift.proto: a failed judgement always
    // aborts); it only stops the candidate's traffic.
    const bool cooled = !policy.dry_run() &&
                        result.action() != v1::DRIFT_ACTION_NONE &&
                        result.action() != v1::DRIFT_ACTION_ABORT_ROLLOUT;
    bool suppressed = false;
    // The cool-down slot is taken before the action runs, so two batches
    // acting at once cannot both act; given back if the action fails.
    std::optional<absl::Time> previous_action;
    bool reserved = false;
    auto in_cooldown = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto last = last_action_.find(alert.model());
      return last != last_action_.end() && now - last->second < cooldown;
    };
    if (cooled) {
      absl::MutexLock lock(&mu_);
      suppressed = in_cooldown();
    }
    // Roll back only to an earlier version that did better on its recent
    // outcomes (drift.proto).
    int64_t rollback_to = 0;
    if (!suppressed && result.action() == v1::DRIFT_ACTION_ROLLBACK) {
      absl::StatusOr<std::pair<int64_t, std::string>> better =
          EarlierVersionThatDidBetter(alert.model(), alert.version());
      if (better.ok()) {
        rollback_to = better->first;
        absl::StrAppend(&reason, "; ", better->second);
      } else {
        result.set_action(v1::DRIFT_ACTION_NONE);
        lookup = better.status();
      }
    }
    if (cooled && !suppressed && result.action() != v1::DRIFT_ACTION_NONE &&
        options_.actions != nullptr) {
      absl::MutexLock lock(&mu_);
      suppressed = in_cooldown();  // Another batch may have acted since.
      if (!suppressed) {
        auto last = last_action_.find(alert.model());
        if (last != last_action_.end()) previous_action = last->second;
        last_action_[alert.model()] = now;
        reserved = true;
      }
    }
    if (result.action() == v1::DRIFT_ACTION_NONE) {
      result.set_message(lookup.ok()
                             ? "no action rule applies: alert only"
                             : absl::StrCat("alert only: ", lookup.message()));
    } else if (suppressed) {
      result.set_suppressed_by_cooldown(true);
      result.set_message(
          absl::StrCat("suppressed: the model was acted on less than ",
                       absl::FormatDuration(cooldown), " ago"));
    } else if (policy.dry_run()) {
      result.set_dry_run(true);
      result.set_message(absl::StrCat(
          "dry run: would ", v1::DriftAction_Name(result.action()),
          rollback_to > 0 ? absl::StrCat(" to version ", rollback_to) : ""));
    } else if (options_.actions == nullptr) {
      result.set_message("no registry or trainer is configured");
    } else {
      absl::StatusOr<std::string> done = absl::InternalError("unknown action");
      switch (result.action()) {
        case v1::DRIFT_ACTION_ROLLBACK:
          done = options_.actions->Rollback(alert.model(), alert.version(),
                                            rollback_to, reason);
          break;
        case v1::DRIFT_ACTION_ABORT_ROLLOUT:
          done = options_.actions->AbortRollout(alert.model(), alert.version(),
                                                reason);
          break;
        case v1::DRIFT_ACTION_TRIGGER_RETRAIN:
          done =
              options_.actions->TriggerRun(alert.model(), alert.name(), reason);
          break;
        default:
          break;
      }
      result.set_succeeded(done.ok());
      result.set_message(done.ok() ? "done"
                                   : std::string(done.status().message()));
      if (done.ok()) result.set_target(*done);
      // Only an action that happened starts the cool-down: a failed
      // retrain request must not hold back a rollback.
      if (!done.ok() && reserved) {
        absl::MutexLock lock(&mu_);
        auto last = last_action_.find(alert.model());
        if (last != last_action_.end() && last->second == now) {
          if (previous_action.has_value()) {
            last->second = *previous_action;
          } else {
            last_action_.erase(last);
          }
        }
      }
      if (done.ok() && options_.store != nullptr) {
        if (absl::Status s = options_.store->PutLastAction(alert.model(), now);
            !s.ok()) {
          spdlog::error("drift: cannot store the last action on {}: {}",
                        alert.model(), s.ToString());
        }
      }
    }
    if (options_.metrics != nullptr) {
      const v1::ActionResult& r = result;
      options_.metrics->AddAction(alert.model(),
                                  v1::DriftAction_Name(r.action()),
                                  r.action() == v1::DRIFT_ACTION_NONE ? "none"
                                  : r.suppressed_by_cooldown() ? "suppressed"
                                  : r.dry_run()                ? "dry_run"
                                  : r.succeeded()              ? "done"
                                                               : "failed");
    }
    *alert.mutable_action_result() = std::move(result);
    // Stored before watchers see it, so what they see survives a restart.
    store(alert);
    {
      absl::MutexLock lock(&mu_);
      if (alert.action_result().succeeded()) {
        last_action_alert_[alert.model()] = alert;
      }
      for (v1::Alert& kept : alerts_) {
        if (kept.sequence() == alert.sequence()) {
          *kept.mutable_action_result() = alert.action_result();
          break;
        }
      }
      unsettled_.erase(alert.sequence());
    }
  }
}

int64_t DriftMonitor::SettledSequence() const {
  return unsettled_.empty() ? last_sequence_ : *unsettled_.begin() - 1;
}

void DriftMonitor::RaiseAlert(v1::Alert alert) {
  alert.set_sequence(++last_sequence_);
  alert.set_name(
      absl::StrCat("models/", alert.model(), "/alerts/", alert.sequence()));
  // The action is decided and run after the observation batch, outside
  // the lock (it may call the registry or the trainer).
  v1::ActionResult* action = alert.mutable_action_result();
  action->set_action(v1::DRIFT_ACTION_NONE);
  action->set_message(kActionPending);
  unsettled_.insert(alert.sequence());
  pending_actions_.push_back(alert);
  if (options_.metrics != nullptr) {
    options_.metrics->AddAlert(alert.model(), v1::AlertType_Name(alert.type()));
  }
  alerts_.push_back(std::move(alert));
  while (static_cast<int64_t>(alerts_.size()) >
         std::max<int64_t>(1, options_.max_alerts)) {
    alerts_.pop_front();
  }
}

absl::StatusOr<v1::ListAlertsResponse> DriftMonitor::ListAlerts(
    const v1::ListAlertsRequest& request) {
  std::string model;  // Empty = every model.
  if (request.parent() != "models/-") {
    absl::StatusOr<std::string> parsed =
        ParseModelName(request.parent(), "", "models/{model} or models/-");
    if (!parsed.ok()) return parsed.status();
    model = *parsed;
  }
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("page_size must be >= 0");
  }
  const int page_size =
      request.page_size() == 0 ? 100 : std::min(request.page_size(), 1000);
  int64_t before = std::numeric_limits<int64_t>::max();
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &before) || before < 1)) {
    return absl::InvalidArgumentError("page_token is malformed");
  }
  absl::StatusOr<core::Filter> filter =
      core::Filter::Parse(request.filter(), [](absl::string_view key) {
        return key == "type" || key == "severity" || key == "version" ||
               key == "detector" || key == "feature_index" || key == "model" ||
               key == "action_result.action";
      });
  if (!filter.ok()) return filter.status();

  v1::ListAlertsResponse response;
  absl::MutexLock lock(&mu_);
  if (!model.empty() && !models_.contains(model)) {
    return absl::NotFoundError(absl::StrCat(
        "model '", model, "' has never been observed or configured"));
  }
  for (auto it = alerts_.rbegin(); it != alerts_.rend(); ++it) {
    const v1::Alert& a = *it;
    if (a.sequence() >= before) continue;
    if (!model.empty() && a.model() != model) continue;
    const bool match = filter->Matches(
        [&](absl::string_view key) -> std::optional<std::string> {
          if (key == "type") return v1::AlertType_Name(a.type());
          if (key == "severity") return SeverityName(a.severity());
          if (key == "version") return absl::StrCat(a.version());
          if (key == "detector") return a.detector();
          if (key == "feature_index") return absl::StrCat(a.feature_index());
          if (key == "model") return a.model();
          return v1::DriftAction_Name(a.action_result().action());
        });
    if (!match) continue;
    if (response.alerts_size() == page_size) {
      response.set_next_page_token(
          absl::StrCat(response.alerts(response.alerts_size() - 1).sequence()));
      break;
    }
    *response.add_alerts() = a;
  }
  return response;
}

absl::StatusOr<v1::Alert> DriftMonitor::GetAlert(absl::string_view name) {
  absl::string_view rest = name;
  const size_t slash = rest.rfind("/alerts/");
  int64_t sequence = 0;
  if (!absl::ConsumePrefix(&rest, "models/") ||
      slash == absl::string_view::npos || slash <= 7 ||
      !absl::SimpleAtoi(name.substr(slash + 8), &sequence) || sequence < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "name '", name, "' is not of the form models/{model}/alerts/{alert}"));
  }
  const std::string model(name.substr(7, slash - 7));
  absl::MutexLock lock(&mu_);
  for (const v1::Alert& a : alerts_) {
    if (a.sequence() == sequence && a.model() == model) return a;
  }
  return absl::NotFoundError(absl::StrCat("alert '", name, "' not found"));
}

std::vector<v1::Alert> DriftMonitor::AlertsAfter(
    int64_t after, const std::vector<std::string>& models,
    v1::AlertSeverity min_severity, int limit, int64_t* scanned) {
  std::vector<v1::Alert> out;
  absl::MutexLock lock(&mu_);
  const int64_t settled = SettledSequence();
  int64_t last = std::max(after, settled);
  for (const v1::Alert& a : alerts_) {
    if (a.sequence() <= after) continue;
    if (a.sequence() > settled) break;
    if (static_cast<int>(out.size()) >= limit) {
      last = a.sequence() - 1;
      break;
    }
    if (a.severity() < min_severity) continue;
    if (!models.empty() &&
        std::find(models.begin(), models.end(), a.model()) == models.end()) {
      continue;
    }
    out.push_back(a);
  }
  if (scanned != nullptr) *scanned = last;
  return out;
}

int64_t DriftMonitor::latest_sequence() const {
  absl::MutexLock lock(&mu_);
  return last_sequence_;
}

int64_t DriftMonitor::WaitForAlert(int64_t after, absl::Time deadline,
                                   const std::function<bool()>& cancelled) {
  absl::MutexLock lock(&mu_);
  auto newer = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return SettledSequence() > after;
  };
  while (!newer() && absl::Now() < deadline && !cancelled()) {
    mu_.AwaitWithTimeout(
        absl::Condition(&newer),
        std::min(absl::Milliseconds(100), deadline - absl::Now()));
  }
  return SettledSequence();
}

}  // namespace continuum::drift_service

namespace continuum::drift_service {

// ---------------------------------------------------------------------------
// Reference tests

namespace {

drift::Correction CorrectionOf(v1::MultipleTestCorrection c) {
  switch (c) {
    case v1::MULTIPLE_TEST_CORRECTION_NONE:
      return drift::Correction::kNone;
    case v1::MULTIPLE_TEST_CORRECTION_BENJAMINI_HOCHBERG:
      return drift::Correction::kBenjaminiHochberg;
    default:
      return drift::Correction::kBonferroni;
  }
}

// The tests of one column against its reference sample (both sorted
// ascending, non-empty); p-value results get their raw p-value here and
// their correction later.
absl::Status TestColumn(int index, const std::string& name,
                        const std::vector<double>& reference,
                        const std::vector<double>& current, bool categorical,
                        const v1::ReferenceTestConfig& c,
                        std::vector<v1::FeatureTestResult>& out) {
  auto add = [&](v1::ReferenceTest test, double statistic, double threshold,
                 bool drifted) -> v1::FeatureTestResult& {
    v1::FeatureTestResult& r = out.emplace_back();
    r.set_feature_index(index);
    r.set_feature_name(name);
    r.set_test(test);
    r.set_statistic(statistic);
    r.set_threshold(threshold);
    r.set_drifted(drifted);
    return r;
  };
  if (categorical) {
    absl::StatusOr<drift::ChiSquaredResult> chi =
        drift::ChiSquaredTest(reference, current);
    if (!chi.ok()) return chi.status();
    add(v1::REFERENCE_TEST_CHI_SQUARED, chi->statistic, c.p_value_threshold(),
        false)
        .set_p_value(chi->p_value);
    return absl::OkStatus();
  }
  for (int t : c.tests()) {
    switch (t) {
      case v1::REFERENCE_TEST_KS: {
        const drift::KsResult ks = drift::KsTwoSampleSorted(reference, current);
        add(v1::REFERENCE_TEST_KS, ks.statistic, c.p_value_threshold(), false)
            .set_p_value(ks.p_value);
        break;
      }
      case v1::REFERENCE_TEST_PSI: {
        absl::StatusOr<double> psi =
            drift::PopulationStabilityIndex(reference, current);
        if (!psi.ok()) return psi.status();
        add(v1::REFERENCE_TEST_PSI, *psi, c.psi_threshold(),
            *psi >= c.psi_threshold());
        break;
      }
      case v1::REFERENCE_TEST_JENSEN_SHANNON: {
        absl::StatusOr<double> js =
            drift::JensenShannonDistance(reference, current);
        if (!js.ok()) return js.status();
        add(v1::REFERENCE_TEST_JENSEN_SHANNON, *js,
            c.jensen_shannon_threshold(), *js >= c.jensen_shannon_threshold());
        break;
      }
      case v1::REFERENCE_TEST_WASSERSTEIN: {
        absl::StatusOr<double> w =
            drift::NormalizedWassersteinDistance(reference, current);
        if (!w.ok()) return w.status();
        add(v1::REFERENCE_TEST_WASSERSTEIN, *w, c.wasserstein_threshold(),
            *w >= c.wasserstein_threshold());
        break;
      }
      default:
        break;
    }
  }
  return absl::OkStatus();
}

// Corrects the p-values of `results` together and decides them.
void CorrectPValues(std::vector<v1::FeatureTestResult>& results,
                    const v1::ReferenceTestConfig& c) {
  std::vector<double> p;
  std::vector<size_t> at;
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].has_p_value()) {
      p.push_back(results[i].p_value());
      at.push_back(i);
    }
  }
  const std::vector<double> adjusted =
      drift::AdjustPValues(p, CorrectionOf(c.correction()));
  for (size_t k = 0; k < at.size(); ++k) {
    v1::FeatureTestResult& r = results[at[k]];
    r.set_adjusted_p_value(adjusted[k]);
    r.set_drifted(adjusted[k] < c.p_value_threshold());
  }
}

}  // namespace

// What one due run needs, copied out of the lock.
struct DriftMonitor::ReferenceJob {
  std::string model;
  int64_t version = 0;
  v1::ReferenceTestConfig config;
  std::shared_ptr<const PreparedReference> reference;
  std::vector<std::vector<double>> columns;  // Sorted ascending.
  std::vector<double> scores;                // Finite ones, sorted.
  int64_t first_micros = 0;
  int64_t last_micros = 0;
  int64_t observation_index = 0;
};

void DriftMonitor::RecordWindow(const ModelState& model, VersionState& version,
                                const v1::ObservationBatch& batch) {
  if (options_.references == nullptr || model.monitor.disabled()) return;
  if (version.reference_state == VersionState::Reference::kNone) {
    version.reference_state = VersionState::Reference::kNeeded;
    version.reference_status = "fetching";
  }
  const v1::ReferenceTestConfig& c = model.monitor.reference_tests();
  const int64_t dim = batch.feature_dim();
  // No window for a version that will never be tested (its bundle has no
  // reference): the copy is on the Observe path.
  if (c.disabled() || batch.kind() == v1::OBSERVATION_KIND_OUTCOME ||
      dim <= 0 || version.reference_state == VersionState::Reference::kAbsent) {
    return;
  }
  const int64_t rows = std::max<int64_t>(
      1, std::min<int64_t>(c.window_size(), options_.max_window_values / dim));
  if (version.ring_rows != rows ||
      static_cast<int64_t>(version.ring_features.size()) != rows * dim) {
    version.ring_rows = rows;
    version.ring_features.assign(static_cast<size_t>(rows * dim), 0.0f);
    version.ring_scores.assign(static_cast<size_t>(rows), 0.0);
    version.ring_micros.assign(static_cast<size_t>(rows), 0);
    version.ring_next = 0;
    version.ring_count = 0;
  }
  const int64_t now_micros = absl::ToUnixMicros(options_.clock->Now());
  for (int64_t r = 0; r < batch.num_rows(); ++r) {
    const int64_t slot = version.ring_next;
    std::copy_n(batch.features().begin() + r * dim, dim,
                version.ring_features.begin() + slot * dim);
    double score = std::numeric_limits<double>::quiet_NaN();
    if (batch.confidences_size() > 0) {
      score = batch.confidences(static_cast<int>(r));
    } else if (batch.predicted_values_size() > 0) {
      score = batch.predicted_values(static_cast<int>(r));
    }
    version.ring_scores[slot] = score;
    version.ring_micros[slot] =
        batch.event_time_unix_micros_size() > 0
            ? batch.event_time_unix_micros(static_cast<int>(r))
            : now_micros;
    version.ring_next = (slot + 1) % version.ring_rows;
    version.ring_count = std::min(version.ring_count + 1, version.ring_rows);
  }
  version.window_rows_total += batch.num_rows();
}

void DriftMonitor::RunReferenceWork() {
  if (options_.references == nullptr) return;
  absl::MutexLock serial(&reference_work_mu_);
  FetchReferences();
  RunDueReferenceTests();
  RunPendingActions();
}

void DriftMonitor::FetchReferences() {
  struct Wanted {
    std::string model;
    int64_t version;
  };
  std::vector<Wanted> wanted;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.clock->Now();
    for (auto& [model_id, model] : models_) {
      for (auto& [version_id, version] : model->versions) {
        using R = VersionState::Reference;
        if (version.reference_state == R::kNeeded ||
            (version.reference_state == R::kRetry &&
             now >= version.reference_retry_at)) {
          version.reference_state = R::kFetching;
          wanted.push_back({model_id, version_id});
        }
      }
    }
  }
  for (const Wanted& w : wanted) {
    absl::StatusOr<v1::ReferenceStatistics> fetched =
        options_.references->Fetch(w.model, w.version);
    std::shared_ptr<const PreparedReference> prepared;
    if (fetched.ok()) prepared = PrepareReference(*fetched);
    absl::MutexLock lock(&mu_);
    auto model = models_.find(w.model);
    if (model == models_.end()) continue;
    auto version = model->second->versions.find(w.version);
    if (version == model->second->versions.end()) continue;
    VersionState& v = version->second;
    using R = VersionState::Reference;
    if (fetched.ok()) {
      v.reference = std::move(prepared);
      v.reference_state = R::kReady;
      v.reference_backoff = absl::ZeroDuration();
      v.reference_status = absl::StrCat(
          "loaded: ", v.reference->features.size(), " features, ",
          fetched->sample_count(), " training rows",
          v.reference->error_rate.has_value()
              ? absl::StrCat(", error rate ", *v.reference->error_rate)
              : "");
      spdlog::info("drift: reference of models/{}/versions/{} {}", w.model,
                   w.version, v.reference_status);
      continue;
    }
    const absl::StatusCode code = fetched.status().code();
    if (code == absl::StatusCode::kFailedPrecondition ||
        code == absl::StatusCode::kInvalidArgument) {
      v.reference_state = R::kAbsent;
      v.reference_status = absl::StrCat("absent: ", fetched.status().message());
    } else {
      v.reference_backoff = std::clamp(v.reference_backoff * 2,
                                       kMinReferenceRetry, kMaxReferenceRetry);
      v.reference_state = R::kRetry;
      v.reference_retry_at = options_.clock->Now() + v.reference_backoff;
      v.reference_status = absl::StrCat(
          "retrying in ", absl::FormatDuration(v.reference_backoff), ": ",
          fetched.status().ToString());
    }
    spdlog::warn("drift: reference of models/{}/versions/{}: {}", w.model,
                 w.version, v.reference_status);
  }
}

void DriftMonitor::RunDueReferenceTests() {
  std::vector<ReferenceJob> jobs;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = options_.clock->Now();
    for (auto& [model_id, model] : models_) {
      const v1::ReferenceTestConfig& c = model->monitor.reference_tests();
      if (model->monitor.disabled() || c.disabled()) continue;
      const absl::Duration interval = FromProto(c.interval());
      for (auto& [version_id, v] : model->versions) {
        if (v.reference == nullptr || v.ring_count == 0 ||
            v.ring_count < c.min_samples() ||
            v.window_rows_total == v.tested_rows_total ||
            now - v.last_reference_run < interval) {
          continue;
        }
        const int64_t dim = v.feature_dim;
        if (static_cast<int64_t>(v.reference->features.size()) != dim) {
          v.reference_status = absl::StrCat("loaded, but the reference has ",
                                            v.reference->features.size(),
                                            " features and the observations ",
                                            dim, ": reference tests skipped");
          v.tested_rows_total = v.window_rows_total;
          continue;
        }
        v.last_reference_run = now;
        v.tested_rows_total = v.window_rows_total;
        ReferenceJob& job = jobs.emplace_back();
        job.model = model_id;
        job.version = version_id;
        job.config = c;
        job.reference = v.reference;
        job.observation_index = v.observations - 1;
        job.columns.assign(static_cast<size_t>(dim), {});
        for (auto& column : job.columns) {
          column.reserve(static_cast<size_t>(v.ring_count));
        }
        job.first_micros = std::numeric_limits<int64_t>::max();
        job.last_micros = std::numeric_limits<int64_t>::min();
        for (int64_t r = 0; r < v.ring_count; ++r) {
          const float* row = v.ring_features.data() + r * dim;
          for (int64_t f = 0; f < dim; ++f) job.columns[f].push_back(row[f]);
          if (std::isfinite(v.ring_scores[r])) {
            job.scores.push_back(v.ring_scores[r]);
          }
          job.first_micros = std::min(job.first_micros, v.ring_micros[r]);
          job.last_micros = std::max(job.last_micros, v.ring_micros[r]);
        }
      }
    }
  }
  for (ReferenceJob& job : jobs) {
    const PreparedReference& ref = *job.reference;
    const v1::ReferenceTestConfig& c = job.config;
    v1::ReferenceTestRun run;
    run.set_version(job.version);
    *run.mutable_run_time() = ToProto(options_.clock->Now());
    *run.mutable_window()->mutable_start_time() =
        TimeUtil::MicrosecondsToTimestamp(job.first_micros);
    *run.mutable_window()->mutable_end_time() =
        TimeUtil::MicrosecondsToTimestamp(job.last_micros);
    run.set_sample_count(
        static_cast<int64_t>(job.columns.empty() ? 0 : job.columns[0].size()));
    std::vector<v1::FeatureTestResult> results;
    absl::Status failed;
    int tested = 0;
    for (size_t f = 0; f < job.columns.size() && failed.ok(); ++f) {
      if (ref.features[f].sample.empty()) continue;  // Nothing to compare.
      std::sort(job.columns[f].begin(), job.columns[f].end());
      ++tested;
      failed = TestColumn(static_cast<int>(f), ref.features[f].name,
                          ref.features[f].sample, job.columns[f],
                          ref.features[f].categorical, c, results);
    }
    CorrectPValues(results, c);
    std::vector<v1::FeatureTestResult> prediction_results;
    if (failed.ok() && c.test_predictions() && !ref.predictions.empty() &&
        !job.scores.empty()) {
      std::sort(job.scores.begin(), job.scores.end());
      failed = TestColumn(-1, "prediction", ref.predictions, job.scores, false,
                          c, prediction_results);
      CorrectPValues(prediction_results, c);
    }
    if (!failed.ok()) {
      spdlog::error("drift: reference tests of models/{}/versions/{}: {}",
                    job.model, job.version, failed.ToString());
      continue;
    }
    std::set<int> drifted;
    for (const v1::FeatureTestResult& r : results) {
      if (r.drifted()) drifted.insert(r.feature_index());
    }
    bool prediction_drifted = false;
    for (const v1::FeatureTestResult& r : prediction_results) {
      prediction_drifted |= r.drifted();
    }
    run.set_drifted_features(static_cast<int32_t>(drifted.size()));
    run.set_drifted_share(tested == 0 ? 0.0
                                      : static_cast<double>(drifted.size()) /
                                            static_cast<double>(tested));
    run.set_dataset_drifted(tested > 0 &&
                            run.drifted_share() >= c.drifted_feature_share());
    for (v1::FeatureTestResult& r : results) *run.add_results() = std::move(r);
    for (v1::FeatureTestResult& r : prediction_results) {
      *run.add_prediction_results() = std::move(r);
    }
    if (options_.metrics != nullptr) {
      options_.metrics->RecordReferenceRun(job.model, run);
    }

    absl::MutexLock lock(&mu_);
    auto model = models_.find(job.model);
    if (model == models_.end()) continue;
    auto version = model->second->versions.find(job.version);
    if (version == model->second->versions.end()) continue;
    VersionState& v = version->second;
    v.latest_reference_run = run;
    auto raise = [&](v1::AlertType type, v1::AlertSeverity severity,
                     double statistic, double threshold, std::string message) {
      v1::Alert alert;
      alert.set_model(job.model);
      alert.set_version(job.version);
      alert.set_type(type);
      alert.set_severity(severity);
      alert.set_detector(kReferenceDetector);
      alert.set_feature_index(-1);
      alert.set_observation_index(job.observation_index);
      *alert.mutable_create_time() = run.run_time();
      alert.set_statistic(statistic);
      alert.set_threshold(threshold);
      alert.set_message(std::move(message));
      *alert.mutable_reference_test() = run;
      RaiseAlert(std::move(alert));
    };
    const std::string tests =
        absl::StrJoin(c.tests(), "+", [](std::string* out, int t) {
          absl::StrAppend(
              out,
              absl::AsciiStrToLower(absl::StripPrefix(
                  v1::ReferenceTest_Name(static_cast<v1::ReferenceTest>(t)),
                  "REFERENCE_TEST_")));
        });
    if (!run.dataset_drifted()) {
      v.data_alerting = false;
    } else if (!v.data_alerting) {
      v.data_alerting = true;
      // The most drifted features first (lowest adjusted p-value, else
      // highest statistic), five at most, in the message.
      std::vector<const v1::FeatureTestResult*> worst;
      for (const v1::FeatureTestResult& r : run.results()) {
        if (r.drifted()) worst.push_back(&r);
      }
      std::sort(worst.begin(), worst.end(), [](auto* a, auto* b) {
        if (a->has_adjusted_p_value() != b->has_adjusted_p_value()) {
          return a->has_adjusted_p_value();
        }
        return a->has_adjusted_p_value()
                   ? a->adjusted_p_value() < b->adjusted_p_value()
                   : a->statistic() > b->statistic();
      });
      std::vector<std::string> named;
      std::set<int> seen;
      for (const v1::FeatureTestResult* r : worst) {
        if (named.size() == 5) break;
        if (!seen.insert(r->feature_index()).second) continue;
        named.push_back(r->feature_name().empty()
                            ? absl::StrCat(r->feature_index())
                            : r->feature_name());
      }
      raise(v1::ALERT_TYPE_DATA,
            run.drifted_share() >= c.critical_feature_share()
                ? v1::ALERT_SEVERITY_CRITICAL
                : v1::ALERT_SEVERITY_WARNING,
            run.drifted_share(), c.drifted_feature_share(),
            absl::StrCat("reference tests (", tests, ", ",
                         v1::MultipleTestCorrection_Name(c.correction()),
                         "): ", run.drifted_features(), " of ", tested,
                         " features drifted (share ", run.drifted_share(),
                         " >= ", c.drifted_feature_share(), ") in the last ",
                         run.sample_count(), " observations of version ",
                         job.version,
                         "; most drifted: ", absl::StrJoin(named, ", ")));
    }
    if (!prediction_results.empty() || !run.prediction_results().empty()) {
      if (!prediction_drifted) {
        v.prediction_alerting = false;
      } else if (!v.prediction_alerting) {
        v.prediction_alerting = true;
        raise(v1::ALERT_TYPE_PREDICTION, v1::ALERT_SEVERITY_WARNING, 1.0, 0.0,
              absl::StrCat("reference tests (", tests,
                           "): the prediction distribution of version ",
                           job.version,
                           " drifted from its held-out "
                           "reference over the last ",
                           run.sample_count(), " observations"));
      }
    }
  }
}

std::shared_ptr<const DriftMonitor::PreparedReference>
DriftMonitor::PrepareReference(const v1::ReferenceStatistics& stats) {
  auto ref = std::make_shared<PreparedReference>();
  ref->sample_count = stats.sample_count();
  ref->features.reserve(static_cast<size_t>(stats.features_size()));
  for (const v1::FeatureReference& f : stats.features()) {
    PreparedReference::Feature& out = ref->features.emplace_back();
    out.sample = SortedFinite(f.sample());
    out.categorical = f.categorical();
    out.name = f.name();
  }
  ref->predictions = SortedFinite(stats.predictions().sample());
  if (stats.has_error_rate()) ref->error_rate = stats.error_rate();
  return ref;
}

}  // namespace continuum::drift_service
