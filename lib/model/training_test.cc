#include "lib/model/training.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "lib/model/blas_lock.h"
#include "lib/model/bundle.h"
#include "lib/model/dataset.h"
#include "lib/model/evaluation.h"
#include "lib/model/model.h"
#include "lib/model/normalization.h"
#include "lib/model/torch_runtime.h"

namespace continuum::model {
namespace {

using internal::v1::ModelBundle;
using ::testing::Contains;
using ::testing::HasSubstr;

ModelBundle FreshBundle(v1::ModelFamily family, int inputs, int outputs,
                        std::vector<int> hidden, uint64_t seed = 1,
                        float dropout = 0) {
  v1::ArtifactManifest m;
  m.set_model("test");
  m.mutable_spec()->set_family(family);
  m.mutable_spec()->set_input_dim(inputs);
  m.mutable_spec()->set_output_dim(outputs);
  m.mutable_spec()->set_dropout(dropout);
  for (int h : hidden) m.mutable_spec()->add_hidden_sizes(h);
  absl::StatusOr<ModelBundle> b = Model::InitBundle(m, seed);
  EXPECT_TRUE(b.ok()) << b.status();
  return *b;
}

// n rows of Gaussian blobs: class c centred at `centres[c]` with unit
// variance, classes in turn.
Dataset Blobs(const std::vector<std::vector<float>>& centres, int64_t n,
              uint64_t seed, float spread = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> noise(0.0f, spread);
  Dataset d;
  d.input_dim = static_cast<int>(centres[0].size());
  for (int64_t r = 0; r < n; ++r) {
    const int c = static_cast<int>(r % centres.size());
    for (float x : centres[c]) d.features.push_back(x + noise(rng));
    d.targets.push_back(static_cast<float>(c));
  }
  return d;
}

// `classes` random centres in `dims` dimensions, each coordinate +-scale.
std::vector<std::vector<float>> RandomCentres(int classes, int dims,
                                              uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution sign(0.5);
  std::vector<std::vector<float>> centres(classes);
  for (auto& c : centres) {
    for (int i = 0; i < dims; ++i) c.push_back(sign(rng) ? scale : -scale);
  }
  return centres;
}

// The rows with their features permuted by `perm` (same labels): a second
// task on the same label set.
Dataset Permute(const Dataset& d, const std::vector<int>& perm) {
  Dataset out = d;
  for (int64_t r = 0; r < d.size(); ++r) {
    for (int i = 0; i < d.input_dim; ++i) {
      out.features[r * d.input_dim + i] = d.features[r * d.input_dim + perm[i]];
    }
  }
  return out;
}

double Accuracy(const ModelBundle& b, const Dataset& d) {
  absl::StatusOr<v1::Metrics> m = Evaluate(b, d);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? m->accuracy() : -1;
}

// sum_i F_i (a_i - b_i)^2 with the Fisher diagonal of `b`: what EWC
// penalises.
double FisherDistance(const ModelBundle& a, const ModelBundle& b) {
  double sum = 0;
  for (int i = 0; i < a.weights_size(); ++i) {
    const auto& x = a.weights(i).tensor().data();
    const auto& y = b.weights(i).tensor().data();
    const auto& f = b.fisher(i).tensor().data();
    for (int j = 0; j < x.size(); ++j) {
      sum += f[j] * (x[j] - y[j]) * (x[j] - y[j]);
    }
  }
  return sum;
}

// Euclidean distance between the weights of two bundles of one spec.
double Distance(const ModelBundle& a, const ModelBundle& b) {
  double sum = 0;
  for (int i = 0; i < a.weights_size(); ++i) {
    const auto& x = a.weights(i).tensor().data();
    const auto& y = b.weights(i).tensor().data();
    for (int j = 0; j < x.size(); ++j) sum += (x[j] - y[j]) * (x[j] - y[j]);
  }
  return std::sqrt(sum);
}

v1::TrainingConfig Config(double lr, int epochs, uint64_t seed = 42) {
  v1::TrainingConfig c;
  c.mutable_optimizer()->set_learning_rate(lr);
  c.set_epochs(epochs);
  c.set_batch_size(32);
  c.set_seed(seed);
  c.mutable_guards()->set_replay_ratio(0);
  return c;
}

TEST(TrainTest, LearnsASeparableProblem) {
  const auto centres = RandomCentres(3, 8, 5, 1.5f);
  const Dataset train = Blobs(centres, 600, 1);
  const Dataset holdout = Blobs(centres, 300, 2);
  const ModelBundle parent =
      FreshBundle(v1::MODEL_FAMILY_MLP_CLASSIFIER, 8, 3, {16});
  const double before = Accuracy(parent, holdout);

  std::vector<TrainProgress> seen;
  TrainCallbacks callbacks;
  callbacks.progress = [&](const TrainProgress& p) { seen.push_back(p); };
  absl::StatusOr<TrainResult> r =
      Train(parent, train, nullptr, holdout, Config(1e-2, 5), callbacks);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->diverged);
  const double after = Accuracy(r->candidate, holdout);
  EXPECT_LT(before, 0.7);
  EXPECT_GT(after, 0.9) << "chance is 0.33";
  EXPECT_NEAR(r->holdout_metrics.accuracy(), after, 1e-9);
  EXPECT_LT(r->epochs.back().holdout_loss, r->initial_holdout_loss);
  EXPECT_EQ(r->steps, 5 * ((600 + 31) / 32));
  EXPECT_EQ(r->samples, 5 * 600);
  EXPECT_GT(r->samples_per_second, 0);

