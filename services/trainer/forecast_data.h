// A gru_forecaster's training data from the collector: its records are the
// time steps of series, and a run trains on windows of consecutive steps
// (lib/model/forecasting.h), held out by time.
//
// The layout (docs/forecasting.md): one record is one step of one series;
// `attributes.series` names the series (records without it form one
// unnamed series); the event time is the step's time; the features are the
// step's values, the first output_dim of them the series forecast, the rest
// covariates. Labels are not used: the targets are later steps' values.
//
// Plain values; not thread-safe.
#ifndef CONTINUUM_SERVICES_TRAINER_FORECAST_DATA_H_
#define CONTINUUM_SERVICES_TRAINER_FORECAST_DATA_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "continuum/v1/collector.pb.h"
#include "continuum/internal/v1/model_bundle.pb.h"
#include "continuum/v1/common.pb.h"
#include "lib/model/forecasting.h"

namespace continuum::trainer {

// The attribute naming a record's series.
inline constexpr char kSeriesAttribute[] = "series";

// Steps per series, in the order read.
struct SeriesSteps {
  std::map<std::string, model::Series> series;
  int64_t steps = 0;
};

// Appends the rows of `batch` (read with include_attributes) to `out`, at
// most `cap` steps in all; false when the cap was reached.
// FAILED_PRECONDITION for rows of another width than `step_dim`.
absl::StatusOr<bool> AppendSeriesBatch(const v1::RecordBatch& batch,
                                       int step_dim, int64_t cap,
                                       SeriesSteps* out);

// What a run trains and is judged on: the windows split by time
// (model::SplitForecastSeries; times, step and cutoff in microseconds) and
// the series they come from.
struct ForecastData : model::ForecastSplit {
  // The series, each in time order (a step repeated at one time keeps the
  // last one read).
  std::vector<model::Series> series;
};

// Orders the series, then model::SplitForecastSeries with a season of a
// day of steps (when the step divides a day) and the last
// `holdout_fraction` of the span held out. FAILED_PRECONDITION with
// SplitForecastSeries' message when no series has two steps at increasing
// times or for the windows' own errors (non-finite values).
absl::StatusOr<ForecastData> BuildForecastData(SeriesSteps steps,
                                               const v1::ModelSpec& spec,
                                               double holdout_fraction);

// The seasonal-naive forecast of the held-out windows as a model's outputs
// (every quantile equal to it), so that it can be scored like one.
std::vector<float> SeasonalNaiveOutputs(const v1::ModelSpec& spec,
                                        const model::ForecastWindows& windows);

// Adds extra["mase"] to `metrics`: the mean absolute scaled error of
// `bundle`'s median forecasts of the held-out windows (model::ScoreForecast,
// scaled by each series' seasonal differences before the cutoff).
// Model::FromBundle's and Forward's errors.
absl::Status AddMase(const internal::v1::ModelBundle& bundle,
                     const ForecastData& data, v1::Metrics* metrics);

// The seasonal-naive forecast's metrics on the held-out windows, as
// model::EvaluateOutputs computes a forecaster's (its pinball loss is that of
// a point forecast: every quantile at the naive value), with extra["mase"].
absl::StatusOr<v1::Metrics> SeasonalNaiveMetrics(
    const v1::ArtifactManifest& manifest, const ForecastData& data);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_FORECAST_DATA_H_
