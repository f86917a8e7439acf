// continual_bench: learning on a drifting Fashion-MNIST stream with the
// trainer's library (lib/model/training.h), beside its reference measured
// in the same run: full retraining on everything.
//
//   A = the original images; B = the same kind of images after a shift
//   (--shifts, each run in turn): rotated by 90 degrees, rotated by 180
//   degrees, brighter (p + 0.3, clamped: the black background turns grey)
//   or with less contrast (0.4 p + 0.3), on disjoint rows of the training
//   split.
//   1. Cold start: a 784-256-10 MLP trained on A (full retraining from
//      fresh weights; its normalisation fitted on A).
//   2. Per shift, adaptation to B from that model (incremental
//      fine-tuning under the parent's normalisation, floored and bounded:
//      lib/model/normalization.h) with naive fine-tuning, replay of A rows
//      (a sample standing for the collector's replay buffer), replay with
//      the normalisation refitted on the run's rows and the first layer
//      rewritten (NORMALIZATION_POLICY_REFIT), EWC (the Fisher diagonal
//      the cold start stored in its bundle), and replay + EWC.
//   3. Per shift, the reference: full retraining from fresh weights on
//      A + B.
// Accuracy on the A and B test sets (the 10000 test images, original and
// shifted), the drop on A against the cold-start model (forgetting), and
// the wall time of each Train call (Fisher, reference statistics and
// held-out evaluation included). Prints a table per shift; with --json
// also one JSON object as the last line. The bar (docs/design.md): with
// replay, accuracy on B within 2 points of full retraining and a drop on
// A of at most 3 points, in far less time; naive fine-tuning forgets far
// more. The same seed gives the same numbers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "lib/data/fashion_mnist.h"
#include "lib/model/dataset.h"
#include "lib/model/evaluation.h"
#include "lib/model/model.h"
#include "lib/model/torch_runtime.h"
#include "lib/model/training.h"
#include "services/registry/validation_gates.h"

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
ABSL_FLAG(std::string, shifts, "rotate90,rotate180,brighter,low_contrast",
          "Comma-separated shifts B of the images, each run in turn: "
          "rotate90, rotate180, brighter, low_contrast.");

namespace {

using Clock = std::chrono::steady_clock;
namespace data = continuum::data;
namespace model = continuum::model;
namespace registry = continuum::registry;
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
  // An adaptation's decision by the registry's default gates
  // (registry::ApplyGates): `held_out` is B's held-out window, `retention`
  // A rows no adaptation trains on; production is the cold start.
  bool gated = false;
  bool approved = false;
  double held_out_gain = 0;       // points of accuracy on B's held-out
  double retention_drop = 0;      // points of accuracy lost on retention
  double retention_loss_pct = 0;  // loss increase on retention, percent
  std::string failed_gates = "";
};

struct Shift {
  std::string key;
  std::string name;
  std::function<data::LabeledImages(const data::LabeledImages&)> apply;
};

std::vector<Shift> AllShifts() {
  return {
      {"rotate90", "rotated 90 degrees", data::Rotate90},
      {"rotate180", "rotated 180 degrees", data::Rotate180},
      {"brighter", "brighter (p + 0.3)",
       [](const data::LabeledImages& i) {
         return data::AdjustIntensity(i, 1.0f, 0.3f);
       }},
      {"low_contrast", "less contrast (0.4 p + 0.3)",
       [](const data::LabeledImages& i) {
         return data::AdjustIntensity(i, 0.4f, 0.3f);
       }},
  };
}

struct Strategy {
  std::string name, key;
  bool replay;
  bool ewc;
  v1::NormalizationPolicy normalization;
};

const std::vector<Strategy>& Strategies() {
  static const auto* s = new std::vector<Strategy>{
      {"naive fine-tuning", "naive", false, false,
       v1::NORMALIZATION_POLICY_KEEP},
      {"replay", "replay", true, false, v1::NORMALIZATION_POLICY_KEEP},
      {"replay, normalisation refitted", "replay_refit", true, false,
       v1::NORMALIZATION_POLICY_REFIT},
      {"ewc", "ewc", false, true, v1::NORMALIZATION_POLICY_KEEP},
      {"replay + ewc", "replay_ewc", true, true,
       v1::NORMALIZATION_POLICY_KEEP},
  };
  return *s;
}

// The data of the run: A's rows, and the training split's B rows (shifted
// per shift).
struct Data {
  model::Dataset a_train, a_hold, a_test, replay, retention;
  data::LabeledImages train, test;
  int64_t a_rows = 0, b_rows = 0, hold = 0;
};

