#include "services/drift/action_dispatcher.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/proto_time.h"
#include "lib/core/resource_names.h"
#include "services/drift/canary_judge.h"
#include "services/drift/drift_metrics.h"
#include "services/drift/drift_store.h"

namespace continuum::drift_service {
namespace {

// The metrics' outcome label of a result.
const char* OutcomeOf(const v1::ActionResult& r) {
  return r.action() == v1::DRIFT_ACTION_NONE ? "none"
         : r.suppressed_by_cooldown()        ? "suppressed"
         : r.dry_run()                       ? "dry_run"
         : r.succeeded()                     ? "done"
                                             : "failed";
}

}  // namespace

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

absl::Duration CooldownOf(const v1::ActionPolicy& policy) {
  return policy.has_cooldown() ? core::FromProto(policy.cooldown())
                               : absl::Hours(1);
}

absl::StatusOr<RollbackTarget> EarlierVersionThatDidBetter(
    absl::Span<const VersionOutcomes> versions, int64_t version,
    int64_t min_outcomes) {
  size_t current = 0;
  while (current < versions.size() && versions[current].version != version) {
    ++current;
  }
  if (current == versions.size() || versions[current].count == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "version ", version, " has no recent outcomes to compare"));
  }
  const VersionOutcomes& now = versions[current];
  const char* what =
      now.kind == OutcomeKind::kErrorValue ? "mean error value" : "error rate";
  // The newest earlier version with enough recent outcomes of the same kind.
  for (size_t i = current; i-- > 0;) {
    const VersionOutcomes& earlier = versions[i];
    if (earlier.kind != now.kind || earlier.count < min_outcomes) continue;
    if (earlier.mean < now.mean) {
      return RollbackTarget{
          earlier.version,
          absl::StrCat("version ", earlier.version, " did better: ", what, " ",
                       earlier.mean, " over its last ", earlier.count,
                       " outcomes vs ", now.mean, " of version ", version)};
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "no rollback: version ", earlier.version, " did no better on its last ",
        earlier.count, " outcomes (", what, " ", earlier.mean, " vs ",
        now.mean, " of version ", version, ")"));
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "no rollback: no earlier version has ", min_outcomes,
      " recent outcomes to compare version ", version, " with"));
}

void ActionDispatcher::Restore(
    const std::map<std::string, absl::Time>& last_actions) {
  absl::MutexLock lock(&mu_);
  for (const auto& [model, time] : last_actions) last_action_[model] = time;
}

v1::ActionResult ActionDispatcher::Dispatch(
    const v1::Alert& alert, const v1::ActionPolicy& policy,
    const RollbackFinder& find_rollback) {
  const absl::Time now = options_.clock->Now();
  Decision d = Decide(alert, policy, find_rollback, now);
  v1::ActionResult result;
  result.set_action(d.action);
  result.set_target(core::ModelName(alert.model()));
  *result.mutable_action_time() = core::ToProto(now);
  if (d.action == v1::DRIFT_ACTION_NONE) {
    result.set_message(d.lookup.ok()
                           ? "no action rule applies: alert only"
                           : absl::StrCat("alert only: ", d.lookup.message()));
  } else if (d.suppressed) {
    result.set_suppressed_by_cooldown(true);
    result.set_message(
        absl::StrCat("suppressed: the model was acted on less than ",
                     absl::FormatDuration(CooldownOf(policy)), " ago"));
  } else if (policy.dry_run()) {
    result.set_dry_run(true);
    result.set_message(absl::StrCat(
        "dry run: would ", v1::DriftAction_Name(d.action),
        d.rollback_to > 0 ? absl::StrCat(" to version ", d.rollback_to) : ""));
  } else if (options_.actions == nullptr) {
    result.set_message("no registry or trainer is configured");
  } else {
    absl::StatusOr<std::string> done = Run(d, alert);
    result.set_succeeded(done.ok());
    result.set_message(done.ok() ? "done"
                                 : std::string(done.status().message()));
    if (done.ok()) result.set_target(*done);
    // Only an action that happened starts the cool-down: a failed retrain
    // request must not hold back a rollback.
    if (!done.ok() && d.reserved) Release(alert.model(), now, d.previous);
    if (done.ok() && options_.store != nullptr) {
      if (absl::Status s = options_.store->PutLastAction(alert.model(), now);
          !s.ok()) {
        spdlog::error("drift: cannot store the last action on {}: {}",
                      alert.model(), s.ToString());
      }
    }
  }
  Record(alert.model(), result);
  return result;
}

