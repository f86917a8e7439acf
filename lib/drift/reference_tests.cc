#include "lib/drift/reference_tests.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "absl/strings/str_cat.h"

namespace continuum::drift {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

double LogGamma(double x) {
  int sign;
  return ::lgamma_r(x, &sign);
}

// exp(-x + a ln x - ln Gamma(a)), the common factor of P and Q.
double GammaPrefix(double a, double x) {
  return std::exp(-x + a * std::log(x) - LogGamma(a));
}

double GammaSeries(double a, double x) {
  double ap = a;
  double term = 1.0 / a;
  double sum = term;
  for (int i = 0; i < 100000; ++i) {
    ap += 1.0;
    term *= x / ap;
    sum += term;
    if (std::fabs(term) < std::fabs(sum) * 1e-17) break;
  }
  return sum * GammaPrefix(a, x);
}

double GammaContinuedFraction(double a, double x) {
  constexpr double kTiny = 1e-300;
  double b = x + 1.0 - a;
  double c = 1.0 / kTiny;
  double d = 1.0 / b;
  double h = d;
  for (int i = 1; i < 100000; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < 1e-16) break;
  }
  return GammaPrefix(a, x) * h;
}

absl::Status CheckPair(absl::Span<const double> reference,
                       absl::Span<const double> current) {
  if (absl::Status s = CheckSample(reference, "reference"); !s.ok()) return s;
  return CheckSample(current, "current");
}

// Counts of each value of `values` into bins cut at `edges` (ascending):
// bin i is [e_i, e_{i+1}), the last bin [e_{b-1}, e_b]; values outside
// [e_0, e_b] are not counted (numpy.histogram with explicit edges).
std::vector<double> Histogram(absl::Span<const double> values,
                              const std::vector<double>& edges) {
  const size_t bins = edges.size() - 1;
  std::vector<double> counts(bins, 0.0);
  for (double v : values) {
    if (v < edges.front() || v > edges.back()) continue;
    size_t i = std::upper_bound(edges.begin(), edges.end(), v) - edges.begin();
    i = i == 0 ? 0 : i - 1;
    if (i >= bins) i = bins - 1;
    counts[i] += 1.0;
  }
  return counts;
}

BinnedShares ShareByValue(absl::Span<const double> reference,
                          absl::Span<const double> current) {
  std::map<double, std::pair<double, double>> counts;
  for (double v : reference) counts[v].first += 1.0;
  for (double v : current) counts[v].second += 1.0;
  BinnedShares shares;
  for (const auto& [value, c] : counts) {
    shares.reference.push_back(c.first / static_cast<double>(reference.size()));
    shares.current.push_back(c.second / static_cast<double>(current.size()));
  }
  return shares;
}

double Quantile(const std::vector<double>& sorted, double q) {
  const double position = q * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(position));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] +
         (sorted[hi] - sorted[lo]) * (position - static_cast<double>(lo));
}

// Evidently fills each sample's empty bins with a small share.
void FillZeros(std::vector<double>* shares) {
  double smallest = kInf;
  for (double s : *shares) {
    if (s != 0.0) smallest = std::min(smallest, s);
  }
  if (smallest == kInf) return;
  const double fill = smallest <= 0.0001 ? smallest / 1e6 : 0.0001;
  for (double& s : *shares) {
    if (s == 0.0) s = fill;
  }
}

double RelativeEntropy(double x, double y) {
  if (x > 0.0 && y > 0.0) return x * std::log(x / y);
  if (x == 0.0 && y >= 0.0) return 0.0;
  return kInf;
}

double StandardDeviation(absl::Span<const double> values) {
  double mean = 0.0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  double sum = 0.0;
  for (double v : values) sum += (v - mean) * (v - mean);
  return std::sqrt(sum / static_cast<double>(values.size()));
}

}  // namespace

absl::Status CheckSample(absl::Span<const double> values,
                         absl::string_view what) {
  if (values.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " sample is empty"));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::isnan(values[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " sample: value ", i, " is NaN"));
    }
  }
  return absl::OkStatus();
}

double RegularizedGammaP(double a, double x) {
  if (std::isnan(a) || std::isnan(x) || a <= 0.0 || x < 0.0) return kNan;
  if (x == 0.0) return 0.0;
  if (x == kInf) return 1.0;
  if (x < a + 1.0) return GammaSeries(a, x);
  return 1.0 - GammaContinuedFraction(a, x);
}

