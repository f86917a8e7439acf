// Training: a run of incremental fine-tuning or full retraining with the
// forgetting guards (replay, EWC, distillation), and online micro-batch
// updates. What the trainer service runs; the semantics of every knob are
// those of continuum.v1.TrainingConfig (protos/continuum/v1/trainer.proto).
//
// Plain C++: the implementation uses LibTorch, this interface does not,
// and no LibTorch exception crosses it (they become INTERNAL). Train is in
// training.cc, OnlineUpdater in learner.cc, both on the internal headers
// training_net.h (the network as tensors) and learner.h (its guarded
// optimizer step); training_config.h (the effective configuration) and
// training_batches.h (batches with replay mixing) are plain C++.
// LibTorch work runs under the process-wide BLAS lock (blas_lock.h), taken
// per optimizer step and per evaluation chunk, so forward passes of other
// threads interleave with a training run.
#ifndef CONTINUUM_LIB_MODEL_TRAINING_H_
#define CONTINUUM_LIB_MODEL_TRAINING_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "continuum/internal/v1/model_bundle.pb.h"
#include "continuum/v1/common.pb.h"
#include "continuum/v1/trainer.pb.h"
#include "lib/model/dataset.h"
#include "lib/model/training_config.h"

namespace continuum::model {

// ResolveTrainingConfig (the effective configuration) is declared in
// training_config.h, included here.

// Reported during Train.
struct TrainProgress {
  int epoch = 0;         // current epoch, from 1
  int total_epochs = 0;  // planned
  int64_t step = 0;      // optimizer steps done in the run
  int64_t total_steps = 0;
  double loss = 0;  // training loss of the latest step, guards included
  double samples_per_second = 0;  // rows (new + replay) per second so far
  // Set on the call that ends an epoch: its held-out loss.
  std::optional<double> holdout_loss;
};

struct TrainCallbacks {
  // Called after every optimizer step and once more at the end of each epoch
  // (with holdout_loss), on the calling thread, without the BLAS lock held.
  // May be empty.
  std::function<void(const TrainProgress&)> progress;
  // Polled before every optimizer step; true stops the run with CANCELLED
  // (so a cancel takes effect within one step). May be empty.
  std::function<bool()> cancelled;
};

// One epoch of a run.
struct EpochStats {
  int epoch = 0;            // from 1
  double train_loss = 0;    // mean step loss over the epoch, guards included
  double holdout_loss = 0;  // the family's loss on the held-out set after it
  int64_t steps = 0;
  double seconds = 0;
};

struct TrainResult {
  // The candidate: the parent bundle with the trained weights and, unless
  // the run diverged, recomputed Fisher diagonal (on the training rows, see
  // Train), reference statistics, autoencoder threshold, held-out metrics
  // (manifest.metrics), hyper-parameters (manifest.hyperparameters, from the
  // effective config), train/replay record counts and create_time. The
  // caller sets what Train cannot know: manifest.parent, run, data_window,
  // code_version. manifest.sections and weights_sha256 are cleared (they
  // describe a written file).
  internal::v1::ModelBundle candidate;
  // The effective configuration (ResolveTrainingConfig).
  v1::TrainingConfig config;
  std::vector<EpochStats> epochs;
  // Held-out loss of the starting weights (the parent's, or the fresh
  // initialisation of a full retrain) before any step.
  double initial_holdout_loss = 0;
  // The epoch whose weights the candidate holds: the best held-out loss
  // with early stopping, else the last epoch run.
  int best_epoch = 0;
  // True if early stopping ended the run before the planned epochs.
  bool stopped_early = false;
  // True if a step's training loss was NaN or infinite: the run stopped
  // there without applying that step, and the candidate holds the weights
  // as they were (not the best epoch's), with no Fisher diagonal and no
  // reference statistics, and the parent's threshold. Its metrics usually show
  // the damage (huge or non-finite loss, nan_inf_count > 0). The trainer must
  // not upload it: a diverged run fails.
  bool diverged = false;
  int64_t steps = 0;
  // Rows processed by optimizer steps (new + replay).
  int64_t samples = 0;
  double train_seconds = 0;  // the optimisation loop, evaluation included
  double samples_per_second = 0;
  // Metrics of the candidate on the held-out set (as EvaluateOutputs).
  v1::Metrics holdout_metrics;
  // What was switched off and why, e.g. "ewc: the parent bundle has no
  // Fisher diagonal; EWC is off".
  std::vector<std::string> notes;
};

// Trains a candidate from `parent` and returns it. `config` is resolved
// first (ResolveTrainingConfig).
//
// - INCREMENTAL (and unset): starts from the parent's weights. FULL_RETRAIN:
//   starts from fresh weights (Model::InitBundle with the seed) and ignores
//   the forgetting guards (it trains on the whole window; a note says so).
//   ONLINE is INVALID_ARGUMENT: use OnlineUpdater.
// - Input normalisation and regression target normalisation are the
//   parent's, unchanged (the network was trained in that space).
// - An epoch is one pass over `train` in a seeded random order. With
//   `replay` (non-null, non-empty) and replay_ratio r > 0, every batch of
//   batch_size rows holds round(batch_size * r) rows of `replay` (drawn in
//   a seeded random order, cycling) and the rest from `train`.
// - Loss: cross-entropy (classifier), MSE on normalised targets
//   (regressor), MSE of the normalised row's reconstruction (autoencoder);
//   dropout (spec.dropout) after each hidden activation while training.
//   Guards, incremental only:
//     EWC: + ewc_lambda / 2 * sum_i F_i (theta_i - parent_theta_i)^2 with
//       the parent's Fisher diagonal (off, with a note, if it has none);
//     distillation (classifiers only; a note otherwise): the loss becomes
//       (1 - w) * CE + w * T^2 * KL(softmax(parent / T) || softmax(student /
//       T)).
// - The optimizer (AdamW, Adam or SGD with momentum) steps once per batch
//   after clipping the gradients' global norm to grad_clip_norm (0 = off).
// - After each epoch the family's loss on `holdout` decides early stopping:
//   an improvement is a drop below best - min_delta; after `patience`
//   epochs without one the run stops, and the best epoch's weights are kept.
// - Afterwards: the Fisher diagonal (mean over rows of the squared
//   per-row gradient of the loss, the empirical Fisher) on up to 10000 rows
//   of `train` and `replay` (in proportion, evenly strided) goes into
//   candidate.fisher for the next run's EWC; the reference statistics of
//   `train` (ComputeReferenceStatistics) with the predictions on `holdout`
//   and the classifier's error rate / regressor's MAE; autoencoders get
//   their threshold calibrated on `holdout` (every row benign, or label 0)
//   to target_false_positive_rate.
// - Deterministic for a seed (and one intra-op thread): order, replay draws,
//   dropout masks and initialisation come from generators seeded with it,
//   not from LibTorch's global generator. resources.intra_op_threads, when
//   set, is applied with ConfigureTorchRuntime (process-wide).
//
// Errors: INVALID_ARGUMENT for a parent that fails ValidateBundle, a
// config out of range, an empty `train` or `holdout`, or data that fails
// CheckDataset against the parent's spec (named "train", "replay",
// "holdout"); CANCELLED when callbacks.cancelled returns true (nothing is
// returned); INTERNAL if LibTorch throws.
absl::StatusOr<TrainResult> Train(const internal::v1::ModelBundle& parent,
                                  const Dataset& train, const Dataset* replay,
                                  const Dataset& holdout,
                                  const v1::TrainingConfig& config,
                                  const TrainCallbacks& callbacks = {});

// Replaces bundle->fisher with the empirical Fisher diagonal of its
// weights on `data` (at most `max_rows` rows, evenly strided), as Train
// does. INVALID_ARGUMENT for an invalid bundle or data, or empty data;
// INTERNAL if LibTorch throws.
absl::Status UpdateFisherDiagonal(const Dataset& data,
                                  internal::v1::ModelBundle* bundle,
                                  int64_t max_rows = 10000);

// Online learning (TRAINING_STRATEGY_ONLINE): a model and its optimizer
// state, updated one micro-batch at a time. One optimizer step per Update
// on the whole batch, with the config's optimizer, clipping and guards
// (EWC against the start bundle's weights and Fisher; distillation from
// the start bundle), no dropout randomness beyond the seeded generator.
// Not thread-safe: one caller at a time.
class OnlineUpdater {
 public:
  // INVALID_ARGUMENT for an invalid bundle or config (resolved with
  // ResolveTrainingConfig; the strategy is ignored).
  static absl::StatusOr<std::unique_ptr<OnlineUpdater>> Create(
      const internal::v1::ModelBundle& start, const v1::TrainingConfig& config);
  ~OnlineUpdater();

  // Applies one optimizer step on `batch` (all its rows) and returns the
  // batch's training loss before the step. The features are not scanned
  // for NaN (that would cost a pass over the batch): a non-finite loss or
  // gradient norm leaves the model unchanged and answers INVALID_ARGUMENT.
  // INVALID_ARGUMENT for an empty batch or one whose shape or targets do
  // not fit; INTERNAL if LibTorch throws.
  absl::StatusOr<double> Update(const Dataset& batch);

  // The start bundle with the current weights and create_time now. Fisher,
  // thresholds and reference statistics are the start bundle's: a caller
  // publishing a candidate recomputes what it needs (UpdateFisherDiagonal,
  // CalibrateAnomalyThreshold, Evaluate).
  absl::StatusOr<internal::v1::ModelBundle> ExportBundle() const;

  // Updates applied so far.
  int64_t updates() const;

  class Impl;

 private:
  explicit OnlineUpdater(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_TRAINING_H_
