// A loaded, warmed-up model version: what the inference pod routes requests
// to. Held by std::shared_ptr<const Servable>: a request keeps the version it
// started on alive until it finishes, and a version swapped out is freed
// when the last request holding it lets go.
#ifndef CONTINUUM_SERVICES_INFERENCE_SERVABLE_H_
#define CONTINUUM_SERVICES_INFERENCE_SERVABLE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>
#include <string>

#include "absl/time/time.h"
#include "continuum/v1/common.pb.h"
#include "lib/model/model.h"

namespace continuum::inference {

struct Servable {
  std::string model;
  int64_t version = 0;
  // Lowercase hex SHA-256 of the artifact it was loaded from.
  std::string sha256;
  v1::ModelFamily family = v1::MODEL_FAMILY_UNSPECIFIED;
  std::unique_ptr<model::Model> runner;
  // The per-row shapes of a request's inputs and of the outputs (the
  // manifest's schemas: [input_dim] and [output width], or a forecaster's
  // [sequence_length, input_dim] and [horizons, series, quantiles]).
  // Empty = [input_dim()] and [output_dim()].
  std::vector<int64_t> input_shape, output_shape;
  // Forecasters: the index of the point forecast (the quantile nearest 0.5)
  // among a row's quantiles; its value at the first horizon and series is
  // the row's score.
  int point_quantile = 0;
  // When it finished warm-up.
  absl::Time available_time;
  // Rows answered (shadow rows included for a shadow version).
  mutable std::atomic<int64_t> rows_served{0};

  int input_dim() const { return runner->input_dim(); }
  int output_dim() const { return runner->output_dim(); }
};

using ServableHandle = std::shared_ptr<const Servable>;

}  // namespace continuum::inference

#endif  // CONTINUUM_SERVICES_INFERENCE_SERVABLE_H_
