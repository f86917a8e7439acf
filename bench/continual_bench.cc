// continual_bench: learning on a drifting Fashion-MNIST stream with the
// trainer's library (lib/model/training.h), beside its reference measured
// in the same run: full retraining on everything.
//
//   A = the original images, B = the same kind of images rotated by 90
//   degrees (lib/data Rotate90), disjoint rows of the training split.
//   1. Cold start: a 784-256-10 MLP trained on A (full retraining from
//      fresh weights).
//   2. Adaptation to B from that model (incremental fine-tuning) with
//      naive fine-tuning, replay of A rows (a sample standing for the
//      collector's replay buffer), EWC (the Fisher diagonal the cold start
//      stored in its bundle), and replay + EWC.
//   3. The reference: full retraining from fresh weights on A + B.
// Accuracy on the A and B test sets (the 10000 test images, original and
// rotated), the drop on A against the cold-start model (forgetting), and
// the wall time of each Train call (Fisher, reference statistics and
// held-out evaluation included). Prints a table; with --json also one JSON
// object as the last line. The bar (docs/design.md): with replay,
// accuracy on B within 2 points of full retraining and a drop on A of at
// most 3 points, in far less time; naive fine-tuning forgets far more.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/data/fashion_mnist.h"
#include "lib/model/dataset.h"
#include "lib/model/evaluation.h"
#include "lib/model/model.h"
#include "lib/model/torch_runtime.h"
#include "lib/model/training.h"

ABSL_FLAG(bool, json, false, "Print one JSON object as the last line.");
ABSL_FLAG(int, a_rows, 27000, "Training rows of distribution A.");
ABSL_FLAG(int, b_rows, 27000, "Training rows of distribution B (the window).");
ABSL_FLAG(int, holdout_rows, 3000,
          "Held-out rows of each distribution (from the training split).");
ABSL_FLAG(int, replay_rows, 10000, "Rows of A in the replay sample.");
ABSL_FLAG(int, test_rows, 0, "Test rows per distribution; 0 = all 10000.");
ABSL_FLAG(int, cold_epochs, 20, "Epochs of the cold start on A.");
ABSL_FLAG(int, adapt_epochs, 3, "Epochs of each adaptation to B.");
ABSL_FLAG(int, full_epochs, 20, "Epochs of the full retraining on A + B.");
ABSL_FLAG(double, cold_lr, 1e-3,
          "Learning rate of cold start and full retraining.");
ABSL_FLAG(double, adapt_lr, 1e-3, "Learning rate of the adaptations.");
ABSL_FLAG(std::string, adapt_optimizer, "adamw",
          "Optimizer of the adaptations: adamw, adam or sgd (momentum 0.9).");
ABSL_FLAG(double, replay_ratio, 0.5, "Share of replay rows per batch.");
ABSL_FLAG(double, ewc_lambda, 1000, "EWC strength.");
ABSL_FLAG(int, batch, 64, "Rows per batch.");
ABSL_FLAG(uint64_t, seed, 1, "Seed of initialisation, order and sampling.");

namespace {

using Clock = std::chrono::steady_clock;
namespace data = continuum::data;
namespace model = continuum::model;
namespace v1 = continuum::v1;
using continuum::internal::v1::ModelBundle;

constexpr double kBarBPoints = 2.0;
constexpr double kBarDropPoints = 3.0;

int Fail(const std::string& what) {
  std::fprintf(stderr, "continual_bench: %s\n", what.c_str());
  return 1;
}

// Rows [begin, end) of `images` as a classifier data set.
model::Dataset Slice(const data::LabeledImages& images, int64_t begin,
                     int64_t end) {
  model::Dataset d;
  d.input_dim = images.feature_dim();
  d.features.assign(images.pixels.begin() + begin * d.input_dim,
                    images.pixels.begin() + end * d.input_dim);
  for (int64_t i = begin; i < end; ++i) d.targets.push_back(images.labels[i]);
  return d;
}

model::Dataset Concat(const model::Dataset& a, const model::Dataset& b) {
  model::Dataset d = a;
  d.features.insert(d.features.end(), b.features.begin(), b.features.end());
  d.targets.insert(d.targets.end(), b.targets.begin(), b.targets.end());
  return d;
}

// `n` rows of `d` drawn uniformly without replacement (seeded).
model::Dataset Sample(const model::Dataset& d, int64_t n, uint64_t seed) {
  std::vector<int64_t> rows(d.size());
  std::iota(rows.begin(), rows.end(), 0);
  std::shuffle(rows.begin(), rows.end(), std::mt19937_64(seed));
  rows.resize(std::min<int64_t>(n, d.size()));
  model::Dataset out;
  out.input_dim = d.input_dim;
  for (int64_t r : rows) {
    out.features.insert(out.features.end(),
                        d.features.begin() + r * d.input_dim,
                        d.features.begin() + (r + 1) * d.input_dim);
    out.targets.push_back(d.targets[r]);
  }
  return out;
}

struct Row {
  std::string name;
  std::string key;
  double acc_a = 0;
  double acc_b = 0;
  double seconds = 0;
  int epochs = 0;
  int64_t steps = 0;
  bool stopped_early = false;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int64_t a_rows = absl::GetFlag(FLAGS_a_rows);
  const int64_t b_rows = absl::GetFlag(FLAGS_b_rows);
  const int64_t hold = absl::GetFlag(FLAGS_holdout_rows);
  const uint64_t seed = absl::GetFlag(FLAGS_seed);
  if (a_rows <= 0 || b_rows <= 0 || hold <= 0) {
    return Fail("--a_rows, --b_rows and --holdout_rows must be positive");
  }
  if (absl::Status s = model::InitTorchRuntime({}); !s.ok()) {
    return Fail(s.ToString());
  }