ActionDispatcher::Decision ActionDispatcher::Decide(
    const v1::Alert& alert, const v1::ActionPolicy& policy,
    const RollbackFinder& find_rollback, absl::Time now) {
  Decision d;
  // A failed canary judgement always aborts the rollout (drift.proto);
  // the rules decide everything else.
  d.action = alert.detector() == kCanaryDetector
                 ? v1::DRIFT_ACTION_ABORT_ROLLOUT
                 : PickAction(alert, policy, &d.lookup);
  d.reason = absl::StrCat("drift alert ", alert.name(), ": ", alert.message());
  const absl::Duration cooldown = CooldownOf(policy);
  // Aborting a canary the judgement failed is never held back by the
  // cool-down of another action; it only stops the candidate's traffic.
  const bool cooled = !policy.dry_run() && d.action != v1::DRIFT_ACTION_NONE &&
                      d.action != v1::DRIFT_ACTION_ABORT_ROLLOUT;
  if (cooled) {
    absl::MutexLock lock(&mu_);
    d.suppressed = InCooldown(alert.model(), now, cooldown);
  }
  // Roll back only to an earlier version that did better on its recent
  // outcomes (drift.proto).
  if (!d.suppressed && d.action == v1::DRIFT_ACTION_ROLLBACK) {
    absl::StatusOr<RollbackTarget> better =
        find_rollback(alert.model(), alert.version());
    if (better.ok()) {
      d.rollback_to = better->version;
      absl::StrAppend(&d.reason, "; ", better->reason);
    } else {
      d.action = v1::DRIFT_ACTION_NONE;
      d.lookup = better.status();
    }
  }
  // The slot is taken before the action runs, so two alerts acting at once
  // cannot both act; given back if the action fails.
  if (cooled && !d.suppressed && d.action != v1::DRIFT_ACTION_NONE &&
      options_.actions != nullptr) {
    d.reserved = Reserve(alert.model(), now, cooldown, &d.previous);
    d.suppressed = !d.reserved;  // Another alert may have acted since.
  }
  return d;
}

v1::DriftAction ActionDispatcher::PickAction(const v1::Alert& alert,
                                             const v1::ActionPolicy& policy,
                                             absl::Status* lookup) {
  std::optional<int64_t> production;  // Looked up once, when a rule asks.
  for (const v1::ActionRule& rule : EffectiveRules(policy)) {
    if (rule.alert_type() != alert.type() ||
        alert.severity() < rule.min_severity() ||
        rule.action() == v1::DRIFT_ACTION_UNSPECIFIED) {
      continue;
    }
    if (rule.production_only()) {
      if (!production.has_value() && lookup->ok()) {
        if (options_.actions == nullptr) {
          *lookup = absl::FailedPreconditionError(
              "no registry is configured to tell the production version");
        } else {
          absl::StatusOr<int64_t> p =
              options_.actions->ProductionVersion(alert.model());
          if (p.ok()) {
            production = *p;
          } else {
            *lookup = p.status();
          }
        }
      }
      if (!production.has_value() || *production != alert.version()) continue;
    }
    return rule.action();
  }
  return v1::DRIFT_ACTION_NONE;
}

absl::StatusOr<std::string> ActionDispatcher::Run(const Decision& d,
                                                  const v1::Alert& alert) {
  switch (d.action) {
    case v1::DRIFT_ACTION_ROLLBACK:
      return options_.actions->Rollback(alert.model(), alert.version(),
                                        d.rollback_to, d.reason);
    case v1::DRIFT_ACTION_ABORT_ROLLOUT:
      return options_.actions->AbortRollout(alert.model(), alert.version(),
                                            d.reason);
    case v1::DRIFT_ACTION_TRIGGER_RETRAIN:
      return options_.actions->TriggerRun(alert.model(), alert.name(),
                                          d.reason);
    default:
      return absl::InternalError("unknown action");
  }
}

bool ActionDispatcher::InCooldown(const std::string& model, absl::Time now,
                                  absl::Duration cooldown) const {
  auto last = last_action_.find(model);
  return last != last_action_.end() && now - last->second < cooldown;
}

bool ActionDispatcher::Reserve(const std::string& model, absl::Time now,
                               absl::Duration cooldown,
                               std::optional<absl::Time>* previous) {
  absl::MutexLock lock(&mu_);
  if (InCooldown(model, now, cooldown)) return false;
  auto last = last_action_.find(model);
  if (last != last_action_.end()) *previous = last->second;
  last_action_[model] = now;
  return true;
}

void ActionDispatcher::Release(const std::string& model, absl::Time now,
                               const std::optional<absl::Time>& previous) {
  absl::MutexLock lock(&mu_);
  auto last = last_action_.find(model);
  if (last == last_action_.end() || last->second != now) return;
  if (previous.has_value()) {
    last->second = *previous;
  } else {
    last_action_.erase(last);
  }
}

void ActionDispatcher::Record(const std::string& model,
                              const v1::ActionResult& result) {
  if (options_.metrics == nullptr) return;
  options_.metrics->AddAction(model, v1::DriftAction_Name(result.action()),
                              OutcomeOf(result));
}

std::optional<absl::Time> ActionDispatcher::CooldownUntil(
    const std::string& model, const v1::ActionPolicy& policy,
    absl::Time now) const {
  absl::MutexLock lock(&mu_);
  auto last = last_action_.find(model);
  if (last == last_action_.end()) return std::nullopt;
  const absl::Time until = last->second + CooldownOf(policy);
  if (until <= now) return std::nullopt;
  return until;
}

}  // namespace continuum::drift_service