class Bench {
 public:
  explicit Bench(const Data& d) : d_(d) {}

  // The report an incremental run would submit for `candidate` (sets
  // held_out and retention, production = `base`) and the default gates'
  // decision on it.
  absl::Status Gate(const ModelBundle& candidate, const ModelBundle& base,
                    const model::Dataset& b_hold, Row* row) const {
    v1::ValidationReport report;
    for (const auto& [set, data] :
         {std::pair<const char*, const model::Dataset*>{"held_out", &b_hold},
          {"retention", &d_.retention}}) {
      v1::Evaluation* e = report.add_evaluations();
      e->set_evaluation_set(set);
      absl::StatusOr<v1::Metrics> c = model::Evaluate(candidate, *data);
      if (!c.ok()) return c.status();
      absl::StatusOr<v1::Metrics> b = model::Evaluate(base, *data);
      if (!b.ok()) return b.status();
      *e->mutable_candidate() = *c;
      *e->mutable_baseline() = *b;
    }
    const v1::ValidationDecision d = registry::ApplyGates({}, report);
    row->gated = true;
    row->approved = d.approved();
    std::vector<std::string> failed;
    for (const v1::GateResult& g : d.gates()) {
      if (g.gate() == "min_held_out_gain_points") {
        row->held_out_gain = g.observed();
      } else if (g.gate() == "max_retention_accuracy_drop_points") {
        row->retention_drop = g.observed();
      } else if (g.gate() == "max_retention_loss_increase_percent") {
        row->retention_loss_pct = g.observed();
      }
      if (!g.passed()) {
        failed.push_back(absl::StrCat(g.evaluation_set(), " ", g.gate()));
      }
    }
    row->failed_gates = absl::StrJoin(failed, ", ");
    return absl::OkStatus();
  }

  absl::Status Evaluate(const ModelBundle& b, const model::Dataset& b_test,
                        Row* row) const {
    absl::StatusOr<v1::Metrics> ma = model::Evaluate(b, d_.a_test);
    if (!ma.ok()) return ma.status();
    absl::StatusOr<v1::Metrics> mb = model::Evaluate(b, b_test);
    if (!mb.ok()) return mb.status();
    row->acc_a = 100 * ma->accuracy();
    row->acc_b = 100 * mb->accuracy();
    return absl::OkStatus();
  }

  v1::TrainingConfig Config(v1::TrainingStrategy strategy, int epochs,
                            double lr) const {
    v1::TrainingConfig c;
    c.set_strategy(strategy);
    c.set_epochs(epochs);
    c.set_batch_size(absl::GetFlag(FLAGS_batch));
    c.mutable_optimizer()->set_learning_rate(lr);
    c.mutable_guards()->set_replay_ratio(0);
    c.set_seed(absl::GetFlag(FLAGS_seed));
    return c;
  }

  // Runs Train and fills `row` (accuracy on A and on `b_test`); returns the
  // candidate.
  absl::StatusOr<ModelBundle> Run(const ModelBundle& parent,
                                  const model::Dataset& t,
                                  const model::Dataset* r,
                                  const model::Dataset& h,
                                  const model::Dataset& b_test,
                                  const v1::TrainingConfig& c,
                                  Row* row) const {
    const auto start = Clock::now();
    absl::StatusOr<model::TrainResult> result =
        model::Train(parent, t, r, h, c);
    row->seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (!result.ok()) return result.status();
    if (result->diverged) return absl::InternalError(row->name + " diverged");
    row->epochs = static_cast<int>(result->epochs.size());
    row->steps = result->steps;
    row->stopped_early = result->stopped_early;
    if (absl::Status s = Evaluate(result->candidate, b_test, row); !s.ok()) {
      return s;
    }
    return std::move(result->candidate);
  }

