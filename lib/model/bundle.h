// The model artifact bundle: one self-describing file holding everything a
// model version needs to serve and to be trained further.
//
//   "CTMBNDL1"                        8 bytes, the magic
//   continuum.internal.v1.ModelBundle serialized (deterministic)
//   CRC-32C of all bytes before it    4 bytes, little-endian, unmasked
//
// The bundle (protos/continuum/internal/v1/model_bundle.proto) holds the
// manifest (with the input normalisation and the thresholds), the weights as
// named float tensors, the regressor's target statistics, the drift
// reference statistics, the EWC Fisher diagonal and the warm-up inputs.
//
// Plain C++ and protobuf: no LibTorch here.
#ifndef CONTINUUM_LIB_MODEL_BUNDLE_H_
#define CONTINUUM_LIB_MODEL_BUNDLE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "continuum/internal/v1/model_bundle.pb.h"
#include "continuum/v1/common.pb.h"
#include "lib/model/bundle_validation.h"
#include "lib/store/file_system.h"

namespace continuum::model {

// The first 8 bytes of every bundle file.
inline constexpr absl::string_view kBundleMagic = "CTMBNDL1";
// The bundle format this code reads and writes (manifest.format_version).
inline constexpr int kBundleFormatVersion = 1;

// Serializes `bundle` into the file format above. Does not validate: a
// caller that must only write good bundles calls ValidateBundle first.
// INVALID_ARGUMENT if the message cannot be serialized (over 2 GiB).
absl::StatusOr<std::string> SerializeBundle(
    const internal::v1::ModelBundle& bundle);

// Parses the file format above. DATA_LOSS for a file too short, a bad
// magic, a CRC mismatch or an unparsable message. Does not validate the
// content: see ValidateBundle.
absl::StatusOr<internal::v1::ModelBundle> ParseBundle(absl::string_view bytes);

// Reads and parses the bundle file `path` (errors as ParseBundle, prefixed
// with the path; NOT_FOUND if missing).
absl::StatusOr<internal::v1::ModelBundle> ReadBundleFile(
    const std::string& path,
    store::FileSystem* fs = store::DefaultFileSystem());

// Serializes `bundle` and replaces `path` atomically (temporary file, fsync,
// rename): a crash leaves the old file or the new one, never a mix.
absl::Status WriteBundleFile(
    const std::string& path, const internal::v1::ModelBundle& bundle,
    store::FileSystem* fs = store::DefaultFileSystem());

// ValidateBundle and ValidateSpec are declared in bundle_validation.h,
// included here.

// The spec with its defaults resolved: hidden_sizes empty -> [256],
// activation unset -> RELU, autoencoder latent_dim 0 -> max(2, input_dim/8).
// The GRU forecaster: hidden_sizes empty -> [64] (the GRU's hidden size),
// sequence_length 0 -> 32, num_layers 0 -> 1, horizons empty -> [1],
// quantiles empty -> [0.1, 0.5, 0.9].
// A TorchScript spec has no layers to resolve: its input_shape empty ->
// [input_dim], loss unset -> the task's.
v1::ModelSpec ResolveSpec(const v1::ModelSpec& spec);

// The built-in family whose data, outputs, loss and metrics a model has:
// its own family, or for MODEL_FAMILY_TORCHSCRIPT the family of its task
// (classification -> MLP_CLASSIFIER, regression -> MLP_REGRESSOR, anomaly
// score -> AUTOENCODER; UNSPECIFIED for another task). Code that asks what
// a model's rows, targets and outputs are asks this; code that builds the
// network asks spec.family().
v1::ModelFamily TaskFamily(const v1::ModelSpec& spec);

// The (in, out) widths of the linear layers the (resolved) spec implies,
// input side first. MLPs: input_dim -> hidden... -> output_dim. Autoencoder:
// input_dim -> hidden... -> latent_dim -> reversed hidden... -> input_dim.
std::vector<std::pair<int64_t, int64_t>> LayerWidths(const v1::ModelSpec& spec);

// The parameters the spec implies (the built-in families; a TorchScript
// module's are its manifest's `parameters`, see ManifestParameters), named
// as LibTorch names them. MLPs and the autoencoder: a ModuleList `layers`
// of linear layers, `layers.{i}.weight` [out, in] and `layers.{i}.bias`
// [out], layer by layer. The GRU forecaster: torch::nn::GRU's parameters in
// a module `gru`, per layer k `gru.weight_ih_l{k}` [3H, in],
// `gru.weight_hh_l{k}` [3H, H], `gru.bias_ih_l{k}` [3H], `gru.bias_hh_l{k}`
// [3H] (gates r, z, n as PyTorch orders them), then the linear head
// `head.weight` [horizons x series x quantiles, H] and `head.bias`.
std::vector<v1::ParameterInfo> ExpectedParameters(const v1::ModelSpec& spec);

// The parameters a bundle with this manifest must hold, in order:
// ExpectedParameters of its spec, or for MODEL_FAMILY_TORCHSCRIPT the
// manifest's `parameters` (the module's, as import listed them).
std::vector<v1::ParameterInfo> ManifestParameters(
    const v1::ArtifactManifest& manifest);

// The width of a row of Forward's output: classes (classifier), targets
// (regressor), 1 (autoencoder: the anomaly score), horizons x series x
// quantiles (forecaster); a TorchScript module's by its task (TaskFamily).
int OutputWidth(const v1::ModelSpec& spec);

// The values of one input row of Forward, of a Dataset and of a Predict
// row: input_dim, or for the forecaster its window, sequence_length x
// input_dim (time steps, oldest first, each input_dim features). Resolves
// the spec's defaults.
int64_t InputWidth(const v1::ModelSpec& spec);

// The per-row shapes of a (resolved) spec's inputs and outputs, as the
// manifest's schemas hold them: [input_dim] and [output width], or for the
// forecaster [sequence_length, input_dim] and [horizons, series, quantiles].
std::vector<int64_t> InputShape(const v1::ModelSpec& spec);
std::vector<int64_t> OutputShape(const v1::ModelSpec& spec);

// Lower-case family name ("mlp_classifier", ...) and back; ParseFamily is
// INVALID_ARGUMENT for an unknown name.
std::string FamilyName(v1::ModelFamily family);
absl::StatusOr<v1::ModelFamily> ParseFamily(absl::string_view name);

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_BUNDLE_H_
