// A version's performance window and bound, without a DriftMonitor.
#include "services/drift/performance_window.h"

#include <gtest/gtest.h>

#include <optional>

namespace continuum::drift_service {
namespace {

TEST(PerformanceBoundTest, ErrorRatesTakeTheLowerBound) {
  v1::PerformanceThresholds p;
  EXPECT_FALSE(PerformanceBoundOf(p, OutcomeKind::kCorrect, std::nullopt));
  p.set_max_error_rate(0.3);
  std::optional<PerformanceBound> b =
      PerformanceBoundOf(p, OutcomeKind::kCorrect, std::nullopt);
  ASSERT_TRUE(b.has_value());
  EXPECT_DOUBLE_EQ(b->value, 0.3);
  EXPECT_EQ(b->name, "max_error_rate 0.3");
  // The reference's 0.1 + 10 points is lower.
  b = PerformanceBoundOf(p, OutcomeKind::kCorrect, 0.1);
  EXPECT_DOUBLE_EQ(b->value, 0.2);
  EXPECT_EQ(b->name, "the reference error rate 0.1 + 10 points");
  p.set_max_error_rate_increase_points(25);
  b = PerformanceBoundOf(p, OutcomeKind::kCorrect, 0.1);
  EXPECT_DOUBLE_EQ(b->value, 0.3);
  EXPECT_EQ(b->name, "max_error_rate 0.3");
}

TEST(PerformanceBoundTest, ErrorValuesUseTheMeanBoundOnly) {
  v1::PerformanceThresholds p;
  p.set_max_error_rate(0.3);
  EXPECT_FALSE(PerformanceBoundOf(p, OutcomeKind::kErrorValue, 0.1));
  p.set_max_mean_error_value(2.5);
  std::optional<PerformanceBound> b =
      PerformanceBoundOf(p, OutcomeKind::kErrorValue, 0.1);
  EXPECT_DOUBLE_EQ(b->value, 2.5);
  EXPECT_EQ(b->name, "max_mean_error_value 2.5");
}

TEST(PerformanceWindowTest, KeepsTheLastOutcomes) {
  PerformanceWindow w;
  for (int i = 0; i < 10; ++i) w.Add(i < 6 ? 0.0 : 1.0, 5, i);
  EXPECT_EQ(w.size(), 5u);
  EXPECT_DOUBLE_EQ(w.Mean(), 0.8);  // 0 1 1 1 1.
}

TEST(PerformanceWindowTest, AlertsOnceUntilBackUnderTheBound) {
  core::FakeClock clock;
  PerformanceWindow w;
  const PerformanceBound bound{0.5, "max_error_rate 0.5"};
  auto add = [&](double value, int64_t index) {
    w.Add(value, 4, index);
    return w.Check(bound, 2, {.model = "m",
                              .version = 7,
                              .kind = OutcomeKind::kCorrect,
                              .index = index,
                              .clock = &clock});
  };
  EXPECT_FALSE(add(1, 0));  // Fewer than min_outcomes.
  std::optional<v1::Alert> alert = add(1, 1);
  ASSERT_TRUE(alert.has_value());
  EXPECT_EQ(alert->type(), v1::ALERT_TYPE_PERFORMANCE);
  EXPECT_EQ(alert->severity(), v1::ALERT_SEVERITY_CRITICAL);
  EXPECT_EQ(alert->detector(), "performance");
  EXPECT_EQ(alert->observation_index(), 1);
  EXPECT_DOUBLE_EQ(alert->statistic(), 1.0);
  EXPECT_DOUBLE_EQ(alert->threshold(), 0.5);
  EXPECT_EQ(alert->message(),
            "error rate 1 over the last 2 outcomes of version 7 exceeds "
            "max_error_rate 0.5");
  EXPECT_FALSE(add(1, 2));  // Still over: no second alert.
  EXPECT_FALSE(add(0, 3));
  EXPECT_FALSE(add(0, 4));  // 0.5: back under (not over) the bound.
  EXPECT_FALSE(add(1, 5));  // 0.5.
  EXPECT_FALSE(add(1, 6));  // 0.5.
  EXPECT_TRUE(add(1, 7));   // 0.75: over again, and re-armed.
  w.Rearm();                // The configuration changed.
  EXPECT_TRUE(add(1, 8));
  EXPECT_FALSE(w.Check(std::nullopt, 0, {}));  // No bound, no alert.
}

TEST(PerformanceWindowTest, OutcomeKindNames) {
  EXPECT_EQ(OutcomeKindName(OutcomeKind::kCorrect), "correct/wrong");
  EXPECT_EQ(OutcomeKindName(OutcomeKind::kErrorValue), "error values");
}

}  // namespace
}  // namespace continuum::drift_service