  // The adaptations to `shift` from `base` and the full retraining on A + B:
  // rows in Strategies() order, then the reference.
  absl::StatusOr<std::vector<Row>> RunShift(const Shift& shift,
                                            const ModelBundle& fresh,
                                            const ModelBundle& base,
                                            v1::Optimizer optimizer) const {
    const data::LabeledImages b_images = shift.apply(d_.train);
    const int64_t a = d_.a_rows, h = d_.hold, b = d_.b_rows;
    const model::Dataset b_train = Slice(b_images, a + h, a + h + b);
    const model::Dataset b_hold = Slice(b_images, a + h + b, a + 2 * h + b);
    const data::LabeledImages b_test_images = shift.apply(d_.test);
    const model::Dataset b_test =
        Slice(b_test_images, 0, b_test_images.size());
    std::vector<Row> rows;
    for (const Strategy& s : Strategies()) {
      v1::TrainingConfig c =
          Config(v1::TRAINING_STRATEGY_INCREMENTAL,
                 absl::GetFlag(FLAGS_adapt_epochs),
                 absl::GetFlag(FLAGS_adapt_lr));
      c.mutable_optimizer()->set_optimizer(optimizer);
      if (optimizer == v1::OPTIMIZER_SGD) {
        c.mutable_optimizer()->set_momentum(0.9);
      }
      c.set_normalization(s.normalization);
      if (s.replay) {
        c.mutable_guards()->set_replay_ratio(
            absl::GetFlag(FLAGS_replay_ratio));
      }
      if (s.ewc) {
        c.mutable_guards()->set_ewc_lambda(absl::GetFlag(FLAGS_ewc_lambda));
      }
      Row row{s.name, s.key};
      absl::StatusOr<ModelBundle> candidate =
          Run(base, b_train, s.replay ? &d_.replay : nullptr, b_hold, b_test,
              c, &row);
      if (!candidate.ok()) return candidate.status();
      if (absl::Status g = Gate(*candidate, base, b_hold, &row); !g.ok()) {
        return g;
      }
      rows.push_back(row);
    }
    Row full{"full retrain on A+B (reference)", "full_retrain"};
    absl::StatusOr<ModelBundle> candidate =
        Run(fresh, Concat(d_.a_train, b_train), nullptr,
            Concat(d_.a_hold, b_hold), b_test,
            Config(v1::TRAINING_STRATEGY_FULL_RETRAIN,
                   absl::GetFlag(FLAGS_full_epochs),
                   absl::GetFlag(FLAGS_cold_lr)),
            &full);
    if (!candidate.ok()) return candidate.status();
    rows.push_back(full);
    return rows;
  }

 private:
  const Data& d_;
};

// One shift's verdict on the replay row.
struct Verdict {
  double b_gap = 0, drop = 0, time_ratio = 0, naive_drop = 0;
  bool meets = false;
};

Verdict Judge(const Row& cold, const std::vector<Row>& rows) {
  const Row& naive = rows[0];
  const Row& replay = rows[1];
  const Row& full = rows.back();
  Verdict v;
  v.b_gap = full.acc_b - replay.acc_b;
  v.drop = cold.acc_a - replay.acc_a;
  v.time_ratio = replay.seconds / full.seconds;
  v.naive_drop = cold.acc_a - naive.acc_a;
  v.meets = v.b_gap <= kBarBPoints && v.drop <= kBarDropPoints &&
            v.time_ratio < 1.0;
  return v;
}

void PrintShift(const Shift& shift, const Row& cold,
                const std::vector<Row>& rows, const Verdict& v) {
  const Row& full = rows.back();
  std::printf("\nB = %s\n", shift.name.c_str());
  std::printf("%-32s %7s %7s %8s %8s %8s %7s %9s %10s\n", "", "acc A",
              "acc B", "drop A", "seconds", "epochs", "steps", "B - full",
              "time/full");
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
  std::printf(
      "Bar (replay): B within %.0f points of full retraining (%.2f), drop on "
      "A <= %.0f points (%.2f), in less time (%.2fx): %s. Naive fine-tuning "
      "drops %.2f points on A.\n",
      kBarBPoints, v.b_gap, kBarDropPoints, v.drop, v.time_ratio,
      v.meets ? "met" : "NOT met", v.naive_drop);
  std::printf("Default gates (held_out = B's held-out rows, retention = %s):\n",
              "1000 A rows never trained on; production = the cold start");
  std::printf("%-32s %13s %15s %15s  %s\n", "", "held-out gain",
              "retention drop", "retention loss", "decision");
  for (const Row& r : rows) {
    if (!r.gated) continue;
    std::printf("%-32s %13.2f %15.2f %14.1f%%  %s\n", r.name.c_str(),
                r.held_out_gain, r.retention_drop, r.retention_loss_pct,
                r.approved ? "approved"
                           : absl::StrCat("rejected (", r.failed_gates, ")")
                                 .c_str());
  }
}

