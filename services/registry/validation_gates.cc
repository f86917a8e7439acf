#include "services/registry/validation_gates.h"

#include <cmath>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace continuum::registry {
namespace {

constexpr double kDefaultLossIncreasePercent = 20;
constexpr double kDefaultAccuracyDropPoints = 2;
constexpr double kDefaultFalsePositiveRate = 0.05;
constexpr int64_t kDefaultMinSamples = 100;
constexpr double kDefaultHeldOutGainPoints = 0;
constexpr double kDefaultRetentionDropPoints = 3;
constexpr double kDefaultRetentionLossIncreasePercent = 50;
constexpr size_t kMaxSetNameLength = 63;
constexpr char kHeldOutSet[] = "held_out";

// The ValidationPolicy field a gate reads (gates are named after theirs,
// but for the output range, which reads two).
std::string PolicyFieldOf(const std::string& gate) {
  return gate == "output_range" ? "output_min / output_max" : gate;
}

class GateList {
 public:
  explicit GateList(v1::ValidationDecision* decision) : decision_(decision) {}

  void Add(const std::string& gate, const std::string& set, bool passed,
           double observed, double threshold, std::string message) {
    v1::GateResult* r = decision_->add_gates();
    r->set_gate(gate);
    r->set_evaluation_set(set);
    r->set_passed(passed);
    r->set_observed(observed);
    r->set_threshold(threshold);
    r->set_message(std::move(message));
  }

  void Skip(const std::string& gate, const std::string& set, std::string why) {
    v1::GateResult* r = decision_->add_gates();
    r->set_gate(gate);
    r->set_evaluation_set(set);
    r->set_passed(true);
    r->set_skipped(true);
    r->set_message(std::move(why));
  }

