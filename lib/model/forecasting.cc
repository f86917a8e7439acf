#include "lib/model/forecasting.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/model/bundle.h"

namespace continuum::model {
namespace {

// Per step, the index at which its run of consecutive steps began (steps
// at most 1.5 `step` apart).
std::vector<int64_t> RunStarts(const std::vector<int64_t>& times,
                               int64_t step) {
  std::vector<int64_t> starts(times.size(), 0);
  for (size_t k = 1; k < times.size(); ++k) {
    const bool consecutive = 2 * (times[k] - times[k - 1]) <= 3 * step;
    starts[k] = consecutive ? starts[k - 1] : static_cast<int64_t>(k);
  }
  return starts;
}

// The step index of the seasonal-naive forecast of the value `h` steps
// after step `e`: the last one a whole number of seasons before it that is
// not after `e`.
int64_t NaiveIndex(int64_t e, int h, int season) {
  const int64_t seasons = (h + season - 1) / season;
  return e + h - seasons * season;
}

absl::Status CheckSeries(const Series& s, int step_dim) {
  const size_t n = s.times.size();
  if (s.values.size() != n * step_dim) {
    return absl::InvalidArgumentError(absl::StrCat(
        "series ", s.name, ": ", s.values.size(), " values for ", n,
        " steps of ", step_dim, " features"));
  }
  for (size_t k = 1; k < n; ++k) {
    if (s.times[k] <= s.times[k - 1]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "series ", s.name, ": step ", k, " at time ", s.times[k],
          " is not after step ", k - 1, " at ", s.times[k - 1],
          "; steps must be in strictly increasing time order"));
    }
  }
  for (size_t i = 0; i < s.values.size(); ++i) {
    if (!std::isfinite(s.values[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "series ", s.name, ": step ", i / step_dim, " feature ",
          i % step_dim, " is ", s.values[i], "; values must be finite"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ForecastWindows> BuildForecastWindows(
    const std::vector<Series>& series, const v1::ModelSpec& raw,
    const WindowOptions& options) {
  if (raw.family() != v1::MODEL_FAMILY_GRU_FORECASTER) {
    return absl::InvalidArgumentError(absl::StrCat(
        "forecast windows are for gru_forecaster models, not ",
        FamilyName(raw.family())));
  }
  if (absl::Status s = ValidateSpec(raw); !s.ok()) return s;
  if (options.step < 1 || options.season < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("window options: step ", options.step, " and season ",
                     options.season, " must both be >= 1"));
  }
  const v1::ModelSpec spec = ResolveSpec(raw);
  const int f = spec.input_dim();
  const int t = spec.sequence_length();
  const int s_count = spec.output_dim();
  const std::vector<int> horizons(spec.horizons().begin(),
                                  spec.horizons().end());
  const int h_max = horizons.back();
  ForecastWindows w;
  w.data.input_dim = static_cast<int>(InputWidth(spec));
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    if (absl::Status st = CheckSeries(s, f); !st.ok()) return st;
    const int64_t n = static_cast<int64_t>(s.times.size());
    const std::vector<int64_t> starts = RunStarts(s.times, options.step);
    for (int64_t e = t - 1; e + h_max < n; ++e) {
      int64_t lo = e - t + 1;
      for (int h : horizons) {
        lo = std::min(lo, NaiveIndex(e, h, options.season));
      }
      if (lo < 0) continue;
      if (starts[e + h_max] > lo) {
        ++w.skipped;
        continue;
      }
      const float* first = s.values.data() + (e - t + 1) * f;
      w.data.features.insert(w.data.features.end(), first, first + t * f);
      for (int h : horizons) {
        const float* target = s.values.data() + (e + h) * f;
        const float* naive =
            s.values.data() + NaiveIndex(e, h, options.season) * f;
        w.data.targets.insert(w.data.targets.end(), target, target + s_count);
        w.naive.insert(w.naive.end(), naive, naive + s_count);
      }
      w.series.push_back(static_cast<int>(i));
      w.first_target_time.push_back(s.times[e + horizons.front()]);
      w.last_target_time.push_back(s.times[e + h_max]);
    }
  }
  return w;
}

void SplitByTime(const ForecastWindows& all, int64_t cutoff,
                 ForecastWindows* train, ForecastWindows* holdout) {
  const int64_t rows = all.data.size();
  const int64_t in = all.data.input_dim;
  const int64_t width = rows > 0 ? static_cast<int64_t>(
                                       all.data.targets.size()) / rows
                                 : 0;
  for (ForecastWindows* part : {train, holdout}) {
    *part = ForecastWindows();
    part->data.input_dim = all.data.input_dim;
  }
  for (int64_t r = 0; r < rows; ++r) {
    ForecastWindows* part = nullptr;
    if (all.last_target_time[r] < cutoff) part = train;
    if (all.first_target_time[r] >= cutoff) part = holdout;
    if (part == nullptr) continue;
    part->data.features.insert(part->data.features.end(),
                               all.data.features.begin() + r * in,
                               all.data.features.begin() + (r + 1) * in);
    part->data.targets.insert(part->data.targets.end(),
                              all.data.targets.begin() + r * width,
                              all.data.targets.begin() + (r + 1) * width);
    part->naive.insert(part->naive.end(), all.naive.begin() + r * width,
                       all.naive.begin() + (r + 1) * width);
    part->series.push_back(all.series[r]);
    part->first_target_time.push_back(all.first_target_time[r]);
    part->last_target_time.push_back(all.last_target_time[r]);
  }
}

absl::StatusOr<ForecastSplit> SplitForecastSeries(
    const std::vector<Series>& series, const v1::ModelSpec& spec,
    const ForecastSplitOptions& options) {
  std::vector<int64_t> gaps;
  int64_t first = INT64_MAX, last = INT64_MIN;
  for (const Series& s : series) {
    for (size_t k = 0; k < s.times.size(); ++k) {
      if (k > 0 && s.times[k] > s.times[k - 1]) {
        gaps.push_back(s.times[k] - s.times[k - 1]);
      }
      first = std::min(first, s.times[k]);
      last = std::max(last, s.times[k]);
    }
  }
  if (gaps.empty()) {
    return absl::InvalidArgumentError(
        "no series has two steps at increasing times; a forecaster trains "
        "on consecutive steps of a series, in time order "
        "(docs/forecasting.md)");
  }
  std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
  ForecastSplit split;
  split.step = gaps[gaps.size() / 2];
  split.season = options.season;
  if (split.season <= 0) {
    split.season = split.step < options.units_per_day &&
                           options.units_per_day % split.step == 0
                       ? static_cast<int>(options.units_per_day / split.step)
                       : 1;
  }
  WindowOptions windows;
  windows.step = split.step;
  windows.season = split.season;
  absl::StatusOr<ForecastWindows> all =
      BuildForecastWindows(series, spec, windows);
  if (!all.ok()) return all.status();
  split.skipped = all->skipped;
  const double span = static_cast<double>(last - first + split.step);
  split.cutoff = last + split.step -
                 static_cast<int64_t>(
                     std::llround(span * options.holdout_fraction));
  SplitByTime(*all, split.cutoff, &split.train, &split.holdout);
  return split;
}

std::vector<double> SeasonalScales(const std::vector<Series>& series,
                                   const v1::ModelSpec& spec, int season,
                                   int64_t cutoff) {
  const int f = spec.input_dim();
  const int s_count = spec.output_dim();
  std::vector<double> scales;
  for (const Series& s : series) {
    double sum = 0;
    int64_t count = 0;
    for (size_t k = season; k < s.times.size() && s.times[k] < cutoff; ++k) {
      for (int j = 0; j < s_count; ++j) {
        sum += std::abs(s.values[k * f + j] - s.values[(k - season) * f + j]);
        ++count;
      }
    }
    scales.push_back(count > 0 ? sum / static_cast<double>(count) : 0.0);
  }
  return scales;
}

int PointQuantileIndex(const v1::ModelSpec& raw) {
  const v1::ModelSpec spec = ResolveSpec(raw);
  int best = 0;
  for (int j = 1; j < spec.quantiles_size(); ++j) {
    if (std::abs(spec.quantiles(j) - 0.5f) <
        std::abs(spec.quantiles(best) - 0.5f)) {
      best = j;
    }
  }
  return best;
}

ForecastScores ScoreForecast(const v1::ModelSpec& raw,
                             const ForecastWindows& windows,
                             const std::vector<float>& outputs,
                             const std::vector<double>& scales) {
  const v1::ModelSpec spec = ResolveSpec(raw);
  const int q_count = spec.quantiles_size();
  const int point = PointQuantileIndex(spec);
  const int64_t rows = windows.data.size();
  const int64_t width = Dataset::TargetWidth(spec);
  ForecastScores scores;
  double pinball = 0, scaled = 0, naive_scaled = 0;
  int64_t inside = 0, scaled_count = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const double scale = scales[windows.series[r]];
    for (int64_t k = r * width; k < (r + 1) * width; ++k) {
      const double y = windows.data.targets[k];
      const float* q = outputs.data() + k * q_count;
      for (int j = 0; j < q_count; ++j) {
        const double e = y - q[j];
        const double tau = spec.quantiles(j);
        pinball += std::max(tau * e, (tau - 1) * e);
      }
      if (y >= q[0] && y <= q[q_count - 1]) ++inside;
      if (scale > 0) {
        scaled += std::abs(q[point] - y) / scale;
        naive_scaled += std::abs(windows.naive[k] - y) / scale;
        ++scaled_count;
      }
      ++scores.targets;
    }
  }
  if (scores.targets == 0) return scores;
  const double n = static_cast<double>(scores.targets);
  scores.pinball = pinball / (n * q_count);
  if (scaled_count > 0) {
    scores.mase = scaled / static_cast<double>(scaled_count);
    scores.naive_mase = naive_scaled / static_cast<double>(scaled_count);
  }
  if (q_count >= 2) {
    scores.coverage = static_cast<double>(inside) / n;
    scores.nominal_coverage =
        spec.quantiles(q_count - 1) - spec.quantiles(0);
  }
  return scores;
}

Dataset LastSteps(const Dataset& windows, int step_dim) {
  Dataset last;
  last.input_dim = step_dim;
  const int64_t rows = windows.size();
  for (int64_t r = 0; r < rows; ++r) {
    const auto end = windows.features.begin() + (r + 1) * windows.input_dim;
    last.features.insert(last.features.end(), end - step_dim, end);
  }
  return last;
}

}  // namespace continuum::model
