// BatchSampler: the batches of a training run (training.h, Train): an epoch
// is one pass over the training rows in a seeded random order; with replay,
// every batch of batch_size rows holds round(batch_size * replay_ratio)
// rows of the replay set (at most batch_size - 1), drawn in a seeded random
// order that is reshuffled each time it is used up, and the rest from the
// training rows.
//
// Plain C++ (no LibTorch). Deterministic for a seed: one generator, seeded
// with it, shuffles the replay order once at construction, the training
// order at the start of each epoch, and the replay order whenever it wraps.
// Not thread-safe: one run, one caller.
#ifndef CONTINUUM_LIB_MODEL_TRAINING_BATCHES_H_
#define CONTINUUM_LIB_MODEL_TRAINING_BATCHES_H_

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "continuum/v1/common.pb.h"
#include "lib/model/dataset.h"

namespace continuum::model {

class BatchSampler {
 public:
  // Samples `train` (not empty) and, when `replay` is not null and
  // replay_ratio > 0, `replay` (not empty), for a model of the resolved
  // `spec`, in batches of `batch_size` (>= 1) rows. The data sets must
  // outlive the sampler and have passed CheckDataset against `spec`.
  BatchSampler(const Dataset& train, const Dataset* replay,
               const v1::ModelSpec& spec, int64_t batch_size,
               double replay_ratio, uint64_t seed);

  BatchSampler(const BatchSampler&) = delete;
  BatchSampler& operator=(const BatchSampler&) = delete;

  // Replay rows in each batch (0 without replay).
  int64_t replay_per_batch() const { return replay_per_batch_; }
  // Training rows in each batch (the last batch of an epoch may hold fewer).
  int64_t new_per_batch() const { return new_per_batch_; }
  // Batches (optimizer steps) per epoch.
  int64_t steps_per_epoch() const { return steps_per_epoch_; }

  // Shuffles the training order for the next epoch.
  void StartEpoch();

  // Replaces *features (rows * input_dim, row-major) and *targets (rows *
  // target width; left empty for autoencoders, which train on no targets)
  // with batch `step` (0 <= step < steps_per_epoch()) of the epoch: its
  // training rows, then its replay rows. Returns its rows.
  int64_t NextBatch(int64_t step, std::vector<float>* features,
                    std::vector<float>* targets);

 private:
  // Appends row r of `d` to the batch.
  void AddRow(const Dataset& d, int64_t r, std::vector<float>* features,
              std::vector<float>* targets) const;

  const Dataset& train_;
  const Dataset* const replay_;  // Null without replay.
  const int64_t input_dim_;
  const int target_width_;
  const bool has_targets_;
  int64_t replay_per_batch_ = 0;
  int64_t new_per_batch_ = 0;
  int64_t steps_per_epoch_ = 0;
  std::mt19937_64 rng_;
  std::vector<int64_t> order_;
  std::vector<int64_t> replay_order_;
  size_t replay_cursor_ = 0;
};

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_TRAINING_BATCHES_H_
