// Test-only helpers of lib/drift's tests: samples and a relative
// comparison. Header-only; include from *_test.cc files only.
#ifndef CONTINUUM_LIB_DRIFT_TEST_SAMPLES_H_
#define CONTINUUM_LIB_DRIFT_TEST_SAMPLES_H_

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "lib/drift/python_random.h"

namespace continuum::drift {

// `n` draws of numpy's RandomState.normal(loc, scale).
inline std::vector<double> Normals(NumpyRandomState& rng, double loc,
                                   double scale, int n) {
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(rng.Normal(loc, scale));
  return v;
}

// from, from + 1, ..., from + n - 1.
inline std::vector<double> Range(double from, int n) {
  std::vector<double> v(n);
  std::iota(v.begin(), v.end(), from);
  return v;
}

inline void ExpectRelative(double actual, double expected, double tolerance) {
  EXPECT_NEAR(actual, expected, tolerance * std::fabs(expected))
      << "expected " << expected;
}

}  // namespace continuum::drift

#endif  // CONTINUUM_LIB_DRIFT_TEST_SAMPLES_H_
