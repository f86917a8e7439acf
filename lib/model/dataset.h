// A data set in memory for training and evaluation: dense float rows and
// their targets. Plain C++.
#ifndef CONTINUUM_LIB_MODEL_DATASET_H_
#define CONTINUUM_LIB_MODEL_DATASET_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "continuum/v1/common.pb.h"

namespace continuum::model {

// Rows of `input_dim` raw (not normalised) values and their targets:
// - MLP_CLASSIFIER: one class index per row, as a float (0.0f, 1.0f, ...);
// - MLP_REGRESSOR: output_dim raw target values per row, row-major;
// - AUTOENCODER: empty (every row benign), or one label per row, 0 benign
//   and 1 anomaly. Training ignores them (autoencoders learn to reconstruct
//   the rows); evaluation and threshold calibration use them.
// - GRU_FORECASTER: a row is a window of sequence_length time steps of the
//   spec's input_dim features, oldest first (so input_dim here is
//   sequence_length x the spec's); its targets are the actual values of the
//   output_dim series at each horizon, horizon-major (horizons x output_dim
//   per row), raw (forecast_windows.h builds both from series).
struct Dataset {
  int input_dim = 0;
  // size() * input_dim features, row-major.
  std::vector<float> features;
  std::vector<float> targets;

  int64_t size() const {
    return input_dim > 0 ? static_cast<int64_t>(features.size()) / input_dim
                         : 0;
  }
  // Targets per row for `spec`'s family (see above; 1 for autoencoder
  // labels).
  static int TargetWidth(const v1::ModelSpec& spec);
};

// Checks `data` against a model of `spec` (resolved, see ResolveSpec):
// input_dim equals InputWidth(spec), features hold whole rows, every feature is
// finite, the targets have the family's length, class indices are integers
// in [0, output_dim), regression targets are finite, autoencoder labels are
// 0 or 1. INVALID_ARGUMENT naming `name` (e.g. "train"), the row and the
// problem. An empty data set passes: callers that need rows say so.
// `check_features` false skips the scan of every feature for NaN and
// infinity (for hot paths that detect a non-finite loss instead).
absl::Status CheckDataset(const Dataset& data, const v1::ModelSpec& spec,
                          absl::string_view name, bool check_features = true);

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_DATASET_H_