  // Progress: every step, then each epoch's held-out loss.
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().step, r->steps);
  EXPECT_TRUE(seen.back().holdout_loss.has_value());
  EXPECT_EQ(seen.back().total_steps, r->steps);

  // The candidate: valid, same spec, Fisher per parameter, metrics,
  // reference, hyper-parameters, record counts.
  const ModelBundle& c = r->candidate;
  EXPECT_TRUE(ValidateBundle(c).ok()) << ValidateBundle(c);
  EXPECT_EQ(c.manifest().spec().SerializeAsString(),
            parent.manifest().spec().SerializeAsString());
  ASSERT_EQ(c.fisher_size(), c.weights_size());
  double fisher_sum = 0;
  for (int i = 0; i < c.fisher_size(); ++i) {
    EXPECT_EQ(c.fisher(i).name(), c.weights(i).name());
    for (float f : c.fisher(i).tensor().data()) fisher_sum += f;
  }
  EXPECT_GT(fisher_sum, 0);
  EXPECT_EQ(c.manifest().metrics().sample_count(), 300);
  EXPECT_EQ(c.reference().features_size(), 8);
  EXPECT_EQ(c.reference().sample_count(), 600);
  EXPECT_NEAR(c.reference().error_rate(), 1 - after, 1e-9);
  EXPECT_EQ(c.manifest().hyperparameters().at("learning_rate"), "0.01");
  EXPECT_EQ(c.manifest().hyperparameters().at("seed"), "42");
  EXPECT_EQ(c.manifest().train_records(), 600);
}

