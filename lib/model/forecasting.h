// Time series for the GRU forecaster: windows of consecutive steps built
// from series, split by time, and the scores a forecast is judged by
// (MASE against a seasonal-naive forecast, pinball loss, interval
// coverage). Plain C++: no LibTorch.
//
// Layout (dataset.h): a window row holds sequence_length steps of the
// spec's input_dim features, oldest first; its targets are the first
// output_dim features (the series forecast) at each horizon after the
// window's last step, horizon-major.
//
// Gaps: a window is built only over consecutive steps, each at most 1.5
// steps after the one before it (a step is `step` time units). A window
// whose steps or horizons would cross a longer gap is skipped and counted
// (ForecastWindows.skipped), never bridged: filling a gap would teach the
// model values nobody observed.
#ifndef CONTINUUM_LIB_MODEL_FORECASTING_H_
#define CONTINUUM_LIB_MODEL_FORECASTING_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "continuum/v1/common.pb.h"
#include "lib/model/dataset.h"

namespace continuum::model {

// One series: steps in strictly increasing time order.
struct Series {
  std::string name;
  // The time of each step, in any unit (seconds, hours, months).
  std::vector<int64_t> times;
  // times.size() steps of the spec's input_dim features, row-major.
  std::vector<float> values;
};

struct WindowOptions {
  // Time units between consecutive steps; > 0.
  int64_t step = 1;
  // Steps in a season (24 for hourly data with a daily cycle, 12 for
  // monthly data); 1 = no season (the naive forecast is the last value).
  int season = 1;
};

// Windows of a set of series.
struct ForecastWindows {
  // Rows and targets as dataset.h lays them out for the spec.
  Dataset data;
  // Per row: which series (index into the input), and the times of its
  // first and last target (the first and last horizon).
  std::vector<int> series;
  std::vector<int64_t> first_target_time, last_target_time;
  // Per target value (the layout of data.targets): the seasonal-naive
  // forecast, the last value one or more whole seasons before the target
  // that was observed by the window's end: y[t + h - season * ceil(h /
  // season)].
  std::vector<float> naive;
  // Windows skipped because they crossed a gap.
  int64_t skipped = 0;
};

// Every window of every series that fits the spec (sequence_length steps
// and its horizons, consecutive) and whose seasonal-naive forecasts lie in
// the series. INVALID_ARGUMENT naming the series for values not in whole
// steps of the spec's input_dim, times not strictly increasing, a
// non-finite value, or options out of range.
absl::StatusOr<ForecastWindows> BuildForecastWindows(
    const std::vector<Series>& series, const v1::ModelSpec& spec,
    const WindowOptions& options);

// The windows whose targets all lie before `cutoff` (training) and those
// whose targets all lie at or after it (held out): a split by time, never
// by random rows, so nothing held out was seen in training. Windows whose
// targets straddle the cutoff are in neither.
void SplitByTime(const ForecastWindows& all, int64_t cutoff,
                 ForecastWindows* train, ForecastWindows* holdout);

// How SplitForecastSeries infers the season and holds out.
struct ForecastSplitOptions {
  // Time units in a day (86400 for seconds, 86400000000 for microseconds).
  int64_t units_per_day = 86400;
  // Steps per season of the seasonal-naive forecast; 0 = a day of steps
  // when the step divides a day, else 1 (the last value).
  int season = 0;
  // The held-out share of the series' time span, at its end, in (0, 1).
  double holdout_fraction = 0.1;
};

// Windows of a set of series split by time, and what was inferred.
struct ForecastSplit {
  ForecastWindows train, holdout;
  // The step: the median positive time between consecutive steps of a
  // series, in the series' time unit.
  int64_t step = 0;
  // Steps per season of the seasonal-naive forecast.
  int season = 1;
  // The held-out windows' targets lie at or after this time: the span's
  // end less holdout_fraction of the span (first step to last step plus
  // one step).
  int64_t cutoff = 0;
  // Windows skipped because they crossed a gap.
  int64_t skipped = 0;
};

// Infers the step and the season, builds every window (BuildForecastWindows)
// and splits them at the cutoff (SplitByTime). INVALID_ARGUMENT when no
// series has two steps at increasing times, and BuildForecastWindows'
// errors.
absl::StatusOr<ForecastSplit> SplitForecastSeries(
    const std::vector<Series>& series, const v1::ModelSpec& spec,
    const ForecastSplitOptions& options);

// Per series, the mean absolute seasonal difference |y_t - y_{t-season}|
// of its forecast features over the steps before `cutoff` (the in-sample
// scale of MASE, Hyndman and Koehler 2006); 0 where there are no such
// pairs.
std::vector<double> SeasonalScales(const std::vector<Series>& series,
                                   const v1::ModelSpec& spec, int season,
                                   int64_t cutoff);

// How a forecast of `windows` scores. `outputs` are Forward's outputs for
// windows.data (horizons x series x quantiles per row, quantiles sorted).
struct ForecastScores {
  int64_t targets = 0;
  // Mean absolute scaled error of the point forecast (the quantile nearest
  // 0.5) and of the seasonal-naive forecast, each error divided by its
  // series' scale (targets of series with scale 0 are left out).
  double mase = 0;
  double naive_mase = 0;
  // Mean pinball loss over targets and quantiles, raw units.
  double pinball = 0;
  // Share of actuals inside [lowest, highest quantile], and the nominal
  // share (highest - lowest quantile); 0 with one quantile.
  double coverage = 0;
  double nominal_coverage = 0;
};
ForecastScores ScoreForecast(const v1::ModelSpec& spec,
                             const ForecastWindows& windows,
                             const std::vector<float>& outputs,
                             const std::vector<double>& scales);

// The index, within a row's quantiles, of the point forecast: the quantile
// nearest 0.5 (of the resolved spec).
int PointQuantileIndex(const v1::ModelSpec& spec);

// The last step of each window of `windows` (rows of the spec's input_dim
// features): what the drift reference of a forecaster summarises.
Dataset LastSteps(const Dataset& windows, int step_dim);

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_FORECASTING_H_
