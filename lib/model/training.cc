// Train (training.h): a run of incremental fine-tuning or full retraining.
// A LibTorch translation unit; every LibTorch exception is caught here and
// returned as absl::Status. The network, its losses and the Fisher diagonal
// are in training_net.h, the guarded optimizer step in learner.h, the
// batches in training_batches.h, the effective configuration in
// training_config.h.
//
// A run: PrepareStart (the starting weights and guards), then TrainingLoop
// (epochs of steps, early stopping on the held-out loss, the best epoch's
// weights restored), then BuildCandidate (the trained bundle with its
// Fisher diagonal, threshold, metrics and reference statistics).
#include "lib/model/training.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/model/blas_lock.h"
#include "lib/model/bundle.h"
#include "lib/model/evaluation.h"
#include "lib/model/forecasting.h"
#include "lib/model/learner.h"
#include "lib/model/model.h"
#include "lib/model/normalization.h"
#include "lib/model/torch_runtime.h"
#include "lib/model/training_batches.h"
#include "lib/model/training_net.h"

namespace continuum::model {

using internal::v1::ModelBundle;

namespace {

using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------- start

// The starting point of a run.
struct RunStart {
  // The parent under the run's normalisation (Renormalize): what the
  // candidate is built from and the guards anchor to.
  ModelBundle base;
  Net net;
  Guards guards;
  // Batches mix in replay rows.
  bool use_replay = false;
};

// The normalisation a run trains under (lib/model/normalization.h): full
// retraining fits it on the training rows (fresh weights: nothing to
// rewrite); an incremental run keeps the parent's (floored: the default)
// or refits it on its training and replay rows, rewriting the parent's
// weights so that it computes the same function either way.
absl::Status PrepareNormalization(const Dataset& train, const Dataset* replay,
                                  const v1::TrainingConfig& config,
                                  ModelBundle* start,
                                  std::vector<std::string>* notes) {
  const int width = start->manifest().spec().input_dim();
  if (start->manifest().spec().family() == v1::MODEL_FAMILY_TORCHSCRIPT) {
    if (config.normalization() != v1::NORMALIZATION_POLICY_KEEP) {
      notes->push_back(
          "normalisation: a torchscript module normalises its own inputs; "
          "nothing refitted");
    }
    return absl::OkStatus();
  }
  if (config.strategy() == v1::TRAINING_STRATEGY_FULL_RETRAIN) {
    *start->mutable_manifest()->mutable_normalization() =
        FitNormalization(width, train.features);
    return absl::OkStatus();
  }
  if (start->manifest().spec().family() == v1::MODEL_FAMILY_GRU_FORECASTER) {
    if (config.normalization() != v1::NORMALIZATION_POLICY_KEEP) {
      notes->push_back(
          "normalisation: a gru_forecaster keeps its statistics between "
          "incremental runs (a full retrain refits them); nothing refitted");
    }
    return absl::OkStatus();
  }
  if (config.normalization() == v1::NORMALIZATION_POLICY_KEEP) {
    return Renormalize(
        FloorNormalization(start->manifest().normalization()), start);
  }
  absl::Span<const float> replayed;
  if (replay != nullptr && config.guards().replay_ratio() > 0) {
    replayed = replay->features;
  }
  notes->push_back(absl::StrCat(
      "normalisation refitted on ",
      (train.features.size() + replayed.size()) / std::max(width, 1),
      " training and replay rows; the parent's first layer rewritten to "
      "compute the same function"));
  return Renormalize(FitNormalization(width, train.features, replayed),
                     start);
}

// The starting network and guards: the parent's weights with the config's
// guards and replay (incremental), or fresh weights without them (full
// retraining), under the run's normalisation. Adds notes on what is off
// and why.
absl::StatusOr<RunStart> PrepareStart(const ModelBundle& parent,
                                      const Dataset& train,
                                      const Dataset* replay,
                                      const v1::TrainingConfig& config,
                                      std::vector<std::string>* notes) {
  const bool full = config.strategy() == v1::TRAINING_STRATEGY_FULL_RETRAIN;
  const v1::ForgettingGuards& gc = config.guards();
  RunStart run;
  run.base = parent;
  if (full && parent.manifest().spec().family() ==
                  v1::MODEL_FAMILY_TORCHSCRIPT) {
    // A user's module restarts from the weights it was imported with.
    if (parent.initial_weights_size() == 0) {
      return absl::FailedPreconditionError(
          "a full retrain of a torchscript model starts from the weights it "
          "was imported with, and this version has none; import the module "
          "again (continuumctl model import)");
    }
    *run.base.mutable_weights() = parent.initial_weights();
    run.base.clear_fisher();
  } else if (full) {
    absl::StatusOr<ModelBundle> fresh =
        Model::InitBundle(parent.manifest(), config.seed());
    if (!fresh.ok()) return fresh.status();
    *run.base.mutable_weights() = fresh->weights();
    run.base.clear_fisher();
  }
  if (absl::Status s =
          PrepareNormalization(train, replay, config, &run.base, notes);
      !s.ok()) {
    return s;
  }
  run.net = BuildNet(run.base, /*trainable=*/true);
  // Full retraining: ResolveTrainingConfig turned replay, EWC and
  // distillation off.
  if (full) return run;
  run.guards = MakeGuards(run.base, run.net, config, notes);
  if (gc.replay_ratio() > 0) {
    run.use_replay = replay != nullptr && replay->size() > 0;
    if (!run.use_replay) {
      notes->push_back("replay: no replay rows given; replay is off");
    }
  }
  return run;
}

// ---------------------------------------------------------------- loop

// Reports progress to callbacks.progress and measures throughput from its
// construction.
class ProgressReporter {
 public:
  ProgressReporter(const TrainCallbacks& callbacks, int epochs,
                   int64_t steps_per_epoch)
      : callbacks_(callbacks), started_(Clock::now()) {
    progress_.total_epochs = epochs;
    progress_.total_steps = static_cast<int64_t>(epochs) * steps_per_epoch;
  }

