#include "lib/federated/aggregation.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace continuum::federated {
namespace {

// Coordinates per block: every pass works on a block of each update at a
// time, so that the block's partial results stay in the L1/L2 cache.
constexpr int64_t kBlock = 4096;

struct RuleName_ {
  absl::string_view name;
  Rule rule;
};
constexpr RuleName_ kRuleNames[] = {
    {"fedavg", Rule::kFedAvg},
    {"fedprox", Rule::kFedAvg},
    {"median", Rule::kCoordinateMedian},
    {"coordinate_median", Rule::kCoordinateMedian},
    {"trimmed_mean", Rule::kTrimmedMean},
    {"krum", Rule::kKrum},
    {"multi_krum", Rule::kMultiKrum},
};

// Batcher's odd-even merge sort network for n inputs: the comparators
// (i < j: the smaller value goes to i) of the network for the next power
// of two, without those that touch an index >= n (as if the missing inputs
// were +inf, which such a comparator leaves in place).
std::vector<std::pair<int, int>> SortingNetwork(int n) {
  int size = 1;
  while (size < n) size <<= 1;
  std::vector<std::pair<int, int>> comparators;
  for (int p = 1; p < size; p <<= 1) {
    for (int k = p; k >= 1; k >>= 1) {
      for (int j = k % p; j + k < size; j += 2 * k) {
        for (int i = 0; i < std::min(k, size - j - k); ++i) {
          const int a = i + j;
          const int b = i + j + k;
          if (a / (2 * p) == b / (2 * p) && b < n) {
            comparators.emplace_back(a, b);
          }
        }
      }
    }
  }
  return comparators;
}

// Sorts each column of `rows` (n rows of `width` values, row stride
// `stride`) ascending, with the network: every comparator is a min/max pass
// over two rows, which the compiler vectorises.
void SortColumns(float* rows, int64_t stride, int64_t width,
                 const std::vector<std::pair<int, int>>& network) {
  for (const auto& [i, j] : network) {
    // Distinct rows: __restrict lets the compiler if-convert and vectorise.
    float* __restrict a = rows + i * stride;
    float* __restrict b = rows + j * stride;
    for (int64_t c = 0; c < width; ++c) {
      const float x = a[c];
      const float y = b[c];
      a[c] = std::min(x, y);
      b[c] = std::max(x, y);
    }
  }
}

// Median or trimmed mean: sorts each coordinate's n values (blocks of the
// updates copied side by side) and combines the middle ones.
std::vector<float> OrderStatistic(absl::Span<const SiteUpdate> updates,
                                  int trim) {
  const int n = static_cast<int>(updates.size());
  const int64_t length = static_cast<int64_t>(updates[0].values.size());
  const auto network = SortingNetwork(n);
  // Keep the block buffer within ~256 KiB whatever n is.
  const int64_t block =
      std::max<int64_t>(64, (int64_t{65536} / n) / 16 * 16);
  std::vector<float> rows(static_cast<size_t>(n * block));
  std::vector<float> out(length);
  for (int64_t start = 0; start < length; start += block) {
    const int64_t width = std::min(block, length - start);
    for (int i = 0; i < n; ++i) {
      std::memcpy(rows.data() + i * block, updates[i].values.data() + start,
                  width * sizeof(float));
    }
    SortColumns(rows.data(), block, width, network);
    float* dst = out.data() + start;
    if (trim < 0) {  // median
      const float* lo = rows.data() + ((n - 1) / 2) * block;
      const float* hi = rows.data() + (n / 2) * block;
      for (int64_t c = 0; c < width; ++c) dst[c] = 0.5f * (lo[c] + hi[c]);
    } else {
      const int kept = n - 2 * trim;
      std::fill(dst, dst + width, 0.0f);
      for (int i = trim; i < n - trim; ++i) {
        const float* row = rows.data() + i * block;
        for (int64_t c = 0; c < width; ++c) dst[c] += row[c];
      }
      const float scale = 1.0f / static_cast<float>(kept);
      for (int64_t c = 0; c < width; ++c) dst[c] *= scale;
    }
  }
  return out;
}

// sum_i w_i u_i over the chosen updates, blockwise.
std::vector<float> WeightedSum(absl::Span<const SiteUpdate> updates,
                               absl::Span<const int> chosen,
                               absl::Span<const double> weights) {
  const int64_t length = static_cast<int64_t>(updates[0].values.size());
  std::vector<float> out(length, 0.0f);
  for (int64_t start = 0; start < length; start += kBlock) {
    const int64_t width = std::min(kBlock, length - start);
    float* dst = out.data() + start;
    for (size_t k = 0; k < chosen.size(); ++k) {
      const float w = static_cast<float>(weights[k]);
      const float* src = updates[chosen[k]].values.data() + start;
      for (int64_t c = 0; c < width; ++c) dst[c] += w * src[c];
    }
  }
  return out;
}

// The sample-weighted mean of the chosen updates.
std::vector<float> SampleWeightedMean(absl::Span<const SiteUpdate> updates,
                                      absl::Span<const int> chosen,
                                      int64_t* total_samples) {
  int64_t total = 0;
  for (int i : chosen) total += updates[i].samples;
  std::vector<double> weights;
  weights.reserve(chosen.size());
  for (int i : chosen) {
    weights.push_back(static_cast<double>(updates[i].samples) /
                      static_cast<double>(total));
  }
  *total_samples = total;
  return WeightedSum(updates, chosen, weights);
}

}  // namespace

