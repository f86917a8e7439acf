// The GRU forecaster: its spec's rules, its forward pass against a plain
// C++ GRU written from PyTorch's equations, training on seasonal series
// judged against seasonal naive on later, held-out steps, and the windows
// built from series (gaps, the time split, the scores).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "lib/model/bundle.h"
#include "lib/model/dataset.h"
#include "lib/model/evaluation.h"
#include "lib/model/forecasting.h"
#include "lib/model/model.h"
#include "lib/model/normalization.h"
#include "lib/model/training.h"

namespace continuum::model {
namespace {

using internal::v1::ModelBundle;
using ::testing::HasSubstr;

v1::ModelSpec Spec(int input_dim, int series, int steps, int hidden,
                   std::vector<int> horizons, int layers = 1) {
  v1::ModelSpec spec;
  spec.set_family(v1::MODEL_FAMILY_GRU_FORECASTER);
  spec.set_input_dim(input_dim);
  spec.set_output_dim(series);
  spec.set_sequence_length(steps);
  spec.add_hidden_sizes(hidden);
  spec.set_num_layers(layers);
  for (int h : horizons) spec.add_horizons(h);
  return spec;
}

ModelBundle Fresh(const v1::ModelSpec& spec, uint64_t seed = 7) {
  v1::ArtifactManifest m;
  m.set_model("forecast");
  *m.mutable_spec() = spec;
  absl::StatusOr<ModelBundle> b = Model::InitBundle(m, seed);
  EXPECT_TRUE(b.ok()) << b.status();
  return *b;
}

void ExpectSpecError(const v1::ModelSpec& spec, const std::string& needle) {
  absl::Status s = ValidateSpec(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(needle));
}

TEST(ForecasterSpecTest, RulesAreEnforcedWithTheFieldNamed) {
  EXPECT_TRUE(ValidateSpec(Spec(3, 2, 8, 16, {1, 3})).ok());
  v1::ModelSpec defaults;
  defaults.set_family(v1::MODEL_FAMILY_GRU_FORECASTER);
  defaults.set_input_dim(1);
  defaults.set_output_dim(1);
  EXPECT_TRUE(ValidateSpec(defaults).ok());
  const v1::ModelSpec r = ResolveSpec(defaults);
  EXPECT_EQ(r.sequence_length(), 32);
  EXPECT_EQ(r.num_layers(), 1);
  EXPECT_THAT(r.hidden_sizes(), ::testing::ElementsAre(64));
  EXPECT_THAT(r.horizons(), ::testing::ElementsAre(1));
  EXPECT_THAT(r.quantiles(), ::testing::ElementsAre(0.1f, 0.5f, 0.9f));

  ExpectSpecError(Spec(2, 3, 8, 16, {1}), "output_dim is 3; must be 1 to");
  v1::ModelSpec s = Spec(3, 1, 8, 16, {1});
  s.add_hidden_sizes(8);
  ExpectSpecError(s, "hidden_sizes has 2 entries");
  ExpectSpecError(Spec(3, 1, 8, 16, {3, 3}), "horizons[1] is 3");
  ExpectSpecError(Spec(3, 1, 8, 16, {0}), "horizons[0] is 0");
  ExpectSpecError(Spec(3, 1, kMaxForecasterSteps + 1, 16, {1}),
                  "sequence_length is");
  ExpectSpecError(Spec(3, 1, 8, 16, {1}, kMaxForecasterLayers + 1),
                  "num_layers is");
  s = Spec(3, 1, 8, 16, {1});
  s.add_quantiles(0.5f);
  s.add_quantiles(0.5f);
  ExpectSpecError(s, "quantiles[1] is 0.5");
  s = Spec(3, 1, 8, 16, {1});
  s.add_quantiles(1.0f);
  ExpectSpecError(s, "quantiles[0] is 1");
  s = Spec(3, 1, 8, 16, {1});
  s.set_latent_dim(4);
  ExpectSpecError(s, "latent_dim");
}

TEST(ForecasterSpecTest, BundleHasWindowAndForecastShapes) {
  const ModelBundle b = Fresh(Spec(3, 2, 8, 16, {1, 3}));
  ASSERT_TRUE(ValidateBundle(b).ok()) << ValidateBundle(b);
  EXPECT_THAT(b.manifest().input_schema().shape(),
              ::testing::ElementsAre(8, 3));
  EXPECT_THAT(b.manifest().output_schema().shape(),
              ::testing::ElementsAre(2, 2, 3));
  EXPECT_THAT(b.warmup_inputs().shape(), ::testing::ElementsAre(8, 24));
  ASSERT_EQ(b.weights_size(), 6);
  EXPECT_EQ(b.weights(0).name(), "gru.weight_ih_l0");
  EXPECT_THAT(b.weights(0).tensor().shape(), ::testing::ElementsAre(48, 3));
  EXPECT_EQ(b.weights(4).name(), "head.weight");
  EXPECT_THAT(b.weights(4).tensor().shape(), ::testing::ElementsAre(12, 16));

  // A bundle whose input schema is an MLP's row is refused.
  ModelBundle bad = b;
  bad.mutable_manifest()->mutable_input_schema()->clear_shape();
  bad.mutable_manifest()->mutable_input_schema()->add_shape(24);
  EXPECT_THAT(std::string(ValidateBundle(bad).message()),
              HasSubstr("input_schema.shape is [24]; expected [8, 3]"));
}

double Sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// PyTorch's GRU (torch.nn.GRU's documentation) and the linear head, in
// plain C++ from the bundle's weights, for a bundle with identity
// statistics, one row: the series relative to their last value in, the
// change from it out.
std::vector<double> ReferenceForward(const ModelBundle& b,
                                     const std::vector<float>& row) {
  const v1::ModelSpec spec = ResolveSpec(b.manifest().spec());
  const int hidden = spec.hidden_sizes(0);
  const int steps = spec.sequence_length();
  auto w = [&](int i) { return b.weights(i).tensor().data(); };
  std::vector<std::vector<double>> seq(steps);
  const int f = spec.input_dim();
  const int series = spec.output_dim();
  std::vector<double> anchor(row.begin() + (steps - 1) * f,
                             row.begin() + (steps - 1) * f + series);
  for (int t = 0; t < steps; ++t) {
    seq[t].assign(row.begin() + t * f, row.begin() + (t + 1) * f);
    for (int j = 0; j < series; ++j) seq[t][j] -= anchor[j];
  }
  for (int k = 0; k < spec.num_layers(); ++k) {
    const auto& w_ih = w(4 * k);
    const auto& w_hh = w(4 * k + 1);
    const auto& b_ih = w(4 * k + 2);
    const auto& b_hh = w(4 * k + 3);
    const int in = static_cast<int>(seq[0].size());
    std::vector<double> h(hidden, 0.0);
    for (int t = 0; t < steps; ++t) {
      // Gates r, z, n in that order along the first dimension.
      std::vector<double> gi(3 * hidden), gh(3 * hidden);
      for (int g = 0; g < 3 * hidden; ++g) {
        gi[g] = b_ih[g];
        for (int j = 0; j < in; ++j) gi[g] += w_ih[g * in + j] * seq[t][j];
        gh[g] = b_hh[g];
        for (int j = 0; j < hidden; ++j) gh[g] += w_hh[g * hidden + j] * h[j];
      }
      std::vector<double> next(hidden);
      for (int j = 0; j < hidden; ++j) {
        const double r = Sigmoid(gi[j] + gh[j]);
        const double z = Sigmoid(gi[hidden + j] + gh[hidden + j]);
        const double n = std::tanh(gi[2 * hidden + j] + r * gh[2 * hidden + j]);
        next[j] = (1 - z) * n + z * h[j];
      }
      h = next;
      seq[t] = h;
    }
  }
  const auto& head_w = w(4 * spec.num_layers());
  const auto& head_b = w(4 * spec.num_layers() + 1);
  std::vector<double> out(head_b.size());
  for (size_t o = 0; o < out.size(); ++o) {
    out[o] = head_b[o];
    for (int j = 0; j < hidden; ++j) {
      out[o] += head_w[o * hidden + j] * seq[steps - 1][j];
    }
    // Layout [horizon, series, quantile].
    out[o] += anchor[(o / spec.quantiles_size()) % series];
  }
  return out;
}

TEST(ForecasterModelTest, ForwardIsPyTorchsGruWithSortedQuantiles) {
  // Two layers, identity normalisation: the outputs are the head's, each
  // horizon's and series' quantiles sorted.
  const ModelBundle b = Fresh(Spec(3, 2, 6, 5, {1, 2}, 2));
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromBundle(b);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->input_dim(), 18);
  EXPECT_EQ((*model)->output_dim(), 12);
  std::mt19937_64 rng(3);
  std::normal_distribution<float> normal(0, 1);
  std::vector<float> rows(4 * 18);
  for (float& v : rows) v = normal(rng);
  std::vector<float> out;
  ASSERT_TRUE((*model)->Forward(rows.data(), 4, &out).ok());
  ASSERT_EQ(out.size(), 4u * 12);
  for (int r = 0; r < 4; ++r) {
    std::vector<double> want = ReferenceForward(
        b, std::vector<float>(rows.begin() + r * 18,
                              rows.begin() + (r + 1) * 18));
    for (size_t g = 0; g < want.size(); g += 3) {
      std::sort(want.begin() + g, want.begin() + g + 3);
    }
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(out[r * 12 + i], want[i], 1e-5) << "row " << r << " " << i;
    }
  }
}