  // Seconds since construction.
  double elapsed() const {
    return std::chrono::duration<double>(Clock::now() - started_).count();
  }

  // After an optimizer step: the run's `steps` so far, the step's loss and
  // the rows processed so far.
  void Step(int epoch, int64_t steps, double loss, int64_t samples) {
    if (!callbacks_.progress) return;
    progress_.epoch = epoch;
    progress_.step = steps;
    progress_.loss = loss;
    progress_.samples_per_second = PerSecond(samples);
    progress_.holdout_loss.reset();
    callbacks_.progress(progress_);
  }

  // At the end of an epoch, with its held-out loss.
  void EpochEnd(int epoch, double holdout_loss, int64_t samples) {
    if (!callbacks_.progress) return;
    progress_.epoch = epoch;
    progress_.holdout_loss = holdout_loss;
    progress_.samples_per_second = PerSecond(samples);
    callbacks_.progress(progress_);
  }

 private:
  double PerSecond(int64_t samples) const {
    return static_cast<double>(samples) / std::max(elapsed(), 1e-9);
  }

  const TrainCallbacks& callbacks_;
  const Clock::time_point started_;
  TrainProgress progress_;
};

// The epochs of a run: steps, held-out loss, early stopping, and the best
// epoch's weights restored. Fills the TrainResult's epochs, steps, samples,
// timing, best_epoch, stopped_early, diverged (and its note).
class TrainingLoop {
 public:
  TrainingLoop(const v1::TrainingConfig& config,
               const TrainCallbacks& callbacks, const Dataset& holdout,
               Learner* learner, BatchSampler* sampler, TrainResult* result)
      : config_(config),
        callbacks_(callbacks),
        holdout_(holdout),
        learner_(*learner),
        sampler_(*sampler),
        result_(*result),
        progress_(callbacks, config.epochs(), sampler->steps_per_epoch()) {
    const int64_t batch = config.batch_size();
    const int64_t in = InputWidth(learner->net().spec);
    features_.reserve(batch * in);
    targets_.reserve(batch * Dataset::TargetWidth(learner->net().spec));
  }

  // Runs the epochs. CANCELLED when callbacks.cancelled says so.
  absl::Status Run();

 private:
  // Runs the optimizer steps of one epoch into *stats; stops at a step
  // that diverges (result_.diverged).
  absl::Status RunEpoch(int epoch, EpochStats* stats);
  // Early stopping after an epoch with held-out loss `loss`: true to stop.
  bool StopEarly(int epoch, double loss);
  // Puts the best epoch's weights back into the network.
  void RestoreBestEpoch();

