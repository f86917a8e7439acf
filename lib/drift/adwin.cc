#include "lib/drift/adwin.h"

#include <atomic>
#include <cmath>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CONTINUUM_ADWIN_AVX 1
#endif

#include "absl/strings/str_cat.h"

namespace continuum::drift {

absl::Status AdwinOptions::Validate() const {
  if (!(delta > 0.0 && delta < 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "adwin: delta=", delta, " is out of range; allowed: 0 < delta < 1"));
  }
  if (clock < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "adwin: clock=", clock, " is out of range; allowed: clock >= 1"));
  }
  if (max_buckets < 1 || max_buckets > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("adwin: max_buckets=", max_buckets,
                     " is out of range; allowed: 1 <= max_buckets <= 4096"));
  }
  if (min_window_length < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("adwin: min_window_length=", min_window_length,
                     " is out of range; allowed: min_window_length >= 1"));
  }
  if (grace_period < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("adwin: grace_period=", grace_period,
                     " is out of range; allowed: grace_period >= 0"));
  }
  return absl::OkStatus();
}

namespace {

// Index of the first cut whose test holds (River's _evaluate_cut):
//   |u0/n0 - u1/n1| > sqrt(2 m vw dp) + 2/3 dp m,
//   m = 1/(n0 - min_length + 1) + 1/(n1 - min_length + 1),
// with vw = variance / width and dp = log(2 log(width) / delta); -1 if
// none. Each value is computed with the operations of River's expression in
// its order (no contraction into fused multiply-adds).
int FirstCutScalar(const double* n0, const double* n1, const double* u0,
                   const double* u1, int cuts, double min_length,
                   double variance_in_window, double delta_prime) {
  for (int c = 0; c < cuts; ++c) {
    const double delta_mean = (u0[c] / n0[c]) - (u1[c] / n1[c]);
    const double m_recip =
        (1.0 / (n0[c] - min_length + 1)) + (1.0 / (n1[c] - min_length + 1));
    const double epsilon =
        std::sqrt(2 * m_recip * variance_in_window * delta_prime) +
        2.0 / 3.0 * delta_prime * m_recip;
    if (std::fabs(delta_mean) > epsilon) return c;
  }
  return -1;
}

#ifdef CONTINUUM_ADWIN_AVX
// The same, four cuts at a time. `cuts` is padded to a multiple of 4 with
// cuts whose test cannot hold. Only "avx" is enabled (not "fma"), so the
// compiler cannot fuse a multiply and an add.
__attribute__((target("avx"))) int FirstCutAvx(
    const double* n0, const double* n1, const double* u0, const double* u1,
    int cuts, double min_length, double variance_in_window,
    double delta_prime) {
  const __m256d one = _mm256_set1_pd(1.0);
  const __m256d two = _mm256_set1_pd(2.0);
  const __m256d two_thirds = _mm256_set1_pd(2.0 / 3.0);
  const __m256d length = _mm256_set1_pd(min_length);
  const __m256d vw = _mm256_set1_pd(variance_in_window);
  const __m256d dp = _mm256_set1_pd(delta_prime);
  const __m256d sign = _mm256_set1_pd(-0.0);
  for (int c = 0; c < cuts; c += 4) {
    const __m256d a0 = _mm256_loadu_pd(n0 + c);
    const __m256d a1 = _mm256_loadu_pd(n1 + c);
    const __m256d b0 = _mm256_loadu_pd(u0 + c);
    const __m256d b1 = _mm256_loadu_pd(u1 + c);
    const __m256d delta_mean =
        _mm256_sub_pd(_mm256_div_pd(b0, a0), _mm256_div_pd(b1, a1));
    const __m256d m_recip = _mm256_add_pd(
        _mm256_div_pd(one, _mm256_add_pd(_mm256_sub_pd(a0, length), one)),
        _mm256_div_pd(one, _mm256_add_pd(_mm256_sub_pd(a1, length), one)));
    const __m256d root = _mm256_sqrt_pd(
        _mm256_mul_pd(_mm256_mul_pd(_mm256_mul_pd(two, m_recip), vw), dp));
    const __m256d epsilon = _mm256_add_pd(
        root, _mm256_mul_pd(_mm256_mul_pd(two_thirds, dp), m_recip));
    const __m256d holds =
        _mm256_cmp_pd(_mm256_andnot_pd(sign, delta_mean), epsilon, _CMP_GT_OQ);
    const int bits = _mm256_movemask_pd(holds);
    if (bits != 0) return c + __builtin_ctz(bits);
  }
  return -1;
}

bool CpuHasAvx() {
  static const bool has = __builtin_cpu_supports("avx");
  return has;
}
#endif

std::atomic<bool> allow_vector_instructions{true};

}  // namespace

