#include "tools/continuumctl/model_fit_command.h"

#include <google/protobuf/text_format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "lib/model/bundle.h"
#include "lib/model/dataset.h"
#include "lib/model/evaluation.h"
#include "lib/model/forecasting.h"
#include "lib/model/model.h"
#include "lib/model/normalization.h"
#include "lib/model/training.h"
#include "lib/store/file_system.h"

ABSL_DECLARE_FLAG(std::string, output);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_FLAG(std::string, spec, "",
          "model fit: the ModelSpec in protobuf text format, e.g. 'family: "
          "MODEL_FAMILY_GRU_FORECASTER sequence_length: 24 horizons: [1, "
          "6]'; @FILE reads it from a file.");
ABSL_FLAG(std::string, train, "",
          "model fit: the training CSV (a header; label, or event_time and "
          "series for forecasters; the other columns are features).");
ABSL_FLAG(std::string, input, "",
          "model predict: CSV rows of features (a header is skipped).");
ABSL_FLAG(int, epochs, 20, "model fit: most epochs (early stopping).");
ABSL_FLAG(double, learning_rate, 1e-3, "model fit: the learning rate.");
ABSL_FLAG(double, holdout, 0.1,
          "model fit: the held-out share of the rows, or of a forecaster's "
          "time span (its end).");
ABSL_FLAG(int, season, 0,
          "model fit, forecasters: steps per season of the seasonal-naive "
          "baseline (0 = a day of steps when the step divides a day, else "
          "1).");

namespace continuum::ctl {
namespace {

constexpr int64_t kSecondsPerDay = 86400;

int Fail(absl::string_view command, const absl::Status& status, int code) {
  std::cerr << "continuumctl model " << command << ": " << status.message()
            << "\n";
  return code;
}

absl::StatusOr<v1::ModelSpec> SpecFromFlag() {
  std::string text = absl::GetFlag(FLAGS_spec);
  if (text.empty()) return absl::InvalidArgumentError("--spec is required");
  if (absl::StartsWith(text, "@")) {
    absl::StatusOr<std::string> file =
        store::DefaultFileSystem()->ReadFileToString(text.substr(1));
    if (!file.ok()) return file.status();
    text = *file;
  }
  v1::ModelSpec spec;
  if (!google::protobuf::TextFormat::ParseFromString(text, &spec)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--spec: not a continuum.v1.ModelSpec in protobuf text format: '",
        text, "'"));
  }
  if (spec.family() == v1::MODEL_FAMILY_UNSPECIFIED ||
      spec.family() == v1::MODEL_FAMILY_TORCHSCRIPT) {
    return absl::InvalidArgumentError(
        "--spec: set family to a built-in family (a torchscript module is "
        "imported with model import)");
  }
  return spec;
}

// The training CSV: its feature columns, labels and a forecaster's times
// and series.
struct Table {
  std::vector<std::string> feature_names;
  std::vector<float> features;  // rows x features
  std::vector<std::vector<float>> labels;
  std::vector<int64_t> times;
  std::vector<std::string> series;
  int64_t rows = 0;
};

absl::StatusOr<Table> ReadTable(const std::string& text, bool forecaster) {
  Table t;
  int label = -1, time = -1, series = -1;
  std::vector<int> features;
  int line_number = 0;
  size_t width = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripTrailingAsciiWhitespace(line);
    if (line.empty()) continue;
    std::vector<std::string> cells = absl::StrSplit(line, ',');
    if (width == 0) {
      width = cells.size();
      for (size_t c = 0; c < cells.size(); ++c) {
        const std::string name(absl::StripAsciiWhitespace(cells[c]));
        if (name == "label") {
          label = static_cast<int>(c);
        } else if (name == "event_time") {
          time = static_cast<int>(c);
        } else if (name == "series") {
          series = static_cast<int>(c);
        } else {
          features.push_back(static_cast<int>(c));
          t.feature_names.push_back(name);
        }
      }
      if (forecaster && time < 0) {
        return absl::InvalidArgumentError(
            "the header has no event_time column; a forecaster's rows are "
            "time steps (Unix seconds)");
      }
      continue;
    }
    if (cells.size() != width) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_number, " has ", cells.size(), " fields; the header ",
          width));
    }
    for (size_t k = 0; k < features.size(); ++k) {
      const std::string& cell = cells[features[k]];
      float v = 0;
      if (!absl::SimpleAtof(absl::StripAsciiWhitespace(cell), &v) ||
          !std::isfinite(v)) {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", line_number, ", column ",
                         t.feature_names[k], ": '", cell,
                         "' is not a finite number"));
      }
      t.features.push_back(v);
    }
    if (label >= 0) {
      std::vector<float> values;
      for (absl::string_view part : absl::StrSplit(cells[label], ';')) {
        float v = 0;
        if (!absl::SimpleAtof(absl::StripAsciiWhitespace(part), &v)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "line ", line_number, ", label: '", cells[label],
              "' is not a number (or numbers separated by ';')"));
        }
        values.push_back(v);
      }
      t.labels.push_back(std::move(values));
    }
    if (time >= 0) {
      double seconds = 0;
      if (!absl::SimpleAtod(absl::StripAsciiWhitespace(cells[time]),
                            &seconds)) {
        return absl::InvalidArgumentError(
            absl::StrCat("line ", line_number, ", event_time: '", cells[time],
                         "' is not Unix seconds"));
      }
      t.times.push_back(static_cast<int64_t>(std::llround(seconds)));
    }
    t.series.push_back(series >= 0 ? std::string(cells[series]) : "");
    ++t.rows;
  }
  if (t.rows == 0) return absl::InvalidArgumentError("no rows after the header");
  return t;
}

