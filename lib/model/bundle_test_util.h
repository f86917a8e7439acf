// Test-only: a small valid bundle for the tests of bundle.h and
// bundle_validation.h. Part of the test target model_bundle_test.
#ifndef CONTINUUM_LIB_MODEL_BUNDLE_TEST_UTIL_H_
#define CONTINUUM_LIB_MODEL_BUNDLE_TEST_UTIL_H_

#include "continuum/internal/v1/model_bundle.pb.h"

namespace continuum::model::bundle_testing {

// A valid 4-3-2 classifier (Model::InitBundle, seed 7) with warm-up rows, a
// Fisher diagonal, reference statistics, a decision threshold and
// hyper-parameters.
internal::v1::ModelBundle TinyBundle();

}  // namespace continuum::model::bundle_testing

#endif  // CONTINUUM_LIB_MODEL_BUNDLE_TEST_UTIL_H_
