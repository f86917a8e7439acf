// forecast_bench: the GRU forecaster (MODEL_FAMILY_GRU_FORECASTER) on real
// public series, and its speed beside bare LibTorch.
//
// Accuracy: each data set's series is cut by time into training, validation
// (early stopping) and test steps (the last --test_fraction of its span,
// never seen by training or early stopping); a window belongs to a part
// when all its targets lie in it. On the test windows it prints the
// MASE of the forecaster's median and of the seasonal-naive forecast (each
// error scaled by the training steps' mean seasonal difference), their
// ratio (< 1: the forecaster beats seasonal naive), the pinball loss and
// the share of actuals inside the P10-P90 band (nominally 0.8). The data
// sets are the CSVs of Debian's python3-statsmodels: co2 (weekly Mauna Loa
// CO2, season 52, with missing weeks: the gap rule), elec_equip (monthly
// orders, season 12), elnino (monthly sea temperatures, season 12) and
// sunspots (yearly, an 11-year cycle). One configuration for all of them,
// chosen on co2 and elec_equip; elnino and sunspots were left out of that
// choice and are marked "held out".
//
// Speed, each beside a reference measured in the same run: one optimizer
// step of OnlineUpdater on a batch of co2 windows beside a bare LibTorch
// loop doing the same (torch::nn::GRU and Linear, AdamW with the same
// settings, the pinball loss, gradient clipping), and a batch-1 forecast
// through Model::Forward beside the same network's bare forward.
//
// Prints tables; with --json also one JSON object as the last line.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "lib/model/bundle.h"
#include "lib/model/dataset.h"
#include "lib/model/forecasting.h"
#include "lib/model/model.h"
#include "lib/model/normalization.h"
#include "lib/model/torch_runtime.h"
#include "lib/model/training.h"

ABSL_FLAG(bool, json, false, "Print one JSON object as the last line.");
ABSL_FLAG(std::string, statsmodels_dir,
          "/usr/lib/python3/dist-packages/statsmodels/datasets",
          "Where python3-statsmodels keeps its data sets.");
ABSL_FLAG(int, epochs, 40, "Most epochs per data set (early stopping).");
ABSL_FLAG(int, hidden, 32, "The GRU's hidden size.");
ABSL_FLAG(double, test_fraction, 0.2,
          "Share of each series' time span, at its end, held out as test.");
ABSL_FLAG(double, validation_fraction, 0.1,
          "Share of the span before the test steps used for early stopping.");
ABSL_FLAG(int, steps, 200, "Measured optimizer steps and forecasts.");

namespace {

using Clock = std::chrono::steady_clock;
namespace model = continuum::model;
namespace v1 = continuum::v1;

constexpr double kBarRatio = 1.3;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "forecast_bench: %s\n", what.c_str());
  return 1;
}

struct DataSet {
  std::string name;
  int season = 1;
  int sequence_length = 1;
  std::vector<int> horizons;
  bool held_out = false;  // left out of choosing the configuration
  // Time index (weeks, months or years) and value of each observed step.
  std::vector<int64_t> times;
  std::vector<float> values;
};

DataSet Named(std::string name, int season, int sequence_length,
              std::vector<int> horizons, bool held_out) {
  DataSet d;
  d.name = std::move(name);
  d.season = season;
  d.sequence_length = sequence_length;
  d.horizons = std::move(horizons);
  d.held_out = held_out;
  return d;
}

std::vector<std::vector<std::string>> ReadCsv(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {
      header = false;
      continue;
    }
    std::vector<std::string> cells = absl::StrSplit(line, ',');
    for (std::string& c : cells) c = std::string(absl::StripAsciiWhitespace(c));
    rows.push_back(std::move(cells));
  }
  return rows;
}

bool ParseFloat(const std::string& s, float* v) {
  return !s.empty() && absl::SimpleAtof(s, v) && std::isfinite(*v);
}

