#include "services/drift/canary_judge.h"

#include <algorithm>
#include <numbers>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "lib/drift/two_sample.h"
#include "services/drift/monitor_config.h"

namespace continuum::drift_service {
namespace {

absl::Duration IntervalOf(const v1::CanaryJudgementConfig& config) {
  return config.has_interval() ? core::FromProto(config.interval())
                               : kDefaultCanaryInterval;
}

// One arm's outcomes from `start` on.
struct ArmPeriod {
  int64_t n = 0;
  double sum = 0;
  std::vector<double> values;  // Error values only (Mann-Whitney U).
  double mean() const { return n == 0 ? 0.0 : sum / static_cast<double>(n); }
};

ArmPeriod InPeriod(const CanaryArm& arm, absl::Time start, bool values) {
  ArmPeriod period;
  for (const auto& [time, value] : arm.samples) {
    if (time < start) continue;
    ++period.n;
    period.sum += value;
    if (values) period.values.push_back(value);
  }
  return period;
}

}  // namespace

CanaryComparison CompareArms(const v1::CanaryJudgementConfig& config,
                             absl::string_view model, int64_t canary_version,
                             const CanaryArm& canary, int64_t stable_version,
                             const CanaryArm& stable, absl::Time now,
                             int64_t& looks) {
  // The common period: from when both arms have (kept) outcomes.
  const absl::Time start =
      std::max(stable.samples.front().first, canary.samples.front().first);
  const bool error_values = canary.kind == OutcomeKind::kErrorValue;
  const ArmPeriod canary_arm = InPeriod(canary, start, error_values);
  const ArmPeriod stable_arm = InPeriod(stable, start, error_values);
  CanaryComparison out;
  v1::CanaryJudgement& judgement = out.judgement;
  judgement.set_model(std::string(model));
  judgement.set_canary_version(canary_version);
  judgement.set_stable_version(stable_version);
  *judgement.mutable_window()->mutable_start_time() = core::ToProto(start);
  *judgement.mutable_window()->mutable_end_time() = core::ToProto(now);
  judgement.set_canary_outcomes(canary_arm.n);
  judgement.set_stable_outcomes(stable_arm.n);
  judgement.set_canary_error(canary_arm.mean());
  judgement.set_stable_error(stable_arm.mean());
  judgement.set_test(error_values ? "mann_whitney_u" : "two_proportion_z");
  drift::TwoSampleResult test;
  if (canary_arm.n > 0 && stable_arm.n > 0) {
    test = error_values
               ? drift::MannWhitneyU(canary_arm.values, stable_arm.values)
               : drift::TwoProportionZTest(
                     canary_arm.sum, static_cast<double>(canary_arm.n),
                     stable_arm.sum, static_cast<double>(stable_arm.n));
  }
  judgement.set_statistic(test.statistic);
  judgement.set_p_value(test.p_value);
  *judgement.mutable_judge_time() = core::ToProto(now);
  const double alpha =
      config.alpha() > 0 ? config.alpha() : kDefaultCanaryAlpha;
  const int64_t min_outcomes = config.min_outcomes() > 0
                                   ? config.min_outcomes()
                                   : kDefaultCanaryMinOutcomes;
  const double difference = judgement.canary_error() - judgement.stable_error();
  // The minimum effect is in percentage points of error rate; for error
  // values only the direction counts.
  out.min_difference = error_values ? 0.0 : config.min_effect_points() / 100;
  // A canary is judged again every interval on a growing window: to keep
  // the chance of aborting a canary that is not worse at most `alpha` over
  // all its judgements, look k tests at alpha * 6 / (pi^2 k^2) (these sum
  // to alpha).
  out.look_alpha = alpha;
  const bool enough = judgement.canary_outcomes() >= min_outcomes &&
                      judgement.stable_outcomes() >= min_outcomes;
  if (enough) {
    const double k = static_cast<double>(++looks);
    out.look_alpha = alpha * 6 / (std::numbers::pi * std::numbers::pi * k * k);
  }
  if (!enough) {
    judgement.set_verdict(v1::CANARY_VERDICT_INCONCLUSIVE);
  } else if (test.p_value < out.look_alpha && difference > 0 &&
             difference >= out.min_difference) {
    judgement.set_verdict(v1::CANARY_VERDICT_FAIL);
  } else {
    judgement.set_verdict(v1::CANARY_VERDICT_PASS);
  }
  return out;
}

CanaryJudge::CanaryJudge(int64_t max_samples)
    : max_samples_(static_cast<size_t>(std::max<int64_t>(1, max_samples))) {}

void CanaryJudge::AddOutcome(int64_t version, OutcomeKind kind,
                             absl::Time received, double value) {
  CanaryArm& arm = arms_[version];
  arm.kind = kind;
  arm.samples.emplace_back(received, value);
  if (arm.samples.size() > max_samples_) arm.samples.pop_front();
  arm.last_outcome_seq = ++outcome_seq_;
}

CanaryJudge::Step CanaryJudge::Prepare(const v1::CanaryJudgementConfig& config,
                                       absl::Time now) {
  const absl::Duration interval = IntervalOf(config);
  if (last_judgement_ != absl::InfinitePast() &&
      now - last_judgement_ < interval) {
    return Step::kNothing;
  }
  // A canary runs only while two versions report outcomes, and there is
  // something new to judge only after new outcomes.
  int with_outcomes = 0;
  for (const auto& [id, arm] : arms_) {
    if (!arm.samples.empty()) ++with_outcomes;
  }
  if (with_outcomes < 2 || outcome_seq_ == judged_seq_) return Step::kNothing;
  // One registry lookup per interval at most (a failed one too).
  const bool look_up = production_time_ == absl::InfinitePast() ||
                       now - production_time_ >= interval;
  if (!look_up) return Step::kJudge;
  production_time_ = now;
  return Step::kLookUp;
}

std::optional<v1::Alert> CanaryJudge::Judge(
    const v1::CanaryJudgementConfig& config, absl::string_view model,
    absl::Time now) {
  if (production_ <= 0) return std::nullopt;  // Looked up next interval.
  auto stable = arms_.find(production_);
  if (stable == arms_.end() || stable->second.samples.empty()) {
    return std::nullopt;
  }
  int64_t canary_id = 0;
  const CanaryArm* canary = nullptr;
  for (const auto& [id, arm] : arms_) {
    if (id <= production_ || arm.samples.empty()) continue;
    if (canary == nullptr || arm.last_outcome_seq > canary->last_outcome_seq) {
      canary_id = id;
      canary = &arm;
    }
  }
  if (canary == nullptr || canary->last_outcome_seq <= judged_seq_) {
    return std::nullopt;
  }
  if (canary->kind != stable->second.kind) return std::nullopt;
  judged_seq_ = outcome_seq_;
  last_judgement_ = now;
  int64_t& looks = looks_[canary_id];
  CanaryComparison c = CompareArms(config, model, canary_id, *canary,
                                   production_, stable->second, now, looks);
  latest_ = c.judgement;
  if (c.judgement.verdict() != v1::CANARY_VERDICT_FAIL ||
      !failed_.insert(canary_id).second) {
    return std::nullopt;
  }
  const v1::CanaryJudgement& j = c.judgement;
  const double alpha =
      config.alpha() > 0 ? config.alpha() : kDefaultCanaryAlpha;
  v1::Alert alert;
  alert.set_model(std::string(model));
  alert.set_version(canary_id);
  alert.set_type(v1::ALERT_TYPE_PERFORMANCE);
  alert.set_severity(v1::ALERT_SEVERITY_CRITICAL);
  alert.set_detector(kCanaryDetector);
  alert.set_feature_index(-1);
  *alert.mutable_create_time() = core::ToProto(now);
  alert.set_statistic(j.canary_error());
  alert.set_threshold(j.stable_error() + c.min_difference);
  alert.set_p_value(j.p_value());
  alert.set_message(absl::StrCat(
      "canary version ", canary_id, " is worse than stable version ",
      production_, ": ",
      canary->kind == OutcomeKind::kErrorValue ? "mean error value "
                                               : "error rate ",
      j.canary_error(), " vs ", j.stable_error(), " over ", j.canary_outcomes(),
      " / ", j.stable_outcomes(), " outcomes (", j.test(), " p = ", j.p_value(),
      " < ", c.look_alpha, ", alpha ", alpha, " spent over ", looks,
      " judgements)"));
  *alert.mutable_canary_judgement() = std::move(c.judgement);
  return alert;
}

}  // namespace continuum::drift_service
