#include "services/registry/validation_gates.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "absl/strings/match.h"

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
  EXPECT_EQ(ValidateReport({}).code(), absl::StatusCode::kInvalidArgument);
  v1::ValidationReport report;
  report.add_evaluations()->set_evaluation_set("held_out");
  EXPECT_TRUE(
      absl::StrContains(ValidateReport(report).message(), "no candidate"));
}

}  // namespace
}  // namespace continuum::registry