  const v1::TrainingConfig& config_;
  const TrainCallbacks& callbacks_;
  const Dataset& holdout_;
  Learner& learner_;
  BatchSampler& sampler_;
  TrainResult& result_;
  ProgressReporter progress_;
  std::vector<float> features_, targets_;
  // Early stopping: the best held-out loss, its weights, epochs since.
  double best_ = std::numeric_limits<double>::infinity();
  std::vector<at::Tensor> best_params_;
  int bad_epochs_ = 0;
};

absl::Status TrainingLoop::RunEpoch(int epoch, EpochStats* stats) {
  double loss_sum = 0;
  for (int64_t s = 0; s < sampler_.steps_per_epoch(); ++s) {
    if (callbacks_.cancelled && callbacks_.cancelled()) {
      return absl::CancelledError(absl::StrCat("training cancelled at epoch ",
                                               epoch, ", step ",
                                               result_.steps + 1));
    }
    const int64_t rows = sampler_.NextBatch(s, &features_, &targets_);
    Learner::StepResult step;
    {
      std::unique_lock<std::mutex> lock = LockBlasIfNeeded();
      step = learner_.Step(features_.data(), targets_.data(), rows);
    }
    if (!step.applied) {
      result_.diverged = true;
      result_.notes.push_back(absl::StrCat(
          "diverged: the training loss (or the gradient norm) was not "
          "finite at epoch ",
          epoch, ", step ", result_.steps + 1, " (loss ", step.loss,
          "); the run stopped there"));
      break;
    }
    ++result_.steps;
    ++stats->steps;
    result_.samples += rows;
    loss_sum += step.loss;
    progress_.Step(epoch, result_.steps, step.loss, result_.samples);
  }
  stats->train_loss =
      loss_sum / static_cast<double>(std::max<int64_t>(1, stats->steps));
  return absl::OkStatus();
}

bool TrainingLoop::StopEarly(int epoch, double loss) {
  if (loss < best_ - config_.early_stopping().min_delta()) {
    best_ = loss;
    best_params_.clear();
    for (const at::Tensor& p : learner_.net().params) {
      best_params_.push_back(p.detach().clone());
    }
    bad_epochs_ = 0;
    return false;
  }
  if (++bad_epochs_ >= config_.early_stopping().patience()) {
    result_.stopped_early = epoch < config_.epochs();
    return true;
  }
  return false;
}

void TrainingLoop::RestoreBestEpoch() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < best_params_.size(); ++i) {
    learner_.net().params[i].copy_(best_params_[i]);
  }
  // The epoch whose loss is `best_`.
  for (const EpochStats& e : result_.epochs) {
    if (e.holdout_loss == best_) {
      result_.best_epoch = e.epoch;
      break;
    }
  }
}

absl::Status TrainingLoop::Run() {
  const bool early = !config_.early_stopping().disabled();
  for (int epoch = 1; epoch <= config_.epochs() && !result_.diverged;
       ++epoch) {
    const auto epoch_start = Clock::now();
    sampler_.StartEpoch();
    EpochStats stats;
    stats.epoch = epoch;
    if (absl::Status s = RunEpoch(epoch, &stats); !s.ok()) return s;
    if (result_.diverged) break;
    stats.holdout_loss = MeanLoss(learner_.net(), holdout_);
    stats.seconds =
        std::chrono::duration<double>(Clock::now() - epoch_start).count();
    result_.epochs.push_back(stats);
    progress_.EpochEnd(epoch, stats.holdout_loss, result_.samples);
    result_.best_epoch = epoch;
    if (early && StopEarly(epoch, stats.holdout_loss)) break;
  }
  if (!result_.diverged && early && !best_params_.empty()) RestoreBestEpoch();
  result_.train_seconds = progress_.elapsed();
  result_.samples_per_second = static_cast<double>(result_.samples) /
                               std::max(result_.train_seconds, 1e-9);
  return absl::OkStatus();
}

// ---------------------------------------------------------------- candidate