  const auto load_start = Clock::now();
  absl::StatusOr<data::LabeledImages> train = data::LoadFashionMnist(
      data::FashionMnistSplit::kTrain, a_rows + b_rows + 2 * hold);
  if (!train.ok()) return Fail(train.status().ToString());
  if (train->size() < a_rows + b_rows + 2 * hold) {
    return Fail(absl::StrCat("the training split has ", train->size(),
                             " rows; a_rows + b_rows + 2 * holdout_rows = ",
                             a_rows + b_rows + 2 * hold));
  }
  absl::StatusOr<data::LabeledImages> test = data::LoadFashionMnist(
      data::FashionMnistSplit::kTest, absl::GetFlag(FLAGS_test_rows));
  if (!test.ok()) return Fail(test.status().ToString());
  const data::LabeledImages rotated_train = data::Rotate90(*train);
  const data::LabeledImages rotated_test = data::Rotate90(*test);

  // Disjoint rows: [A train | A held-out | B train | B held-out].
  const model::Dataset a_train = Slice(*train, 0, a_rows);
  const model::Dataset a_hold = Slice(*train, a_rows, a_rows + hold);
  const model::Dataset b_train =
      Slice(rotated_train, a_rows + hold, a_rows + hold + b_rows);
  const model::Dataset b_hold =
      Slice(rotated_train, a_rows + hold + b_rows, a_rows + 2 * hold + b_rows);
  const model::Dataset a_test = Slice(*test, 0, test->size());
  const model::Dataset b_test = Slice(rotated_test, 0, rotated_test.size());
  const model::Dataset replay =
      Sample(a_train, absl::GetFlag(FLAGS_replay_rows), seed + 100);
  const double load_seconds =
      std::chrono::duration<double>(Clock::now() - load_start).count();

  auto evaluate = [&](const ModelBundle& b, Row* row) -> absl::Status {
    absl::StatusOr<v1::Metrics> ma = model::Evaluate(b, a_test);
    if (!ma.ok()) return ma.status();
    absl::StatusOr<v1::Metrics> mb = model::Evaluate(b, b_test);
    if (!mb.ok()) return mb.status();
    row->acc_a = 100 * ma->accuracy();
    row->acc_b = 100 * mb->accuracy();
    return absl::OkStatus();
  };
  auto config = [&](v1::TrainingStrategy strategy, int epochs, double lr) {
    v1::TrainingConfig c;
    c.set_strategy(strategy);
    c.set_epochs(epochs);
    c.set_batch_size(absl::GetFlag(FLAGS_batch));
    c.mutable_optimizer()->set_learning_rate(lr);
    c.mutable_guards()->set_replay_ratio(0);
    c.set_seed(seed);
    return c;
  };
  // Runs Train and fills `row`; returns the candidate.
  auto run = [&](const ModelBundle& parent, const model::Dataset& t,
                 const model::Dataset* r, const model::Dataset& h,
                 const v1::TrainingConfig& c,
                 Row* row) -> absl::StatusOr<ModelBundle> {
    const auto start = Clock::now();
    absl::StatusOr<model::TrainResult> result =
        model::Train(parent, t, r, h, c);
    row->seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (!result.ok()) return result.status();
    if (result->diverged) return absl::InternalError(row->name + " diverged");
    row->epochs = static_cast<int>(result->epochs.size());
    row->steps = result->steps;
    row->stopped_early = result->stopped_early;
    if (absl::Status s = evaluate(result->candidate, row); !s.ok()) return s;
    return std::move(result->candidate);
  };

