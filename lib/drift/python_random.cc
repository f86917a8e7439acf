#include "lib/drift/python_random.h"

#include <algorithm>
#include <cmath>

namespace continuum::drift {
namespace {

constexpr int kM = 397;
constexpr uint32_t kMatrixA = 0x9908b0dfu;
constexpr uint32_t kUpperMask = 0x80000000u;
constexpr uint32_t kLowerMask = 0x7fffffffu;

}  // namespace

void Mt19937::InitGenrand(uint32_t seed) {
  state_[0] = seed;
  for (int i = 1; i < kN; ++i) {
    const uint32_t prev = state_[i - 1];
    state_[i] = 1812433253u * (prev ^ (prev >> 30)) + static_cast<uint32_t>(i);
  }
  index_ = kN;
}

void Mt19937::InitByArray(absl::Span<const uint32_t> key) {
  InitGenrand(19650218u);
  int i = 1;
  size_t j = 0;
  const size_t length = key.empty() ? 1 : key.size();
  for (size_t k = std::max<size_t>(kN, length); k > 0; --k) {
    const uint32_t prev = state_[i - 1];
    const uint32_t word = key.empty() ? 0u : key[j];
    state_[i] = (state_[i] ^ ((prev ^ (prev >> 30)) * 1664525u)) + word +
                static_cast<uint32_t>(j);
    ++i;
    ++j;
    if (i >= kN) {
      state_[0] = state_[kN - 1];
      i = 1;
    }
    if (j >= length) j = 0;
  }
  for (int k = kN - 1; k > 0; --k) {
    const uint32_t prev = state_[i - 1];
    state_[i] = (state_[i] ^ ((prev ^ (prev >> 30)) * 1566083941u)) -
                static_cast<uint32_t>(i);
    ++i;
    if (i >= kN) {
      state_[0] = state_[kN - 1];
      i = 1;
    }
  }
  state_[0] = 0x80000000u;
  index_ = kN;
}

uint32_t Mt19937::Next() {
  if (index_ >= kN) {
    if (index_ == kN + 1) InitGenrand(5489u);
    auto twist = [](uint32_t a, uint32_t b, uint32_t m) {
      const uint32_t y = (a & kUpperMask) | (b & kLowerMask);
      return m ^ (y >> 1) ^ ((y & 1u) ? kMatrixA : 0u);
    };
    int k = 0;
    for (; k < kN - kM; ++k) {
      state_[k] = twist(state_[k], state_[k + 1], state_[k + kM]);
    }
    for (; k < kN - 1; ++k) {
      state_[k] = twist(state_[k], state_[k + 1], state_[k + kM - kN]);
    }
    state_[kN - 1] = twist(state_[kN - 1], state_[0], state_[kM - 1]);
    index_ = 0;
  }
  uint32_t y = state_[index_++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= y >> 18;
  return y;
}

double Mt19937::NextDouble() {
  const uint32_t a = Next() >> 5;
  const uint32_t b = Next() >> 6;
  return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

PythonRandom::PythonRandom(uint64_t seed) {
  uint32_t key[2] = {static_cast<uint32_t>(seed),
                     static_cast<uint32_t>(seed >> 32)};
  mt_.InitByArray(absl::MakeConstSpan(key, (seed >> 32) != 0 ? 2 : 1));
}

uint32_t PythonRandom::GetRandBits(int k) { return mt_.Next() >> (32 - k); }

uint32_t PythonRandom::RandBelow(uint32_t n) {
  int k = 0;  // n.bit_length()
  for (uint32_t v = n; v != 0; v >>= 1) ++k;
  uint32_t r = GetRandBits(k);
  while (r >= n) r = GetRandBits(k);
  return r;
}

void PythonRandom::SampleRange(int n, int k, std::vector<int>* out) {
  out->resize(k);
  // CPython switches from a pool to a set of selections when the population
  // is larger than the set would be; both give the same values only for the
  // branch actually taken, so the size rule is reproduced exactly.
  int64_t setsize = 21;
  if (k > 5) {
    setsize += static_cast<int64_t>(
        std::pow(4.0, std::ceil(std::log(k * 3.0) / std::log(4.0))));
  }
  if (n <= setsize) {
    pool_.resize(n);
    for (int i = 0; i < n; ++i) pool_[i] = i;
    for (int i = 0; i < k; ++i) {
      const int j = static_cast<int>(RandBelow(static_cast<uint32_t>(n - i)));
      (*out)[i] = pool_[j];
      pool_[j] = pool_[n - i - 1];
    }
    return;
  }
  std::vector<bool> selected(n, false);
  for (int i = 0; i < k; ++i) {
    int j = static_cast<int>(RandBelow(static_cast<uint32_t>(n)));
    while (selected[j])
      j = static_cast<int>(RandBelow(static_cast<uint32_t>(n)));
    selected[j] = true;
    (*out)[i] = j;
  }
}

int PythonRandom::Choice(int n) {
  return static_cast<int>(std::floor(Random() * static_cast<double>(n)));
}

int PythonRandom::WeightedChoice(absl::Span<const double> weights) {
  // cum_weights = accumulate(weights); bisect_right(cum_weights,
  // random() * total, 0, n - 1).
  std::vector<double> cumulative(weights.size());
  double sum = 0.0;
  for (size_t i = 0; i < weights.size(); ++i) {
    sum += weights[i];
    cumulative[i] = sum;
  }
  const double total = cumulative.back() + 0.0;
  const double x = Random() * total;
  const auto hi = cumulative.begin() + (cumulative.size() - 1);
  return static_cast<int>(std::upper_bound(cumulative.begin(), hi, x) -
                          cumulative.begin());
}

NumpyRandomState::NumpyRandomState(uint32_t seed) { mt_.InitGenrand(seed); }

int64_t NumpyRandomState::RandInt(int64_t low, int64_t high) {
  const uint64_t range = static_cast<uint64_t>(high - 1 - low);
  if (range == 0) return low;
  if (range == 0xffffffffu) return low + mt_.Next();
  uint64_t mask = range;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  uint32_t value;
  while ((value = mt_.Next() & static_cast<uint32_t>(mask)) > range) {
  }
  return low + value;
}

int64_t NumpyRandomState::Binomial(int64_t n, double p) {
  if (n == 0 || p == 0.0) return 0;
  auto inversion = [this](int64_t trials, double prob) -> int64_t {
    const double q = 1.0 - prob;
    const double qn = std::exp(static_cast<double>(trials) * std::log(q));
    const double np = static_cast<double>(trials) * prob;
    const auto bound = static_cast<int64_t>(std::min(
        static_cast<double>(trials), np + 10.0 * std::sqrt(np * q + 1)));
    int64_t x = 0;
    double px = qn;
    double u = mt_.NextDouble();
    while (u > px) {
      ++x;
      if (x > bound) {
        x = 0;
        px = qn;
        u = mt_.NextDouble();
      } else {
        u -= px;
        px = (static_cast<double>(trials - x + 1) * prob * px) /
             (static_cast<double>(x) * q);
      }
    }
    return x;
  };
  if (p <= 0.5) {
    if (p * static_cast<double>(n) <= 30.0) return inversion(n, p);
    return -1;
  }
  const double q = 1.0 - p;
  if (q * static_cast<double>(n) <= 30.0) return n - inversion(n, q);
  return -1;
}

double NumpyRandomState::Normal(double loc, double scale) {
  double gauss;
  if (has_gauss_) {
    has_gauss_ = false;
    gauss = gauss_;
  } else {
    double x1, x2, r2;
    do {
      x1 = 2.0 * mt_.NextDouble() - 1.0;
      x2 = 2.0 * mt_.NextDouble() - 1.0;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    const double f = std::sqrt(-2.0 * std::log(r2) / r2);
    gauss_ = f * x1;
    has_gauss_ = true;
    gauss = f * x2;
  }
  return loc + scale * gauss;
}

}  // namespace continuum::drift