TEST(TrainTest, EarlyStoppingKeepsTheBestEpoch) {
  // Random labels: the network memorises the training rows and the
  // held-out loss rises after the first epochs.
  std::mt19937_64 rng(3);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> label(0, 2);
  auto noise = [&](int64_t n) {
    Dataset d;
    d.input_dim = 10;
    for (int64_t i = 0; i < n * 10; ++i) d.features.push_back(normal(rng));
    for (int64_t i = 0; i < n; ++i) d.targets.push_back(label(rng));
    return d;
  };
  const Dataset train = noise(64);
  const Dataset holdout = noise(300);
  const ModelBundle parent =
      FreshBundle(v1::MODEL_FAMILY_MLP_CLASSIFIER, 10, 3, {64});
  v1::TrainingConfig config = Config(3e-2, 40);
  config.mutable_early_stopping()->set_patience(3);
  absl::StatusOr<TrainResult> r =
      Train(parent, train, nullptr, holdout, config);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->stopped_early);
  ASSERT_FALSE(r->epochs.empty());
  // The best epoch is the arg-min, the run went `patience` epochs past it,
  // and the candidate holds its weights (its loss, not the last epoch's).
  int argmin = 0;
  for (size_t i = 0; i < r->epochs.size(); ++i) {
    if (r->epochs[i].holdout_loss < r->epochs[argmin].holdout_loss) argmin = i;
  }
  EXPECT_EQ(r->best_epoch, argmin + 1);
  EXPECT_EQ(static_cast<int>(r->epochs.size()), r->best_epoch + 3);
  const double best = r->epochs[argmin].holdout_loss;
  EXPECT_GT(r->epochs.back().holdout_loss, best);
  absl::StatusOr<v1::Metrics> m = Evaluate(r->candidate, holdout);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_NEAR(m->loss(), best, 1e-4 * best);
}

TEST(TrainTest, HugeLearningRateDivergesAndIsFlagged) {
  const auto centres = RandomCentres(3, 8, 5, 1.5f);
  const Dataset train = Blobs(centres, 300, 1);
  const Dataset holdout = Blobs(centres, 100, 2);
  const ModelBundle parent =
      FreshBundle(v1::MODEL_FAMILY_MLP_CLASSIFIER, 8, 3, {16});
  v1::TrainingConfig config = Config(1e30, 3);
  config.mutable_optimizer()->set_optimizer(v1::OPTIMIZER_SGD);
  config.mutable_optimizer()->set_grad_clip_norm(0);
  absl::StatusOr<TrainResult> r =
      Train(parent, train, nullptr, holdout, config);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->diverged);
  EXPECT_LT(r->steps, 3 * ((300 + 31) / 32));
  EXPECT_THAT(r->notes, Contains(HasSubstr("diverged")));
  EXPECT_EQ(r->candidate.fisher_size(), 0);
  // The damage shows in the metrics the gates read.
  const v1::Metrics& m = r->holdout_metrics;
  EXPECT_TRUE(m.nan_inf_count() > 0 || !std::isfinite(m.loss()) ||
              m.loss() > 10)
      << m.DebugString();
}

TEST(TrainTest, EwcKeepsWeightsCloserToTheParent) {
  const auto centres = RandomCentres(4, 12, 5, 1.5f);
  const Dataset a_train = Blobs(centres, 800, 1);
  const Dataset a_holdout = Blobs(centres, 200, 2);
  std::vector<int> perm(12);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937_64(9));
  const Dataset b_train = Permute(a_train, perm);
  const Dataset b_holdout = Permute(a_holdout, perm);

  absl::StatusOr<TrainResult> a =
      Train(FreshBundle(v1::MODEL_FAMILY_MLP_CLASSIFIER, 12, 4, {32}), a_train,
            nullptr, a_holdout, Config(1e-2, 4));
  ASSERT_TRUE(a.ok()) << a.status();
  const ModelBundle& parent = a->candidate;
  ASSERT_GT(parent.fisher_size(), 0);

  v1::TrainingConfig naive = Config(1e-2, 4);
  naive.mutable_early_stopping()->set_disabled(true);
  // The parent's normalisation, so that distances to the parent's weights
  // compare like with like (a refit rewrites the first layer).
  naive.set_normalization(v1::NORMALIZATION_POLICY_KEEP);
  v1::TrainingConfig ewc = naive;
  ewc.mutable_guards()->set_ewc_lambda(1000);
  absl::StatusOr<TrainResult> without =
      Train(parent, b_train, nullptr, b_holdout, naive);
  absl::StatusOr<TrainResult> with =
      Train(parent, b_train, nullptr, b_holdout, ewc);
  ASSERT_TRUE(without.ok()) << without.status();
  ASSERT_TRUE(with.ok()) << with.status();
  // EWC holds the weights that matter (high Fisher) near the parent's.
  const double f_without = FisherDistance(without->candidate, parent);
  const double f_with = FisherDistance(with->candidate, parent);
  EXPECT_LT(f_with, 0.2 * f_without)
      << "with EWC " << f_with << ", without " << f_without;
  const double d_without = Distance(without->candidate, parent);
  const double d_with = Distance(with->candidate, parent);
  EXPECT_LT(d_with, d_without)
      << "with EWC " << d_with << ", without " << d_without;
  // And so keeps more of task A (0.89 against 0.41 when written).
  EXPECT_GT(Accuracy(with->candidate, a_holdout),
            Accuracy(without->candidate, a_holdout) + 0.2);

  // A parent without a Fisher diagonal: EWC is off, with a note.
  ModelBundle bare = parent;
  bare.clear_fisher();
  absl::StatusOr<TrainResult> off =
      Train(bare, b_train, nullptr, b_holdout, ewc);
  ASSERT_TRUE(off.ok()) << off.status();
  EXPECT_THAT(off->notes, Contains(HasSubstr("no Fisher diagonal")));
  EXPECT_EQ(Distance(off->candidate, without->candidate), 0.0);
}

