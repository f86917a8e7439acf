#include "services/registry/validation_gates.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace continuum::registry {
namespace {

v1::Metrics Good() {
  v1::Metrics m;
  m.set_loss(0.30);
  m.set_accuracy(0.90);
  m.set_sample_count(1000);
  m.set_output_min(0);
  m.set_output_max(1);
  return m;
}

v1::ValidationReport Report(const v1::Metrics& candidate,
                            const v1::Metrics* baseline = nullptr,
                            const std::string& set = "held_out") {
  v1::ValidationReport report;
  v1::Evaluation* e = report.add_evaluations();
  e->set_evaluation_set(set);
  *e->mutable_candidate() = candidate;
  if (baseline != nullptr) *e->mutable_baseline() = *baseline;
  return report;
}

std::map<std::string, const v1::GateResult*> ByGate(
    const v1::ValidationDecision& d) {
  std::map<std::string, const v1::GateResult*> gates;
  for (const v1::GateResult& g : d.gates()) gates[g.gate()] = &g;
  return gates;
}

TEST(ValidationGatesTest, AGoodCandidatePassesEveryGate) {
  v1::Metrics baseline = Good();
  v1::ValidationDecision d = ApplyGates({}, Report(Good(), &baseline));
  EXPECT_TRUE(d.approved()) << d.DebugString();
  EXPECT_TRUE(absl::StartsWith(d.summary(), "approved")) << d.summary();
}

// The summary counts the gates that checked something apart from those
// that were skipped (issue 24: "all 10 gates passed" with 7 skipped).
TEST(ValidationGatesTest, SummaryTellsPassedFromSkipped) {
  v1::Metrics baseline = Good();
  v1::ValidationDecision with = ApplyGates({}, Report(Good(), &baseline));
  v1::ValidationDecision without = ApplyGates({}, Report(Good(), nullptr));
  int skipped = 0;
  for (const v1::GateResult& g : without.gates()) skipped += g.skipped();
  ASSERT_GT(skipped, 0);
  ASSERT_TRUE(without.approved());
  EXPECT_EQ(without.summary(),
            absl::StrCat("approved: ", without.gates_size() - skipped, " of ",
                         without.gates_size(), " gates passed, ", skipped,
                         " skipped"));
  int skipped_with = 0;
  for (const v1::GateResult& g : with.gates()) skipped_with += g.skipped();
  if (skipped_with == 0) {
    EXPECT_EQ(with.summary(), absl::StrCat("approved: all ", with.gates_size(),
                                           " gates passed"));
  } else {
    EXPECT_LT(skipped_with, skipped);
    EXPECT_TRUE(absl::StrContains(with.summary(), " skipped")) << with.summary();
  }
}

TEST(ValidationGatesTest, LossIncreaseAboveTwentyPercentFails) {
  v1::Metrics baseline = Good();
  baseline.set_loss(0.315);
  v1::Metrics candidate = Good();
  candidate.set_loss(0.412);
  v1::ValidationDecision d = ApplyGates({}, Report(candidate, &baseline));
  EXPECT_FALSE(d.approved());
  auto gates = ByGate(d);
  const v1::GateResult* loss = gates["max_loss_increase_percent"];
  ASSERT_NE(loss, nullptr);
  EXPECT_FALSE(loss->passed());
  EXPECT_NEAR(loss->observed(), 30.79, 0.01);
  EXPECT_EQ(loss->threshold(), 20);
  EXPECT_TRUE(
      absl::StrContains(loss->message(), "30.8 % above production's 0.3150"))
      << loss->message();
  EXPECT_TRUE(absl::StrContains(d.summary(), "rejected: 1 of")) << d.summary();
  // The rejection names the gate and the policy field that relaxes it.
  EXPECT_TRUE(absl::StrContains(
      d.summary(),
      "gates failed (held_out max_loss_increase_percent); to accept such "
      "candidates, relax validation_policy.max_loss_increase_percent with "
      "UpdateModel"))
      << d.summary();

  // A looser policy lets it through.
  v1::ValidationPolicy policy;
  policy.set_max_loss_increase_percent(40);
  EXPECT_TRUE(ApplyGates(policy, Report(candidate, &baseline)).approved());
}

TEST(ValidationGatesTest, AccuracyDropIsInPoints) {
  v1::Metrics baseline = Good();
  v1::Metrics candidate = Good();
  candidate.set_accuracy(0.875);  // 2.5 points down; default max 2.
  auto gates = ByGate(ApplyGates({}, Report(candidate, &baseline)));
  EXPECT_FALSE(gates["max_accuracy_drop_points"]->passed());
  EXPECT_NEAR(gates["max_accuracy_drop_points"]->observed(), 2.5, 1e-9);
  candidate.set_accuracy(0.885);
  gates = ByGate(ApplyGates({}, Report(candidate, &baseline)));
  EXPECT_TRUE(gates["max_accuracy_drop_points"]->passed());
}

TEST(ValidationGatesTest, NanOutputsAndRangeAndFprAndSamples) {
  v1::Metrics candidate = Good();
  candidate.set_nan_inf_count(3);
  candidate.set_output_max(1.5);
  candidate.set_false_positive_rate(0.08);
  candidate.set_sample_count(10);
  v1::ValidationPolicy policy;
  policy.set_output_min(0);
  policy.set_output_max(1);
  auto gates = ByGate(ApplyGates(policy, Report(candidate)));
  EXPECT_FALSE(gates["max_nan_inf_count"]->passed());
  EXPECT_FALSE(gates["output_range"]->passed());
  EXPECT_FALSE(gates["max_false_positive_rate"]->passed());
  EXPECT_NEAR(gates["max_false_positive_rate"]->threshold(), 0.05, 1e-12);
  EXPECT_FALSE(gates["min_sample_count"]->passed());
}

TEST(ValidationGatesTest, NanLossFailsEvenWithoutABaseline) {
  v1::Metrics candidate = Good();
  candidate.set_loss(std::nan(""));
  auto gates = ByGate(ApplyGates({}, Report(candidate)));
  EXPECT_FALSE(gates["max_loss_increase_percent"]->passed());
}

TEST(ValidationGatesTest, RelativeGatesAreSkippedWithoutABaseline) {
  v1::ValidationDecision d = ApplyGates({}, Report(Good()));
  EXPECT_TRUE(d.approved());
  auto gates = ByGate(d);
  EXPECT_TRUE(gates["max_loss_increase_percent"]->skipped());
  EXPECT_TRUE(gates["max_accuracy_drop_points"]->skipped());
  EXPECT_TRUE(gates["max_precision_drop_points"]->skipped());
}

TEST(ValidationGatesTest, RequiredSetsMustBePresent) {
  v1::ValidationPolicy policy;
  policy.add_required_evaluation_sets("held_out");
  policy.add_required_evaluation_sets("golden");
  v1::ValidationDecision d = ApplyGates(policy, Report(Good()));
  EXPECT_FALSE(d.approved());
  bool golden_missing = false;
  for (const v1::GateResult& g : d.gates()) {
    golden_missing |= g.gate() == "required_evaluation_sets" &&
                      g.evaluation_set() == "golden" && !g.passed();
  }
  EXPECT_TRUE(golden_missing);
}

// The gate results of one evaluation set, by gate.
std::map<std::string, const v1::GateResult*> GatesOf(
    const v1::ValidationDecision& d, const std::string& set) {
  std::map<std::string, const v1::GateResult*> gates;
  for (const v1::GateResult& g : d.gates()) {
    if (g.evaluation_set() == set) gates[g.gate()] = &g;
  }
  return gates;
}

TEST(ValidationGatesTest, TheHeldOutWindowMustGainOnProduction) {
  v1::Metrics baseline = Good();  // 0.90
  v1::Metrics candidate = Good();
  candidate.set_accuracy(0.89);
  v1::ValidationDecision d = ApplyGates({}, Report(candidate, &baseline));
  EXPECT_FALSE(d.approved());
  const v1::GateResult* gain = ByGate(d)["min_held_out_gain_points"];
  ASSERT_NE(gain, nullptr);
  EXPECT_FALSE(gain->passed());
  EXPECT_NEAR(gain->observed(), -1.0, 1e-9);
  EXPECT_EQ(gain->threshold(), 0);
  EXPECT_TRUE(absl::StrContains(gain->message(), "down 1.00 points"))
      << gain->message();
  EXPECT_TRUE(absl::StrContains(
      d.summary(), "relax validation_policy.min_held_out_gain_points"))
      << d.summary();

  // Equal accuracy is enough by default; a margin asks for more.
  candidate.set_accuracy(0.905);
  EXPECT_TRUE(ApplyGates({}, Report(candidate, &baseline)).approved());
  v1::ValidationPolicy policy;
  policy.set_min_held_out_gain_points(1);
  d = ApplyGates(policy, Report(candidate, &baseline));
  EXPECT_FALSE(d.approved());
  EXPECT_NEAR(ByGate(d)["min_held_out_gain_points"]->observed(), 0.5, 1e-9);
  // A negative margin allows a drop.
  candidate.set_accuracy(0.89);
  policy.set_min_held_out_gain_points(-1.5);
  EXPECT_TRUE(ApplyGates(policy, Report(candidate, &baseline)).approved());

  // Only the held-out set, and only with a baseline and an accuracy.
  candidate.set_accuracy(0.89);
  EXPECT_EQ(ByGate(ApplyGates({}, Report(candidate, &baseline, "recent")))
                .count("min_held_out_gain_points"),
            0u);
  EXPECT_TRUE(ByGate(ApplyGates({}, Report(candidate)))
                  ["min_held_out_gain_points"]
                      ->skipped());
  candidate.clear_accuracy();
  EXPECT_TRUE(ByGate(ApplyGates({}, Report(candidate, &baseline)))
                  ["min_held_out_gain_points"]
                      ->skipped());
}

// A candidate that adapted (better on the recent window) and lost a little
// of the old data (a retention set) passes; one that forgot fails, and the
// decision shows both sets' numbers.
TEST(ValidationGatesTest, RetentionSetsTakeBoundsOfTheirOwn) {
  for (const std::string retention : {"retention", "golden"}) {
    SCOPED_TRACE(retention);
    v1::ValidationReport report;
    v1::Evaluation* recent = report.add_evaluations();
    recent->set_evaluation_set("held_out");
    *recent->mutable_baseline() = Good();
    recent->mutable_baseline()->set_accuracy(0.60);
    *recent->mutable_candidate() = Good();
    v1::Evaluation* old = report.add_evaluations();
    old->set_evaluation_set(retention);
    *old->mutable_baseline() = Good();
    *old->mutable_candidate() = Good();
    old->mutable_candidate()->set_accuracy(0.875);  // down 2.5 points
    old->mutable_candidate()->set_loss(0.40);       // 33 % above
    v1::ValidationDecision d = ApplyGates({}, report);
    EXPECT_TRUE(d.approved()) << d.summary();
    auto held_out = GatesOf(d, "held_out");
    EXPECT_NEAR(held_out["min_held_out_gain_points"]->observed(), 30, 1e-9);
    auto kept = GatesOf(d, retention);
    EXPECT_EQ(kept.count("max_accuracy_drop_points"), 0u);
    EXPECT_EQ(kept.count("max_loss_increase_percent"), 0u);
    EXPECT_EQ(kept.count("min_held_out_gain_points"), 0u);
    ASSERT_EQ(kept.count("max_retention_accuracy_drop_points"), 1u);
    EXPECT_NEAR(kept["max_retention_accuracy_drop_points"]->observed(), 2.5,
                1e-9);
    EXPECT_EQ(kept["max_retention_accuracy_drop_points"]->threshold(), 3);
    EXPECT_NEAR(kept["max_retention_loss_increase_percent"]->observed(),
                33.33, 0.01);
    EXPECT_EQ(kept["max_retention_loss_increase_percent"]->threshold(), 50);

    // Forgetting: 10 points of the old data lost.
    old->mutable_candidate()->set_accuracy(0.80);
    d = ApplyGates({}, report);
    EXPECT_FALSE(d.approved());
    EXPECT_TRUE(absl::StrContains(
        d.summary(),
        absl::StrCat("(", retention,
                     " max_retention_accuracy_drop_points); to accept such "
                     "candidates, relax "
                     "validation_policy.max_retention_accuracy_drop_points")))
        << d.summary();
    v1::ValidationPolicy policy;
    policy.set_max_retention_accuracy_drop_points(12);
    EXPECT_TRUE(ApplyGates(policy, report).approved());
    policy.set_max_retention_loss_increase_percent(20);
    d = ApplyGates(policy, report);
    EXPECT_FALSE(GatesOf(d, retention)["max_retention_loss_increase_percent"]
                     ->passed());
  }
}

TEST(ValidationGatesTest, ThePolicyNamesTheRetentionSets) {
  v1::Metrics baseline = Good();
  v1::Metrics candidate = Good();
  candidate.set_accuracy(0.875);
  v1::ValidationPolicy policy;
  policy.add_retention_evaluation_sets("last_year");
  // `golden` is now an ordinary set: the 2-point accuracy gate applies.
  v1::ValidationDecision d =
      ApplyGates(policy, Report(candidate, &baseline, "golden"));
  EXPECT_FALSE(GatesOf(d, "golden")["max_accuracy_drop_points"]->passed());
  d = ApplyGates(policy, Report(candidate, &baseline, "last_year"));
  auto kept = GatesOf(d, "last_year");
  ASSERT_EQ(kept.count("max_retention_accuracy_drop_points"), 1u);
  EXPECT_TRUE(kept["max_retention_accuracy_drop_points"]->passed());
  EXPECT_EQ(kept.count("max_accuracy_drop_points"), 0u);
}

TEST(ValidationGatesTest, PolicyAndReportChecks) {
  v1::ValidationPolicy policy;
  policy.set_output_min(2);
  policy.set_output_max(1);
  EXPECT_TRUE(
      absl::StrContains(ValidatePolicy(policy).message(), "output_min"));
  policy = {};
  policy.set_max_false_positive_rate(5);
  EXPECT_TRUE(absl::StrContains(ValidatePolicy(policy).message(), "fraction"));
  EXPECT_TRUE(ValidatePolicy({}).ok());
  policy = {};
  policy.set_min_held_out_gain_points(std::nan(""));
  EXPECT_EQ(ValidatePolicy(policy).message(),
            "validation_policy.min_held_out_gain_points: must be a number");
  policy = {};
  policy.set_max_retention_accuracy_drop_points(std::nan(""));
  EXPECT_TRUE(absl::StrContains(ValidatePolicy(policy).message(),
                                "max_retention_accuracy_drop_points"));
  policy = {};
  policy.set_max_retention_loss_increase_percent(std::nan(""));
  EXPECT_TRUE(absl::StrContains(ValidatePolicy(policy).message(),
                                "max_retention_loss_increase_percent"));
  policy = {};
  policy.add_retention_evaluation_sets("golden");
  policy.add_retention_evaluation_sets("");
  EXPECT_EQ(ValidatePolicy(policy).message(),
            "validation_policy.retention_evaluation_sets[1]: must be a set "
            "name of 1 to 63 characters, got 0");
  policy.set_retention_evaluation_sets(1, std::string(64, 'x'));
  EXPECT_FALSE(ValidatePolicy(policy).ok());
  policy.set_retention_evaluation_sets(1, std::string(63, 'x'));
  EXPECT_TRUE(ValidatePolicy(policy).ok());
  EXPECT_EQ(ValidateReport({}).code(), absl::StatusCode::kInvalidArgument);
  v1::ValidationReport report;
  report.add_evaluations()->set_evaluation_set("held_out");
  EXPECT_TRUE(
      absl::StrContains(ValidateReport(report).message(), "no candidate"));
}

}  // namespace
}  // namespace continuum::registry
