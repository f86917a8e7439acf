#include "lib/federated/aggregation.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace continuum::federated {
namespace {

using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

// Owns the values the SiteUpdate spans point into.
struct Updates {
  std::vector<std::vector<float>> values;
  std::vector<int64_t> samples;

  void Add(std::vector<float> v, int64_t s = 1) {
    values.push_back(std::move(v));
    samples.push_back(s);
  }
  std::vector<SiteUpdate> Views() const {
    std::vector<SiteUpdate> views;
    for (size_t i = 0; i < values.size(); ++i) {
      views.push_back({values[i], samples[i]});
    }
    return views;
  }
};

AggregationResult AggregateOk(const Updates& u, AggregationOptions options) {
  absl::StatusOr<AggregationResult> r = Aggregate(u.Views(), options);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : AggregationResult{};
}

TEST(AggregationTest, FedAvgWeightsBySamples) {
  Updates u;
  u.Add({1, 2}, 1);
  u.Add({3, 6}, 3);
  const AggregationResult r = AggregateOk(u, {.rule = Rule::kFedAvg});
  // (1*1 + 3*3) / 4, (1*2 + 3*6) / 4
  EXPECT_THAT(r.values, ElementsAre(2.5f, 5.0f));
  EXPECT_EQ(r.total_samples, 4);
  EXPECT_THAT(r.selected, ElementsAre(0, 1));
}

TEST(AggregationTest, MedianOfOddAndEvenCounts) {
  Updates odd;
  odd.Add({1, -1});
  odd.Add({5, -5});
  odd.Add({3, 7});
  EXPECT_THAT(AggregateOk(odd, {.rule = Rule::kCoordinateMedian}).values,
              ElementsAre(3.0f, -1.0f));
  Updates even;
  even.Add({1});
  even.Add({10});
  even.Add({2});
  even.Add({3});
  // numpy: the mean of the two middle values.
  EXPECT_THAT(AggregateOk(even, {.rule = Rule::kCoordinateMedian}).values,
              ElementsAre(2.5f));
}

TEST(AggregationTest, MedianIgnoresSampleCounts) {
  Updates u;
  u.Add({0}, 1);
  u.Add({1}, 1);
  u.Add({100}, 1000000);  // a site claiming many rows moves nothing
  EXPECT_THAT(AggregateOk(u, {.rule = Rule::kCoordinateMedian}).values,
              ElementsAre(1.0f));
}

TEST(AggregationTest, TrimmedMeanDropsTheExtremes) {
  Updates u;
  for (float v : {4.0f, 100.0f, 1.0f, 3.0f, 2.0f}) u.Add({v, -v});
  // floor(0.2 * 5) = 1 per side: mean(2, 3, 4).
  AggregationResult r =
      AggregateOk(u, {.rule = Rule::kTrimmedMean, .trim_fraction = 0.2});
  EXPECT_THAT(r.values, ElementsAre(3.0f, -3.0f));
  EXPECT_EQ(r.trimmed_per_side, 1);
  // floor(0.1 * 5) = 0: the plain mean, 110 / 5.
  r = AggregateOk(u, {.rule = Rule::kTrimmedMean, .trim_fraction = 0.1});
  EXPECT_THAT(r.values, ElementsAre(22.0f, -22.0f));
  EXPECT_EQ(r.trimmed_per_side, 0);
}

// One-dimensional updates 0, 1, 2, 10, -30, n = 5, so f = 1 and each
// score sums the 2 nearest squared distances:
//   0: 1 + 4 = 5    1: 1 + 1 = 2    2: 1 + 4 = 5
//   10: 64 + 81 = 145    -30: 900 + 961 = 1861
Updates KrumCase() {
  Updates u;
  for (float v : {0.0f, 1.0f, 2.0f, 10.0f, -30.0f}) u.Add({v});
  return u;
}

TEST(AggregationTest, KrumPicksTheUpdateClosestToItsNeighbours) {
  const AggregationResult r = AggregateOk(KrumCase(), {.rule = Rule::kKrum});
  EXPECT_EQ(r.byzantine_sites, 1);
  EXPECT_THAT(r.krum_scores, ElementsAre(5, 2, 5, 145, 1861));
  EXPECT_THAT(r.selected, ElementsAre(1));
  EXPECT_THAT(r.values, ElementsAre(1.0f));
  EXPECT_EQ(r.total_samples, 1);
}

TEST(AggregationTest, MultiKrumAveragesTheBest) {
  // m = n - f = 4: indices 1, 0, 2 (ties in index order), 3.
  AggregationResult r = AggregateOk(KrumCase(), {.rule = Rule::kMultiKrum});
  EXPECT_THAT(r.selected, ElementsAre(1, 0, 2, 3));
  EXPECT_THAT(r.values, ElementsAre(3.25f));  // (1 + 0 + 2 + 10) / 4
  r = AggregateOk(KrumCase(), {.rule = Rule::kMultiKrum, .multi_krum_selected = 3});
  EXPECT_THAT(r.values, ElementsAre(1.0f));  // (1 + 0 + 2) / 3
}

TEST(AggregationTest, MultiKrumWeightsBySamples) {
  Updates u = KrumCase();
  u.samples[0] = 3;  // 0 counts three times: (1 + 0 * 3 + 2) / 5
  const AggregationResult r =
      AggregateOk(u, {.rule = Rule::kMultiKrum, .multi_krum_selected = 3});
  EXPECT_THAT(r.values, ElementsAre(FloatNear(0.6f, 1e-6f)));
  EXPECT_EQ(r.total_samples, 5);
}

TEST(AggregationTest, KrumNeedsMoreThanTwoFPlusTwoUpdates) {
  Updates u;
  for (float v : {0.0f, 1.0f, 2.0f, 3.0f}) u.Add({v});
  absl::StatusOr<AggregationResult> r =
      Aggregate(u.Views(), {.rule = Rule::kKrum, .byzantine_sites = 1});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(),
              HasSubstr("krum needs more than 2f + 2 = 4 updates (f = 1), got 4"));
  // The default f is the largest allowed: (4 - 3) / 2 = 0.
  EXPECT_EQ(AggregateOk(u, {.rule = Rule::kKrum}).byzantine_sites, 0);
  Updates two;
  two.Add({0});
  two.Add({1});
  r = Aggregate(two.Views(), {.rule = Rule::kMultiKrum});
  EXPECT_THAT(r.status().message(), HasSubstr("at least 3 updates"));
  r = Aggregate(KrumCase().Views(),
                {.rule = Rule::kMultiKrum, .multi_krum_selected = 6});
  EXPECT_THAT(r.status().message(),
              HasSubstr("multi_krum_selected must be in [1, 5] (got 6)"));
}