  v1::ArtifactManifest manifest;
  manifest.set_model("fashion");
  manifest.mutable_spec()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  manifest.mutable_spec()->set_input_dim(784);
  manifest.mutable_spec()->set_output_dim(10);
  manifest.mutable_spec()->add_hidden_sizes(256);
  absl::StatusOr<ModelBundle> fresh = model::Model::InitBundle(manifest, seed);
  if (!fresh.ok()) return Fail(fresh.status().ToString());

  const double cold_lr = absl::GetFlag(FLAGS_cold_lr);
  const double adapt_lr = absl::GetFlag(FLAGS_adapt_lr);
  const int adapt_epochs = absl::GetFlag(FLAGS_adapt_epochs);
  const std::string optimizer_name = absl::GetFlag(FLAGS_adapt_optimizer);
  v1::Optimizer adapt_optimizer = v1::OPTIMIZER_ADAMW;
  if (optimizer_name == "adam") {
    adapt_optimizer = v1::OPTIMIZER_ADAM;
  } else if (optimizer_name == "sgd") {
    adapt_optimizer = v1::OPTIMIZER_SGD;
  } else if (optimizer_name != "adamw") {
    return Fail("--adapt_optimizer must be adamw, adam or sgd");
  }
  Row cold{"cold start on A", "cold_start"};
  absl::StatusOr<ModelBundle> base =
      run(*fresh, a_train, nullptr, a_hold,
          config(v1::TRAINING_STRATEGY_FULL_RETRAIN,
                 absl::GetFlag(FLAGS_cold_epochs), cold_lr),
          &cold);
  if (!base.ok()) return Fail(base.status().ToString());

  std::vector<Row> rows;
  struct Strategy {
    std::string name, key;
    bool replay;
    bool ewc;
  };
  const std::vector<Strategy> strategies = {
      {"naive fine-tuning", "naive", false, false},
      {"replay", "replay", true, false},
      {"ewc", "ewc", false, true},
      {"replay + ewc", "replay_ewc", true, true},
  };
  for (const Strategy& s : strategies) {
    v1::TrainingConfig c =
        config(v1::TRAINING_STRATEGY_INCREMENTAL, adapt_epochs, adapt_lr);
    c.mutable_optimizer()->set_optimizer(adapt_optimizer);
    if (adapt_optimizer == v1::OPTIMIZER_SGD) {
      c.mutable_optimizer()->set_momentum(0.9);
    }
    if (s.replay) {
      c.mutable_guards()->set_replay_ratio(absl::GetFlag(FLAGS_replay_ratio));
    }
    if (s.ewc)
      c.mutable_guards()->set_ewc_lambda(absl::GetFlag(FLAGS_ewc_lambda));
    Row row{s.name, s.key};
    absl::StatusOr<ModelBundle> candidate =
        run(*base, b_train, s.replay ? &replay : nullptr, b_hold, c, &row);
    if (!candidate.ok()) return Fail(candidate.status().ToString());
    rows.push_back(row);
  }
  Row full{"full retrain on A+B (reference)", "full_retrain"};
  {
    absl::StatusOr<ModelBundle> candidate =
        run(*fresh, Concat(a_train, b_train), nullptr, Concat(a_hold, b_hold),
            config(v1::TRAINING_STRATEGY_FULL_RETRAIN,
                   absl::GetFlag(FLAGS_full_epochs), cold_lr),
            &full);
    if (!candidate.ok()) return Fail(candidate.status().ToString());
  }

