// Bit-exact C++ versions of the two random generators River's drift code and
// its published examples use, so that River's expected detection points can
// be reproduced on the same input streams:
//
//  - PythonRandom: CPython's `random.Random(seed)` (MT19937 seeded with
//    init_by_array). KSWIN draws its sample with it (`Random(seed).sample`),
//    and River's docstring examples build their streams with
//    `random.Random(seed).choices(...)`.
//  - NumpyRandomState: numpy's legacy `np.random.seed(seed)` stream
//    (MT19937 seeded with init_genrand) with `randint`, `binomial` (the
//    inversion branch) and `normal`, as River's test suite uses them.
//
// Both follow the generators' published algorithms (Matsumoto & Nishimura's
// mt19937ar.c; CPython's Lib/random.py; numpy's legacy distributions).
#ifndef CONTINUUM_LIB_DRIFT_PYTHON_RANDOM_H_
#define CONTINUUM_LIB_DRIFT_PYTHON_RANDOM_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace continuum::drift {

// The 32-bit Mersenne Twister, with both of its seeding procedures.
class Mt19937 {
 public:
  // init_genrand(seed): numpy's legacy `np.random.seed(int)`.
  void InitGenrand(uint32_t seed);
  // init_by_array(key): CPython's `random.seed(int)` (key = 32-bit words of
  // |seed|, least significant first).
  void InitByArray(absl::Span<const uint32_t> key);
  // genrand_uint32.
  uint32_t Next();
  // 53-bit double in [0, 1): (a * 2^26 + b) / 2^53 with a = Next() >> 5 and
  // b = Next() >> 6. CPython's random() and numpy's legacy random_sample.
  double NextDouble();

 private:
  static constexpr int kN = 624;
  std::array<uint32_t, kN> state_{};
  int index_ = kN + 1;
};

// CPython's random.Random, for non-negative integer seeds.
class PythonRandom {
 public:
  explicit PythonRandom(uint64_t seed);

  // random.random().
  double Random() { return mt_.NextDouble(); }
  // random.getrandbits(k) for 1 <= k <= 32.
  uint32_t GetRandBits(int k);
  // random._randbelow(n) (the getrandbits method), 1 <= n < 2^32.
  uint32_t RandBelow(uint32_t n);
  // random.sample(range(n), k) into `out` (resized to k), 0 <= k <= n.
  void SampleRange(int n, int k, std::vector<int>* out);
  // random.choices(range(n), k=1)[0] (no weights): floor(random() * n).
  int Choice(int n);
  // random.choices(range(len(weights)), weights=weights, k=1)[0].
  int WeightedChoice(absl::Span<const double> weights);

 private:
  Mt19937 mt_;
  std::vector<int> pool_;
};

// numpy's legacy global RandomState after np.random.seed(seed).
class NumpyRandomState {
 public:
  explicit NumpyRandomState(uint32_t seed);

  // np.random.randint(low, high) for one value (masked rejection sampling,
  // as the legacy generator does), high - low <= 2^32.
  int64_t RandInt(int64_t low, int64_t high);
  // np.random.random_sample().
  double RandomSample() { return mt_.NextDouble(); }
  // np.random.binomial(n, p) for one value. Only the inversion branch
  // (min(p, 1 - p) * n <= 30) is implemented; other calls return -1.
  int64_t Binomial(int64_t n, double p);
  // np.random.normal(loc, scale) for one value (polar Box-Muller with the
  // cached second deviate).
  double Normal(double loc, double scale);

 private:
  Mt19937 mt_;
  bool has_gauss_ = false;
  double gauss_ = 0.0;
};

}  // namespace continuum::drift

#endif  // CONTINUUM_LIB_DRIFT_PYTHON_RANDOM_H_