double RegularizedGammaQ(double a, double x) {
  if (std::isnan(a) || std::isnan(x) || a <= 0.0 || x < 0.0) return kNan;
  if (x == 0.0) return 1.0;
  if (x == kInf) return 0.0;
  if (x < a + 1.0) return 1.0 - GammaSeries(a, x);
  return GammaContinuedFraction(a, x);
}

double ChiSquaredSurvival(double x, double dof) {
  if (x <= 0.0) return 1.0;
  return RegularizedGammaQ(dof / 2.0, x / 2.0);
}

absl::StatusOr<BinnedShares> BinShares(absl::Span<const double> reference,
                                       absl::Span<const double> current,
                                       const BinningOptions& options) {
  if (absl::Status s = CheckPair(reference, current); !s.ok()) return s;
  if (options.categorical) return ShareByValue(reference, current);
  std::vector<double> edges;
  if (options.method == BinningMethod::kReferenceQuantiles) {
    if (options.bins < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("binning: bins=", options.bins,
                       " is out of range; allowed: bins >= 1"));
    }
    std::vector<double> sorted(reference.begin(), reference.end());
    std::sort(sorted.begin(), sorted.end());
    // Inner edges at the reference's quantiles; the outer bins are open, so
    // current values outside the reference's range are counted.
    edges.push_back(-kInf);
    for (int i = 1; i < options.bins; ++i) {
      const double e = Quantile(sorted, static_cast<double>(i) / options.bins);
      if (e > edges.back()) edges.push_back(e);
    }
    edges.push_back(kInf);
  } else {
    size_t distinct = 0;
    {
      std::vector<double> sorted(reference.begin(), reference.end());
      std::sort(sorted.begin(), sorted.end());
      distinct = std::unique(sorted.begin(), sorted.end()) - sorted.begin();
    }
    if (distinct <= 20) return ShareByValue(reference, current);
    // numpy.histogram_bin_edges(pooled, bins="sturges").
    double lo = kInf;
    double hi = -kInf;
    for (double v : reference) lo = std::min(lo, v), hi = std::max(hi, v);
    for (double v : current) lo = std::min(lo, v), hi = std::max(hi, v);
    if (std::isinf(lo) || std::isinf(hi)) {
      return absl::InvalidArgumentError("binning: values must be finite");
    }
    const double n = static_cast<double>(reference.size() + current.size());
    const double range = hi - lo;
    const double width = range / (std::log2(n) + 1.0);
    const int64_t bins =
        width > 0.0 ? static_cast<int64_t>(std::ceil(range / width)) : 1;
    // numpy.linspace(lo, hi, bins + 1): i * step + lo, the last edge hi.
    const double step = range / static_cast<double>(bins);
    for (int64_t i = 0; i <= bins; ++i) {
      edges.push_back(static_cast<double>(i) * step + lo);
    }
    edges.back() = hi;
  }
  BinnedShares shares;
  shares.reference = Histogram(reference, edges);
  shares.current = Histogram(current, edges);
  for (double& s : shares.reference) s /= static_cast<double>(reference.size());
  for (double& s : shares.current) s /= static_cast<double>(current.size());
  return shares;
}

absl::StatusOr<double> PopulationStabilityIndex(
    absl::Span<const double> reference, absl::Span<const double> current,
    const BinningOptions& options) {
  absl::StatusOr<BinnedShares> shares = BinShares(reference, current, options);
  if (!shares.ok()) return shares.status();
  FillZeros(&shares->reference);
  FillZeros(&shares->current);
  double psi = 0.0;
  for (size_t i = 0; i < shares->reference.size(); ++i) {
    const double r = shares->reference[i];
    const double c = shares->current[i];
    psi += (r - c) * std::log(r / c);
  }
  return psi;
}

absl::StatusOr<double> JensenShannonDistance(absl::Span<const double> reference,
                                             absl::Span<const double> current,
                                             const BinningOptions& options) {
  absl::StatusOr<BinnedShares> shares = BinShares(reference, current, options);
  if (!shares.ok()) return shares.status();
  double sum_p = 0.0;
  double sum_q = 0.0;
  for (double v : shares->reference) sum_p += v;
  for (double v : shares->current) sum_q += v;
  double left = 0.0;
  double right = 0.0;
  for (size_t i = 0; i < shares->reference.size(); ++i) {
    const double p = shares->reference[i] / sum_p;
    const double q = shares->current[i] / sum_q;
    const double m = (p + q) / 2.0;
    left += RelativeEntropy(p, m);
    right += RelativeEntropy(q, m);
  }
  return std::sqrt((left + right) / 2.0);
}