TEST(TrainTest, ReplayReducesForgetting) {
  const auto centres = RandomCentres(4, 12, 6, 1.5f);
  const Dataset a_train = Blobs(centres, 800, 1);
  const Dataset a_holdout = Blobs(centres, 400, 2);
  std::vector<int> perm(12);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937_64(4));
  const Dataset b_train = Permute(Blobs(centres, 800, 3), perm);
  const Dataset b_holdout = Permute(Blobs(centres, 400, 4), perm);

  absl::StatusOr<TrainResult> a =
      Train(FreshBundle(v1::MODEL_FAMILY_MLP_CLASSIFIER, 12, 4, {32}), a_train,
            nullptr, a_holdout, Config(1e-2, 4));
  ASSERT_TRUE(a.ok()) << a.status();
  const double a_before = Accuracy(a->candidate, a_holdout);
  ASSERT_GT(a_before, 0.9);

  v1::TrainingConfig naive = Config(1e-2, 6);
  naive.mutable_early_stopping()->set_disabled(true);
  v1::TrainingConfig replay = naive;
  replay.mutable_guards()->set_replay_ratio(0.5);
  absl::StatusOr<TrainResult> n =
      Train(a->candidate, b_train, nullptr, b_holdout, naive);
  absl::StatusOr<TrainResult> r =
      Train(a->candidate, b_train, &a_train, b_holdout, replay);
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_TRUE(r.ok()) << r.status();
  const double naive_a = Accuracy(n->candidate, a_holdout);
  const double replay_a = Accuracy(r->candidate, a_holdout);
  const double replay_b = Accuracy(r->candidate, b_holdout);
  EXPECT_GT(replay_a, naive_a + 0.1)
      << "naive keeps " << naive_a << " on A, replay " << replay_a;
  EXPECT_GT(replay_a, a_before - 0.05);
  EXPECT_GT(replay_b, 0.85);
  EXPECT_EQ(r->candidate.manifest().replay_records(), 800);
  // Batches of 32 hold 16 replay rows: 800 / 16 = 50 steps per epoch.
  EXPECT_EQ(r->steps, 6 * 50);
  // Replay without replay rows: a note, and the same as naive.
  absl::StatusOr<TrainResult> empty =
      Train(a->candidate, b_train, nullptr, b_holdout, replay);
  ASSERT_TRUE(empty.ok());
  EXPECT_THAT(empty->notes, Contains(HasSubstr("replay is off")));
}