// A seeded random `share` of rows held out.
void SplitRows(const model::Dataset& all, int target_width, double share,
               uint64_t seed, model::Dataset* train, model::Dataset* holdout) {
  std::vector<int64_t> order(all.size());
  for (int64_t i = 0; i < all.size(); ++i) order[i] = i;
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  const int64_t held = std::max<int64_t>(
      1, static_cast<int64_t>(std::llround(share * all.size())));
  for (model::Dataset* d : {train, holdout}) {
    *d = model::Dataset();
    d->input_dim = all.input_dim;
  }
  for (int64_t k = 0; k < all.size(); ++k) {
    const int64_t r = order[k];
    model::Dataset* d = k < held ? holdout : train;
    d->features.insert(d->features.end(),
                       all.features.begin() + r * all.input_dim,
                       all.features.begin() + (r + 1) * all.input_dim);
    if (!all.targets.empty()) {
      d->targets.insert(d->targets.end(),
                        all.targets.begin() + r * target_width,
                        all.targets.begin() + (r + 1) * target_width);
    }
  }
}

// The spec completed from the data: input_dim from the features; output_dim
// from the labels (classes: the largest index + 1; targets: their count) or
// 1 for a forecaster.
void CompleteSpec(const Table& t, v1::ModelSpec* spec) {
  if (spec->input_dim() == 0) {
    spec->set_input_dim(static_cast<int>(t.feature_names.size()));
  }
  if (spec->output_dim() != 0) return;
  switch (spec->family()) {
    case v1::MODEL_FAMILY_MLP_CLASSIFIER: {
      float top = 0;
      for (const auto& l : t.labels) top = std::max(top, l.empty() ? 0 : l[0]);
      spec->set_output_dim(static_cast<int>(top) + 1);
      break;
    }
    case v1::MODEL_FAMILY_MLP_REGRESSOR:
      spec->set_output_dim(
          t.labels.empty() ? 1 : static_cast<int>(t.labels[0].size()));
      break;
    case v1::MODEL_FAMILY_GRU_FORECASTER:
      spec->set_output_dim(1);
      break;
    default:
      break;
  }
}

// A forecaster's windows, split by time, and the series they come from.
struct Windows : model::ForecastSplit {
  std::vector<model::Series> series;
};

absl::StatusOr<Windows> ForecastWindowsOf(const Table& t,
                                          const v1::ModelSpec& spec) {
  const int f = static_cast<int>(t.feature_names.size());
  std::map<std::string, model::Series> by_name;
  for (int64_t r = 0; r < t.rows; ++r) {
    model::Series& s = by_name[t.series[r]];
    s.name = t.series[r].empty() ? "(unnamed)" : t.series[r];
    s.times.push_back(t.times[r]);
    s.values.insert(s.values.end(), t.features.begin() + r * f,
                    t.features.begin() + (r + 1) * f);
  }
  Windows w;
  for (auto& [name, s] : by_name) w.series.push_back(std::move(s));
  model::ForecastSplitOptions options;
  options.units_per_day = kSecondsPerDay;
  options.season = absl::GetFlag(FLAGS_season);
  options.holdout_fraction = absl::GetFlag(FLAGS_holdout);
  absl::StatusOr<model::ForecastSplit> split =
      model::SplitForecastSeries(w.series, spec, options);
  if (!split.ok()) return split.status();
  static_cast<model::ForecastSplit&>(w) = *std::move(split);
  if (w.train.data.size() == 0 || w.holdout.data.size() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the series give ", w.train.data.size(), " training and ",
        w.holdout.data.size(), " held-out windows of ", spec.sequence_length(),
        " steps and their horizons (", w.skipped,
        " skipped at gaps); give longer series or a smaller "
        "sequence_length"));
  }
  return w;
}