  const model::TorchRuntimeInfo info = model::GetTorchRuntimeInfo();
  std::printf(
      "continual_bench: Fashion-MNIST, A = original, B = rotated 90 degrees; "
      "784-256-10 MLP; %lld A + %lld B training rows, %lld held out each, "
      "%lld replay rows at ratio %.2f, EWC lambda %g; test %lld rows each; "
      "BLAS %s, %d thread(s); data loaded in %.1f s\n\n",
      static_cast<long long>(a_rows), static_cast<long long>(b_rows),
      static_cast<long long>(hold), static_cast<long long>(replay.size()),
      absl::GetFlag(FLAGS_replay_ratio), absl::GetFlag(FLAGS_ewc_lambda),
      static_cast<long long>(a_test.size()), info.blas_kind.c_str(),
      info.intra_op_threads, load_seconds);
  std::printf("%-32s %7s %7s %8s %8s %8s %7s %9s %10s\n", "", "acc A", "acc B",
              "drop A", "seconds", "epochs", "steps", "B - full", "time/full");
  auto print = [&](const Row& r, bool adaptation) {
    std::printf("%-32s %7.2f %7.2f %8.2f %8.1f %8s %7lld %9.2f %10.2f\n",
                r.name.c_str(), r.acc_a, r.acc_b,
                adaptation ? cold.acc_a - r.acc_a : 0.0, r.seconds,
                absl::StrCat(r.epochs, r.stopped_early ? "*" : "").c_str(),
                static_cast<long long>(r.steps), r.acc_b - full.acc_b,
                r.seconds / full.seconds);
  };
  print(cold, false);
  for (const Row& r : rows) print(r, true);
  print(full, true);

  const Row& with_replay = rows[1];
  const Row& naive = rows[0];
  const double b_gap = full.acc_b - with_replay.acc_b;
  const double drop = cold.acc_a - with_replay.acc_a;
  const double time_ratio = with_replay.seconds / full.seconds;
  const bool meets =
      b_gap <= kBarBPoints && drop <= kBarDropPoints && time_ratio < 1.0;
  std::printf(
      "\naccuracy in %%; drop A: cold-start accuracy on A minus the row's; "
      "B - full: the row's accuracy on B minus full retraining's; time/full: "
      "its Train time over full retraining's; * = stopped early.\n"
      "Bar (replay): B within %.0f points of full retraining (%.2f), drop on "
      "A <= %.0f points (%.2f), in less time (%.2fx): %s. Naive fine-tuning "
      "drops %.2f points on A.\n",
      kBarBPoints, b_gap, kBarDropPoints, drop, time_ratio,
      meets ? "met" : "NOT met", cold.acc_a - naive.acc_a);

  if (absl::GetFlag(FLAGS_json)) {
    std::vector<std::string> fields = {
        "\"bench\":\"continual\"",
        absl::StrCat("\"a_rows\":", a_rows),
        absl::StrCat("\"b_rows\":", b_rows),
        absl::StrCat("\"replay_rows\":", replay.size()),
        absl::StrCat("\"replay_ratio\":", absl::GetFlag(FLAGS_replay_ratio)),
        absl::StrCat("\"ewc_lambda\":", absl::GetFlag(FLAGS_ewc_lambda)),
        absl::StrCat("\"cold_start_acc_a\":", cold.acc_a),
        absl::StrCat("\"cold_start_acc_b\":", cold.acc_b),
        absl::StrCat("\"cold_start_seconds\":", cold.seconds)};
    for (const Row& r : rows) {
      fields.push_back(absl::StrCat("\"", r.key, "_acc_a\":", r.acc_a));
      fields.push_back(absl::StrCat("\"", r.key, "_acc_b\":", r.acc_b));
      fields.push_back(
          absl::StrCat("\"", r.key, "_drop_a\":", cold.acc_a - r.acc_a));
      fields.push_back(absl::StrCat("\"", r.key, "_seconds\":", r.seconds));
    }
    fields.push_back(
        absl::StrCat("\"reference_full_retrain_acc_a\":", full.acc_a));
    fields.push_back(
        absl::StrCat("\"reference_full_retrain_acc_b\":", full.acc_b));
    fields.push_back(
        absl::StrCat("\"reference_full_retrain_seconds\":", full.seconds));
    fields.push_back(absl::StrCat("\"replay_b_gap_points\":", b_gap));
    fields.push_back(absl::StrCat("\"replay_time_ratio\":", time_ratio));
    fields.push_back(absl::StrCat("\"bar_b_gap_points\":", kBarBPoints));
    fields.push_back(absl::StrCat("\"bar_drop_a_points\":", kBarDropPoints));
    fields.push_back(absl::StrCat("\"meets_bar\":", meets ? "true" : "false"));
    std::printf("{%s}\n", absl::StrJoin(fields, ",").c_str());
  }
  return 0;
}