TEST(ForecasterModelTest, SeriesAreReadAndForecastRelativeToTheLastValue) {
  ModelBundle b = Fresh(Spec(2, 1, 4, 4, {1}));
  const ModelBundle plain_bundle = b;  // identity statistics
  auto* norm = b.mutable_manifest()->mutable_normalization();
  norm->set_mean(0, 10);
  norm->set_std(0, 2);
  absl::StatusOr<std::unique_ptr<Model>> scaled = Model::FromBundle(b);
  absl::StatusOr<std::unique_ptr<Model>> plain =
      Model::FromBundle(plain_bundle);
  ASSERT_TRUE(scaled.ok() && plain.ok());
  // Steps of (series, covariate). The scaled model reads the series as
  // (x - 7) / 2 (7 = the last value; its mean 10 cancels), the plain one as
  // x - last: halving the series gives the plain one the same inputs.
  std::vector<float> x = {12, 1, 8, 2, 10, 3, 7, 4};
  std::vector<float> half = {6, 1, 4, 2, 5, 3, 3.5, 4};
  std::vector<float> a, c;
  ASSERT_TRUE((*scaled)->Forward(x.data(), 1, &a).ok());
  ASSERT_TRUE((*plain)->Forward(half.data(), 1, &c).ok());
  ASSERT_EQ(a.size(), 3u);
  for (int q = 0; q < 3; ++q) {
    // plain = 3.5 + out, scaled = 7 + 2 out.
    EXPECT_NEAR(a[q], 7 + 2 * (c[q] - 3.5), 1e-4) << q;
  }
  // A level never seen shifts the forecast by as much.
  std::vector<float> shifted = x;
  for (int t = 0; t < 4; ++t) shifted[2 * t] += 1000;
  std::vector<float> d;
  ASSERT_TRUE((*scaled)->Forward(shifted.data(), 1, &d).ok());
  for (int q = 0; q < 3; ++q) EXPECT_NEAR(d[q], a[q] + 1000, 1e-3);

  // No target statistics, and no renormalisation of a trained forecaster.
  ModelBundle bad = b;
  bad.mutable_target_normalization()->add_mean(0);
  bad.mutable_target_normalization()->add_std(1);
  EXPECT_THAT(std::string(ValidateBundle(bad).message()),
              HasSubstr("only regressors use it"));
  v1::NormalizationStats to = b.manifest().normalization();
  EXPECT_THAT(std::string(Renormalize(to, &b).message()),
              HasSubstr("keeps the normalisation it was trained with"));
}