 private:
  v1::ValidationDecision* decision_;
};

// A "drop in points" gate: (baseline - candidate) * 100 <= bound.
void DropGate(GateList& gates, const std::string& gate, const std::string& set,
              const char* metric, bool has_candidate, double candidate,
              bool has_baseline, double baseline, bool bound_set,
              double bound) {
  if (!bound_set || bound < 0) {
    gates.Skip(gate, set, absl::StrCat(gate, " is not set in the policy"));
    return;
  }
  if (!has_candidate || !has_baseline) {
    gates.Skip(gate, set,
               absl::StrCat(set, ": no ", has_candidate ? "production " : "",
                            metric, " to compare"));
    return;
  }
  double drop = (baseline - candidate) * 100.0;
  bool passed = std::isfinite(candidate) && drop <= bound;
  gates.Add(gate, set, passed, drop, bound,
            absl::StrFormat("%s %s %.4f vs production's %.4f: %s %.2f points "
                            "(max drop %.2f)",
                            set, metric, candidate, baseline,
                            drop >= 0 ? "down" : "up", std::abs(drop), bound));
}

// Adaptation: the candidate's accuracy on the recent held-out window is at
// least production's plus `margin` points.
void HeldOutGainGate(GateList& gates, const std::string& set,
                     const v1::Metrics& c, bool baseline, const v1::Metrics& b,
                     double margin) {
  constexpr char kGate[] = "min_held_out_gain_points";
  if (!c.has_accuracy()) {
    gates.Skip(kGate, set,
               absl::StrCat(set, ": no accuracy (the loss gate applies)"));
    return;
  }
  if (!baseline || !b.has_accuracy()) {
    gates.Skip(kGate, set,
               absl::StrCat(set, ": no production accuracy to compare"));
    return;
  }
  const double gain = (c.accuracy() - b.accuracy()) * 100.0;
  gates.Add(kGate, set, std::isfinite(c.accuracy()) && gain >= margin, gain,
            margin,
            absl::StrFormat("%s accuracy %.4f vs production's %.4f: %s %.2f "
                            "points (least gain %.2f)",
                            set, c.accuracy(), b.accuracy(),
                            gain >= 0 ? "up" : "down", std::abs(gain),
                            margin));
}

// Every required evaluation set (default held_out) is in the report.
void RequiredSetGates(GateList& gates, const v1::ValidationPolicy& policy,
                      const v1::ValidationReport& report) {
  std::vector<std::string> required(policy.required_evaluation_sets().begin(),
                                    policy.required_evaluation_sets().end());
  if (required.empty()) required.push_back("held_out");
  for (const std::string& set : required) {
    bool present = false;
    for (const v1::Evaluation& e : report.evaluations()) {
      present |= e.evaluation_set() == set;
    }
    gates.Add("required_evaluation_sets", set, present, present ? 1 : 0, 1,
              present ? absl::StrCat(set, " is in the report")
                      : absl::StrCat(set, " is missing from the report"));
  }
}

// The candidate's outputs lie within the policy's range.
void OutputRangeGate(GateList& gates, const v1::ValidationPolicy& policy,
                     const std::string& set, const v1::Metrics& c) {
  if (!policy.has_output_min() && !policy.has_output_max()) {
    gates.Skip("output_range", set, "the policy sets no output range");
    return;
  }
  if (!c.has_output_min() || !c.has_output_max()) {
    gates.Skip("output_range", set,
               absl::StrCat(set, ": the report has no output range"));
    return;
  }
  bool below = policy.has_output_min() && c.output_min() < policy.output_min();
  bool above = policy.has_output_max() && c.output_max() > policy.output_max();
  double observed = below ? c.output_min() : c.output_max();
  double threshold = below ? policy.output_min() : policy.output_max();
  gates.Add(
      "output_range", set, !below && !above, observed, threshold,
      absl::StrFormat(
          "%s outputs in [%g, %g], allowed [%s, %s]", set, c.output_min(),
          c.output_max(),
          policy.has_output_min() ? absl::StrCat(policy.output_min()) : "-inf",
          policy.has_output_max() ? absl::StrCat(policy.output_max()) : "inf"));
}

// The candidate's loss is at most `bound` % above production's (`b`, when
// `baseline`).
void LossGate(GateList& gates, const std::string& gate,
              const std::string& set, const v1::Metrics& c, bool baseline,
              const v1::Metrics& b, double bound) {
  if (bound < 0) {
    gates.Skip(gate, set, "disabled by the policy");
  } else if (!c.has_loss()) {
    gates.Skip(gate, set, absl::StrCat(set, ": the report has no loss"));
  } else if (!std::isfinite(c.loss())) {
    gates.Add(gate, set, false, c.loss(), bound,
              absl::StrCat(set, " loss is ", c.loss()));
  } else if (!baseline || !b.has_loss()) {
    gates.Skip(gate, set,
               absl::StrCat(set, ": no production loss to compare"));
  } else {
    double increase = b.loss() > 0 ? (c.loss() - b.loss()) / b.loss() * 100.0
                                   : (c.loss() > b.loss() ? INFINITY : 0.0);
    gates.Add(
        gate, set, increase <= bound, increase, bound,
        absl::StrFormat("%s loss %.4f is %.1f %% %s production's %.4f "
                        "(max %.1f %%)",
                        set, c.loss(), std::abs(increase),
                        increase >= 0 ? "above" : "below", b.loss(), bound));
  }
}

// The candidate's false-positive rate is at most `bound`.
void FalsePositiveGate(GateList& gates, const std::string& set,
                       const v1::Metrics& c, double bound) {
  if (bound < 0) {
    gates.Skip("max_false_positive_rate", set, "disabled by the policy");
  } else if (!c.has_false_positive_rate()) {
    gates.Skip("max_false_positive_rate", set,
               absl::StrCat(set, ": the report has no false-positive rate"));
  } else {
    gates.Add("max_false_positive_rate", set, c.false_positive_rate() <= bound,
              c.false_positive_rate(), bound,
              absl::StrFormat("%s false-positive rate %.4f (max %.4f)", set,
                              c.false_positive_rate(), bound));
  }
}

// The four "drop in points" gates of one evaluation set.
void DropGates(GateList& gates, const v1::ValidationPolicy& policy,
               const std::string& set, const v1::Metrics& c, bool baseline,
               const v1::Metrics& b, const std::string& accuracy_gate,
               double accuracy_bound) {
  DropGate(gates, accuracy_gate, set, "accuracy", c.has_accuracy(),
           c.accuracy(), baseline && b.has_accuracy(), b.accuracy(), true,
           accuracy_bound);
  DropGate(gates, "max_precision_drop_points", set, "precision",
           c.has_precision(), c.precision(), baseline && b.has_precision(),
           b.precision(), policy.has_max_precision_drop_points(),
           policy.max_precision_drop_points());
  DropGate(gates, "max_recall_drop_points", set, "recall", c.has_recall(),
           c.recall(), baseline && b.has_recall(), b.recall(),
           policy.has_max_recall_drop_points(),
           policy.max_recall_drop_points());
  DropGate(gates, "max_f1_drop_points", set, "F1", c.has_f1(), c.f1(),
           baseline && b.has_f1(), b.f1(), policy.has_max_f1_drop_points(),
           policy.max_f1_drop_points());
}

}  // namespace

