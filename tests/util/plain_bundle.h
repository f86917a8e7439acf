// Test-only: valid model bundles made without LibTorch, for the tests (and
// benchmarks) of services that store or move artifacts rather than run
// them (the registry's artifact checks accept only bundles). The weights
// are a deterministic function of `seed`, so bundles of different seeds
// have different bytes (and digests).
#ifndef CONTINUUM_TESTS_UTIL_PLAIN_BUNDLE_H_
#define CONTINUUM_TESTS_UTIL_PLAIN_BUNDLE_H_

#include <cstdint>
#include <string>

#include "continuum/v1/common.pb.h"

namespace continuum::testing {

// The serialized bundle (lib/model/bundle.h) of `spec`, whose family and
// sizes must be valid (ValidateBundle accepts the result): every parameter
// ExpectedParameters lists, values in [-0.1, 0.1].
std::string PlainBundleBytes(const v1::ModelSpec& spec, uint32_t seed = 1);

// A classifier of `inputs` features and `classes` classes with one hidden
// layer of `hidden`.
std::string PlainClassifierBytes(int inputs, int classes, int hidden = 8,
                                 uint32_t seed = 1);

}  // namespace continuum::testing

#endif  // CONTINUUM_TESTS_UTIL_PLAIN_BUNDLE_H_
