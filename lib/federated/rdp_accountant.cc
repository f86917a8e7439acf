#include "lib/federated/rdp_accountant.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace continuum::federated {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// log(exp(x) + exp(y)).
double LogAdd(double x, double y) {
  const double a = std::min(x, y);
  const double b = std::max(x, y);
  if (a == -kInf) return b;
  return std::log1p(std::exp(a - b)) + b;
}

// log(exp(x) - exp(y)), x >= y.
double LogSub(double x, double y) {
  if (y == -kInf) return x;
  if (x == y) return -kInf;
  const double d = x - y;
  const double e = std::expm1(d);
  if (std::isinf(e)) return x;  // exp(y) is negligible beside exp(x)
  return std::log(e) + y;
}

// log(erfc(x)), with the asymptotic series where erfc underflows (as
// TF-Privacy's _log_erfc without scipy).
double LogErfc(double x) {
  const double r = std::erfc(x);
  if (r > 0) return std::log(r);
  return -std::log(M_PI) / 2 - std::log(x) - x * x - 0.5 * std::pow(x, -2) +
         0.625 * std::pow(x, -4) - 37.0 / 24.0 * std::pow(x, -6) +
         353.0 / 64.0 * std::pow(x, -8);
}

double LogBinomial(double n, double k) {
  return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1);
}

// log(A_alpha) for integer alpha: the binomial expansion.
double LogAInt(double q, double sigma, int64_t alpha) {
  double log_a = -kInf;
  for (int64_t i = 0; i <= alpha; ++i) {
    const double di = static_cast<double>(i);
    const double log_coef = LogBinomial(static_cast<double>(alpha), di) +
                            di * std::log(q) +
                            (static_cast<double>(alpha) - di) * std::log1p(-q);
    log_a = LogAdd(log_a, log_coef + (di * di - di) / (2 * sigma * sigma));
  }
  return log_a;
}

// log(A_alpha) for fractional alpha: the two series of Mironov et al.,
// Section 3.3, summed until their terms fall below e^-30.
double LogAFrac(double q, double sigma, double alpha) {
  double log_a0 = -kInf;
  double log_a1 = -kInf;
  const double z0 = sigma * sigma * std::log(1 / q - 1) + 0.5;
  // The generalised binomial coefficient binom(alpha, i), as log |.| and
  // sign, updated term by term.
  double log_abs_coef = 0;
  bool positive = true;
  for (int64_t i = 0;; ++i) {
    const double di = static_cast<double>(i);
    const double j = alpha - di;
    const double log_t0 = log_abs_coef + di * std::log(q) + j * std::log1p(-q);
    const double log_t1 = log_abs_coef + j * std::log(q) + di * std::log1p(-q);
    const double log_e0 =
        std::log(0.5) + LogErfc((di - z0) / (std::sqrt(2.0) * sigma));
    const double log_e1 =
        std::log(0.5) + LogErfc((z0 - j) / (std::sqrt(2.0) * sigma));
    const double log_s0 = log_t0 + (di * di - di) / (2 * sigma * sigma) + log_e0;
    const double log_s1 = log_t1 + (j * j - j) / (2 * sigma * sigma) + log_e1;
    if (positive) {
      log_a0 = LogAdd(log_a0, log_s0);
      log_a1 = LogAdd(log_a1, log_s1);
    } else {
      log_a0 = LogSub(log_a0, log_s0);
      log_a1 = LogSub(log_a1, log_s1);
    }
    if (std::max(log_s0, log_s1) < -30) break;
    // binom(alpha, i + 1) = binom(alpha, i) * (alpha - i) / (i + 1).
    const double factor = (alpha - di) / (di + 1);
    if (factor < 0) positive = !positive;
    log_abs_coef += std::log(std::fabs(factor));
  }
  return LogAdd(log_a0, log_a1);
}

double RdpOfOneStep(double q, double sigma, double alpha) {
  if (q == 0) return 0;
  if (sigma == 0) return kInf;
  if (q == 1) return alpha / (2 * sigma * sigma);
  if (std::isinf(alpha)) return kInf;
  const double log_a = alpha == std::floor(alpha)
                           ? LogAInt(q, sigma, static_cast<int64_t>(alpha))
                           : LogAFrac(q, sigma, alpha);
  return log_a / (alpha - 1);
}

}  // namespace

