// Canary judgement (drift.proto CanaryJudgementConfig) of one model: per
// version the most recent outcomes (time of receipt; 1/0 or error value),
// and at most once per `interval` a comparison of the canary with the
// stable arm, one-sided (canary worse):
//   - stable: the production version (the ActionTarget says which; looked
//     up at most once per interval, outside DriftMonitor's lock);
//   - canary: of the versions newer than production (an older one still
//     reporting is the previous stable draining after a promotion), the
//     one that reported an outcome most recently, if it reported since the
//     previous judgement (an aborted canary that no longer serves is not
//     judged again); both arms must carry the same kind of outcome;
//   - the common period: from when both arms have (kept) outcomes;
//   - the test (lib/drift/two_sample.h): the two-proportion z-test on
//     error rates, Mann-Whitney U on error values;
//   - the verdict: INCONCLUSIVE below min_outcomes per arm; FAIL when
//     p < alpha * 6 / (pi^2 k^2) at the k-th judgement of that canary with
//     enough outcomes (the looks sum to alpha), the canary is worse, and by
//     at least min_effect_points (error rates); else PASS.
// A FAIL raises one ALERT_TYPE_PERFORMANCE CRITICAL alert per canary
// version (detector `canary_judgement`); the latest judgement is in
// GetDriftStatus.
//
// Not thread-safe: DriftMonitor holds its mutex around every call.
#ifndef CONTINUUM_SERVICES_DRIFT_CANARY_JUDGE_H_
#define CONTINUUM_SERVICES_DRIFT_CANARY_JUDGE_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "continuum/v1/drift.pb.h"
#include "services/drift/performance_window.h"

namespace continuum::drift_service {

// The detector name of canary alerts.
inline constexpr char kCanaryDetector[] = "canary_judgement";

// The recent outcomes of one version.
struct CanaryArm {
  OutcomeKind kind = OutcomeKind::kUnknown;
  std::deque<std::pair<absl::Time, double>> samples;  // Oldest first.
  int64_t last_outcome_seq = 0;  // The model's outcome count at the latest.
};

// One comparison of a canary arm with a stable arm.
struct CanaryComparison {
  v1::CanaryJudgement judgement;
  double look_alpha = 0;      // The level this judgement tested at.
  double min_difference = 0;  // The minimum effect, as a difference.
};

// Compares `canary` (version `canary_version`) with `stable` (version
// `stable_version`) over their common period up to `now`. `looks` counts
// the earlier judgements of this canary with enough outcomes; it is
// incremented when this one has enough. Pure.
CanaryComparison CompareArms(const v1::CanaryJudgementConfig& config,
                             absl::string_view model, int64_t canary_version,
                             const CanaryArm& canary, int64_t stable_version,
                             const CanaryArm& stable, absl::Time now,
                             int64_t& looks);

class CanaryJudge {
 public:
  // Keeps at most `max_samples` (>= 1) outcomes per version.
  explicit CanaryJudge(int64_t max_samples);

  // Records an outcome of `version` received at `received`.
  void AddOutcome(int64_t version, OutcomeKind kind, absl::Time received,
                  double value);
  // Drops what is kept of `version` (no longer tracked).
  void ForgetVersion(int64_t version) { arms_.erase(version); }

  // Before judging at `now`: kNothing when no judgement is due (the
  // interval has not passed since the last one, fewer than two versions
  // report outcomes, or none arrived since); kLookUp when the production
  // version must be looked up first (at most once per interval; the
  // lookup counts as made); kJudge otherwise.
  enum class Step { kNothing, kLookUp, kJudge };
  Step Prepare(const v1::CanaryJudgementConfig& config, absl::Time now);
  // The production version as looked up (0: none, or the lookup failed).
  void SetProduction(int64_t version) { production_ = version; }

  // Judges the canary, if there is one to judge; returns the FAIL alert
  // (no sequence; observation_index left to the caller) the first time a
  // canary version fails.
  std::optional<v1::Alert> Judge(const v1::CanaryJudgementConfig& config,
                                 absl::string_view model, absl::Time now);

  // The latest judgement.
  const std::optional<v1::CanaryJudgement>& latest() const { return latest_; }

 private:
  const size_t max_samples_;
  std::map<int64_t, CanaryArm> arms_;
  int64_t outcome_seq_ = 0;  // Outcomes of any version, counted.
  int64_t judged_seq_ = 0;   // outcome_seq_ at the latest judgement.
  absl::Time last_judgement_ = absl::InfinitePast();
  int64_t production_ = 0;
  absl::Time production_time_ = absl::InfinitePast();
  std::optional<v1::CanaryJudgement> latest_;
  std::set<int64_t> failed_;  // Versions alerted on, once each.
  // Judgements with enough outcomes per canary version (the looks that
  // spend its alpha).
  std::map<int64_t, int64_t> looks_;
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_CANARY_JUDGE_H_
