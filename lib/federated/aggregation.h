// Combining the sites' updates of a federated round into one update.
//
// An update is the flattened difference local - base of one site's
// parameters (federated.proto, "Update layout") and the number of rows the
// site trained on. The rules are those of federated.proto's Aggregation:
//
//   fedavg             sum_i s_i u_i / sum_i s_i (McMahan et al. 2017);
//                      FedProx aggregates the same way (its proximal term
//                      is in the sites' local loss)
//   coordinate_median  per coordinate, the median of the n values (the mean
//                      of the two middle ones for even n, as numpy)
//   trimmed_mean       per coordinate, the mean after dropping the
//                      k = floor(trim_fraction * n) largest and k smallest
//                      values (Yin et al. 2018; scipy's trim_mean)
//   krum               the update whose summed squared distance to its
//                      n - f - 2 nearest other updates is smallest
//                      (Blanchard et al. 2017), needs n > 2f + 2
//   multi_krum         the sample-weighted mean of the m updates with the
//                      best Krum scores (m = n - f by default)
//
// The median and the trimmed mean are unweighted, as in Flower and the
// papers: weighting by a count the site reports itself would let one site
// move them. Plain C++ (no gRPC, no protobuf); pure and thread-safe.
#ifndef CONTINUUM_LIB_FEDERATED_AGGREGATION_H_
#define CONTINUUM_LIB_FEDERATED_AGGREGATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace continuum::federated {

// One site's update: `values` = local - base, flattened; `samples` = rows
// it trained on (> 0; FedAvg's and Multi-Krum's weight).
struct SiteUpdate {
  absl::Span<const float> values;
  int64_t samples = 0;
};

enum class Rule {
  kFedAvg,
  kCoordinateMedian,
  kTrimmedMean,
  kKrum,
  kMultiKrum,
};

// "fedavg", "fedprox" (= fedavg), "median" or "coordinate_median",
// "trimmed_mean", "krum", "multi_krum"; INVALID_ARGUMENT listing them
// otherwise.
absl::StatusOr<Rule> ParseRule(absl::string_view name);
absl::string_view RuleName(Rule rule);

struct AggregationOptions {
  Rule rule = Rule::kFedAvg;
  // Trimmed mean: share of the values dropped at each end, in [0, 0.5).
  double trim_fraction = 0.1;
  // Krum rules: assumed Byzantine sites f, >= 0; needs n > 2f + 2.
  // -1 = the largest f the number of updates allows, (n - 3) / 2
  // (federated.proto's byzantine_sites = 0).
  int byzantine_sites = -1;
  // Multi-Krum: updates averaged, in [1, n]; 0 = n - f.
  int multi_krum_selected = 0;
};

struct AggregationResult {
  // The aggregate update, as long as every input.
  std::vector<float> values;
  // Rows behind the updates the aggregate is made of (all of them, except
  // for Krum and Multi-Krum: those selected).
  int64_t total_samples = 0;
  // Indices of the updates the aggregate is made of: all, in order, for
  // FedAvg, the median and the trimmed mean; best first for Krum rules.
  std::vector<int> selected;
  // Krum rules: every update's score (smaller is better); else empty.
  std::vector<double> krum_scores;
  // Krum rules: the f used.
  int byzantine_sites = 0;
  // Trimmed mean: values dropped at each end per coordinate.
  int trimmed_per_side = 0;
};

// OK if there is at least one update, every update has `length` values
// (or, with length < 0, as many as the first), all finite, and samples > 0.
// INVALID_ARGUMENT naming the first update (0-based) that breaks a rule:
//   "update 2 has 5 values, expected 4"
//   "update 1 value 17 is nan"
absl::Status CheckUpdates(absl::Span<const SiteUpdate> updates,
                          int64_t length = -1);

// The aggregate of `updates` under `options`. INVALID_ARGUMENT for updates
// CheckUpdates refuses, options out of range, or too few updates for the
// Krum rules ("krum needs more than 2f + 2 = 4 updates, got 3").
absl::StatusOr<AggregationResult> Aggregate(
    absl::Span<const SiteUpdate> updates, const AggregationOptions& options);

// Krum's scores alone: for each update, the sum of its squared L2 distances
// to its `neighbours` nearest other updates (ties between distances do not
// matter: the sum is the same). neighbours in [1, n - 1].
std::vector<double> KrumScores(absl::Span<const SiteUpdate> updates,
                               int neighbours);

// Squared L2 distance between every pair, row-major n x n (0 on the
// diagonal), accumulated in double.
std::vector<double> PairwiseSquaredDistances(
    absl::Span<const SiteUpdate> updates);

// The L2 norm of `values`, accumulated in double.
double L2Norm(absl::Span<const float> values);

// The median of `x` (the mean of the two middle values for an even
// count); 0 for none.
double Median(absl::Span<const double> x);

// Robust z-scores: |x_i - median(x)| / (1.4826 * MAD), MAD the median
// absolute deviation; where MAD is 0, the mean absolute deviation times
// 1.2533 stands in (Iglewicz and Hoaglin's modified z-score), and where
// that is 0 too every score is 0. The outlier test of
// federated.proto's OutlierExclusionConfig (applied to update norms).
std::vector<double> RobustZScores(absl::Span<const double> x);

}  // namespace continuum::federated

#endif  // CONTINUUM_LIB_FEDERATED_AGGREGATION_H_