TEST(TrainTest, DistillationWithFullWeightKeepsTheParentsAnswers) {
  // Distillation alone (weight 1, no weight decay): the student starts equal
  // to the teacher, the KL term and its gradient are zero, nothing moves.
  const auto centres = RandomCentres(3, 6, 5, 1.5f);
  const Dataset train = Blobs(centres, 200, 1);
  const Dataset holdout = Blobs(centres, 100, 2);
  const ModelBundle parent =
      FreshBundle(v1::MODEL_FAMILY_MLP_CLASSIFIER, 6, 3, {8});
  // Plain SGD: Adam would magnify the rounding-level gradients.
  v1::TrainingConfig config = Config(0.1, 2);
  config.mutable_optimizer()->set_optimizer(v1::OPTIMIZER_SGD);
  config.mutable_optimizer()->set_weight_decay(0);
  config.mutable_guards()->set_distillation_weight(1.0);
  config.set_normalization(v1::NORMALIZATION_POLICY_KEEP);
  absl::StatusOr<TrainResult> r =
      Train(parent, train, nullptr, holdout, config);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_LT(Distance(r->candidate, parent), 1e-4);
  // Half distillation does move the weights.
  config.mutable_guards()->set_distillation_weight(0.5);
  r = Train(parent, train, nullptr, holdout, config);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(Distance(r->candidate, parent), 1e-2);
}

TEST(TrainTest, CancelStopsWithinOneStep) {
  const auto centres = RandomCentres(3, 8, 5, 1.5f);
  const Dataset train = Blobs(centres, 600, 1);
  const Dataset holdout = Blobs(centres, 100, 2);
  int64_t last_step = 0;
  TrainCallbacks callbacks;
  callbacks.progress = [&](const TrainProgress& p) { last_step = p.step; };
  callbacks.cancelled = [&] { return last_step >= 3; };
  absl::StatusOr<TrainResult> r =
      Train(FreshBundle(v1::MODEL_FAMILY_MLP_CLASSIFIER, 8, 3, {16}), train,
            nullptr, holdout, Config(1e-2, 5), callbacks);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_EQ(last_step, 3);
}

TEST(TrainTest, DeterministicForASeed) {
  const auto centres = RandomCentres(3, 8, 5, 1.5f);
  const Dataset train = Blobs(centres, 300, 1);
  const Dataset replay = Blobs(centres, 100, 7);
  const Dataset holdout = Blobs(centres, 100, 2);
  // Dropout and replay draw from the seeded generators too.
  const ModelBundle parent = FreshBundle(v1::MODEL_FAMILY_MLP_CLASSIFIER, 8, 3,
                                         {16}, /*seed=*/1, /*dropout=*/0.2f);
  v1::TrainingConfig config = Config(1e-2, 2, /*seed=*/7);
  config.mutable_guards()->set_replay_ratio(0.25);
  absl::StatusOr<TrainResult> a =
      Train(parent, train, &replay, holdout, config);
  absl::StatusOr<TrainResult> b =
      Train(parent, train, &replay, holdout, config);
  config.set_seed(8);
  absl::StatusOr<TrainResult> c =
      Train(parent, train, &replay, holdout, config);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  for (int i = 0; i < a->candidate.weights_size(); ++i) {
    EXPECT_EQ(a->candidate.weights(i).SerializeAsString(),
              b->candidate.weights(i).SerializeAsString());
  }
  EXPECT_EQ(a->candidate.fisher(0).SerializeAsString(),
            b->candidate.fisher(0).SerializeAsString());
  EXPECT_GT(Distance(a->candidate, c->candidate), 0);
}