std::vector<double> DefaultRdpOrders() {
  std::vector<double> orders;
  for (int x = 1; x < 100; ++x) orders.push_back(1 + x / 10.0);
  for (int a = 12; a < 64; ++a) orders.push_back(a);
  return orders;
}

absl::StatusOr<std::vector<double>> ComputeRdp(
    double sample_rate, double noise_multiplier, int64_t steps,
    absl::Span<const double> orders) {
  if (!(sample_rate >= 0 && sample_rate <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sample_rate must be in [0, 1] (got ", sample_rate, ")"));
  }
  if (!(noise_multiplier >= 0) || std::isinf(noise_multiplier)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "noise_multiplier must be >= 0 (got ", noise_multiplier, ")"));
  }
  if (steps < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("steps must be >= 0 (got ", steps, ")"));
  }
  std::vector<double> rdp;
  rdp.reserve(orders.size());
  for (double alpha : orders) {
    if (!(alpha > 1)) {
      return absl::InvalidArgumentError(
          absl::StrCat("RDP orders must be > 1 (got ", alpha, ")"));
    }
    const double one = RdpOfOneStep(sample_rate, noise_multiplier, alpha);
    rdp.push_back(steps == 0 ? 0 : one * static_cast<double>(steps));
  }
  return rdp;
}

absl::StatusOr<PrivacySpent> GetPrivacySpent(absl::Span<const double> orders,
                                             absl::Span<const double> rdp,
                                             double delta) {
  if (!(delta > 0 && delta < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("delta must be in (0, 1) (got ", delta, ")"));
  }
  if (orders.size() != rdp.size() || orders.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("need one RDP value per order (got ", orders.size(),
                     " orders and ", rdp.size(), " values)"));
  }
  PrivacySpent best{kInf, std::numeric_limits<double>::quiet_NaN()};
  bool any = false;
  for (size_t i = 0; i < orders.size(); ++i) {
    const double a = orders[i];
    const double eps = rdp[i] - (std::log(delta) + std::log(a)) / (a - 1) +
                       std::log((a - 1) / a);
    if (std::isnan(eps)) continue;
    if (!any || eps < best.epsilon) {
      best = {eps, a};
      any = true;
    }
  }
  return best;
}

RdpAccountant::RdpAccountant(std::vector<double> orders)
    : orders_(std::move(orders)), rdp_(orders_.size(), 0.0) {}

absl::Status RdpAccountant::Step(double noise_multiplier, double sample_rate,
                                 int64_t steps) {
  absl::StatusOr<std::vector<double>> more =
      ComputeRdp(sample_rate, noise_multiplier, steps, orders_);
  if (!more.ok()) return more.status();
  for (size_t i = 0; i < rdp_.size(); ++i) rdp_[i] += (*more)[i];
  steps_ += steps;
  return absl::OkStatus();
}

absl::StatusOr<PrivacySpent> RdpAccountant::Spent(double delta) const {
  return GetPrivacySpent(orders_, rdp_, delta);
}

absl::StatusOr<PrivacySpent> RdpAccountant::SpentAfter(double noise_multiplier,
                                                       double sample_rate,
                                                       int64_t steps,
                                                       double delta) const {
  RdpAccountant next = *this;
  if (absl::Status s = next.Step(noise_multiplier, sample_rate, steps);
      !s.ok()) {
    return s;
  }
  return next.Spent(delta);
}

absl::Status RdpAccountant::Restore(std::vector<double> rdp, int64_t steps) {
  if (rdp.size() != orders_.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "accountant state has ", rdp.size(), " RDP values for ",
        orders_.size(), " orders"));
  }
  for (double r : rdp) {
    if (!(r >= 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("accountant state has an RDP value ", r, " < 0"));
    }
  }
  if (steps < 0) {
    return absl::InvalidArgumentError("accountant steps must be >= 0");
  }
  rdp_ = std::move(rdp);
  steps_ = steps;
  return absl::OkStatus();
}

}  // namespace continuum::federated