TEST(AggregationTest, RefusesBadUpdatesNamingThem) {
  Updates u;
  u.Add({1, 2});
  u.Add({1, 2, 3});
  absl::Status s = Aggregate(u.Views(), {}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("update 1 has 3 values, expected 2"));

  Updates nan;
  nan.Add({1, 2});
  nan.Add({1, std::nanf("")});
  EXPECT_THAT(Aggregate(nan.Views(), {}).status().message(),
              HasSubstr("update 1 value 1 is nan"));
  Updates inf;
  inf.Add({INFINITY});
  EXPECT_THAT(Aggregate(inf.Views(), {}).status().message(),
              HasSubstr("update 0 value 0 is infinite"));
  Updates zero;
  zero.Add({1}, 0);
  EXPECT_THAT(Aggregate(zero.Views(), {}).status().message(),
              HasSubstr("samples must be > 0"));
  EXPECT_THAT(Aggregate({}, {}).status().message(), HasSubstr("no updates"));
  EXPECT_EQ(CheckUpdates(Updates{{{1, 2}}, {1}}.Views(), 3).code(),
            absl::StatusCode::kInvalidArgument);

  Updates ok;
  ok.Add({1});
  ok.Add({2});
  for (double t : {-0.1, 0.5, std::nan("")}) {
    EXPECT_THAT(
        Aggregate(ok.Views(), {.rule = Rule::kTrimmedMean, .trim_fraction = t})
            .status()
            .message(),
        HasSubstr("trim_fraction must be in [0, 0.5)"));
  }
}

// The sorting network against std::sort, for every n up to 40, over
// lengths that cross the block boundary.
TEST(AggregationTest, OrderStatisticsMatchASortedReference) {
  std::mt19937 gen(7);
  std::normal_distribution<float> normal(0, 1);
  for (int n = 1; n <= 40; ++n) {
    const int64_t length = n % 3 == 0 ? 70001 : 257;
    Updates u;
    for (int i = 0; i < n; ++i) {
      std::vector<float> v(length);
      for (float& x : v) x = normal(gen);
      u.Add(std::move(v));
    }
    const double trim_fraction = 0.25;
    const int k = static_cast<int>(std::floor(trim_fraction * n));
    std::vector<float> median(length);
    std::vector<float> trimmed(length);
    std::vector<float> column(n);
    for (int64_t c = 0; c < length; ++c) {
      for (int i = 0; i < n; ++i) column[i] = u.values[i][c];
      std::sort(column.begin(), column.end());
      median[c] = 0.5f * (column[(n - 1) / 2] + column[n / 2]);
      float sum = 0;
      for (int i = k; i < n - k; ++i) sum += column[i];
      trimmed[c] = sum / static_cast<float>(n - 2 * k);
    }
    EXPECT_THAT(AggregateOk(u, {.rule = Rule::kCoordinateMedian}).values,
                Pointwise(FloatNear(1e-6f), median))
        << "n = " << n;
    EXPECT_THAT(AggregateOk(u, {.rule = Rule::kTrimmedMean,
                        .trim_fraction = trim_fraction})
                    .values,
                Pointwise(FloatNear(1e-5f), trimmed))
        << "n = " << n;
  }
}