// Calibrates an autoencoder candidate's threshold on the benign held-out
// rows' scores `outputs` (every row benign without labels, else label 0) to
// the config's false-positive rate; a note if it cannot.
void CalibrateThreshold(const Dataset& holdout,
                        const std::vector<float>& outputs,
                        const v1::TrainingConfig& config,
                        v1::ArtifactManifest* m,
                        std::vector<std::string>* notes) {
  std::vector<float> benign;
  for (int64_t r = 0; r < holdout.size(); ++r) {
    if (holdout.targets.empty() || holdout.targets[r] == 0) {
      benign.push_back(outputs[r]);
    }
  }
  absl::StatusOr<float> threshold = CalibrateAnomalyThreshold(
      std::move(benign), config.target_false_positive_rate());
  if (threshold.ok()) {
    m->mutable_thresholds()->set_anomaly_threshold(*threshold);
    m->mutable_thresholds()->set_target_false_positive_rate(
        config.target_false_positive_rate());
  } else {
    notes->push_back(absl::StrCat("threshold: not recalibrated: ",
                                  threshold.status().message()));
  }
}

// The reference statistics of a candidate: those of `train`, the scores of
// its held-out predictions `outputs` (as LoggedPrediction.score defines
// them), and its error rate (classifiers) or mean absolute error.
v1::ReferenceStatistics ReferenceOf(const Dataset& train,
                                    const Dataset& holdout,
                                    const std::vector<float>& outputs,
                                    const v1::ModelSpec& spec,
                                    const v1::Metrics& metrics,
                                    uint64_t seed) {
  // A forecaster's inputs are windows: the reference summarises their last
  // steps, one row of input_dim features per window.
  const bool forecaster = spec.family() == v1::MODEL_FAMILY_GRU_FORECASTER;
  v1::ReferenceStatistics ref = ComputeReferenceStatistics(
      forecaster ? LastSteps(train, spec.input_dim()) : train, seed);
  const int k = OutputWidth(spec);
  const bool classifier = TaskFamily(spec) == v1::MODEL_FAMILY_MLP_CLASSIFIER;
  // A forecast's score: the point forecast of the first series at the first
  // horizon.
  const int point = forecaster ? PointQuantileIndex(spec) : 0;
  std::vector<float> scores;
  for (int64_t r = 0; r < holdout.size(); ++r) {
    const float* o = outputs.data() + r * k;
    scores.push_back(classifier ? *std::max_element(o, o + k) : o[point]);
  }
  *ref.mutable_predictions() = SummarizeValues(scores, -1, seed);
  if (metrics.has_accuracy() && classifier) {
    ref.set_error_rate(1 - metrics.accuracy());
  }
  if (metrics.has_mean_absolute_error()) {
    ref.set_mean_error_value(metrics.mean_absolute_error());
  }
  return ref;
}

