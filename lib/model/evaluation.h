// Evaluation of a model on a data set, anomaly-threshold calibration and the
// drift reference statistics of training data. Plain C++: models run
// through Model::Forward (lib/model/model.h).
#ifndef CONTINUUM_LIB_MODEL_EVALUATION_H_
#define CONTINUUM_LIB_MODEL_EVALUATION_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "continuum/internal/v1/model_bundle.pb.h"
#include "continuum/v1/common.pb.h"
#include "lib/model/dataset.h"
#include "lib/model/model.h"

namespace continuum::model {

// Runs `model` on `data` (CheckDataset first) and returns the registry's
// metrics (continuum.v1.Metrics), as EvaluateOutputs computes them.
// INVALID_ARGUMENT for data that does not fit the model; errors of Forward.
absl::StatusOr<v1::Metrics> Evaluate(const Model& model, const Dataset& data);

// Evaluate on the model built from `bundle` (Model::FromBundle's errors).
absl::StatusOr<v1::Metrics> Evaluate(const internal::v1::ModelBundle& bundle,
                                     const Dataset& data);

// The metrics of the outputs `outputs` (data.size() rows of Forward's
// output for `manifest`'s family, spec resolved) against `data`'s targets.
// Every family: sample_count; nan_inf_count (output values that are NaN or
// infinite); output_min/output_max over the finite ones. Then:
// - MLP_CLASSIFIER: loss = mean cross-entropy -ln(p[target]) (p clamped to
//   at least 1e-12 so a confident mistake costs at most 27.6; NaN if the row
//   has a NaN). The predicted class is the arg-max; binary classifiers
//   (2 classes) predict class 1 when p[1] >= thresholds.decision_threshold
//   (default 0.5). A row with a NaN output counts as wrong. accuracy;
//   precision/recall/F1 of class 1 for binary problems, else macro averages
//   over the classes that occur in the targets or the predictions (a class
//   never predicted has precision 0, as scikit-learn's zero_division=0);
//   for binary problems false_positive_rate as common.proto defines it: the
//   share of benign rows (target class 0) predicted as class 1 (or with a
//   NaN output), unset without such rows. Multi-class problems have no
//   benign class: false_positive_rate stays unset (so the registry's gate on
//   it is skipped) and extra["macro_false_positive_rate"] holds the mean
//   over classes of FP_c / (FP_c + TN_c) (one-vs-rest).
// - MLP_REGRESSOR: loss = MSE over every target value (raw units),
//   mean_absolute_error, root_mean_squared_error.
// - AUTOENCODER: loss = mean anomaly score (the reconstruction MSE). With a
//   threshold (manifest.thresholds.anomaly_threshold) a row is flagged when
//   its score exceeds it (a NaN score is flagged): false_positive_rate =
//   flagged benign rows / benign rows (every row is benign when data has no
//   labels); with labels also accuracy, and precision/recall/F1 with "positive"
//   = anomaly.
// - GRU_FORECASTER: loss = extra["pinball_loss"] = the mean pinball loss
//   over rows, horizons, series and quantiles (raw units);
//   mean_absolute_error and root_mean_squared_error of the point forecast
//   (the quantile nearest 0.5); with two quantiles or more,
//   extra["interval_coverage"] = the share of actuals inside [lowest,
//   highest quantile] and extra["interval_nominal"] = highest - lowest
//   (0.8 for P10-P90). MASE needs the series' scale: forecast_windows.h.
// INVALID_ARGUMENT if `data` fails CheckDataset or outputs.size() is not
// data.size() * the output width.
absl::StatusOr<v1::Metrics> EvaluateOutputs(
    const v1::ArtifactManifest& manifest, const Dataset& data,
    const std::vector<float>& outputs);

// The anomaly threshold giving a false-positive rate of at most
// `target_false_positive_rate` on the benign `scores`: with n scores and
// m = floor(rate * n), the (m + 1)-th largest score, so that exactly m
// scores exceed it when there are no ties (fewer with ties). rate = 0 gives
// the largest score. INVALID_ARGUMENT for no scores, a non-finite score or a
// rate outside [0, 1).
absl::StatusOr<float> CalibrateAnomalyThreshold(
    std::vector<float> scores, double target_false_positive_rate);

// Runs the autoencoder `model` on the benign rows of `benign` (label 0, or
// every row without labels) and calibrates the threshold as above.
// INVALID_ARGUMENT for a model that is not an autoencoder or no benign rows.
absl::StatusOr<float> CalibrateAnomalyThreshold(
    const Model& model, const Dataset& benign,
    double target_false_positive_rate);

// How many values ComputeReferenceStatistics samples per feature, and into
// how many quantile bins it cuts them.
inline constexpr int kReferenceSampleSize = 512;
inline constexpr int kReferenceBins = 10;

// The drift reference of `data`'s features (ReferenceStatistics.features,
// sample_count): per feature the mean, population variance, min, max, a
// uniform random sample of up to kReferenceSampleSize values (the same rows
// for every feature; seeded), and a histogram over at most kReferenceBins
// bins cut at the sample's quantiles (edges ascending and distinct, the
// first the minimum and the last the maximum of the whole data; each bin
// [e_i, e_i+1), the last closed; a constant feature gets the one bin
// [v, v]). An empty `data` gives sample_count 0 and no features.
v1::ReferenceStatistics ComputeReferenceStatistics(const Dataset& data,
                                                   uint64_t seed);

// The same summary of one sequence of values (for
// ReferenceStatistics.predictions; non-finite values are skipped).
v1::FeatureReference SummarizeValues(const std::vector<float>& values,
                                     int index, uint64_t seed);

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_EVALUATION_H_
