// Input normalisation of a model: fitting it to data, and moving a trained
// network from one normalisation to another without changing what it
// computes. Plain C++ over the bundle's tensors (no LibTorch).
//
// A network sees z = clamp((x - mean) / std, -clip, clip). Two safeguards
// keep a feature that was nearly constant in the data the statistics were
// fitted on (Fashion-MNIST's border pixels: std about 0.001) from blowing
// up into inputs of about 1000 when it later moves:
//   - a floor on each standard deviation: at least a tenth of the smaller
//     of the feature's own range and the median standard deviation of all
//     features (so a genuinely small-scale feature keeps its scale, and a
//     feature constant but for rare values is not divided by ~0); a
//     deviation still under 1e-6 (a constant feature) is 1;
//   - a bound on the normalised values, |z| <= 5 (kNormalizedClip).
//
// A run that starts from a parent version and wants new statistics (the
// trainer's NORMALIZATION_POLICY_REFIT) rewrites the first layer, and an
// autoencoder's last layer, with Renormalize: with s, m the old and s', m'
// the new deviations and means,
//   W' = W diag(s' / s),   b' = b + W ((m' - m) / s)
// and for the autoencoder's reconstruction (it reconstructs z)
//   W_L' = diag(s / s') W_L,   b_L' = (s b_L + m - m') / s'.
// The network then computes exactly the parent's function on every row
// that neither normalisation clips (the autoencoder's anomaly score is a
// squared error in normalised space and changes scale: its threshold is
// calibrated again after training). The Fisher diagonal of those layers is
// rescaled alike, so EWC anchors the same function.
#ifndef CONTINUUM_LIB_MODEL_NORMALIZATION_H_
#define CONTINUUM_LIB_MODEL_NORMALIZATION_H_

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "continuum/internal/v1/model_bundle.pb.h"
#include "continuum/v1/common.pb.h"

namespace continuum::model {

// Share of min(feature range, median std) a standard deviation is floored
// at.
inline constexpr double kRelativeStdFloor = 0.1;
// Bound on the normalised values.
inline constexpr float kNormalizedClip = 5.0f;

// Per-feature mean and floored standard deviation of the rows of `values`
// and then of `more` (each rows of `width` floats, row-major; two parts so
// that a run's training and replay rows need no copy into one), with clip
// = kNormalizedClip. No rows give the identity (mean 0, std 1) with the
// clip.
v1::NormalizationStats FitNormalization(int width,
                                        absl::Span<const float> values,
                                        absl::Span<const float> more = {});

// A regressor's target statistics: per-column mean and standard deviation
// (1 for a constant column), no floor and no bound (the network predicts
// normalised targets; Forward returns y * std + mean).
v1::NormalizationStats FitTargetNormalization(int width,
                                              absl::Span<const float> values);

// `stats` with each deviation raised to the floor computed from the
// deviations alone (kRelativeStdFloor times their median; no range is
// known) and clip = kNormalizedClip: the KEEP policy's statistics for a
// parent fitted before the floor.
v1::NormalizationStats FloorNormalization(const v1::NormalizationStats& stats);

// Rewrites `bundle`'s weights (and Fisher diagonal) so that the network
// under `to` computes what it computed under its manifest's normalisation,
// then sets the manifest's normalisation to `to`. INVALID_ARGUMENT if
// `to`'s widths are not the bundle's input width or the bundle has no
// `layers.0.weight` / `layers.0.bias` of that width, and for a
// gru_forecaster (gru_forecaster.h: no rewrite keeps its function).
absl::Status Renormalize(const v1::NormalizationStats& to,
                         internal::v1::ModelBundle* bundle);

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_NORMALIZATION_H_