TEST(TrainTest, FullRetrainStartsFromFreshWeights) {
  const auto centres = RandomCentres(3, 8, 5, 1.5f);
  const Dataset train = Blobs(centres, 300, 1);
  const Dataset holdout = Blobs(centres, 100, 2);
  // Two parents with different weights retrain to the same candidate.
  const ModelBundle p1 =
      FreshBundle(v1::MODEL_FAMILY_MLP_CLASSIFIER, 8, 3, {16}, 1);
  const ModelBundle p2 =
      FreshBundle(v1::MODEL_FAMILY_MLP_CLASSIFIER, 8, 3, {16}, 2);
  v1::TrainingConfig config = Config(1e-2, 2);
  config.set_strategy(v1::TRAINING_STRATEGY_FULL_RETRAIN);
  config.mutable_guards()->set_ewc_lambda(10);
  absl::StatusOr<TrainResult> a = Train(p1, train, nullptr, holdout, config);
  absl::StatusOr<TrainResult> b = Train(p2, train, nullptr, holdout, config);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(Distance(a->candidate, b->candidate), 0.0);
  EXPECT_GT(Distance(a->candidate, p1), 0.0);
  // The configuration it used: no EWC (nor replay, nor distillation).
  EXPECT_EQ(a->config.guards().ewc_lambda(), 0);
  EXPECT_EQ(a->config.guards().replay_ratio(), 0);
  EXPECT_GT(a->holdout_metrics.accuracy(), 0.9);
}

// Issue 15: every version carried the cold start's statistics, even a
// full retraining.
TEST(TrainTest, NormalisationFollowsThePolicy) {
  const auto centres = RandomCentres(3, 8, 5, 1.5f);
  const Dataset train = Blobs(centres, 300, 1);
  const Dataset holdout = Blobs(centres, 100, 2);
  const ModelBundle parent =
      FreshBundle(v1::MODEL_FAMILY_MLP_CLASSIFIER, 8, 3, {16}, 1);
  v1::TrainingConfig config = Config(1e-2, 1);
  // REFIT: the candidate's statistics are the training rows'.
  config.set_normalization(v1::NORMALIZATION_POLICY_REFIT);
  absl::StatusOr<TrainResult> refit =
      Train(parent, train, nullptr, holdout, config);
  ASSERT_TRUE(refit.ok()) << refit.status();
  const v1::NormalizationStats want = FitNormalization(8, train.features);
  const v1::NormalizationStats& got =
      refit->candidate.manifest().normalization();
  ASSERT_EQ(got.mean_size(), 8);
  for (int j = 0; j < 8; ++j) {
    EXPECT_FLOAT_EQ(got.mean(j), want.mean(j));
    EXPECT_FLOAT_EQ(got.std(j), want.std(j));
  }
  EXPECT_FLOAT_EQ(got.clip(), kNormalizedClip);
  EXPECT_EQ(refit->config.normalization(), v1::NORMALIZATION_POLICY_REFIT);
  EXPECT_EQ(refit->candidate.manifest().hyperparameters().at("normalization"),
            "NORMALIZATION_POLICY_REFIT");
  // KEEP (the default): the parent's (identity) statistics, bounded.
  config.clear_normalization();
  absl::StatusOr<TrainResult> keep =
      Train(parent, train, nullptr, holdout, config);
  ASSERT_TRUE(keep.ok()) << keep.status();
  const v1::NormalizationStats& kept =
      keep->candidate.manifest().normalization();
  EXPECT_EQ(kept.mean(3), 0.0f);
  EXPECT_EQ(kept.std(3), 1.0f);
  EXPECT_FLOAT_EQ(kept.clip(), kNormalizedClip);
  // Full retraining fits its own, whatever the parent had.
  config.set_strategy(v1::TRAINING_STRATEGY_FULL_RETRAIN);
  absl::StatusOr<TrainResult> full =
      Train(keep->candidate, train, nullptr, holdout, config);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_FLOAT_EQ(full->candidate.manifest().normalization().mean(0),
                  want.mean(0));
}

