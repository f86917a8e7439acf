// Internal to lib/model, for its LibTorch .cc files only (training_net.cc,
// mlp.cc): the GRU forecaster (MODEL_FAMILY_GRU_FORECASTER) on tensors.
//
// A row is a window of sequence_length time steps, oldest first, each of
// input_dim features, flattened ([B, T * F]); the forecast series are the
// first output_dim (S) features of each step. The window's last observed
// value of each series is its origin (the anchor): the network sees the
// series relative to it and forecasts the change from it, so that a level
// the training data never reached (a trend) shifts the forecast instead of
// saturating the network. Inputs are normalised with the manifest's
// per-feature statistics: covariates (x - mean) / std, series (x -
// anchor) / std, then bounded by the clip. The network: a GRU of
// num_layers layers (hidden size H = hidden_sizes[0]) over the normalised
// window, then a linear head on the last step's hidden state giving, per
// horizon, series and quantile (quantile fastest), the change from the
// anchor in units of the series' std. Training minimises the pinball
// (quantile) loss against (y - anchor) / std; serving returns anchor + std
// x output with each horizon's and series' quantiles sorted, so that
// predicted quantiles never cross (the monotone rearrangement of
// Chernozhukov et al. 2010: it leaves quantiles that do not cross as they
// are and never raises the pinball loss).
//
// Includes LibTorch: never include it from a header that services see.
// The functions may throw (LibTorch); callers catch at lib/model's
// boundary.
#ifndef CONTINUUM_LIB_MODEL_GRU_FORECASTER_H_
#define CONTINUUM_LIB_MODEL_GRU_FORECASTER_H_

#include <ATen/ATen.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "continuum/internal/v1/model_bundle.pb.h"
#include "continuum/v1/common.pb.h"
#include "lib/model/model.h"

namespace continuum::model {

// The network's output for normalised windows `z` [B, T * F], given its
// parameters in ExpectedParameters order. With `generator`, dropout
// (spec.dropout) between GRU layers and before the head, as in training.
at::Tensor ForecasterForward(const v1::ModelSpec& spec,
                             const std::vector<at::Tensor>& params,
                             const at::Tensor& z, at::Generator* generator);

// The anchors of raw windows `x` [B, T * F]: the last step's first S
// features, [B, S].
at::Tensor ForecastAnchor(const v1::ModelSpec& spec, const at::Tensor& x);

// Raw windows `x` normalised as the network reads them (see above) with
// per-feature statistics `mean`, `std` ([F]; undefined = identity) and
// bound `clip` (0 = none), [B, T * F].
at::Tensor NormalizeWindows(const v1::ModelSpec& spec, const at::Tensor& x,
                            const at::Tensor& mean, const at::Tensor& std,
                            float clip);

// Raw actuals `y` [B, horizons x S] as training compares them with the
// network's output: (y - anchor) / std per series, [B, horizons x S].
at::Tensor RelativeTargets(const v1::ModelSpec& spec, const at::Tensor& y,
                           const at::Tensor& x, const at::Tensor& std);

// The pinball loss of outputs `out` [B, horizons x S x quantiles] against
// relative actuals `y` [B, horizons x S]: per quantile q and error e = y -
// out, max(q e, (q - 1) e); the mean over horizons, series and quantiles
// per row ([B]) when `per_row`, else over everything (a scalar).
at::Tensor PinballLoss(const v1::ModelSpec& spec, const at::Tensor& out,
                       const at::Tensor& y, bool per_row);

// The served forecast of `out` for raw windows `x`: anchor + std x out,
// the quantiles sorted, [B, horizons x S x quantiles].
at::Tensor ForecasterServingOutput(const v1::ModelSpec& spec,
                                   const at::Tensor& out, const at::Tensor& x,
                                   const at::Tensor& std);

// The Model of a valid forecaster bundle.
absl::StatusOr<std::unique_ptr<Model>> BuildForecasterModel(
    const internal::v1::ModelBundle& bundle);

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_GRU_FORECASTER_H_