absl::StatusOr<Rule> ParseRule(absl::string_view name) {
  for (const RuleName_& r : kRuleNames) {
    if (r.name == name) return r.rule;
  }
  std::vector<absl::string_view> names;
  for (const RuleName_& r : kRuleNames) names.push_back(r.name);
  return absl::InvalidArgumentError(
      absl::StrCat("unknown aggregation rule '", name,
                   "'; one of: ", absl::StrJoin(names, ", ")));
}

absl::string_view RuleName(Rule rule) {
  switch (rule) {
    case Rule::kFedAvg:
      return "fedavg";
    case Rule::kCoordinateMedian:
      return "coordinate_median";
    case Rule::kTrimmedMean:
      return "trimmed_mean";
    case Rule::kKrum:
      return "krum";
    case Rule::kMultiKrum:
      return "multi_krum";
  }
  return "unknown";
}

absl::Status CheckUpdates(absl::Span<const SiteUpdate> updates,
                          int64_t length) {
  if (updates.empty()) {
    return absl::InvalidArgumentError("no updates to aggregate");
  }
  if (length < 0) length = static_cast<int64_t>(updates[0].values.size());
  for (size_t i = 0; i < updates.size(); ++i) {
    const SiteUpdate& u = updates[i];
    if (static_cast<int64_t>(u.values.size()) != length) {
      return absl::InvalidArgumentError(
          absl::StrCat("update ", i, " has ", u.values.size(),
                       " values, expected ", length));
    }
    if (u.samples <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "update ", i, ": samples must be > 0 (got ", u.samples, ")"));
    }
    for (size_t c = 0; c < u.values.size(); ++c) {
      if (!std::isfinite(u.values[c])) {
        return absl::InvalidArgumentError(
            absl::StrCat("update ", i, " value ", c, " is ",
                         std::isnan(u.values[c]) ? "nan" : "infinite"));
      }
    }
  }
  return absl::OkStatus();
}

double L2Norm(absl::Span<const float> values) {
  double total = 0;
  for (int64_t start = 0; start < static_cast<int64_t>(values.size());
       start += kBlock) {
    const int64_t end =
        std::min<int64_t>(start + kBlock, static_cast<int64_t>(values.size()));
    float partial = 0;
    for (int64_t c = start; c < end; ++c) partial += values[c] * values[c];
    total += partial;
  }
  return std::sqrt(total);
}

std::vector<double> PairwiseSquaredDistances(
    absl::Span<const SiteUpdate> updates) {
  const int n = static_cast<int>(updates.size());
  const int64_t length =
      n == 0 ? 0 : static_cast<int64_t>(updates[0].values.size());
  std::vector<double> d(static_cast<size_t>(n) * n, 0.0);
  for (int64_t start = 0; start < length; start += kBlock) {
    const int64_t width = std::min(kBlock, length - start);
    for (int i = 0; i < n; ++i) {
      const float* a = updates[i].values.data() + start;
      for (int j = i + 1; j < n; ++j) {
        const float* b = updates[j].values.data() + start;
        float partial = 0;
        for (int64_t c = 0; c < width; ++c) {
          const float diff = a[c] - b[c];
          partial += diff * diff;
        }
        d[i * n + j] += partial;
      }
    }
  }
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) d[j * n + i] = d[i * n + j];
  }
  return d;
}