void Adwin::AllowVectorInstructions(bool allow) {
  allow_vector_instructions.store(allow, std::memory_order_relaxed);
}

Adwin::Adwin(const AdwinOptions& options)
    : options_(options),
      stride_(options.max_buckets + 1),
      totals_(static_cast<size_t>(kMaxRows) * stride_, 0.0),
      variances_(static_cast<size_t>(kMaxRows) * stride_, 0.0) {
  // A pass tests at most every bucket; +4 for the padding of the AVX loop.
  const size_t cuts = static_cast<size_t>(kMaxRows) * stride_ + 4;
  cut_n0_.resize(cuts);
  cut_n1_.resize(cuts);
  cut_u0_.resize(cuts);
  cut_u1_.resize(cuts);
  for (int row = 0; row < kMaxRows; ++row) {
    inverse_sizes_[row] = std::ldexp(1.0, -row);
  }
  Reset();
}

void Adwin::Reset() {
  for (int& c : counts_) c = 0;
  for (int& h : heads_) h = 0;
  rows_ = 1;
  total_ = 0.0;
  variance_ = 0.0;
  width_ = 0.0;
  tick_ = 0;
  until_check_ = options_.clock;
  n_detections_ = 0;
  drift_detected_ = false;
}

std::vector<DetectorStatistic> Adwin::Statistics() const {
  return {{"width", width_},
          {"total", total_},
          {"variance", variance_},
          {"estimation", estimation()},
          {"n_detections", static_cast<double>(n_detections_)}};
}

inline void Adwin::InsertElement(double value) {
  const int slot = Slot(0, counts_[0]);
  totals_[slot] = value;
  variances_[slot] = 0.0;
  ++counts_[0];
  width_ += 1.0;
  double incremental_variance = 0.0;
  if (width_ > 1.0) {
    const double d = value - total_ / (width_ - 1.0);
    incremental_variance = (width_ - 1.0) * d * d / width_;
  }
  variance_ += incremental_variance;
  total_ += value;
  if (counts_[0] == stride_) CompressBuckets();
}

void Adwin::CompressBuckets() {
  const int max_buckets = options_.max_buckets;
  for (int row = 0; row < rows_ && counts_[row] == max_buckets + 1; ++row) {
    if (row + 1 == rows_) {
      if (rows_ == kMaxRows) return;  // 2^64 observations: unreachable
      counts_[rows_] = 0;
      heads_[rows_] = 0;
      ++rows_;
    }
    // Merge the two oldest buckets of the row into the next row.
    const int first = Slot(row, 0);
    const int second = Slot(row, 1);
    const double n1 = static_cast<double>(uint64_t{1} << row);
    // x / 2^row == x * 2^-row exactly (both are the correctly rounded
    // x * 2^-row), so River's division becomes a multiplication.
    const double inverse = inverse_sizes_[row];
    const double mu1 = totals_[first] * inverse;
    const double mu2 = totals_[second] * inverse;
    const double total12 = totals_[first] + totals_[second];
    const double temp = n1 * 0.5 * (mu1 - mu2) * (mu1 - mu2);
    const double v12 = variances_[first] + variances_[second] + temp;
    const int next = Slot(row + 1, counts_[row + 1]);
    totals_[next] = total12;
    variances_[next] = v12;
    ++counts_[row + 1];
    PopFront(row, 2);
    if (counts_[row + 1] <= max_buckets) break;
  }
}