std::string MetricsText(const v1::Metrics& m) {
  std::vector<std::string> parts = {absl::StrFormat("loss %.4f", m.loss())};
  if (m.has_accuracy()) {
    parts.push_back(absl::StrFormat("accuracy %.4f", m.accuracy()));
  }
  if (m.has_mean_absolute_error()) {
    parts.push_back(absl::StrFormat("MAE %.4g", m.mean_absolute_error()));
  }
  if (m.extra().contains("interval_coverage")) {
    parts.push_back(absl::StrFormat(
        "interval coverage %.3f (nominal %.2f)",
        m.extra().at("interval_coverage"), m.extra().at("interval_nominal")));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace

int RunModelFit() {
  const std::string output = absl::GetFlag(FLAGS_output);
  const std::string train_path = absl::GetFlag(FLAGS_train);
  if (output.empty() || train_path.empty()) {
    return Fail("fit",
                absl::InvalidArgumentError(
                    "--spec, --train=FILE.csv and --output=BUNDLE are required"),
                2);
  }
  const double share = absl::GetFlag(FLAGS_holdout);
  if (!(share > 0 && share < 1)) {
    return Fail("fit", absl::InvalidArgumentError("--holdout must be in (0, 1)"),
                2);
  }
  absl::StatusOr<v1::ModelSpec> spec = SpecFromFlag();
  if (!spec.ok()) return Fail("fit", spec.status(), 2);
  const bool forecaster = spec->family() == v1::MODEL_FAMILY_GRU_FORECASTER;
  absl::StatusOr<std::string> text =
      store::DefaultFileSystem()->ReadFileToString(train_path);
  if (!text.ok()) return Fail("fit", text.status(), 2);
  absl::StatusOr<Table> table = ReadTable(*text, forecaster);
  if (!table.ok()) {
    return Fail("fit",
                absl::InvalidArgumentError(absl::StrCat(
                    train_path, ": ", table.status().message())),
                2);
  }
  CompleteSpec(*table, &*spec);
  if (absl::Status s = model::ValidateSpec(*spec); !s.ok()) {
    return Fail("fit", s, 2);
  }
  const v1::ModelSpec resolved = model::ResolveSpec(*spec);

  model::Dataset train, holdout;
  Windows windows;
  if (forecaster) {
    absl::StatusOr<Windows> w = ForecastWindowsOf(*table, resolved);
    if (!w.ok()) return Fail("fit", w.status(), 2);
    windows = *std::move(w);
    train = windows.train.data;
    holdout = windows.holdout.data;
  } else {
    model::Dataset all;
    all.input_dim = resolved.input_dim();
    all.features = table->features;
    const int width = model::Dataset::TargetWidth(resolved);
    for (const auto& l : table->labels) {
      all.targets.insert(all.targets.end(), l.begin(), l.end());
    }
    if (absl::Status s = model::CheckDataset(all, resolved, train_path);
        !s.ok()) {
      return Fail("fit", s, 2);
    }
    SplitRows(all, width, share, absl::GetFlag(FLAGS_seed), &train, &holdout);
  }

  v1::ArtifactManifest manifest;
  *manifest.mutable_spec() = *spec;
  if (!forecaster) {
    for (const std::string& name : table->feature_names) {
      manifest.mutable_input_schema()->add_names(name);
    }
  }
  absl::StatusOr<internal::v1::ModelBundle> parent =
      model::Model::InitBundle(manifest, absl::GetFlag(FLAGS_seed));
  if (!parent.ok()) return Fail("fit", parent.status(), 2);
  if (resolved.family() == v1::MODEL_FAMILY_MLP_REGRESSOR) {
    *parent->mutable_target_normalization() = model::FitTargetNormalization(
        resolved.output_dim(), train.targets);
  }
  v1::TrainingConfig config;
  config.set_strategy(v1::TRAINING_STRATEGY_FULL_RETRAIN);
  config.set_epochs(absl::GetFlag(FLAGS_epochs));
  config.mutable_optimizer()->set_learning_rate(
      absl::GetFlag(FLAGS_learning_rate));
  config.set_seed(absl::GetFlag(FLAGS_seed));
  absl::StatusOr<model::TrainResult> result =
      model::Train(*parent, train, nullptr, holdout, config);
  if (!result.ok()) return Fail("fit", result.status(), 1);
  if (result->diverged) {
    return Fail("fit",
                absl::AbortedError(
                    "training diverged (a non-finite loss); nothing written: "
                    "lower --learning_rate"),
                1);
  }
  std::cout << "trained " << model::FamilyName(resolved.family()) << " on "
            << train.size() << (forecaster ? " windows" : " rows") << " for "
            << result->epochs.size() << " epochs (best " << result->best_epoch
            << ", " << absl::StrFormat("%.1f", result->train_seconds)
            << " s)\nheld out " << holdout.size()
            << (forecaster ? " windows (by time)" : " rows") << ": "
            << MetricsText(result->holdout_metrics) << "\n";
  if (forecaster) {
    absl::StatusOr<std::unique_ptr<model::Model>> m =
        model::Model::FromBundle(result->candidate);
    std::vector<float> out;
    if (!m.ok() || !(*m)->Forward(holdout.features.data(),
                                  static_cast<int>(holdout.size()), &out)
                        .ok()) {
      return Fail("fit", absl::InternalError("the trained model did not run"),
                  1);
    }
    const model::ForecastScores scores = model::ScoreForecast(
        resolved, windows.holdout, out,
        model::SeasonalScales(windows.series, resolved, windows.season,
                              windows.cutoff));
    std::cout << absl::StrFormat(
        "MASE %.4f, seasonal naive (season %d steps) %.4f, ratio %.3f\n",
        scores.mase, windows.season, scores.naive_mase,
        scores.naive_mase > 0 ? scores.mase / scores.naive_mase : 0.0);
  }
  if (absl::Status s = model::WriteBundleFile(output, result->candidate);
      !s.ok()) {
    return Fail("fit", s, 2);
  }
  std::cout << "wrote " << output << "\n";
  return 0;
}

int RunModelPredict(const std::string& bundle_path) {
  const std::string input = absl::GetFlag(FLAGS_input);
  if (input.empty()) {
    return Fail("predict",
                absl::InvalidArgumentError("--input=FILE.csv is required"), 2);
  }
  absl::StatusOr<internal::v1::ModelBundle> bundle =
      model::ReadBundleFile(bundle_path);
  if (!bundle.ok()) return Fail("predict", bundle.status(), 2);
  absl::StatusOr<std::unique_ptr<model::Model>> m =
      model::Model::FromBundle(*bundle);
  if (!m.ok()) return Fail("predict", m.status(), 1);
  absl::StatusOr<std::string> text =
      store::DefaultFileSystem()->ReadFileToString(input);
  if (!text.ok()) return Fail("predict", text.status(), 2);
  const v1::ModelSpec spec = model::ResolveSpec(bundle->manifest().spec());
  std::vector<float> values;
  int64_t lines = 0;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    ++line_number;
    line = absl::StripTrailingAsciiWhitespace(line);
    if (line.empty()) continue;
    std::vector<std::string> cells = absl::StrSplit(line, ',');
    std::vector<float> row;
    for (const std::string& c : cells) {
      float v = 0;
      if (!absl::SimpleAtof(absl::StripAsciiWhitespace(c), &v)) break;
      row.push_back(v);
    }
    if (row.size() != cells.size()) {
      if (lines == 0 && line_number == 1) continue;  // a header
      return Fail("predict",
                  absl::InvalidArgumentError(absl::StrCat(
                      input, " line ", line_number, ": not all numbers")),
                  2);
    }
    if (static_cast<int>(row.size()) != spec.input_dim()) {
      return Fail("predict",
                  absl::InvalidArgumentError(absl::StrCat(
                      input, " line ", line_number, " has ", row.size(),
                      " values; the model takes ", spec.input_dim())),
                  2);
    }
    values.insert(values.end(), row.begin(), row.end());
    ++lines;
  }
  const int64_t width = model::InputWidth(spec);
  if (lines == 0 || values.size() % width != 0) {
    return Fail("predict",
                absl::InvalidArgumentError(absl::StrCat(
                    input, " holds ", lines, " rows; the model takes ",
                    spec.family() == v1::MODEL_FAMILY_GRU_FORECASTER
                        ? absl::StrCat("whole windows of ",
                                       spec.sequence_length(), " rows")
                        : std::string("at least one"))),
                2);
  }
  const int n = static_cast<int>(values.size() / width);
  std::vector<float> out;
  if (absl::Status s = (*m)->Forward(values.data(), n, &out); !s.ok()) {
    return Fail("predict", s, 1);
  }
  const size_t per_row = out.size() / n;
  for (int r = 0; r < n; ++r) {
    std::vector<std::string> cells;
    for (size_t j = 0; j < per_row; ++j) {
      cells.push_back(absl::StrFormat("%.6g", out[r * per_row + j]));
    }
    std::cout << absl::StrJoin(cells, ",") << "\n";
  }
  return 0;
}

}  // namespace continuum::ctl