TEST(TrainTest, RegressorLearnsALinearMap) {
  std::mt19937_64 rng(1);
  std::normal_distribution<float> normal;
  auto make = [&](int64_t n) {
    Dataset d;
    d.input_dim = 4;
    for (int64_t r = 0; r < n; ++r) {
      float x[4];
      for (float& v : x) v = normal(rng), d.features.push_back(v);
      d.targets.push_back(2 * x[0] - x[1] + 0.5f * x[2]);
    }
    return d;
  };
  const Dataset train = make(500), holdout = make(200);
  const ModelBundle parent =
      FreshBundle(v1::MODEL_FAMILY_MLP_REGRESSOR, 4, 1, {16});
  absl::StatusOr<TrainResult> r =
      Train(parent, train, nullptr, holdout, Config(1e-2, 10));
  ASSERT_TRUE(r.ok()) << r.status();
  absl::StatusOr<v1::Metrics> before = Evaluate(parent, holdout);
  ASSERT_TRUE(before.ok());
  EXPECT_LT(r->holdout_metrics.loss(), 0.1 * before->loss());
  EXPECT_TRUE(r->candidate.reference().has_mean_error_value());
}

TEST(TrainTest, AutoencoderThresholdHitsTheTargetRate) {
  std::mt19937_64 rng(2);
  std::normal_distribution<float> normal;
  auto make = [&](int64_t n) {
    Dataset d;
    d.input_dim = 8;
    for (int64_t r = 0; r < n; ++r) {
      const float a = normal(rng), b = normal(rng);
      // Rows on a 2-D subspace plus a little noise.
      for (int i = 0; i < 8; ++i) {
        d.features.push_back((i % 2 ? a : b) * (1 + 0.1f * i) +
                             0.05f * normal(rng));
      }
    }
    return d;
  };
  const Dataset train = make(600), holdout = make(500);
  const ModelBundle parent =
      FreshBundle(v1::MODEL_FAMILY_AUTOENCODER, 8, 0, {16});
  v1::TrainingConfig config = Config(1e-2, 5);
  config.set_target_false_positive_rate(0.05);
  absl::StatusOr<TrainResult> r =
      Train(parent, train, nullptr, holdout, config);
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::Thresholds& t = r->candidate.manifest().thresholds();
  ASSERT_TRUE(t.has_anomaly_threshold());
  EXPECT_DOUBLE_EQ(t.target_false_positive_rate(), 0.05);
  absl::StatusOr<v1::Metrics> m = Evaluate(r->candidate, holdout);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_LE(m->false_positive_rate(), 0.05);
  EXPECT_GE(m->false_positive_rate(), 0.05 - 1.0 / 500);
  EXPECT_EQ(m->false_positive_rate(), r->holdout_metrics.false_positive_rate());
  // Calibrating through the Model gives the same threshold.
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::FromBundle(r->candidate);
  ASSERT_TRUE(model.ok());
  absl::StatusOr<float> again =
      CalibrateAnomalyThreshold(**model, holdout, 0.05);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NEAR(*again, t.anomaly_threshold(), 1e-6 * t.anomaly_threshold());
}

TEST(TrainTest, RejectsBadInputsNamingThem) {
  const auto centres = RandomCentres(3, 8, 5, 1.5f);
  const Dataset train = Blobs(centres, 60, 1);
  const ModelBundle parent =
      FreshBundle(v1::MODEL_FAMILY_MLP_CLASSIFIER, 8, 3, {16});
  const v1::TrainingConfig config = Config(1e-2, 1);

  Dataset narrow = train;
  narrow.input_dim = 4;
  absl::Status s = Train(parent, narrow, nullptr, train, config).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("train: rows have 4 features"));

  Dataset bad_class = train;
  bad_class.targets[5] = 3;
  s = Train(parent, train, nullptr, bad_class, config).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("holdout: row 5 has class 3"));

  Dataset empty;
  empty.input_dim = 8;
  s = Train(parent, empty, nullptr, train, config).status();
  EXPECT_THAT(s.message(), HasSubstr("train: no rows"));
  s = Train(parent, train, nullptr, empty, config).status();
  EXPECT_THAT(s.message(), HasSubstr("holdout: no rows"));

  v1::TrainingConfig online = config;
  online.set_strategy(v1::TRAINING_STRATEGY_ONLINE);
  s = Train(parent, train, nullptr, train, online).status();
  EXPECT_THAT(s.message(), HasSubstr("OnlineUpdater"));

  ModelBundle broken = parent;
  broken.mutable_weights(0)->mutable_tensor()->mutable_data()->RemoveLast();
  s = Train(broken, train, nullptr, train, config).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("parent bundle"));
}