// `n` hourly steps of `count` series: a daily cycle of amplitude 10, a
// series-specific level rising by 1.2 a day (so the held-out days lie above
// everything trained on), noise sd 1, and the hour of day as a second
// feature (sin).
std::vector<Series> DailySeries(int count, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0, 1);
  std::vector<Series> out;
  for (int s = 0; s < count; ++s) {
    Series series;
    series.name = "s" + std::to_string(s);
    for (int t = 0; t < n; ++t) {
      const double phase = 2 * M_PI * (t % 24) / 24.0;
      series.times.push_back(t);
      series.values.push_back(
          static_cast<float>(50 + 20 * s + 0.05 * t + 10 * std::sin(phase) +
                             noise(rng)));
      series.values.push_back(static_cast<float>(std::sin(phase)));
    }
    out.push_back(std::move(series));
  }
  return out;
}

TEST(ForecasterTrainTest, BeatsSeasonalNaiveOnLaterSteps) {
  const v1::ModelSpec spec = Spec(2, 1, 24, 16, {1, 6});
  const std::vector<Series> series = DailySeries(2, 24 * 40, 11);
  WindowOptions options;
  options.season = 24;
  absl::StatusOr<ForecastWindows> all =
      BuildForecastWindows(series, spec, options);
  ASSERT_TRUE(all.ok()) << all.status();
  // The last 5 days are held out, by time.
  const int64_t cutoff = 24 * 35;
  ForecastWindows train, holdout;
  SplitByTime(*all, cutoff, &train, &holdout);
  ASSERT_GT(train.data.size(), 1000);
  ASSERT_GT(holdout.data.size(), 150);

  ModelBundle parent = Fresh(spec, 5);
  *parent.mutable_manifest()->mutable_normalization() =
      FitNormalization(spec.input_dim(), train.data.features);
  v1::TrainingConfig config;
  config.mutable_optimizer()->set_learning_rate(1e-2);
  config.set_epochs(6);
  config.set_batch_size(64);
  config.set_seed(3);
  config.mutable_guards()->set_replay_ratio(0);
  absl::StatusOr<TrainResult> r =
      Train(parent, train.data, nullptr, holdout.data, config);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_FALSE(r->diverged);
  EXPECT_LT(r->epochs.back().holdout_loss, r->initial_holdout_loss);

  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::FromBundle(r->candidate);
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<float> out;
  ASSERT_TRUE(
      (*model)->Forward(holdout.data.features.data(),
                        static_cast<int>(holdout.data.size()), &out)
          .ok());
  const ForecastScores scores = ScoreForecast(
      spec, holdout, out, SeasonalScales(series, spec, 24, cutoff));
  // Seasonal naive carries a day-old value with its noise and misses the
  // day's rise (MASE about 1); the GRU, reading the window relative to its
  // last value, follows the level.
  EXPECT_GT(scores.naive_mase, 0.8);
  EXPECT_LT(scores.mase, 0.85 * scores.naive_mase)
      << "mase " << scores.mase << " naive " << scores.naive_mase;
  EXPECT_NEAR(scores.nominal_coverage, 0.8, 1e-6);
  EXPECT_GT(scores.coverage, 0.6);
  EXPECT_LT(scores.coverage, 0.95);

  // The candidate's metrics are the pinball loss and the interval coverage
  // of the same forecasts; its reference summarises the windows' last steps.
  const v1::Metrics& m = r->candidate.manifest().metrics();
  EXPECT_NEAR(m.loss(), scores.pinball, 1e-4);
  EXPECT_NEAR(m.extra().at("interval_coverage"), scores.coverage, 1e-9);
  EXPECT_EQ(r->candidate.reference().features_size(), 2);
  EXPECT_EQ(r->candidate.fisher_size(), r->candidate.weights_size());

  // An incremental run with EWC from the candidate runs on its Fisher.
  config.set_epochs(1);
  config.mutable_guards()->set_ewc_lambda(10);
  absl::StatusOr<TrainResult> next =
      Train(r->candidate, holdout.data, &train.data, holdout.data, config);
  ASSERT_TRUE(next.ok()) << next.status();
  for (const std::string& note : next->notes) {
    EXPECT_THAT(note, ::testing::Not(HasSubstr("EWC is off")));
  }
}