double Adwin::DeleteElement() {
  const int last = rows_ - 1;
  const int oldest = Slot(last, 0);
  const double n = static_cast<double>(uint64_t{1} << last);
  const double u = totals_[oldest];
  const double mu = u / n;
  const double var = variances_[oldest];
  width_ -= n;
  total_ -= u;
  const double mu_window = total_ / width_;
  const double incremental_variance =
      var + n * width_ * (mu - mu_window) * (mu - mu_window) / (n + width_);
  variance_ -= incremental_variance;
  PopFront(last, 1);
  if (counts_[last] == 0) --rows_;
  return n;
}

inline bool Adwin::DetectChange() {
  ++tick_;
  // tick_ % clock == 0, without a division.
  if (--until_check_ != 0) return false;
  until_check_ = options_.clock;
  if (!(width_ > options_.grace_period)) return false;
  return TestCuts();
}

bool Adwin::TestCuts() {
  const double min_length = options_.min_window_length;
  bool change_detected = false;
  bool reduce_width = true;
  while (reduce_width) {
    reduce_width = false;
    // One pass over the cuts, oldest bucket first. River's loop tests the
    // cuts in order and stops at the first that holds; here the prefix sums
    // (the same additions in the same order) are gathered first, the tests
    // are then evaluated independently of each other (so that divisions and
    // square roots overlap, four per instruction with AVX), and the first
    // cut that holds is taken. The cut after the newest bucket (W1 empty) is
    // never tested, as in River.
    double n0 = 0.0;
    double n1 = width_;
    double u0 = 0.0;
    double u1 = total_;
    int cuts = 0;
    double* __restrict cut_n0 = cut_n0_.data();
    double* __restrict cut_n1 = cut_n1_.data();
    double* __restrict cut_u0 = cut_u0_.data();
    double* __restrict cut_u1 = cut_u1_.data();
    const double* __restrict totals = totals_.data();
    const int stride = stride_;
    for (int row = rows_ - 1; row >= 0; --row) {
      const double size = static_cast<double>(uint64_t{1} << row);
      const int count = row == 0 ? counts_[0] - 1 : counts_[row];
      const double* bucket_totals = totals + row * stride;
      int slot = heads_[row];
      for (int k = 0; k < count; ++k) {
        const double t = bucket_totals[slot];
        if (++slot == stride) slot = 0;
        n0 += size;
        n1 -= size;
        u0 += t;
        u1 -= t;
        if (n1 >= min_length && n0 >= min_length) {
          cut_n0[cuts] = n0;
          cut_n1[cuts] = n1;
          cut_u0[cuts] = u0;
          cut_u1[cuts] = u1;
          ++cuts;
        }
      }
    }
    if (cuts == 0) break;
    // _evaluate_cut's terms that do not depend on the cut.
    const double delta_prime = std::log(2 * std::log(width_) / options_.delta);
    const double variance_in_window = variance_ / width_;
    int first;
#ifdef CONTINUUM_ADWIN_AVX
    if (CpuHasAvx() &&
        allow_vector_instructions.load(std::memory_order_relaxed)) {
      const int padded = (cuts + 3) & ~3;
      for (int c = cuts; c < padded; ++c) {
        cut_n0_[c] = cut_n1_[c] = 1e300;  // mean difference 0: never holds
        cut_u0_[c] = cut_u1_[c] = 0.0;
      }
      first = FirstCutAvx(cut_n0_.data(), cut_n1_.data(), cut_u0_.data(),
                          cut_u1_.data(), padded, min_length,
                          variance_in_window, delta_prime);
    } else {
      first = FirstCutScalar(cut_n0_.data(), cut_n1_.data(), cut_u0_.data(),
                             cut_u1_.data(), cuts, min_length,
                             variance_in_window, delta_prime);
    }
#else
    first = FirstCutScalar(cut_n0_.data(), cut_n1_.data(), cut_u0_.data(),
                           cut_u1_.data(), cuts, min_length, variance_in_window,
                           delta_prime);
#endif
    if (first >= 0) {
      reduce_width = true;
      change_detected = true;
      DeleteElement();
    }
  }
  if (change_detected) ++n_detections_;
  return change_detected;
}

void Adwin::Update(double x) {
  if (drift_detected_) Reset();
  InsertElement(x);
  drift_detected_ = DetectChange();
}

}  // namespace continuum::drift
