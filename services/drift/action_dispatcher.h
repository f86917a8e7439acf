// ActionDispatcher: decides and runs the action of an alert once it is
// raised (drift.proto ActionPolicy), and says how it went in the alert's
// ActionResult:
//   - the action: a failed canary judgement (detector `canary_judgement`)
//     always aborts the rollout; otherwise the first rule matching the
//     alert's type and at least its min_severity (and, for production_only
//     rules, an alert on the production version, which the ActionTarget
//     tells); the policy's rules, or drift.proto's defaults
//     (EffectiveRules): DATA and CONCEPT at WARNING -> retrain, PERFORMANCE
//     at CRITICAL on production -> rollback;
//   - a rollback goes only to an earlier version that did better on its
//     recent outcomes (EarlierVersionThatDidBetter), else the alert is
//     alert-only and says why;
//   - the cool-down (unset: 1 hour): at most one action per model within
//     it, except aborting a failed canary, which is never held back; the
//     slot is taken before the action runs (two alerts acting at once
//     cannot both act) and given back if the action fails; a successful
//     action is stored (DriftStore::PutLastAction) so that a restart keeps
//     it;
//   - dry_run: the action is decided and recorded, not run.
// Result messages: "done" or the target's error, "no action rule
// applies: alert only", "alert only: <why>", "suppressed: the model was
// acted on less than 1h ago", "dry run: would DRIFT_ACTION_ROLLBACK to
// version 1", "no registry or trainer is configured".
//
// Thread-safe: its own mutex guards the cool-down; the ActionTarget, the
// store and the RollbackFinder are called without holding it (the finder
// takes DriftMonitor's mutex, which may be held when CooldownUntil is
// called: lock order DriftMonitor -> ActionDispatcher).
#ifndef CONTINUUM_SERVICES_DRIFT_ACTION_DISPATCHER_H_
#define CONTINUUM_SERVICES_DRIFT_ACTION_DISPATCHER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "continuum/v1/drift.pb.h"
#include "lib/core/clock.h"
#include "services/drift/drift_actions.h"
#include "services/drift/performance_window.h"

namespace continuum::drift_service {

class DriftMetrics;
class DriftStore;

// The policy's rules, or drift.proto's defaults (above).
std::vector<v1::ActionRule> EffectiveRules(const v1::ActionPolicy& policy);

// The policy's cool-down (unset: 1 hour).
absl::Duration CooldownOf(const v1::ActionPolicy& policy);

// A version's recent outcomes (its performance window).
struct VersionOutcomes {
  int64_t version = 0;
  OutcomeKind kind = OutcomeKind::kUnknown;
  int64_t count = 0;  // Outcomes in the window.
  double mean = 0;    // Their error rate or mean error value (count > 0).
};

// Where a rollback goes, and the sentence that says why.
struct RollbackTarget {
  int64_t version = 0;
  std::string reason;  // "version 1 did better: error rate 0 over ..."
};

// The version to roll `version` back to: of `versions` (ascending), the
// newest earlier one with at least `min_outcomes` outcomes of the same
// kind, if its mean is lower. FAILED_PRECONDITION saying why not, e.g.
// "no rollback: version 4 did no better on its last 50 outcomes (...)".
absl::StatusOr<RollbackTarget> EarlierVersionThatDidBetter(
    absl::Span<const VersionOutcomes> versions, int64_t version,
    int64_t min_outcomes);

class ActionDispatcher {
 public:
  struct Options {
    core::Clock* clock = core::Clock::Real();  // Not owned.
    ActionTarget* actions = nullptr;  // Null: nothing is acted on.
    DriftStore* store = nullptr;      // Optional: the last actions.
    DriftMetrics* metrics = nullptr;  // Optional.
  };
  // Finds where `model` at `version` would roll back to.
  using RollbackFinder = std::function<absl::StatusOr<RollbackTarget>(
      const std::string& model, int64_t version)>;

  explicit ActionDispatcher(Options options) : options_(options) {}

  // Takes the last actions a store kept.
  void Restore(const std::map<std::string, absl::Time>& last_actions)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Decides and runs the action of `alert` under `policy`.
  v1::ActionResult Dispatch(const v1::Alert& alert,
                            const v1::ActionPolicy& policy,
                            const RollbackFinder& find_rollback)
      ABSL_LOCKS_EXCLUDED(mu_);

  // When the cool-down of `model` ends, if that is after `now`.
  std::optional<absl::Time> CooldownUntil(const std::string& model,
                                          const v1::ActionPolicy& policy,
                                          absl::Time now) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // What Decide found: the action, and what the result says of it.
  struct Decision {
    v1::DriftAction action = v1::DRIFT_ACTION_NONE;
    absl::Status lookup;  // Why the action is NONE when a lookup failed.
    std::string reason;   // Sent with the action.
    int64_t rollback_to = 0;
    bool suppressed = false;  // By the cool-down.
    bool reserved = false;    // The cool-down slot was taken at `now`.
    std::optional<absl::Time> previous;  // The slot's time before.
  };
  Decision Decide(const v1::Alert& alert, const v1::ActionPolicy& policy,
                  const RollbackFinder& find_rollback, absl::Time now)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The action the rules pick for `alert` (NONE if none); *lookup receives
  // why a production lookup failed.
  v1::DriftAction PickAction(const v1::Alert& alert,
                             const v1::ActionPolicy& policy,
                             absl::Status* lookup);
  // Runs the decided action on the ActionTarget; returns what it acted on.
  absl::StatusOr<std::string> Run(const Decision& d, const v1::Alert& alert);
  bool InCooldown(const std::string& model, absl::Time now,
                  absl::Duration cooldown) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes the cool-down slot of `model` at `now` unless it is taken;
  // returns false if it was.
  bool Reserve(const std::string& model, absl::Time now,
               absl::Duration cooldown, std::optional<absl::Time>* previous)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Gives back a slot taken at `now` (the action failed).
  void Release(const std::string& model, absl::Time now,
               const std::optional<absl::Time>& previous)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Record(const std::string& model, const v1::ActionResult& result);

  const Options options_;
  mutable absl::Mutex mu_;
  // When the last action on each model ran (the cool-down).
  std::map<std::string, absl::Time> last_action_ ABSL_GUARDED_BY(mu_);
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_ACTION_DISPATCHER_H_
