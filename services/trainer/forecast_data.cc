#include "services/trainer/forecast_data.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/model/bundle.h"
#include "lib/model/evaluation.h"
#include "lib/model/model.h"

namespace continuum::trainer {
namespace {

constexpr int64_t kMicrosPerDay = int64_t{86400} * 1000000;

// `s` in time order; of steps at one time, the last read is kept.
model::Series Ordered(const model::Series& s, int step_dim) {
  std::vector<size_t> order(s.times.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return s.times[a] < s.times[b];
  });
  model::Series out;
  out.name = s.name;
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t i = order[k];
    const float* v = s.values.data() + i * step_dim;
    if (!out.times.empty() && out.times.back() == s.times[i]) {
      std::copy(v, v + step_dim, out.values.end() - step_dim);
      continue;
    }
    out.times.push_back(s.times[i]);
    out.values.insert(out.values.end(), v, v + step_dim);
  }
  return out;
}

}  // namespace

absl::StatusOr<bool> AppendSeriesBatch(const v1::RecordBatch& batch,
                                       int step_dim, int64_t cap,
                                       SeriesSteps* out) {
  if (batch.num_rows() > 0 && batch.feature_dim() != step_dim) {
    return absl::FailedPreconditionError(
        absl::StrCat("the data set's records have ", batch.feature_dim(),
                     " features; the forecaster takes ", step_dim,
                     " per time step"));
  }
  const bool attributes = batch.attributes_size() == batch.num_rows();
  for (int r = 0; r < batch.num_rows(); ++r) {
    if (out->steps >= cap) return false;
    std::string name;
    if (attributes) {
      const auto& values = batch.attributes(r).values();
      auto it = values.find(kSeriesAttribute);
      if (it != values.end()) name = it->second;
    }
    model::Series& s = out->series[name];
    s.name = name;
    s.times.push_back(batch.event_time_unix_micros(r));
    const float* v = batch.features().data() + static_cast<size_t>(r) * step_dim;
    s.values.insert(s.values.end(), v, v + step_dim);
    ++out->steps;
  }
  return out->steps < cap;
}

absl::StatusOr<ForecastData> BuildForecastData(SeriesSteps steps,
                                               const v1::ModelSpec& spec,
                                               double holdout_fraction) {
  ForecastData data;
  for (auto& [name, s] : steps.series) {
    data.series.push_back(Ordered(s, spec.input_dim()));
  }
  model::ForecastSplitOptions options;
  options.units_per_day = kMicrosPerDay;
  options.holdout_fraction = holdout_fraction;
  absl::StatusOr<model::ForecastSplit> split =
      model::SplitForecastSeries(data.series, spec, options);
  if (!split.ok()) {
    return absl::FailedPreconditionError(split.status().message());
  }
  static_cast<model::ForecastSplit&>(data) = *std::move(split);
  return data;
}

std::vector<float> SeasonalNaiveOutputs(const v1::ModelSpec& raw,
                                        const model::ForecastWindows& windows) {
  const int q_count = model::ResolveSpec(raw).quantiles_size();
  std::vector<float> out;
  out.reserve(windows.naive.size() * q_count);
  for (float v : windows.naive) out.insert(out.end(), q_count, v);
  return out;
}

absl::Status AddMase(const internal::v1::ModelBundle& bundle,
                     const ForecastData& data, v1::Metrics* metrics) {
  absl::StatusOr<std::unique_ptr<model::Model>> m =
      model::Model::FromBundle(bundle);
  if (!m.ok()) return m.status();
  const model::Dataset& rows = data.holdout.data;
  std::vector<float> out;
  if (absl::Status s = (*m)->Forward(rows.features.data(),
                                     static_cast<int>(rows.size()), &out);
      !s.ok()) {
    return s;
  }
  const v1::ModelSpec& spec = bundle.manifest().spec();
  const model::ForecastScores scores = model::ScoreForecast(
      spec, data.holdout, out,
      model::SeasonalScales(data.series, spec, data.season,
                            data.cutoff));
  (*metrics->mutable_extra())["mase"] = scores.mase;
  return absl::OkStatus();
}

absl::StatusOr<v1::Metrics> SeasonalNaiveMetrics(
    const v1::ArtifactManifest& manifest, const ForecastData& data) {
  const std::vector<float> naive =
      SeasonalNaiveOutputs(manifest.spec(), data.holdout);
  absl::StatusOr<v1::Metrics> metrics =
      model::EvaluateOutputs(manifest, data.holdout.data, naive);
  if (!metrics.ok()) return metrics.status();
  const model::ForecastScores scores = model::ScoreForecast(
      manifest.spec(), data.holdout, naive,
      model::SeasonalScales(data.series, manifest.spec(), data.season,
                            data.cutoff));
  (*metrics->mutable_extra())["mase"] = scores.mase;
  return metrics;
}

}  // namespace continuum::trainer