absl::Status ValidatePolicy(const v1::ValidationPolicy& p) {
  auto bad = [](absl::string_view field, absl::string_view problem) {
    return absl::InvalidArgumentError(
        absl::StrCat("validation_policy.", field, ": ", problem));
  };
  for (auto [name, has, value] :
       {std::tuple{"max_loss_increase_percent",
                   p.has_max_loss_increase_percent(),
                   p.max_loss_increase_percent()},
        std::tuple{"max_accuracy_drop_points", p.has_max_accuracy_drop_points(),
                   p.max_accuracy_drop_points()},
        std::tuple{"max_precision_drop_points",
                   p.has_max_precision_drop_points(),
                   p.max_precision_drop_points()},
        std::tuple{"max_recall_drop_points", p.has_max_recall_drop_points(),
                   p.max_recall_drop_points()},
        std::tuple{"max_f1_drop_points", p.has_max_f1_drop_points(),
                   p.max_f1_drop_points()},
        std::tuple{"output_min", p.has_output_min(), p.output_min()},
        std::tuple{"output_max", p.has_output_max(), p.output_max()}}) {
    if (has && std::isnan(value)) return bad(name, "must be a number");
  }
  if (p.has_output_min() && p.has_output_max() &&
      p.output_min() > p.output_max()) {
    return bad("output_min", "must not exceed output_max");
  }
  if (p.has_max_false_positive_rate() &&
      !(p.max_false_positive_rate() <= 1.0)) {
    return bad("max_false_positive_rate",
               "is a fraction: at most 1 (0.05 means 5 %), negative disables");
  }
  for (auto [name, has, value] :
       {std::tuple{"min_held_out_gain_points",
                   p.has_min_held_out_gain_points(),
                   p.min_held_out_gain_points()},
        std::tuple{"max_retention_accuracy_drop_points",
                   p.has_max_retention_accuracy_drop_points(),
                   p.max_retention_accuracy_drop_points()},
        std::tuple{"max_retention_loss_increase_percent",
                   p.has_max_retention_loss_increase_percent(),
                   p.max_retention_loss_increase_percent()}}) {
    if (has && std::isnan(value)) return bad(name, "must be a number");
  }
  for (int i = 0; i < p.retention_evaluation_sets_size(); ++i) {
    const std::string& set = p.retention_evaluation_sets(i);
    if (set.empty() || set.size() > kMaxSetNameLength) {
      return bad(absl::StrCat("retention_evaluation_sets[", i, "]"),
                 absl::StrCat("must be a set name of 1 to ",
                              kMaxSetNameLength, " characters, got ",
                              set.size()));
    }
  }
  if (p.min_sample_count() < 0) return bad("min_sample_count", "must be >= 0");
  if (p.max_nan_inf_count() < 0)
    return bad("max_nan_inf_count", "must be >= 0");
  return absl::OkStatus();
}

absl::Status ValidateReport(const v1::ValidationReport& report) {
  if (report.evaluations().empty()) {
    return absl::InvalidArgumentError(
        "report.evaluations is empty: give at least the held_out set");
  }
  for (int i = 0; i < report.evaluations_size(); ++i) {
    const v1::Evaluation& e = report.evaluations(i);
    if (e.evaluation_set().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("report.evaluations[", i, "].evaluation_set is empty"));
    }
    if (!e.has_candidate()) {
      return absl::InvalidArgumentError(
          absl::StrCat("report.evaluations[", i, "] (", e.evaluation_set(),
                       ") has no candidate metrics"));
    }
  }
  return absl::OkStatus();
}

