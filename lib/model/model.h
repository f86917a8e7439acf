// A runnable model built from a bundle (lib/model/bundle.h).
//
// Plain C++: the implementation (mlp.cc) uses LibTorch, this interface does
// not, and no LibTorch exception crosses it (they become INTERNAL).
#ifndef CONTINUUM_LIB_MODEL_MODEL_H_
#define CONTINUUM_LIB_MODEL_MODEL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "continuum/internal/v1/model_bundle.pb.h"
#include "continuum/v1/common.pb.h"

namespace continuum::model {

// Families and what Forward returns per row:
// - MLP_CLASSIFIER: softmax probabilities, one per class.
// - MLP_REGRESSOR: the targets, de-normalised with the bundle's
//   target_normalization when it is set (y * std + mean), else raw.
// - AUTOENCODER: one value, the anomaly score: the mean squared error between
//   the normalised row and its reconstruction. A row is an anomaly when the
//   score exceeds manifest.thresholds.anomaly_threshold (IsAnomaly).
// - TORCHSCRIPT: a user's module (torchscript.h), as the family of its task:
//   the softmax of its logits (classification), its values (regression),
//   its score (anomaly score), always under the BLAS lock (one forward at a
//   time with the serial OpenBLAS).
// Inputs are normalised inside with manifest.normalization ((x - mean) / std;
// none when empty). Layers: linear, activation (spec.activation) after every
// linear layer but the last.
class Model {
 public:
  virtual ~Model();

  // Validates the bundle (ValidateBundle), builds the LibTorch modules and
  // copies the weights. Errors of ValidateBundle as they are; LibTorch
  // exceptions become INTERNAL.
  static absl::StatusOr<std::unique_ptr<Model>> FromBundle(
      const internal::v1::ModelBundle& bundle);

  // A bundle with fresh random weights for `manifest` (its spec must be
  // valid), for cold starts and `continuumctl model init`. Deterministic for
  // a seed: weights and biases uniform in +-1/sqrt(fan_in) (LibTorch's
  // default for linear layers). Fills what the manifest leaves unset:
  // format_version, the resolved spec (hidden sizes, activation, latent
  // size), identity normalisation (mean 0, std 1), parameters, input and
  // output schema shapes, create_time, and 8 warm-up rows drawn from N(0, 1)
  // in normalised space. FAILED_PRECONDITION for MODEL_FAMILY_TORCHSCRIPT
  // (a user's module is imported: torchscript_import.h).
  static absl::StatusOr<internal::v1::ModelBundle> InitBundle(
      const v1::ArtifactManifest& manifest, uint64_t seed);

  // Features per input row.
  virtual int input_dim() const = 0;
  // Values per output row (see the families above).
  virtual int output_dim() const = 0;

  // Runs `n` rows (`rows` holds n * input_dim floats, row-major) and
  // replaces `out` with n * output_dim floats: batches of fewer than
  // kDenseForwardMaxRows rows in plain C++ (dense_forward.h), larger ones
  // under torch::InferenceMode. The two agree up to float rounding.
  // Thread-safe: concurrent calls share only the read-only weights.
  // INVALID_ARGUMENT for n < 0 or a null `rows` with n > 0; INTERNAL if
  // LibTorch throws.
  virtual absl::Status Forward(const float* rows, int n,
                               std::vector<float>* out) const = 0;

  // The bundle the model was built from.
  virtual const internal::v1::ModelBundle& bundle() const = 0;

  // The autoencoder's threshold, if the bundle has one.
  std::optional<float> anomaly_threshold() const;
  // Whether an autoencoder score is an anomaly: score > threshold. False
  // without a threshold.
  bool IsAnomaly(float score) const;
};

// Which library Forward multiplies matrices with. kAuto: OpenBLAS, and
// when the serial OpenBLAS (not thread-safe, so behind a process-wide lock)
// is busy with another thread, oneDNN for batches of 32 rows or more, so
// that several workers use several cores (docs/architecture.md, "BLAS and
// threads").
enum class MatmulBackend { kAuto, kBlas, kOneDnn };

namespace model_internal {
// Testing and benchmark aid: forces every Forward in the process onto one
// backend (kOneDnn falls back to kBlas without oneDNN). kAuto restores the
// default.
void SetMatmulBackendForTest(MatmulBackend backend);

// Testing aid: FromBundle without ValidateBundle (each tensor's data length
// must still match its shape), so tests can prove that a LibTorch error at
// Forward comes back as INTERNAL rather than as an exception.
absl::StatusOr<std::unique_ptr<Model>> FromBundleUnvalidatedForTest(
    const internal::v1::ModelBundle& bundle);
}  // namespace model_internal

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_MODEL_H_