// co2: "19580329,316.1", weekly; empty values are missing weeks.
DataSet Co2(const std::string& dir) {
  DataSet d = Named("co2", 52, 104, {1, 4, 13, 26}, false);
  for (const auto& row : ReadCsv(dir + "/co2/co2.csv")) {
    int64_t date = 0;
    float v = 0;
    if (row.size() < 2 || !absl::SimpleAtoi(row[0], &date) ||
        !ParseFloat(row[1], &v)) {
      continue;
    }
    const absl::CivilDay day(date / 10000, date / 100 % 100, date % 100);
    d.times.push_back((day - absl::CivilDay(1958, 3, 29)) / 7);
    d.values.push_back(v);
  }
  return d;
}

// elec_equip: "Jan-1-1995,66.19", monthly.
DataSet ElecEquip(const std::string& dir) {
  DataSet d = Named("elec_equip", 12, 36, {1, 3, 6, 12}, false);
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (const auto& row : ReadCsv(dir + "/elec_equip/elec_equip.csv")) {
    std::vector<std::string> parts = absl::StrSplit(row[0], '-');
    int year = 0;
    float v = 0;
    if (parts.size() != 3 || !absl::SimpleAtoi(parts[2], &year) ||
        row.size() < 2 || !ParseFloat(row[1], &v)) {
      continue;
    }
    int month = 0;
    while (month < 12 && parts[0] != kMonths[month]) ++month;
    if (month == 12) continue;
    d.times.push_back(year * 12 + month);
    d.values.push_back(v);
  }
  return d;
}

// elnino: a row per year, twelve monthly columns.
DataSet ElNino(const std::string& dir) {
  DataSet d = Named("elnino", 12, 36, {1, 3, 6, 12}, true);
  for (const auto& row : ReadCsv(dir + "/elnino/elnino.csv")) {
    int year = 0;
    if (row.size() != 13 || !absl::SimpleAtoi(absl::StripPrefix(
                                                  absl::StripSuffix(row[0], "\""),
                                                  "\""),
                                              &year)) {
      continue;
    }
    for (int m = 0; m < 12; ++m) {
      float v = 0;
      if (!ParseFloat(row[m + 1], &v)) continue;
      d.times.push_back(year * 12 + m);
      d.values.push_back(v);
    }
  }
  return d;
}

// sunspots: "1700,5", yearly; the cycle is about 11 years.
DataSet Sunspots(const std::string& dir) {
  DataSet d = Named("sunspots", 11, 33, {1, 2, 5}, true);
  for (const auto& row : ReadCsv(dir + "/sunspots/sunspots.csv")) {
    int year = 0;
    float v = 0;
    if (row.size() < 2 || !absl::SimpleAtoi(row[0], &year) ||
        !ParseFloat(row[1], &v)) {
      continue;
    }
    d.times.push_back(year);
    d.values.push_back(v);
  }
  return d;
}

// The spec of a data set: the value and the season's phase (sin, cos) per
// step, the value forecast.
v1::ModelSpec SpecOf(const DataSet& d, int hidden) {
  v1::ModelSpec spec;
  spec.set_family(v1::MODEL_FAMILY_GRU_FORECASTER);
  spec.set_input_dim(3);
  spec.set_output_dim(1);
  spec.set_sequence_length(d.sequence_length);
  spec.add_hidden_sizes(hidden);
  for (int h : d.horizons) spec.add_horizons(h);
  return model::ResolveSpec(spec);
}

model::Series SeriesOf(const DataSet& d) {
  model::Series s;
  s.name = d.name;
  s.times = d.times;
  for (size_t k = 0; k < d.times.size(); ++k) {
    const double phase = 2 * M_PI * static_cast<double>(d.times[k] % d.season) /
                         d.season;
    s.values.push_back(d.values[k]);
    s.values.push_back(static_cast<float>(std::sin(phase)));
    s.values.push_back(static_cast<float>(std::cos(phase)));
  }
  return s;
}

