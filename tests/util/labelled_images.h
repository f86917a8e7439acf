// Fashion-MNIST images into a real collector, for the end-to-end tests that
// train on them.
#ifndef CONTINUUM_TESTS_UTIL_LABELLED_IMAGES_H_
#define CONTINUUM_TESTS_UTIL_LABELLED_IMAGES_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "continuum/v1/collector.grpc.pb.h"
#include "lib/data/fashion_mnist.h"

namespace continuum::testing {

// Creates data set `dataset` for Fashion-MNIST images: 784 features,
// class labels 0 to 9 (a 30 s deadline). The call's status.
absl::Status CreateImageDataset(v1::CollectorService::Stub& collector,
                                const std::string& dataset);

// Ingests images [first, first + count) of `images` into `dataset` as
// labelled records with ids `id_prefix` + index and event times `base` +
// (index - first) milliseconds, in IngestBatch calls of 500 rows (60 s
// deadline each). The first failed call's status, naming the rows.
absl::Status IngestLabelledImages(v1::CollectorService::Stub& collector,
                                  const std::string& dataset,
                                  const data::LabeledImages& images,
                                  int64_t first, int64_t count,
                                  absl::Time base,
                                  const std::string& id_prefix);

}  // namespace continuum::testing

#endif  // CONTINUUM_TESTS_UTIL_LABELLED_IMAGES_H_
