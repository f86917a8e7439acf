#include "services/drift/reference_tester.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/types/span.h"
#include "lib/core/proto_time.h"
#include "lib/drift/dataset_drift.h"

namespace continuum::drift_service {
namespace {

constexpr absl::Duration kMinReferenceRetry = absl::Seconds(5);
constexpr absl::Duration kMaxReferenceRetry = absl::Minutes(5);

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

std::optional<drift::FeatureTest> FeatureTestOf(int test) {
  switch (test) {
    case v1::REFERENCE_TEST_KS:
      return drift::FeatureTest::kKs;
    case v1::REFERENCE_TEST_PSI:
      return drift::FeatureTest::kPsi;
    case v1::REFERENCE_TEST_JENSEN_SHANNON:
      return drift::FeatureTest::kJensenShannon;
    case v1::REFERENCE_TEST_WASSERSTEIN:
      return drift::FeatureTest::kWasserstein;
    default:
      return std::nullopt;
  }
}

v1::ReferenceTest ProtoTestOf(drift::FeatureTest test) {
  switch (test) {
    case drift::FeatureTest::kKs:
      return v1::REFERENCE_TEST_KS;
    case drift::FeatureTest::kPsi:
      return v1::REFERENCE_TEST_PSI;
    case drift::FeatureTest::kJensenShannon:
      return v1::REFERENCE_TEST_JENSEN_SHANNON;
    case drift::FeatureTest::kWasserstein:
      return v1::REFERENCE_TEST_WASSERSTEIN;
    case drift::FeatureTest::kChiSquared:
      return v1::REFERENCE_TEST_CHI_SQUARED;
  }
  return v1::REFERENCE_TEST_UNSPECIFIED;
}

drift::FeatureTestOptions TestOptionsOf(const v1::ReferenceTestConfig& c) {
  drift::FeatureTestOptions options;
  options.numerical_tests.clear();
  for (int t : c.tests()) {
    if (std::optional<drift::FeatureTest> test = FeatureTestOf(t)) {
      options.numerical_tests.push_back(*test);
    }
  }
  options.alpha = c.p_value_threshold();
  options.correction = CorrectionOf(c.correction());
  options.psi_threshold = c.psi_threshold();
  options.jensen_shannon_threshold = c.jensen_shannon_threshold();
  options.wasserstein_threshold = c.wasserstein_threshold();
  options.drift_share = c.drifted_feature_share();
  return options;
}

// Appends `results` to `out` as the API's results; `name_of` names a
// feature.
template <typename NameOf>
void AppendResults(const std::vector<drift::FeatureTestResult>& results,
                   NameOf name_of,
                   google::protobuf::RepeatedPtrField<v1::FeatureTestResult>& out) {
  for (const drift::FeatureTestResult& r : results) {
    v1::FeatureTestResult* p = out.Add();
    p->set_feature_index(r.feature);
    p->set_feature_name(name_of(r.feature));
    p->set_test(ProtoTestOf(r.test));
    p->set_statistic(r.statistic);
    p->set_threshold(r.threshold);
    p->set_drifted(r.drifted);
    if (r.p_value.has_value()) p->set_p_value(*r.p_value);
    if (r.adjusted_p_value.has_value()) {
      p->set_adjusted_p_value(*r.adjusted_p_value);
    }
  }
}

// "ks+psi": the configured tests, for messages.
std::string TestNames(const v1::ReferenceTestConfig& c) {
  return absl::StrJoin(c.tests(), "+", [](std::string* out, int t) {
    absl::StrAppend(
        out, absl::AsciiStrToLower(absl::StripPrefix(
                 v1::ReferenceTest_Name(static_cast<v1::ReferenceTest>(t)),
                 "REFERENCE_TEST_")));
  });
}

// The most drifted features first (lowest adjusted p-value, else highest
// statistic), five at most, by name.
std::vector<std::string> MostDrifted(const v1::ReferenceTestRun& run) {
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
  return named;
}

v1::Alert RunAlert(const ReferenceJob& job, const v1::ReferenceTestRun& run,
                   v1::AlertType type, v1::AlertSeverity severity,
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
  return alert;
}

}  // namespace

absl::Duration ReferenceBackoff(absl::Duration previous) {
  return std::clamp(previous * 2, kMinReferenceRetry, kMaxReferenceRetry);
}

absl::StatusOr<ReferenceRun> RunReferenceJob(ReferenceJob& job,
                                             absl::Time now) {
  const PreparedReference& ref = *job.reference;
  const drift::FeatureTestOptions options = TestOptionsOf(job.config);
  ReferenceRun out;
  v1::ReferenceTestRun& run = out.run;
  run.set_version(job.version);
  *run.mutable_run_time() = core::ToProto(now);
  *run.mutable_window()->mutable_start_time() =
      core::TimestampFromUnixMicros(job.window.first_micros);
  *run.mutable_window()->mutable_end_time() =
      core::TimestampFromUnixMicros(job.window.last_micros);
  run.set_sample_count(job.window.features.empty()
                           ? 0
                           : static_cast<int64_t>(job.window.features[0].size()));
  std::vector<drift::FeatureSamples> features;
  for (size_t f = 0; f < job.window.features.size(); ++f) {
    if (ref.features[f].sample.empty()) continue;  // Nothing to compare.
    std::vector<double>& column = job.window.features[f];
    std::sort(column.begin(), column.end());
    features.push_back({.feature = static_cast<int>(f),
                        .reference = ref.features[f].sample,
                        .current = column,
                        .kind = ref.features[f].categorical
                                    ? drift::FeatureKind::kCategorical
                                    : drift::FeatureKind::kNumerical});
  }
  absl::StatusOr<drift::FeatureTestRun> tested =
      drift::TestFeatures(features, options);
  if (!tested.ok()) return tested.status();
  out.tested_features = tested->tested_features;
  AppendResults(
      tested->results, [&](int f) { return ref.features[f].name; },
      *run.mutable_results());
  run.set_drifted_features(tested->drifted_features);
  run.set_drifted_share(tested->drifted_share);
  run.set_dataset_drifted(tested->dataset_drift);
  if (job.config.test_predictions() && !ref.predictions.empty() &&
      !job.window.scores.empty()) {
    std::sort(job.window.scores.begin(), job.window.scores.end());
    const drift::FeatureSamples scores = {
        .feature = -1, .reference = ref.predictions,
        .current = job.window.scores};
    absl::StatusOr<drift::FeatureTestRun> predictions =
        drift::TestFeatures(absl::MakeConstSpan(&scores, 1), options);
    if (!predictions.ok()) return predictions.status();
    AppendResults(
        predictions->results, [](int) { return std::string("prediction"); },
        *run.mutable_prediction_results());
  }
  return out;
}

void VersionReference::Record(const v1::ReferenceTestConfig& config,
                              const v1::ObservationBatch& batch,
                              int64_t max_window_values, absl::Time now) {
  if (state_ == State::kNone) {
    state_ = State::kNeeded;
    status_ = "fetching";
  }
  const int64_t dim = batch.feature_dim();
  // No window for a version that will never be tested (its bundle has no
  // reference): the copy is on the Observe path.
  if (config.disabled() || batch.kind() == v1::OBSERVATION_KIND_OUTCOME ||
      dim <= 0 || state_ == State::kAbsent) {
    return;
  }
  const int64_t rows = std::max<int64_t>(
      1, std::min<int64_t>(config.window_size(), max_window_values / dim));
  window_.Append(batch, rows, now);
}

void VersionReference::Reset() {
  window_.Clear();
  tested_rows_total_ = -1;
  last_run_ = absl::InfinitePast();
  data_alerting_ = false;
  prediction_alerting_ = false;
}

bool VersionReference::TakeFetch(absl::Time now) {
  if (state_ == State::kNeeded ||
      (state_ == State::kRetry && now >= retry_at_)) {
    state_ = State::kFetching;
    return true;
  }
  return false;
}

const std::string& VersionReference::FetchDone(
    const absl::StatusOr<std::shared_ptr<const PreparedReference>>& fetched,
    absl::Time now) {
  if (fetched.ok()) {
    reference_ = *fetched;
    state_ = State::kReady;
    backoff_ = absl::ZeroDuration();
    status_ = reference_->Describe();
    return status_;
  }
  const absl::StatusCode code = fetched.status().code();
  if (code == absl::StatusCode::kFailedPrecondition ||
      code == absl::StatusCode::kInvalidArgument) {
    state_ = State::kAbsent;
    status_ = absl::StrCat("absent: ", fetched.status().message());
    return status_;
  }
  backoff_ = ReferenceBackoff(backoff_);
  state_ = State::kRetry;
  retry_at_ = now + backoff_;
  status_ = absl::StrCat("retrying in ", absl::FormatDuration(backoff_), ": ",
                         fetched.status().ToString());
  return status_;
}

std::optional<ReferenceJob> VersionReference::TakeDueJob(
    const v1::ReferenceTestConfig& config, absl::Time now) {
  if (reference_ == nullptr || window_.count() == 0 ||
      window_.count() < config.min_samples() ||
      window_.rows_total() == tested_rows_total_ ||
      now - last_run_ < core::FromProto(config.interval())) {
    return std::nullopt;
  }
  tested_rows_total_ = window_.rows_total();
  const int64_t dim = window_.dim();
  if (static_cast<int64_t>(reference_->features.size()) != dim) {
    status_ = absl::StrCat("loaded, but the reference has ",
                           reference_->features.size(),
                           " features and the observations ", dim,
                           ": reference tests skipped");
    return std::nullopt;
  }
  last_run_ = now;
  ReferenceJob job;
  job.config = config;
  job.reference = reference_;
  job.window = window_.Columns();
  return job;
}

std::vector<v1::Alert> VersionReference::RecordRun(const ReferenceJob& job,
                                                   const ReferenceRun& result) {
  const v1::ReferenceTestRun& run = result.run;
  const v1::ReferenceTestConfig& c = job.config;
  latest_run_ = run;
  std::vector<v1::Alert> alerts;
  const std::string tests = TestNames(c);
  if (!run.dataset_drifted()) {
    data_alerting_ = false;
  } else if (!data_alerting_) {
    data_alerting_ = true;
    alerts.push_back(RunAlert(
        job, run, v1::ALERT_TYPE_DATA,
        run.drifted_share() >= c.critical_feature_share()
            ? v1::ALERT_SEVERITY_CRITICAL
            : v1::ALERT_SEVERITY_WARNING,
        run.drifted_share(), c.drifted_feature_share(),
        absl::StrCat("reference tests (", tests, ", ",
                     v1::MultipleTestCorrection_Name(c.correction()),
                     "): ", run.drifted_features(), " of ",
                     result.tested_features, " features drifted (share ",
                     run.drifted_share(), " >= ", c.drifted_feature_share(),
                     ") in the last ", run.sample_count(),
                     " observations of version ", job.version,
                     "; most drifted: ", absl::StrJoin(MostDrifted(run), ", "))));
  }
  if (run.prediction_results().empty()) return alerts;
  bool prediction_drifted = false;
  for (const v1::FeatureTestResult& r : run.prediction_results()) {
    prediction_drifted |= r.drifted();
  }
  if (!prediction_drifted) {
    prediction_alerting_ = false;
  } else if (!prediction_alerting_) {
    prediction_alerting_ = true;
    alerts.push_back(RunAlert(
        job, run, v1::ALERT_TYPE_PREDICTION, v1::ALERT_SEVERITY_WARNING, 1.0,
        0.0,
        absl::StrCat("reference tests (", tests,
                     "): the prediction distribution of version ", job.version,
                     " drifted from its held-out reference over the last ",
                     run.sample_count(), " observations")));
  }
  return alerts;
}

std::optional<double> VersionReference::error_rate() const {
  if (reference_ == nullptr) return std::nullopt;
  return reference_->error_rate;
}

PeriodicWorker::PeriodicWorker(absl::Duration interval,
                               std::function<void()> work)
    : interval_(interval), work_(std::move(work)) {
  thread_ = std::thread([this] { Loop(); });
}

PeriodicWorker::~PeriodicWorker() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void PeriodicWorker::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stop_), interval_);
      if (stop_) return;
    }
    work_();
  }
}

}  // namespace continuum::drift_service