v1::ValidationDecision ApplyGates(const v1::ValidationPolicy& policy,
                                  const v1::ValidationReport& report) {
  v1::ValidationDecision decision;
  GateList gates(&decision);
  RequiredSetGates(gates, policy, report);

  const int64_t min_samples = policy.min_sample_count() > 0
                                  ? policy.min_sample_count()
                                  : kDefaultMinSamples;
  const double loss_bound = policy.has_max_loss_increase_percent()
                                ? policy.max_loss_increase_percent()
                                : kDefaultLossIncreasePercent;
  const double accuracy_bound = policy.has_max_accuracy_drop_points()
                                    ? policy.max_accuracy_drop_points()
                                    : kDefaultAccuracyDropPoints;
  const double fpr_bound = policy.has_max_false_positive_rate()
                               ? policy.max_false_positive_rate()
                               : kDefaultFalsePositiveRate;
  const double gain_margin = policy.has_min_held_out_gain_points()
                                 ? policy.min_held_out_gain_points()
                                 : kDefaultHeldOutGainPoints;
  const double retention_drop_bound =
      policy.has_max_retention_accuracy_drop_points()
          ? policy.max_retention_accuracy_drop_points()
          : kDefaultRetentionDropPoints;
  const double retention_loss_bound =
      policy.has_max_retention_loss_increase_percent()
          ? policy.max_retention_loss_increase_percent()
          : kDefaultRetentionLossIncreasePercent;
  std::set<std::string> retention_sets(
      policy.retention_evaluation_sets().begin(),
      policy.retention_evaluation_sets().end());
  if (retention_sets.empty()) retention_sets = {"golden", "retention"};

  for (const v1::Evaluation& e : report.evaluations()) {
    const std::string& set = e.evaluation_set();
    const v1::Metrics& c = e.candidate();
    const v1::Metrics& b = e.baseline();
    const bool baseline = e.has_baseline();

    gates.Add("min_sample_count", set, c.sample_count() >= min_samples,
              static_cast<double>(c.sample_count()),
              static_cast<double>(min_samples),
              absl::StrCat(set, ": ", c.sample_count(), " rows (min ",
                           min_samples, ")"));
    gates.Add(
        "max_nan_inf_count", set,
        c.nan_inf_count() <= policy.max_nan_inf_count(),
        static_cast<double>(c.nan_inf_count()),
        static_cast<double>(policy.max_nan_inf_count()),
        absl::StrCat(set, ": ", c.nan_inf_count(), " NaN/Inf outputs (max ",
                     policy.max_nan_inf_count(), ")"));
    OutputRangeGate(gates, policy, set, c);
    if (retention_sets.count(set) > 0) {
      LossGate(gates, "max_retention_loss_increase_percent", set, c, baseline,
               b, retention_loss_bound);
      DropGates(gates, policy, set, c, baseline, b,
                "max_retention_accuracy_drop_points", retention_drop_bound);
    } else {
      LossGate(gates, "max_loss_increase_percent", set, c, baseline, b,
               loss_bound);
      DropGates(gates, policy, set, c, baseline, b, "max_accuracy_drop_points",
                accuracy_bound);
      if (set == kHeldOutSet) {
        HeldOutGainGate(gates, set, c, baseline, b, gain_margin);
      }
    }
    FalsePositiveGate(gates, set, c, fpr_bound);
  }

  int failed = 0, skipped = 0;
  std::vector<std::string> failed_gates;
  std::set<std::string> fields;
  for (const v1::GateResult& g : decision.gates()) {
    if (g.skipped()) ++skipped;
    if (g.passed()) continue;
    ++failed;
    failed_gates.push_back(absl::StrCat(g.evaluation_set(), " ", g.gate()));
    fields.insert(PolicyFieldOf(g.gate()));
  }
  decision.set_approved(failed == 0);
  if (failed == 0 && skipped == 0) {
    decision.set_summary(
        absl::StrCat("approved: all ", decision.gates_size(), " gates passed"));
  } else if (failed == 0) {
    // A skipped gate checked nothing (no baseline, a metric the report
    // lacks, a bound the policy leaves unset): say how many really ran.
    decision.set_summary(absl::StrCat(
        "approved: ", decision.gates_size() - skipped, " of ",
        decision.gates_size(), " gates passed, ", skipped, " skipped"));
  } else {
    // Every gate is a field of the model's ValidationPolicy: say which an
    // operator would relax (UpdateModel) if the rejection is not wanted.
    decision.set_summary(absl::StrCat(
        "rejected: ", failed, " of ", decision.gates_size(),
        " gates failed (", absl::StrJoin(failed_gates, ", "),
        "); to accept such candidates, relax ",
        absl::StrJoin(fields, ", ",
                      [](std::string* out, const std::string& f) {
                        absl::StrAppend(out, "validation_policy.", f);
                      }),
        " with UpdateModel"));
  }
  return decision;
}

}  // namespace continuum::registry