// One of five sites sends its honest update sign-flipped and scaled by
// 10: FedAvg follows it, the robust rules stay near the honest mean.
TEST(AggregationTest, RobustRulesResistASignFlippingSite) {
  std::mt19937 gen(3);
  std::normal_distribution<float> noise(0, 0.1f);
  const int64_t length = 1000;
  std::vector<float> truth(length);
  for (float& x : truth) x = noise(gen) * 10;
  Updates u;
  for (int site = 0; site < 5; ++site) {
    std::vector<float> v(length);
    for (int64_t c = 0; c < length; ++c) v[c] = truth[c] + noise(gen);
    if (site == 4) {
      for (float& x : v) x *= -10;
    }
    u.Add(std::move(v), 100);
  }
  auto error = [&](const std::vector<float>& v) {
    std::vector<float> d(length);
    for (int64_t c = 0; c < length; ++c) d[c] = v[c] - truth[c];
    return L2Norm(d) / L2Norm(truth);
  };
  EXPECT_GT(error(AggregateOk(u, {.rule = Rule::kFedAvg}).values), 2.0);
  EXPECT_LT(error(AggregateOk(u, {.rule = Rule::kCoordinateMedian}).values), 0.2);
  EXPECT_LT(error(AggregateOk(u, {.rule = Rule::kTrimmedMean, .trim_fraction = 0.2})
                      .values),
            0.2);
  const AggregationResult krum = AggregateOk(u, {.rule = Rule::kKrum});
  EXPECT_NE(krum.selected[0], 4);
  EXPECT_LT(error(krum.values), 0.2);
  const AggregationResult multi = AggregateOk(u, {.rule = Rule::kMultiKrum});
  EXPECT_THAT(multi.selected, ::testing::Not(::testing::Contains(4)));
  EXPECT_LT(error(multi.values), 0.1);
  // And its norm is the outlier.
  std::vector<double> norms;
  for (const auto& v : u.values) norms.push_back(L2Norm(v));
  const std::vector<double> z = RobustZScores(norms);
  EXPECT_GT(z[4], 3.0);
  for (int i = 0; i < 4; ++i) EXPECT_LT(z[i], 3.0) << i;
}

TEST(AggregationTest, RobustZScoresByHand) {
  // median 3, deviations 2 1 0 1 97, MAD 1: scores are deviations / 1.4826.
  EXPECT_THAT(RobustZScores({1, 2, 3, 4, 100}),
              Pointwise(::testing::DoubleNear(1e-9),
                        {2 / 1.4826, 1 / 1.4826, 0.0, 1 / 1.4826,
                         97 / 1.4826}));
  // MAD 0: the mean absolute deviation 9 / 5 times 1.253314 stands in.
  const std::vector<double> z = RobustZScores({1, 1, 1, 1, 10});
  EXPECT_NEAR(z[4], 9 / (1.253314 * 1.8), 1e-9);
  EXPECT_EQ(z[0], 0);
  EXPECT_THAT(RobustZScores({2, 2, 2}), ElementsAre(0, 0, 0));
  EXPECT_EQ(Median({3, 1, 2}), 2);
  EXPECT_EQ(Median({4, 1, 3, 2}), 2.5);
  EXPECT_EQ(Median({}), 0);
  EXPECT_TRUE(RobustZScores({}).empty());
}

TEST(AggregationTest, PairwiseDistancesAndNorm) {
  Updates u;
  u.Add({0, 0});
  u.Add({3, 4});
  u.Add({0, 1});
  EXPECT_THAT(PairwiseSquaredDistances(u.Views()),
              ElementsAre(0, 25, 1, 25, 0, 18, 1, 18, 0));
  EXPECT_DOUBLE_EQ(L2Norm(u.values[1]), 5.0);
}

TEST(AggregationTest, ParsesRuleNames) {
  EXPECT_EQ(*ParseRule("fedprox"), Rule::kFedAvg);
  EXPECT_EQ(*ParseRule("median"), Rule::kCoordinateMedian);
  EXPECT_EQ(*ParseRule("multi_krum"), Rule::kMultiKrum);
  EXPECT_THAT(ParseRule("mean").status().message(),
              HasSubstr("unknown aggregation rule 'mean'; one of: fedavg"));
  for (Rule r : {Rule::kFedAvg, Rule::kCoordinateMedian, Rule::kTrimmedMean,
                 Rule::kKrum, Rule::kMultiKrum}) {
    EXPECT_EQ(*ParseRule(RuleName(r)), r);
  }
}

}  // namespace
}  // namespace continuum::federated