// Fills result->candidate from `parent` and the trained network `n`, and
// result->holdout_metrics (see TrainResult). `replay` is the replay set the
// run used, or null.
absl::Status BuildCandidate(const ModelBundle& parent, const Net& n,
                            const Dataset& train, const Dataset* replay,
                            const Dataset& holdout,
                            const v1::TrainingConfig& config,
                            TrainResult* result) {
  ModelBundle& candidate = result->candidate;
  candidate = parent;
  WriteWeights(n, &candidate);
  v1::ArtifactManifest* m = candidate.mutable_manifest();
  m->clear_sections();
  m->clear_weights_sha256();
  SetHyperparameters(config, m);
  SetNow(m->mutable_create_time());
  m->set_train_records(train.size());
  m->set_replay_records(replay != nullptr ? replay->size() : 0);
  const std::vector<float> outputs = ServingOutputs(n, holdout);
  if (result->diverged) {
    candidate.clear_fisher();
    candidate.clear_reference();
  } else {
    std::vector<const Dataset*> sets = {&train};
    if (replay != nullptr) sets.push_back(replay);
    WriteFisher(n, FisherDiagonal(n, sets, kFisherRows), &candidate);
    if (TaskFamily(n.spec) == v1::MODEL_FAMILY_AUTOENCODER) {
      CalibrateThreshold(holdout, outputs, config, m, &result->notes);
    }
  }
  absl::StatusOr<v1::Metrics> metrics = EvaluateOutputs(*m, holdout, outputs);
  if (!metrics.ok()) return metrics.status();
  result->holdout_metrics = *metrics;
  *m->mutable_metrics() = *metrics;
  if (!result->diverged) {
    *candidate.mutable_reference() =
        ReferenceOf(train, holdout, outputs, n.spec, *metrics, config.seed());
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- run

// The body of Train, after validation. May throw (LibTorch).
absl::StatusOr<TrainResult> RunTraining(const ModelBundle& parent,
                                        const Dataset& train,
                                        const Dataset* replay,
                                        const Dataset& holdout,
                                        const v1::TrainingConfig& config,
                                        const TrainCallbacks& callbacks) {
  TrainResult result;
  result.config = config;
  absl::StatusOr<RunStart> start =
      PrepareStart(parent, train, replay, config, &result.notes);
  if (!start.ok()) return start.status();
  const ModelBundle base = start->base;
  const Dataset* used_replay = start->use_replay ? replay : nullptr;
  Learner learner(std::move(start->net), config, std::move(start->guards),
                  config.seed() + 1);
  BatchSampler sampler(train, used_replay, learner.net().spec,
                       config.batch_size(), config.guards().replay_ratio(),
                       config.seed());
  result.initial_holdout_loss = MeanLoss(learner.net(), holdout);
  TrainingLoop loop(config, callbacks, holdout, &learner, &sampler, &result);
  if (absl::Status s = loop.Run(); !s.ok()) return s;
  if (absl::Status s = BuildCandidate(base, learner.net(), train,
                                      used_replay, holdout, config, &result);
      !s.ok()) {
    return s;
  }
  return result;
}

// Checks Train's data sets against the parent's spec.
absl::Status CheckTrainingData(const v1::ModelSpec& spec, const Dataset& train,
                               const Dataset* replay, const Dataset& holdout) {
  if (absl::Status s = CheckDataset(train, spec, "train"); !s.ok()) return s;
  if (train.size() == 0) {
    return absl::InvalidArgumentError("train: no rows to train on");
  }
  if (replay != nullptr) {
    if (absl::Status s = CheckDataset(*replay, spec, "replay"); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = CheckDataset(holdout, spec, "holdout"); !s.ok()) {
    return s;
  }
  if (holdout.size() == 0) {
    return absl::InvalidArgumentError(
        "holdout: no rows; early stopping, metrics and calibration need a "
        "held-out set");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TrainResult> Train(const ModelBundle& parent,
                                  const Dataset& train, const Dataset* replay,
                                  const Dataset& holdout,
                                  const v1::TrainingConfig& config,
                                  const TrainCallbacks& callbacks) {
  if (absl::Status s = ValidateBundle(parent); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("parent bundle: ", s.message()));
  }
  absl::StatusOr<v1::TrainingConfig> resolved = ResolveTrainingConfig(config);
  if (!resolved.ok()) return resolved.status();
  if (resolved->strategy() == v1::TRAINING_STRATEGY_ONLINE) {
    return absl::InvalidArgumentError(
        "strategy TRAINING_STRATEGY_ONLINE trains with OnlineUpdater, not "
        "Train");
  }
  const v1::ModelSpec spec = ResolveSpec(parent.manifest().spec());
  if (absl::Status s = CheckTrainingData(spec, train, replay, holdout);
      !s.ok()) {
    return s;
  }
  if (resolved->resources().intra_op_threads() > 0) {
    config::v1::TorchRuntimeConfig runtime;
    runtime.set_intra_op_threads(resolved->resources().intra_op_threads());
    if (absl::Status s = ConfigureTorchRuntime(runtime); !s.ok()) return s;
  }
  try {
    return RunTraining(parent, train, replay, holdout, *resolved, callbacks);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("LibTorch training: ", e.what()));
  }
}

absl::Status UpdateFisherDiagonal(const Dataset& data, ModelBundle* bundle,
                                  int64_t max_rows) {
  if (absl::Status s = ValidateBundle(*bundle); !s.ok()) return s;
  const v1::ModelSpec spec = ResolveSpec(bundle->manifest().spec());
  if (absl::Status s = CheckDataset(data, spec, "fisher data"); !s.ok()) {
    return s;
  }
  if (data.size() == 0 || max_rows <= 0) {
    return absl::InvalidArgumentError(
        "the Fisher diagonal needs at least one row");
  }
  try {
    Net net = BuildNet(*bundle, /*trainable=*/true);
    WriteFisher(net, FisherDiagonal(net, {&data}, max_rows), bundle);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("LibTorch computing the Fisher diagonal: ", e.what()));
  }
}

}  // namespace continuum::model