struct Accuracy {
  std::string name;
  bool held_out = false;
  int64_t train = 0, validation = 0, test = 0, skipped = 0;
  int epochs = 0;
  double seconds_per_epoch = 0, samples_per_second = 0;
  model::ForecastScores scores;
};

v1::TrainingConfig BenchConfig(int epochs) {
  v1::TrainingConfig config;
  config.set_strategy(v1::TRAINING_STRATEGY_FULL_RETRAIN);
  config.mutable_optimizer()->set_learning_rate(5e-3);
  config.set_epochs(epochs);
  config.set_batch_size(32);
  config.set_seed(1);
  config.mutable_early_stopping()->set_patience(5);
  config.mutable_guards()->set_replay_ratio(0);
  return config;
}

absl::StatusOr<Accuracy> RunDataSet(const DataSet& d, int hidden,
                                    double test_fraction,
                                    double validation_fraction, int epochs) {
  const v1::ModelSpec spec = SpecOf(d, hidden);
  const model::Series series = SeriesOf(d);
  model::WindowOptions options;
  options.season = d.season;
  absl::StatusOr<model::ForecastWindows> all =
      model::BuildForecastWindows({series}, spec, options);
  if (!all.ok()) return all.status();
  // Test: the last test_fraction of the time span; validation: the
  // validation_fraction before it.
  const int64_t begin = d.times.front();
  const int64_t span = d.times.back() + 1 - begin;
  const int64_t test_cut =
      begin + static_cast<int64_t>(std::llround(span * (1 - test_fraction)));
  const int64_t val_cut =
      test_cut - static_cast<int64_t>(std::llround(span * validation_fraction));
  model::ForecastWindows fit, test, train, validation;
  model::SplitByTime(*all, test_cut, &fit, &test);
  model::SplitByTime(fit, val_cut, &train, &validation);
  if (train.data.size() == 0 || validation.data.size() == 0 ||
      test.data.size() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(d.name, ": too few windows (", train.data.size(), ", ",
                     validation.data.size(), ", ", test.data.size(), ")"));
  }
  v1::ArtifactManifest manifest;
  manifest.set_model(d.name);
  *manifest.mutable_spec() = spec;
  absl::StatusOr<continuum::internal::v1::ModelBundle> parent =
      model::Model::InitBundle(manifest, 1);
  if (!parent.ok()) return parent.status();
  *parent->mutable_manifest()->mutable_normalization() =
      model::FitNormalization(spec.input_dim(), train.data.features);
  absl::StatusOr<model::TrainResult> r =
      model::Train(*parent, train.data, nullptr, validation.data,
                   BenchConfig(epochs));
  if (!r.ok()) return r.status();
  absl::StatusOr<std::unique_ptr<model::Model>> m =
      model::Model::FromBundle(r->candidate);
  if (!m.ok()) return m.status();
  std::vector<float> out;
  if (absl::Status s = (*m)->Forward(test.data.features.data(),
                                     static_cast<int>(test.data.size()), &out);
      !s.ok()) {
    return s;
  }
  Accuracy a;
  a.name = d.name;
  a.held_out = d.held_out;
  a.train = train.data.size();
  a.validation = validation.data.size();
  a.test = test.data.size();
  a.skipped = all->skipped;
  a.epochs = static_cast<int>(r->epochs.size());
  a.seconds_per_epoch = r->train_seconds / std::max<size_t>(1, r->epochs.size());
  a.samples_per_second = r->samples_per_second;
  a.scores = model::ScoreForecast(
      spec, test, out, model::SeasonalScales({series}, spec, d.season, test_cut));
  return a;
}

// The bare LibTorch network of a spec: torch::nn::GRU and a Linear head.
struct BareNet : torch::nn::Module {
  explicit BareNet(const v1::ModelSpec& spec)
      : gru(register_module(
            "gru", torch::nn::GRU(torch::nn::GRUOptions(spec.input_dim(),
                                                        spec.hidden_sizes(0))
                                      .batch_first(true)))),
        head(register_module(
            "head", torch::nn::Linear(spec.hidden_sizes(0),
                                      model::OutputWidth(spec)))) {}
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor h = std::get<0>(gru->forward(x));
    return head->forward(h.select(1, h.size(1) - 1));
  }
  torch::nn::GRU gru;
  torch::nn::Linear head;
};

