// The forward pass of a multi-layer perceptron over a few rows, in plain
// C++: what Model::Forward (mlp.cc) runs for batches of fewer than
// kDenseForwardMaxRows rows instead of LibTorch.
//
// Why: at one row the pass is a matrix-vector product per layer, bound by
// reading the weights (784 x 256 floats, 800 KB, for Fashion-MNIST's
// shape). LibTorch adds a dispatch, tensor allocations and a trip through
// the BLAS per operation, and OpenBLAS's sgemm packs the whole weight
// matrix on every call: one row took 65 us by sgemm, 16 us by sgemv (in a
// tight loop, caches warm) and 11-15 us here. Inside a gRPC handler, where
// the caches are cold, LibTorch's pass added 58 us to a bare echo's p50
// and this loop 14 us. Larger batches amortise all of it and stay on
// LibTorch.
//
// Same results as LibTorch's pass up to float rounding (sums are taken in
// another order: about 1e-7 relative). No BLAS, so no BLAS lock
// (blas_lock.h): small batches of several threads run at once.
//
// Thread safety: immutable after Create; Run is safe to call concurrently.
// The weights are not owned and must outlive the object (MlpModel keeps
// them in its LibTorch module).
#ifndef CONTINUUM_LIB_MODEL_DENSE_FORWARD_H_
#define CONTINUUM_LIB_MODEL_DENSE_FORWARD_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "continuum/v1/common.pb.h"

namespace continuum::model {

// Batches of fewer rows than this take DenseForward in Model::Forward.
// From 5 rows of a 784-256-10 network one sgemm (weights read once for
// every row) is faster than this loop.
inline constexpr int kDenseForwardMaxRows = 5;

// One linear layer: out = weight * in + bias.
struct DenseLayer {
  // [out, in], row-major.
  const float* weight = nullptr;
  // [out].
  const float* bias = nullptr;
  int in = 0;
  int out = 0;
};

struct DenseForwardOptions {
  // In order; every layer but the last is followed by `activation`.
  std::vector<DenseLayer> layers;
  // Unset or unknown is ReLU (as ResolveSpec makes it).
  v1::Activation activation = v1::ACTIVATION_UNSPECIFIED;
  // MLP_CLASSIFIER (softmax), MLP_REGRESSOR (de-normalised with
  // target_mean/target_std when set) or AUTOENCODER (mean squared error
  // between the normalised row and the last layer's output).
  v1::ModelFamily family = v1::MODEL_FAMILY_UNSPECIFIED;
  // Input normalisation (x - mean) / std: both empty or both of the first
  // layer's width.
  absl::Span<const float> mean, std;
  // Normalised values are clamped to [-clip, clip]; 0 = unbounded.
  float clip = 0;
  // The regressor's target de-normalisation y * std + mean: both empty or
  // both of the last layer's width.
  absl::Span<const float> target_mean, target_std;
};

class DenseForward {
 public:
  // INVALID_ARGUMENT when the shapes disagree (a layer's input width is not
  // the previous one's output width, normalisation of another width, an
  // autoencoder whose output is not its input's width, no layers, null
  // weights) or the family is not one of the three above. Model::Forward
  // then keeps LibTorch's pass, which reports such errors itself.
  static absl::StatusOr<DenseForward> Create(DenseForwardOptions options);

  // Values per output row: the last layer's width, or 1 (autoencoder).
  int output_dim() const { return output_dim_; }
  int input_dim() const { return options_.layers.front().in; }

  // Runs `n` rows (n * input_dim floats, row-major; n >= 1) and replaces
  // `out` with n * output_dim floats. Any n works; it is fast for small n.
  void Run(const float* rows, int n, std::vector<float>* out) const;

 private:
  explicit DenseForward(DenseForwardOptions options);

  // One row `x` normalised (and bounded) into `z` (input_dim() values).
  void Normalize(const float* x, float* z) const;

  DenseForwardOptions options_;
  int output_dim_ = 0;
  int max_width_ = 0;
};

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_DENSE_FORWARD_H_