absl::StatusOr<double> WassersteinDistance(absl::Span<const double> u,
                                           absl::Span<const double> v) {
  if (absl::Status s = CheckPair(u, v); !s.ok()) return s;
  std::vector<double> su(u.begin(), u.end());
  std::vector<double> sv(v.begin(), v.end());
  std::sort(su.begin(), su.end());
  std::sort(sv.begin(), sv.end());
  std::vector<double> all;
  all.reserve(su.size() + sv.size());
  std::merge(su.begin(), su.end(), sv.begin(), sv.end(),
             std::back_inserter(all));
  const double nu = static_cast<double>(su.size());
  const double nv = static_cast<double>(sv.size());
  double distance = 0.0;
  size_t i = 0;
  size_t j = 0;
  for (size_t k = 0; k + 1 < all.size(); ++k) {
    while (i < su.size() && su[i] <= all[k]) ++i;
    while (j < sv.size() && sv[j] <= all[k]) ++j;
    const double delta = all[k + 1] - all[k];
    distance +=
        std::fabs(static_cast<double>(i) / nu - static_cast<double>(j) / nv) *
        delta;
  }
  return distance;
}

absl::StatusOr<double> NormalizedWassersteinDistance(
    absl::Span<const double> reference, absl::Span<const double> current) {
  absl::StatusOr<double> distance = WassersteinDistance(reference, current);
  if (!distance.ok()) return distance.status();
  return *distance / std::max(StandardDeviation(reference), 0.001);
}

absl::StatusOr<ChiSquaredResult> ChiSquaredTest(
    absl::Span<const double> reference, absl::Span<const double> current) {
  if (absl::Status s = CheckPair(reference, current); !s.ok()) return s;
  std::map<double, std::pair<double, double>> counts;
  for (double v : reference) counts[v].first += 1.0;
  for (double v : current) counts[v].second += 1.0;
  const double k_norm = static_cast<double>(current.size()) /
                        static_cast<double>(reference.size());
  ChiSquaredResult result;
  for (const auto& [value, c] : counts) {
    const double expected = c.first * k_norm;
    const double observed = c.second;
    result.statistic += expected == 0.0 ? kInf
                                        : (observed - expected) *
                                              (observed - expected) / expected;
  }
  result.degrees_of_freedom = static_cast<int>(counts.size()) - 1;
  result.p_value =
      result.degrees_of_freedom == 0
          ? 1.0
          : ChiSquaredSurvival(result.statistic, result.degrees_of_freedom);
  return result;
}

std::vector<bool> SignificantAfterCorrection(absl::Span<const double> p_values,
                                             double alpha,
                                             Correction correction) {
  const size_t m = p_values.size();
  std::vector<bool> significant(m, false);
  if (m == 0) return significant;
  switch (correction) {
    case Correction::kNone:
      for (size_t i = 0; i < m; ++i) significant[i] = p_values[i] < alpha;
      break;
    case Correction::kBonferroni:
      for (size_t i = 0; i < m; ++i) {
        significant[i] = p_values[i] < alpha / static_cast<double>(m);
      }
      break;
    case Correction::kBenjaminiHochberg: {
      std::vector<double> sorted(p_values.begin(), p_values.end());
      std::sort(sorted.begin(), sorted.end());
      double cutoff = -1.0;
      for (size_t k = 0; k < m; ++k) {
        if (sorted[k] <
            alpha * static_cast<double>(k + 1) / static_cast<double>(m)) {
          cutoff = sorted[k];
        }
      }
      for (size_t i = 0; i < m; ++i) {
        significant[i] = cutoff >= 0.0 && p_values[i] <= cutoff;
      }
      break;
    }
  }
  return significant;
}

std::vector<double> AdjustPValues(absl::Span<const double> p_values,
                                  Correction correction) {
  const size_t m = p_values.size();
  std::vector<double> adjusted(p_values.begin(), p_values.end());
  if (m == 0 || correction == Correction::kNone) return adjusted;
  const double dm = static_cast<double>(m);
  if (correction == Correction::kBonferroni) {
    for (double& p : adjusted) p = std::min(1.0, p * dm);
    return adjusted;
  }
  std::vector<size_t> order(m);
  for (size_t i = 0; i < m; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return p_values[a] < p_values[b];
  });
  double running = 1.0;
  for (size_t k = m; k-- > 0;) {
    const size_t i = order[k];
    running = std::min(running, p_values[i] * dm / static_cast<double>(k + 1));
    adjusted[i] = running;
  }
  return adjusted;
}

}  // namespace continuum::drift
