#include "lib/drift/two_sample.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

namespace continuum::drift {

double NormalSurvival(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

TwoSampleResult TwoProportionZTest(double errors1, double n1, double errors2,
                                   double n2) {
  const double pooled = (errors1 + errors2) / (n1 + n2);
  const double variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2);
  TwoSampleResult out;
  if (!(variance > 0)) return out;
  out.statistic = (errors1 / n1 - errors2 / n2) / std::sqrt(variance);
  out.p_value = NormalSurvival(out.statistic);
  return out;
}

TwoSampleResult MannWhitneyU(absl::Span<const double> first,
                             absl::Span<const double> second) {
  std::vector<std::pair<double, bool>> all;  // (value, is in `first`)
  all.reserve(first.size() + second.size());
  for (double v : first) all.emplace_back(v, true);
  for (double v : second) all.emplace_back(v, false);
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  const double n = static_cast<double>(all.size());
  double rank_sum = 0;
  double ties = 0;  // Sum of t^3 - t over groups of t equal values.
  for (size_t i = 0; i < all.size();) {
    size_t j = i;
    while (j < all.size() && all[j].first == all[i].first) ++j;
    const double t = static_cast<double>(j - i);
    const double average_rank = (static_cast<double>(i + 1 + j)) / 2;
    for (size_t k = i; k < j; ++k) {
      if (all[k].second) rank_sum += average_rank;
    }
    ties += t * t * t - t;
    i = j;
  }
  const double n1 = static_cast<double>(first.size());
  const double n2 = static_cast<double>(second.size());
  TwoSampleResult out;
  out.statistic = rank_sum - n1 * (n1 + 1) / 2;
  const double variance =
      n1 * n2 / 12 * ((n + 1) - (n > 1 ? ties / (n * (n - 1)) : 0));
  if (!(variance > 0)) return out;
  const double z = (out.statistic - n1 * n2 / 2 - 0.5) / std::sqrt(variance);
  out.p_value = NormalSurvival(z);
  return out;
}

}  // namespace continuum::drift