struct Speed {
  double ours_step_ms = 0, bare_step_ms = 0;
  double ours_forecast_us = 0, bare_forecast_us = 0;
  int batch = 0;
};

absl::StatusOr<Speed> MeasureSpeed(const DataSet& d, int hidden, int steps) {
  const v1::ModelSpec spec = SpecOf(d, hidden);
  model::WindowOptions options;
  options.season = d.season;
  absl::StatusOr<model::ForecastWindows> all =
      model::BuildForecastWindows({SeriesOf(d)}, spec, options);
  if (!all.ok()) return all.status();
  Speed speed;
  speed.batch = 32;
  const int64_t in = model::InputWidth(spec);
  const int64_t width = model::Dataset::TargetWidth(spec);
  model::Dataset batch;
  batch.input_dim = static_cast<int>(in);
  batch.features.assign(all->data.features.begin(),
                        all->data.features.begin() + speed.batch * in);
  batch.targets.assign(all->data.targets.begin(),
                       all->data.targets.begin() + speed.batch * width);
  v1::ArtifactManifest manifest;
  manifest.set_model(d.name);
  *manifest.mutable_spec() = spec;
  absl::StatusOr<continuum::internal::v1::ModelBundle> bundle =
      model::Model::InitBundle(manifest, 1);
  if (!bundle.ok()) return bundle.status();
  // Both on normalised data: ours normalises inside with these statistics.
  *bundle->mutable_manifest()->mutable_normalization() =
      model::FitNormalization(spec.input_dim(), all->data.features);
  v1::TrainingConfig config = BenchConfig(1);
  config.set_strategy(v1::TRAINING_STRATEGY_ONLINE);
  absl::StatusOr<v1::TrainingConfig> resolved =
      model::ResolveTrainingConfig(config);
  if (!resolved.ok()) return resolved.status();
  absl::StatusOr<std::unique_ptr<model::OnlineUpdater>> updater =
      model::OnlineUpdater::Create(*bundle, config);
  if (!updater.ok()) return updater.status();

  torch::manual_seed(1);
  auto bare = std::make_shared<BareNet>(spec);
  const v1::OptimizerConfig& o = resolved->optimizer();
  torch::optim::AdamW optimizer(bare->parameters(),
                                torch::optim::AdamWOptions(o.learning_rate())
                                    .betas({o.beta1(), o.beta2()})
                                    .eps(o.epsilon())
                                    .weight_decay(o.weight_decay()));
  const auto& norm = bundle->manifest().normalization();
  torch::Tensor mean = torch::tensor(std::vector<float>(norm.mean().begin(),
                                                        norm.mean().end()));
  torch::Tensor sd = torch::tensor(std::vector<float>(norm.std().begin(),
                                                      norm.std().end()));
  // The same inputs and targets as ours (gru_forecaster.h): the series
  // relative to the window's last value, covariates to their mean, both
  // divided by the deviation and bounded by the clip.
  torch::Tensor raw = torch::from_blob(batch.features.data(),
                                       {speed.batch, spec.sequence_length(),
                                        spec.input_dim()})
                          .clone();
  torch::Tensor anchor = raw.select(1, spec.sequence_length() - 1)
                             .narrow(1, 0, 1)
                             .view({speed.batch, 1, 1});
  torch::Tensor origin = mean.view({1, 1, -1}).repeat({speed.batch, 1, 1});
  origin.narrow(2, 0, 1).copy_(anchor);
  torch::Tensor x = ((raw - origin) / sd).clamp(-norm.clip(), norm.clip());
  torch::Tensor y =
      (torch::from_blob(batch.targets.data(), {speed.batch, width}).clone() -
       anchor.view({speed.batch, 1})) /
      norm.std(0);
  std::vector<float> qs(spec.quantiles().begin(), spec.quantiles().end());
  torch::Tensor q = torch::tensor(qs).view({1, 1, -1});
  auto bare_step = [&] {
    optimizer.zero_grad();
    torch::Tensor e = y.view({speed.batch, -1, 1}) -
                      bare->forward(x).view({speed.batch, -1, q.size(2)});
    torch::Tensor loss = torch::max(q * e, (q - 1) * e).mean();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(bare->parameters(), o.grad_clip_norm());
    optimizer.step();
  };
  std::vector<double> ours, theirs;
  for (int i = 0; i < steps + 10; ++i) {
    const auto t0 = Clock::now();
    absl::StatusOr<double> loss = (*updater)->Update(batch);
    const auto t1 = Clock::now();
    if (!loss.ok()) return loss.status();
    bare_step();
    const auto t2 = Clock::now();
    if (i >= 10) {
      ours.push_back(Seconds(t0, t1) * 1e3);
      theirs.push_back(Seconds(t1, t2) * 1e3);
    }
  }
  speed.ours_step_ms = Median(ours);
  speed.bare_step_ms = Median(theirs);

  absl::StatusOr<std::unique_ptr<model::Model>> m =
      model::Model::FromBundle(*bundle);
  if (!m.ok()) return m.status();
  torch::Tensor one = x.narrow(0, 0, 1).contiguous();
  std::vector<float> out;
  ours.clear();
  theirs.clear();
  torch::NoGradGuard no_grad;
  for (int i = 0; i < steps + 10; ++i) {
    const auto t0 = Clock::now();
    if (absl::Status s = (*m)->Forward(batch.features.data(), 1, &out);
        !s.ok()) {
      return s;
    }
    const auto t1 = Clock::now();
    torch::Tensor f = bare->forward(one);
    const auto t2 = Clock::now();
    if (f.numel() != static_cast<int64_t>(out.size())) {
      return absl::InternalError("the bare forward's width differs");
    }
    if (i >= 10) {
      ours.push_back(Seconds(t0, t1) * 1e6);
      theirs.push_back(Seconds(t1, t2) * 1e6);
    }
  }
  speed.ours_forecast_us = Median(ours);
  speed.bare_forecast_us = Median(theirs);
  return speed;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  continuum::config::v1::TorchRuntimeConfig runtime;
  runtime.set_intra_op_threads(1);
  if (absl::Status s = model::ConfigureTorchRuntime(runtime); !s.ok()) {
    return Fail(s.ToString());
  }
  const std::string dir = absl::GetFlag(FLAGS_statsmodels_dir);
  const int hidden = absl::GetFlag(FLAGS_hidden);
  std::vector<DataSet> sets = {Co2(dir), ElecEquip(dir), ElNino(dir),
                               Sunspots(dir)};
  for (const DataSet& d : sets) {
    if (d.times.size() < 100) {
      return Fail(absl::StrCat("data set ", d.name, " has ", d.times.size(),
                               " steps: is python3-statsmodels installed in ",
                               dir, "?"));
    }
  }
  std::printf(
      "forecast_bench: GRU forecaster (hidden %d, quantiles 0.1/0.5/0.9) on "
      "python3-statsmodels series; test = the last %.0f%% of each series' "
      "span, validation = the %.0f%% before it\n\n",
      hidden, 100 * absl::GetFlag(FLAGS_test_fraction),
      100 * absl::GetFlag(FLAGS_validation_fraction));
  std::printf("%-11s %-9s %6s %5s %5s %5s %7s %7s %6s %8s %9s %8s %8s\n",
              "data set", "", "train", "val", "test", "gaps", "MASE", "naive",
              "ratio", "pinball", "coverage", "epochs", "s/epoch");
  std::vector<Accuracy> results;
  for (const DataSet& d : sets) {
    absl::StatusOr<Accuracy> a =
        RunDataSet(d, hidden, absl::GetFlag(FLAGS_test_fraction),
                   absl::GetFlag(FLAGS_validation_fraction),
                   absl::GetFlag(FLAGS_epochs));
    if (!a.ok()) return Fail(a.status().ToString());
    std::printf("%-11s %-9s %6lld %5lld %5lld %5lld %7.3f %7.3f %6.2f %8.3f "
                "%9.3f %8d %8.2f\n",
                a->name.c_str(), a->held_out ? "held out" : "tuned",
                static_cast<long long>(a->train),
                static_cast<long long>(a->validation),
                static_cast<long long>(a->test),
                static_cast<long long>(a->skipped), a->scores.mase,
                a->scores.naive_mase, a->scores.mase / a->scores.naive_mase,
                a->scores.pinball, a->scores.coverage, a->epochs,
                a->seconds_per_epoch);
    results.push_back(*a);
  }
  std::printf(
      "\nMASE: the median forecast's mean absolute error over the test "
      "targets (every horizon), each divided by the training steps' mean "
      "seasonal difference; naive: the seasonal-naive forecast's; ratio < 1 "
      "beats it. coverage: actuals inside P10-P90 (nominal 0.80). gaps: "
      "windows skipped because they cross missing steps.\n\n");

  absl::StatusOr<Speed> speed =
      MeasureSpeed(sets[0], hidden, absl::GetFlag(FLAGS_steps));
  if (!speed.ok()) return Fail(speed.status().ToString());
  const double step_ratio = speed->ours_step_ms / speed->bare_step_ms;
  const double forecast_ratio =
      speed->ours_forecast_us / speed->bare_forecast_us;
  std::printf("%-44s %12s %12s %7s\n", "speed (co2 windows, median)", "ours",
              "bare LibTorch", "ratio");
  std::printf("%-44s %9.3f ms %9.3f ms %7.2f\n",
              absl::StrCat("optimizer step, batch ", speed->batch,
                           " (OnlineUpdater)")
                  .c_str(),
              speed->ours_step_ms, speed->bare_step_ms, step_ratio);
  std::printf("%-44s %9.1f us %9.1f us %7.2f\n",
              "forecast, batch 1 (Model::Forward)", speed->ours_forecast_us,
              speed->bare_forecast_us, forecast_ratio);
  std::printf("\nBar: training step <= %.1fx the bare loop: %s.\n", kBarRatio,
              step_ratio <= kBarRatio ? "met" : "NOT met");

  if (absl::GetFlag(FLAGS_json)) {
    std::vector<std::string> fields = {"\"bench\":\"forecast\"",
                                       absl::StrCat("\"hidden\":", hidden)};
    for (const Accuracy& a : results) {
      fields.push_back(absl::StrCat(
          "\"", a.name, "\":{\"held_out\":", a.held_out ? "true" : "false",
          ",\"mase\":", a.scores.mase, ",\"naive_mase\":", a.scores.naive_mase,
          ",\"pinball\":", a.scores.pinball,
          ",\"coverage\":", a.scores.coverage,
          ",\"test_windows\":", a.test, ",\"epochs\":", a.epochs,
          ",\"seconds_per_epoch\":", a.seconds_per_epoch, "}"));
    }
    fields.push_back(absl::StrCat("\"step_ms\":", speed->ours_step_ms));
    fields.push_back(
        absl::StrCat("\"reference_bare_step_ms\":", speed->bare_step_ms));
    fields.push_back(absl::StrCat("\"step_ratio\":", step_ratio));
    fields.push_back(absl::StrCat("\"forecast_us\":", speed->ours_forecast_us));
    fields.push_back(absl::StrCat("\"reference_bare_forecast_us\":",
                                  speed->bare_forecast_us));
    fields.push_back(absl::StrCat("\"forecast_ratio\":", forecast_ratio));
    fields.push_back(absl::StrCat("\"meets_bar\":",
                                  step_ratio <= kBarRatio ? "true" : "false"));
    std::printf("{%s}\n", absl::StrJoin(fields, ",").c_str());
  }
  return 0;
}
