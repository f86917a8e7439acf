// Validation of a model bundle (bundle.h, which includes this header): does
// the bundle describe a model this build can run? Each section of the
// bundle (spec, weights, manifest parameters, normalisation, schemas,
// thresholds, Fisher diagonal, warm-up inputs, reference statistics) has
// its own check; ValidateBundle runs them in that order and returns the
// first failure, e.g. "weights: tensor layers.0.weight has shape [3, 5];
// the manifest's spec implies [3, 4]".
//
// Plain C++ and protobuf: no LibTorch. Thread-safe: pure functions.
#ifndef CONTINUUM_LIB_MODEL_BUNDLE_VALIDATION_H_
#define CONTINUUM_LIB_MODEL_BUNDLE_VALIDATION_H_

#include "absl/status/status.h"
#include "continuum/internal/v1/model_bundle.pb.h"
#include "continuum/v1/common.pb.h"

namespace continuum::model {

// Bounds on the GRU forecaster's spec: the GRU's hidden size, time steps
// per window and per horizon, stacked layers, horizons, quantiles.
inline constexpr int kMaxForecasterHidden = 4096;
inline constexpr int kMaxForecasterSteps = 10000;
inline constexpr int kMaxForecasterLayers = 8;
inline constexpr int kMaxForecasterHorizons = 64;
inline constexpr int kMaxForecasterQuantiles = 99;

// Checks that the bundle describes a model this build can run:
// - format_version is kBundleFormatVersion; the family is known and
//   supported; input_dim, output_dim, hidden sizes, latent size, activation
//   and dropout are in range;
// - `weights` are exactly the parameters the spec implies (ExpectedParameters),
//   in order, with their shapes, data length = product of the shape, and no
//   NaN or infinity; `manifest.parameters`, when set, lists the same;
// - normalisation mean/std have input_dim entries (or none), std > 0;
//   target normalisation (regressors only) has output_dim entries (or
//   none);
// - the anomaly threshold, when set, is finite and >= 0;
// - each Fisher tensor names a parameter, has its shape, and is finite, >= 0;
// - warm-up inputs, when present, are [n, InputWidth(spec)], finite, and
//   manifest.warmup_rows = n;
// - input/output schemas and reference statistics, when set, agree with the
//   dimensions;
// - MODEL_FAMILY_TORCHSCRIPT: a module archive (a zip, as torch.jit.save
//   writes it); `manifest.parameters` lists the module's parameters (unique,
//   non-empty names) and `weights` holds exactly them; `initial_weights`,
//   when set, the same names and shapes; every trainable prefix matches a
//   parameter; no input normalisation (the module normalises its own
//   inputs). The other families hold neither a module nor initial weights.
//   Whether the archive loads and runs is Model::FromBundle's check (it
//   needs LibTorch).
// INVALID_ARGUMENT naming the field or tensor and the problem.
absl::Status ValidateBundle(const internal::v1::ModelBundle& bundle);

// The spec part of ValidateBundle: family known and supported, sizes,
// activation and dropout in range; for MODEL_FAMILY_TORCHSCRIPT the
// TorchScriptSpec (a task, a loss valid for it, the loss method named only
// with TORCHSCRIPT_LOSS_METHOD, trainable prefixes of 1 to 256 bytes and at
// most 64, an input shape of at most 8 entries >= 1 whose product is
// input_dim), and for the others no TorchScriptSpec. MODEL_FAMILY_GRU_FORECASTER:
// output_dim (the series forecast: the first output_dim features of each
// step) 1 to input_dim, at most one hidden size (the GRU's) up to
// kMaxForecasterHidden, sequence_length 0 (= 32) to kMaxForecasterSteps,
// num_layers 0 (= 1) to kMaxForecasterLayers, horizons strictly increasing
// in [1, kMaxForecasterSteps] (at most kMaxForecasterHorizons), quantiles
// strictly increasing in (0, 1) (at most kMaxForecasterQuantiles), no
// latent_dim; the activation is ignored (a GRU's gates are fixed).
absl::Status ValidateSpec(const v1::ModelSpec& spec);

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_BUNDLE_VALIDATION_H_