void AddJson(const std::string& shift, const Row& cold,
             const std::vector<Row>& rows, const Verdict& v,
             std::vector<std::string>* fields) {
  const Row& full = rows.back();
  for (size_t i = 0; i + 1 < rows.size(); ++i) {
    const Row& r = rows[i];
    const std::string p = absl::StrCat("\"", shift, "_", r.key);
    fields->push_back(absl::StrCat(p, "_acc_a\":", r.acc_a));
    fields->push_back(absl::StrCat(p, "_acc_b\":", r.acc_b));
    fields->push_back(absl::StrCat(p, "_drop_a\":", cold.acc_a - r.acc_a));
    fields->push_back(absl::StrCat(p, "_seconds\":", r.seconds));
    if (r.gated) {
      fields->push_back(absl::StrCat(p, "_approved\":",
                                     r.approved ? "true" : "false"));
      fields->push_back(
          absl::StrCat(p, "_retention_drop_points\":", r.retention_drop));
      fields->push_back(absl::StrCat(p, "_retention_loss_increase_percent\":",
                                     r.retention_loss_pct));
      fields->push_back(
          absl::StrCat(p, "_held_out_gain_points\":", r.held_out_gain));
    }
  }
  const std::string p = absl::StrCat("\"", shift, "_");
  fields->push_back(
      absl::StrCat(p, "reference_full_retrain_acc_a\":", full.acc_a));
  fields->push_back(
      absl::StrCat(p, "reference_full_retrain_acc_b\":", full.acc_b));
  fields->push_back(
      absl::StrCat(p, "reference_full_retrain_seconds\":", full.seconds));
  fields->push_back(absl::StrCat(p, "replay_b_gap_points\":", v.b_gap));
  fields->push_back(absl::StrCat(p, "replay_drop_a_points\":", v.drop));
  fields->push_back(absl::StrCat(p, "replay_time_ratio\":", v.time_ratio));
  fields->push_back(
      absl::StrCat(p, "meets_bar\":", v.meets ? "true" : "false"));
}