std::vector<double> KrumScores(absl::Span<const SiteUpdate> updates,
                               int neighbours) {
  const int n = static_cast<int>(updates.size());
  const std::vector<double> d = PairwiseSquaredDistances(updates);
  std::vector<double> scores(n, 0.0);
  std::vector<double> others;
  for (int i = 0; i < n; ++i) {
    others.clear();
    for (int j = 0; j < n; ++j) {
      if (j != i) others.push_back(d[i * n + j]);
    }
    const int k = std::clamp(neighbours, 0, static_cast<int>(others.size()));
    std::partial_sort(others.begin(), others.begin() + k, others.end());
    scores[i] = std::accumulate(others.begin(), others.begin() + k, 0.0);
  }
  return scores;
}

absl::StatusOr<AggregationResult> Aggregate(
    absl::Span<const SiteUpdate> updates, const AggregationOptions& options) {
  if (absl::Status s = CheckUpdates(updates); !s.ok()) return s;
  const int n = static_cast<int>(updates.size());
  AggregationResult result;
  std::vector<int> all(n);
  std::iota(all.begin(), all.end(), 0);
  switch (options.rule) {
    case Rule::kFedAvg:
      result.values = SampleWeightedMean(updates, all, &result.total_samples);
      result.selected = all;
      return result;
    case Rule::kCoordinateMedian:
    case Rule::kTrimmedMean: {
      int trim = -1;
      if (options.rule == Rule::kTrimmedMean) {
        if (!(options.trim_fraction >= 0 && options.trim_fraction < 0.5)) {
          return absl::InvalidArgumentError(
              absl::StrCat("trim_fraction must be in [0, 0.5) (got ",
                           options.trim_fraction, ")"));
        }
        trim = static_cast<int>(std::floor(options.trim_fraction * n));
        result.trimmed_per_side = trim;
      }
      result.values = OrderStatistic(updates, trim);
      for (const SiteUpdate& u : updates) result.total_samples += u.samples;
      result.selected = all;
      return result;
    }
    case Rule::kKrum:
    case Rule::kMultiKrum: {
      const absl::string_view name = RuleName(options.rule);
      // n > 2f + 2  <=>  f <= (n - 3) / 2.
      int f = options.byzantine_sites;
      if (f < 0) {
        if (n < 3) {
          return absl::InvalidArgumentError(absl::StrCat(
              name, " needs at least 3 updates (n > 2f + 2 with f = 0), got ",
              n));
        }
        f = (n - 3) / 2;
      }
      if (n <= 2 * f + 2) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, " needs more than 2f + 2 = ", 2 * f + 2,
                         " updates (f = ", f, "), got ", n));
      }
      result.byzantine_sites = f;
      result.krum_scores = KrumScores(updates, n - f - 2);
      std::vector<int> order = all;
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
        return result.krum_scores[a] < result.krum_scores[b];
      });
      int m = 1;
      if (options.rule == Rule::kMultiKrum) {
        m = options.multi_krum_selected == 0 ? n - f
                                             : options.multi_krum_selected;
        if (m < 1 || m > n) {
          return absl::InvalidArgumentError(absl::StrCat(
              "multi_krum_selected must be in [1, ", n, "] (got ", m, ")"));
        }
      }
      order.resize(m);
      result.selected = order;
      result.values =
          SampleWeightedMean(updates, result.selected, &result.total_samples);
      return result;
    }
  }
  return absl::InvalidArgumentError("unknown aggregation rule");
}

double Median(absl::Span<const double> x) {
  if (x.empty()) return 0;
  std::vector<double> v(x.begin(), x.end());
  std::sort(v.begin(), v.end());
  const size_t m = v.size();
  return m % 2 == 1 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
}

std::vector<double> RobustZScores(absl::Span<const double> x) {
  const size_t n = x.size();
  std::vector<double> scores(n, 0.0);
  if (n == 0) return scores;
  const double med = Median(x);
  std::vector<double> dev(n);
  for (size_t i = 0; i < n; ++i) dev[i] = std::fabs(x[i] - med);
  double scale = 1.4826 * Median(dev);
  if (scale == 0) {
    scale = 1.253314 * std::accumulate(dev.begin(), dev.end(), 0.0) /
            static_cast<double>(n);
  }
  if (scale == 0) return scores;
  for (size_t i = 0; i < n; ++i) scores[i] = dev[i] / scale;
  return scores;
}

}  // namespace continuum::federated