TEST(ForecastWindowsTest, WindowsTargetsAndSeasonalNaive) {
  // One feature, values = the step index, 10 steps.
  Series s;
  s.name = "a";
  for (int t = 0; t < 10; ++t) {
    s.times.push_back(100 + 10 * t);
    s.values.push_back(static_cast<float>(t));
  }
  const v1::ModelSpec spec = Spec(1, 1, 3, 4, {1, 2});
  WindowOptions options;
  options.step = 10;
  options.season = 2;
  absl::StatusOr<ForecastWindows> w =
      BuildForecastWindows({s}, spec, options);
  ASSERT_TRUE(w.ok()) << w.status();
  // Windows end at steps 2..7 (two steps of horizon after them).
  ASSERT_EQ(w->data.size(), 6);
  EXPECT_THAT(std::vector<float>(w->data.features.begin(),
                                 w->data.features.begin() + 3),
              ::testing::ElementsAre(0, 1, 2));
  EXPECT_THAT(std::vector<float>(w->data.targets.begin(),
                                 w->data.targets.begin() + 2),
              ::testing::ElementsAre(3, 4));
  // Season 2: step 3 is forecast by step 1, step 4 by step 2.
  EXPECT_THAT(std::vector<float>(w->naive.begin(), w->naive.begin() + 2),
              ::testing::ElementsAre(1, 2));
  EXPECT_EQ(w->first_target_time[0], 130);
  EXPECT_EQ(w->last_target_time[0], 140);
  EXPECT_EQ(w->skipped, 0);

  // A gap after step 5 (a missing step): windows crossing it are skipped.
  Series gap = s;
  for (int t = 6; t < 10; ++t) gap.times[t] += 10;
  w = BuildForecastWindows({gap}, spec, options);
  ASSERT_TRUE(w.ok());
  // Ends 2 and 3 fit before the gap (targets up to step 5); ends 4..7 cross
  // it; after it, steps 6..9 are too few for a window of 3 plus 2 ahead.
  EXPECT_EQ(w->data.size(), 2);
  EXPECT_EQ(w->skipped, 4);

  // Split by time: targets before 160 train, from 160 on held out; the
  // window whose targets are 150 and 160 straddles and is in neither.
  w = BuildForecastWindows({s}, spec, options);
  ForecastWindows train, holdout;
  SplitByTime(*w, 160, &train, &holdout);
  EXPECT_EQ(train.data.size(), 2);
  EXPECT_EQ(holdout.data.size(), 3);
  EXPECT_EQ(holdout.first_target_time[0], 160);
}

TEST(ForecastWindowsTest, BadSeriesAreRefusedWithTheirNames) {
  const v1::ModelSpec spec = Spec(1, 1, 3, 4, {1});
  Series s;
  s.name = "cpu";
  s.times = {1, 2, 2};
  s.values = {1, 2, 3};
  absl::StatusOr<ForecastWindows> w = BuildForecastWindows({s}, spec, {});
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(w.status().message()),
              HasSubstr("series cpu: step 2 at time 2 is not after"));
  s.times = {1, 2, 3};
  s.values = {1, NAN, 3};
  w = BuildForecastWindows({s}, spec, {});
  EXPECT_THAT(std::string(w.status().message()),
              HasSubstr("series cpu: step 1 feature 0 is nan"));
  s.values = {1, 2};
  w = BuildForecastWindows({s}, spec, {});
  EXPECT_THAT(std::string(w.status().message()),
              HasSubstr("2 values for 3 steps"));
  WindowOptions bad;
  bad.season = 0;
  s.values = {1, 2, 3};
  w = BuildForecastWindows({s}, spec, bad);
  EXPECT_THAT(std::string(w.status().message()), HasSubstr("season 0"));
}

}  // namespace
}  // namespace continuum::model