TEST(BlasLockTest, HeldExactlyWhenTheBlasNeedsIt) {
  ASSERT_TRUE(RunMatmulSelfCheck(8).ok());  // BLAS loaded and mapped
  const std::string kind = GetTorchRuntimeInfo().blas_kind;
  const bool needs = kind != "openblas-pthread" && kind != "openblas-openmp" &&
                     kind != "reference";
  EXPECT_EQ(BlasNeedsLock(), needs) << kind;
  {
    std::unique_lock<std::mutex> lock = LockBlasIfNeeded();
    EXPECT_EQ(lock.owns_lock(), needs) << kind;
  }
  // Released at scope exit: taking it again does not deadlock, and while it
  // is held nobody else gets the mutex.
  std::unique_lock<std::mutex> again = LockBlasIfNeeded();
  EXPECT_EQ(again.owns_lock(), needs);
  if (needs) {
    // Another thread cannot take it while this one holds it (try_lock on a
    // mutex the calling thread holds would be undefined behaviour).
    bool other_got_it = true;
    std::thread other([&] {
      other_got_it = BlasMutex().try_lock();
      if (other_got_it) BlasMutex().unlock();
    });
    other.join();
    EXPECT_FALSE(other_got_it);
  }
}

TEST(OnlineUpdaterTest, UpdatesLowerTheLoss) {
  const auto centres = RandomCentres(10, 32, 5, 1.0f);
  const Dataset batch = Blobs(centres, 1000, 1);
  const ModelBundle start =
      FreshBundle(v1::MODEL_FAMILY_MLP_CLASSIFIER, 32, 10, {64});
  v1::TrainingConfig config;
  config.mutable_optimizer()->set_learning_rate(1e-3);
  config.set_seed(1);
  absl::StatusOr<std::unique_ptr<OnlineUpdater>> updater =
      OnlineUpdater::Create(start, config);
  ASSERT_TRUE(updater.ok()) << updater.status();
  absl::StatusOr<double> first = (*updater)->Update(batch);
  ASSERT_TRUE(first.ok()) << first.status();
  double last = *first;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<double> loss = (*updater)->Update(batch);
    ASSERT_TRUE(loss.ok()) << loss.status();
    last = *loss;
  }
  EXPECT_LT(last, 0.8 * *first);
  EXPECT_EQ((*updater)->updates(), 21);

  absl::StatusOr<ModelBundle> exported = (*updater)->ExportBundle();
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_TRUE(ValidateBundle(*exported).ok());
  EXPECT_GT(Distance(*exported, start), 0);
  absl::StatusOr<v1::Metrics> m = Evaluate(*exported, batch);
  ASSERT_TRUE(m.ok());
  EXPECT_LT(m->loss(), *first);

  // A NaN feature: refused, and the model is unchanged.
  Dataset poisoned = batch;
  poisoned.features[17] = std::nanf("");
  absl::StatusOr<double> refused = (*updater)->Update(poisoned);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("not applied"));
  absl::StatusOr<ModelBundle> after = (*updater)->ExportBundle();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(Distance(*after, *exported), 0.0);
  EXPECT_EQ((*updater)->updates(), 21);

  // Wrong shapes.
  Dataset narrow = batch;
  narrow.input_dim = 16;
  EXPECT_EQ((*updater)->Update(narrow).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace continuum::model
