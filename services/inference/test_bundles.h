// Model bundles for tests of the inference pod (the model manager, the
// registry watcher).
#ifndef CONTINUUM_SERVICES_INFERENCE_TEST_BUNDLES_H_
#define CONTINUUM_SERVICES_INFERENCE_TEST_BUNDLES_H_

#include <cstdint>
#include <string>

#include "continuum/internal/v1/model_bundle.pb.h"

namespace continuum::inference {

// A small MLP classifier of model "m": 4 inputs, 3 classes, one hidden
// layer of 8, weights drawn from `seed`. A failure to build it fails the
// test (gtest).
internal::v1::ModelBundle ClassifierBundle(uint64_t seed);

// `bundle` serialized, as an artifact. A failure fails the test (gtest).
std::string SerializedBundle(const internal::v1::ModelBundle& bundle);

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_TEST_BUNDLES_H_
