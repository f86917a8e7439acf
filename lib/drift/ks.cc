#include "lib/drift/ks.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"

namespace continuum::drift {
namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr int64_t kMaxExactN = 10000;  // scipy's MAX_AUTO_N

double Clip01(double p) { return std::min(1.0, std::max(0.0, p)); }

// Pr(D_{n,n} >= h/n) = 2 * (C(2n, n-h) - C(2n, n-2h) + ...) / C(2n, n), each
// term divided by C(2n, n) and evaluated in Horner form.
double ProbOutsideSquare(int64_t n, int64_t h) {
  double total = 0.0;
  int64_t k = static_cast<int64_t>(
      std::floor(static_cast<double>(n) / static_cast<double>(h)));
  while (k >= 0) {
    double p1 = 1.0;
    for (int64_t j = 0; j < h; ++j) {
      p1 = static_cast<double>(n - k * h - j) * p1 /
           static_cast<double>(n + k * h + j + 1);
    }
    total = p1 * (1.0 - total);
    --k;
  }
  return 2 * total;
}

// The proportion of lattice paths from (0, 0) to (m, n) that leave the band
// |x/m - y/n| < h / lcm(m, n), by the inside method (Hodges 1958) with
// Viehmann's recursion for 1 - p (arXiv:2102.08037).
double OuterProbInsideMethod(int64_t m, int64_t n, int64_t g, int64_t h) {
  if (m < n) std::swap(m, n);
  const int64_t mg = m / g;
  const int64_t ng = n / g;
  int64_t minj = 0;
  int64_t maxj = std::min<int64_t>(
      static_cast<int64_t>(std::ceil(static_cast<double>(h) / mg)), n + 1);
  int64_t curlen = maxj - minj;
  const int64_t len_a = std::min<int64_t>(2 * maxj + 2, n + 1);
  std::vector<double> a(len_a, 1.0);
  for (int64_t j = minj; j < maxj && j < len_a; ++j) a[j] = 0.0;
  for (int64_t i = 1; i <= m; ++i) {
    const int64_t lastminj = minj;
    const int64_t lastlen = curlen;
    minj = std::max<int64_t>(
        static_cast<int64_t>(std::floor(static_cast<double>(ng * i - h) / mg)) +
            1,
        0);
    minj = std::min(minj, n);
    maxj = std::min<int64_t>(
        static_cast<int64_t>(std::ceil(static_cast<double>(ng * i + h) / mg)),
        n + 1);
    if (maxj <= minj) return 1.0;
    double val = minj == 0 ? 0.0 : 1.0;
    for (int64_t jj = 0; jj < maxj - minj; ++jj) {
      const int64_t j = jj + minj;
      val = (a[jj + minj - lastminj] * static_cast<double>(i) +
             val * static_cast<double>(j)) /
            static_cast<double>(i + j);
      a[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) {
      for (int64_t t = maxj - minj; t < maxj - minj + (lastlen - curlen); ++t) {
        a[t] = 1.0;
      }
    }
  }
  return a[maxj - minj - 1];
}

// Durbin's matrix method as Marsaglia, Tsang & Wang (2003) evaluate it:
// Pr(D_n <= d) = n!/n^n * (H^n)[k-1][k-1], with scaling by 2^128.
double KolmogorovCdfDurbin(int64_t n, double d) {
  if (d >= 1.0) return 1.0;
  const double nd = static_cast<double>(n) * d;
  if (nd <= 0.5) return 0.0;
  const int k = static_cast<int>(std::ceil(nd));
  const double h = k - nd;
  const int m = 2 * k - 1;
  std::vector<double> v(m), w(m);
  double fac = 1.0;
  for (int j = 1; j <= m; ++j) {
    v[j - 1] = 1.0 - std::pow(h, j);
    w[j - 1] = fac;
    fac /= j;
    v[j - 1] *= fac;
  }
  const double tt =
      std::pow(std::max(2 * h - 1.0, 0.0), m) - 2 * std::pow(h, m);
  v[m - 1] = (1.0 + tt) * fac;

  std::vector<double> hm(static_cast<size_t>(m) * m, 0.0);
  auto at = [m](std::vector<double>& x, int r, int c) -> double& {
    return x[static_cast<size_t>(r) * m + c];
  };
  for (int i = 1; i < m; ++i) {
    for (int r = i - 1; r < m; ++r) at(hm, r, i) = w[r - (i - 1)];
  }
  for (int r = 0; r < m; ++r) at(hm, r, 0) = v[r];
  for (int c = 0; c < m; ++c) at(hm, m - 1, c) = v[m - 1 - c];

  std::vector<double> power(static_cast<size_t>(m) * m, 0.0);
  for (int i = 0; i < m; ++i) at(power, i, i) = 1.0;
  std::vector<double> scratch(static_cast<size_t>(m) * m);
  auto multiply = [m, &scratch, &at](std::vector<double>& x,
                                     const std::vector<double>& y) {
    for (int r = 0; r < m; ++r) {
      for (int c = 0; c < m; ++c) {
        double sum = 0.0;
        for (int t = 0; t < m; ++t) {
          sum += x[static_cast<size_t>(r) * m + t] *
                 y[static_cast<size_t>(t) * m + c];
        }
        at(scratch, r, c) = sum;
      }
    }
    x.swap(scratch);
  };
  const double kScale = std::ldexp(1.0, 128);
  const double kTiny = std::ldexp(1.0, -128);
  int64_t nn = n;
  int64_t exponent = 0;
  int64_t h_exponent = 0;
  while (nn > 0) {
    if (nn % 2) {
      multiply(power, hm);
      exponent += h_exponent;
    }
    std::vector<double> copy = hm;
    multiply(hm, copy);
    h_exponent *= 2;
    if (std::fabs(at(hm, k - 1, k - 1)) > kScale) {
      for (double& x : hm) x /= kScale;
      h_exponent += 128;
    }
    nn /= 2;
  }
  double p = at(power, k - 1, k - 1);
  for (int64_t i = 1; i <= n; ++i) {
    p = static_cast<double>(i) * p / static_cast<double>(n);
    if (std::fabs(p) < kTiny) {
      p *= kScale;
      exponent -= 128;
    }
  }
  if (exponent != 0) p = std::ldexp(p, static_cast<int>(exponent));
  return Clip01(p);
}

// The Pelz-Good (1976) asymptotic series for Pr(D_n <= x).
double KolmogorovCdfPelzGood(int64_t n, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double pi2 = std::numbers::pi * std::numbers::pi;
  const double pi4 = pi2 * pi2;
  const double pi6 = pi4 * pi2;
  const double sqrt2pi = std::sqrt(2 * std::numbers::pi);
  const double z = std::sqrt(static_cast<double>(n)) * x;
  const double z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
  const double qlog = -pi2 / 8 / z2;
  if (qlog < -708) return 0.0;
  double q = std::exp(qlog);

  const double k1a = -z2;
  const double k1b = pi2 / 4;
  const double k2a = 6 * z6 + 2 * z4;
  const double k2b = (2 * z4 - 5 * z2) * pi2 / 4;
  const double k2c = pi4 * (1 - 2 * z2) / 16;
  const double k3d = pi6 * (5 - 30 * z2) / 64;
  const double k3c = pi4 * (-60 * z2 + 212 * z4) / 16;
  const double k3b = pi2 * (135 * z4 - 96 * z6) / 4;
  const double k3a = -30 * z6 - 90 * std::pow(z, 8);

  double k0to3[4] = {0, 0, 0, 0};
  const int maxk = static_cast<int>(std::ceil(16 * z / std::numbers::pi));
  for (int k = maxk; k > 0; --k) {
    const double mm = 2 * k - 1;
    const double m2 = mm * mm, m4 = m2 * m2, m6 = m4 * m2;
    const double qpower = std::pow(q, 8 * k);
    const double coeffs[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4,
                              k3a + k3b * m2 + k3c * m4 + k3d * m6};
    for (int i = 0; i < 4; ++i) k0to3[i] = k0to3[i] * qpower + coeffs[i];
  }
  const double divisors[4] = {z, 6 * z4, 72 * std::pow(z, 7),
                              6480 * std::pow(z, 10)};
  for (int i = 0; i < 4; ++i) k0to3[i] = k0to3[i] * q * sqrt2pi / divisors[i];

  q = std::exp(-pi2 / 2 / z2);
  const double sqrt3z = std::sqrt(3.0) * z;
  double k2extra = 0.0, k3extra = 0.0;
  for (int k = maxk; k > 0; --k) {
    const double k2 = static_cast<double>(k) * k;
    const double qp = std::pow(q, k2);
    const double kpi = std::numbers::pi * k;
    k2extra += k2 * qp;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qp;
  }
  k0to3[2] += k2extra * (pi2 * sqrt2pi / (-36 * z3));
  k0to3[3] += k3extra * (pi2 * sqrt2pi / (216 * z6));
  double sum = 0.0;
  for (int i = 0; i < 4; ++i) {
    sum += k0to3[i] / std::pow(static_cast<double>(n), i / 2.0);
  }
  return sum;
}

// log(n! / n^n) by Stirling's series, n*log(n) removed up front.
double LogFactorialOverPower(int64_t n) {
  static constexpr double kCoeffs[] = {
      -2.955065359477124183e-2,  6.4102564102564102564e-3,
      -1.9175269175269175269e-3, 8.4175084175084175084e-4,
      -5.952380952380952381e-4,  7.9365079365079365079e-4,
      -2.7777777777777777778e-3, 8.3333333333333333333e-2};
  const double rn = 1.0 / static_cast<double>(n);
  const double y = rn / static_cast<double>(n);
  double poly = 0.0;
  for (double c : kCoeffs) poly = poly * y + c;
  return std::log(static_cast<double>(n)) / 2 - static_cast<double>(n) +
         std::log(2 * std::numbers::pi) / 2 + rn * poly;
}

}  // namespace

double SmirnovSurvival(int64_t n, double d) {
  if (std::isnan(d)) return kNan;
  if (d <= 0.0) return 1.0;
  if (d >= 1.0) return 0.0;
  // P(D_n^+ >= d) = d * sum_{j=0}^{floor(n(1-d))} C(n, j) (d + j/n)^(j-1)
  //                                                 * (1 - d - j/n)^(n-j).
  // All terms are positive: sum them in log space, relative to the largest.
  const double nd = static_cast<double>(n);
  const auto jmax = static_cast<int64_t>(std::floor(nd * (1.0 - d)));
  auto log_term = [&](int64_t j, double log_binomial) {
    const double right = 1.0 - d - static_cast<double>(j) / nd;
    if (n - j > 0 && right <= 0.0)
      return -std::numeric_limits<double>::infinity();
    double value = log_binomial + static_cast<double>(j - 1) *
                                      std::log(d + static_cast<double>(j) / nd);
    if (n - j > 0) value += static_cast<double>(n - j) * std::log(right);
    return value;
  };
  double largest = -std::numeric_limits<double>::infinity();
  double log_binomial = 0.0;
  for (int64_t j = 0; j <= jmax; ++j) {
    largest = std::max(largest, log_term(j, log_binomial));
    log_binomial += std::log(static_cast<double>(n - j)) -
                    std::log(static_cast<double>(j + 1));
  }
  if (!std::isfinite(largest)) return 0.0;
  double sum = 0.0;
  log_binomial = 0.0;
  for (int64_t j = 0; j <= jmax; ++j) {
    sum += std::exp(log_term(j, log_binomial) - largest);
    log_binomial += std::log(static_cast<double>(n - j)) -
                    std::log(static_cast<double>(j + 1));
  }
  return Clip01(d * sum * std::exp(largest));
}

double KolmogorovSurvival(int64_t n, double x) {
  if (std::isnan(x) || n <= 0) return kNan;
  if (x >= 1.0) return 0.0;
  if (x <= 0.0) return 1.0;
  const double nd = static_cast<double>(n);
  const double t = nd * x;
  if (t <= 1.0) {  // Ruben-Gambino: 1/2n <= x <= 1/n
    if (t <= 0.5) return 1.0;
    double cdf;
    if (n <= 140) {
      cdf = 1.0;
      for (int64_t i = 1; i <= n; ++i) {
        cdf *= static_cast<double>(i) * (1.0 / nd) * (2 * t - 1);
      }
    } else {
      cdf = std::exp(LogFactorialOverPower(n) + nd * std::log(2 * t - 1));
    }
    return Clip01(1.0 - cdf);
  }
  if (t >= nd - 1) return Clip01(2 * std::pow(1.0 - x, nd));
  if (x >= 0.5) return Clip01(2 * SmirnovSurvival(n, x));
  const double nxsquared = t * x;
  if (n <= 140) {
    // scipy uses Durbin's matrix up to n x^2 <= 0.754693 and Pomeranz's
    // recursion up to 4; both compute the same exact probability, and the
    // matrix stays small here (2 * ceil(n x) - 1 <= 47 rows), so it serves
    // both ranges.
    if (nxsquared <= 4) return Clip01(1.0 - KolmogorovCdfDurbin(n, x));
    return Clip01(2 * SmirnovSurvival(n, x));
  }
  if (nxsquared >= 370.0) return 0.0;
  if (nxsquared >= 2.2) return Clip01(2 * SmirnovSurvival(n, x));
  double cdf;
  if (nxsquared >= 18.0) {
    cdf = 1.0;
  } else if (n <= 100000 && nd * std::pow(x, 1.5) <= 1.4) {
    cdf = KolmogorovCdfDurbin(n, x);
  } else {
    cdf = KolmogorovCdfPelzGood(n, x);
  }
  return Clip01(1.0 - cdf);
}

bool KsTwoSidedPValue(int64_t n1, int64_t n2, double d, double* statistic,
                      double* p_value) {
  const int64_t g = std::gcd(n1, n2);
  if (std::max(n1, n2) <= kMaxExactN) {
    const int64_t lcm = (n1 / g) * n2;
    const auto h =
        static_cast<int64_t>(std::nearbyint(d * static_cast<double>(lcm)));
    d = static_cast<double>(h) * 1.0 / static_cast<double>(lcm);
    double prob = 1.0;
    if (h != 0) {
      prob = n1 == n2 ? ProbOutsideSquare(n1, h)
                      : OuterProbInsideMethod(n1, n2, g, h);
    }
    if (prob >= 0.0 && prob <= 1.0) {
      *statistic = d;
      *p_value = prob;
      return true;
    }
  }
  const double m = static_cast<double>(std::max(n1, n2));
  const double n = static_cast<double>(std::min(n1, n2));
  const double en = m * n / (m + n);
  *statistic = d;
  *p_value =
      Clip01(KolmogorovSurvival(static_cast<int64_t>(std::nearbyint(en)), d));
  return false;
}

KsResult KsTwoSampleSorted(absl::Span<const double> a,
                           absl::Span<const double> b) {
  const size_t n1 = a.size();
  const size_t n2 = b.size();
  const double dn1 = static_cast<double>(n1);
  const double dn2 = static_cast<double>(n2);
  // At every pooled value v: F1(v) - F2(v) with F = #(sample <= v) / n.
  double max_diff = -std::numeric_limits<double>::infinity();
  double min_diff = std::numeric_limits<double>::infinity();
  size_t i = 0;
  size_t j = 0;
  while (i < n1 || j < n2) {
    double v;
    if (j >= n2 || (i < n1 && a[i] <= b[j])) {
      v = a[i];
    } else {
      v = b[j];
    }
    while (i < n1 && a[i] <= v) ++i;
    while (j < n2 && b[j] <= v) ++j;
    const double diff =
        static_cast<double>(i) / dn1 - static_cast<double>(j) / dn2;
    max_diff = std::max(max_diff, diff);
    min_diff = std::min(min_diff, diff);
  }
  const double min_s = Clip01(-min_diff);
  const double d = min_s > max_diff ? min_s : max_diff;
  KsResult result;
  result.exact =
      KsTwoSidedPValue(static_cast<int64_t>(n1), static_cast<int64_t>(n2), d,
                       &result.statistic, &result.p_value);
  return result;
}

absl::StatusOr<KsResult> KsTwoSample(absl::Span<const double> a,
                                     absl::Span<const double> b) {
  if (a.empty() || b.empty()) {
    return absl::InvalidArgumentError(
        "ks: both samples must hold at least one value");
  }
  std::vector<double> sa(a.begin(), a.end());
  std::vector<double> sb(b.begin(), b.end());
  for (const std::vector<double>* s : {&sa, &sb}) {
    for (size_t i = 0; i < s->size(); ++i) {
      if (std::isnan((*s)[i])) {
        return absl::InvalidArgumentError(
            absl::StrCat("ks: value ", i, " of the ",
                         s == &sa ? "first" : "second", " sample is NaN"));
      }
    }
  }
  std::sort(sa.begin(), sa.end());
  std::sort(sb.begin(), sb.end());
  return KsTwoSampleSorted(sa, sb);
}

}  // namespace continuum::drift