absl::StatusOr<Data> LoadData(std::vector<const Shift*>* shifts) {
  Data d;
  d.a_rows = absl::GetFlag(FLAGS_a_rows);
  d.b_rows = absl::GetFlag(FLAGS_b_rows);
  d.hold = absl::GetFlag(FLAGS_holdout_rows);
  if (d.a_rows <= 0 || d.b_rows <= 0 || d.hold <= 0) {
    return absl::InvalidArgumentError(
        "--a_rows, --b_rows and --holdout_rows must be positive");
  }
  static const std::vector<Shift> all = AllShifts();
  for (absl::string_view key :
       absl::StrSplit(absl::GetFlag(FLAGS_shifts), ',', absl::SkipEmpty())) {
    auto it = std::find_if(all.begin(), all.end(),
                           [&](const Shift& s) { return s.key == key; });
    if (it == all.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--shifts: unknown shift '", key,
          "' (rotate90, rotate180, brighter, low_contrast)"));
    }
    shifts->push_back(&*it);
  }
  if (shifts->empty()) return absl::InvalidArgumentError("--shifts is empty");
  const int64_t need = d.a_rows + d.b_rows + 2 * d.hold;
  absl::StatusOr<data::LabeledImages> train =
      data::LoadFashionMnist(data::FashionMnistSplit::kTrain, need);
  if (!train.ok()) return train.status();
  if (train->size() < need) {
    return absl::InvalidArgumentError(
        absl::StrCat("the training split has ", train->size(),
                     " rows; a_rows + b_rows + 2 * holdout_rows = ", need));
  }
  absl::StatusOr<data::LabeledImages> test = data::LoadFashionMnist(
      data::FashionMnistSplit::kTest, absl::GetFlag(FLAGS_test_rows));
  if (!test.ok()) return test.status();
  // Disjoint rows: [A train | A held-out | B train | B held-out].
  d.a_train = Slice(*train, 0, d.a_rows);
  d.a_hold = Slice(*train, d.a_rows, d.a_rows + d.hold);
  d.a_test = Slice(*test, 0, test->size());
  d.replay = Sample(d.a_train, absl::GetFlag(FLAGS_replay_rows),
                    absl::GetFlag(FLAGS_seed) + 100);
  // The retention set: 1000 A rows (the trainer's default retention_rows)
  // that no adaptation trains on.
  d.retention = Slice(*train, d.a_rows, d.a_rows + std::min<int64_t>(
                                                       d.hold, 1000));
  d.train = *std::move(train);
  d.test = *std::move(test);
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::Status s = model::InitTorchRuntime({}); !s.ok()) {
    return Fail(s.ToString());
  }
  const std::string optimizer_name = absl::GetFlag(FLAGS_adapt_optimizer);
  v1::Optimizer optimizer = v1::OPTIMIZER_ADAMW;
  if (optimizer_name == "adam") {
    optimizer = v1::OPTIMIZER_ADAM;
  } else if (optimizer_name == "sgd") {
    optimizer = v1::OPTIMIZER_SGD;
  } else if (optimizer_name != "adamw") {
    return Fail("--adapt_optimizer must be adamw, adam or sgd");
  }
  const auto load_start = Clock::now();
  std::vector<const Shift*> shifts;
  absl::StatusOr<Data> d = LoadData(&shifts);
  if (!d.ok()) return Fail(d.status().ToString());
  const double load_seconds =
      std::chrono::duration<double>(Clock::now() - load_start).count();
  const Bench bench(*d);

  v1::ArtifactManifest manifest;
  manifest.set_model("fashion");
  manifest.mutable_spec()->set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  manifest.mutable_spec()->set_input_dim(784);
  manifest.mutable_spec()->set_output_dim(10);
  manifest.mutable_spec()->add_hidden_sizes(256);
  absl::StatusOr<ModelBundle> fresh =
      model::Model::InitBundle(manifest, absl::GetFlag(FLAGS_seed));
  if (!fresh.ok()) return Fail(fresh.status().ToString());
  Row cold{"cold start on A", "cold_start"};
  absl::StatusOr<ModelBundle> base = bench.Run(
      *fresh, d->a_train, nullptr, d->a_hold, d->a_test,
      bench.Config(v1::TRAINING_STRATEGY_FULL_RETRAIN,
                   absl::GetFlag(FLAGS_cold_epochs),
                   absl::GetFlag(FLAGS_cold_lr)),
      &cold);
  if (!base.ok()) return Fail(base.status().ToString());

  const model::TorchRuntimeInfo info = model::GetTorchRuntimeInfo();
  std::printf(
      "continual_bench: Fashion-MNIST, A = original; 784-256-10 MLP; %lld A "
      "+ %lld B training rows, %lld held out each, %lld replay rows at ratio "
      "%.2f, EWC lambda %g; test %lld rows each; seed %llu; BLAS %s, %d "
      "thread(s); data loaded in %.1f s\n",
      static_cast<long long>(d->a_rows), static_cast<long long>(d->b_rows),
      static_cast<long long>(d->hold),
      static_cast<long long>(d->replay.size()),
      absl::GetFlag(FLAGS_replay_ratio), absl::GetFlag(FLAGS_ewc_lambda),
      static_cast<long long>(d->a_test.size()),
      static_cast<unsigned long long>(absl::GetFlag(FLAGS_seed)),
      info.blas_kind.c_str(), info.intra_op_threads, load_seconds);
  std::vector<std::string> fields = {
      "\"bench\":\"continual\"",
      absl::StrCat("\"a_rows\":", d->a_rows),
      absl::StrCat("\"b_rows\":", d->b_rows),
      absl::StrCat("\"replay_rows\":", d->replay.size()),
      absl::StrCat("\"replay_ratio\":", absl::GetFlag(FLAGS_replay_ratio)),
      absl::StrCat("\"ewc_lambda\":", absl::GetFlag(FLAGS_ewc_lambda)),
      absl::StrCat("\"cold_start_acc_a\":", cold.acc_a),
      absl::StrCat("\"cold_start_seconds\":", cold.seconds),
      absl::StrCat("\"bar_b_gap_points\":", kBarBPoints),
      absl::StrCat("\"bar_drop_a_points\":", kBarDropPoints)};
  bool all_met = true;
  for (const Shift* shift : shifts) {
    absl::StatusOr<std::vector<Row>> rows =
        bench.RunShift(*shift, *fresh, *base, optimizer);
    if (!rows.ok()) return Fail(rows.status().ToString());
    const Verdict v = Judge(cold, *rows);
    all_met = all_met && v.meets;
    PrintShift(*shift, cold, *rows, v);
    AddJson(shift->key, cold, *rows, v, &fields);
  }
  std::printf(
      "\naccuracy in %%; drop A: cold-start accuracy on A minus the row's; "
      "B - full: the row's accuracy on B minus full retraining's; time/full: "
      "its Train time over full retraining's; * = stopped early.\n");
  if (absl::GetFlag(FLAGS_json)) {
    fields.push_back(
        absl::StrCat("\"meets_bar\":", all_met ? "true" : "false"));
    std::printf("{%s}\n", absl::StrJoin(fields, ",").c_str());
  }
  return 0;
}
