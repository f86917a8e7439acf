// The effective configuration of a training run: continuum.v1.TrainingConfig
// with every default filled in and every value checked, and the
// hyper-parameters a candidate's manifest records from it. What training.h's
// Train and OnlineUpdater run with; the semantics of every knob are those of
// protos/continuum/v1/trainer.proto.
//
// Plain C++ and protobuf (no LibTorch). Thread-safe: pure functions, except
// that ResolveTrainingConfig draws a random seed when the config has none.
#ifndef CONTINUUM_LIB_MODEL_TRAINING_CONFIG_H_
#define CONTINUUM_LIB_MODEL_TRAINING_CONFIG_H_

#include "absl/status/statusor.h"
#include "continuum/v1/common.pb.h"
#include "continuum/v1/trainer.pb.h"

namespace continuum::model {

// `config` with every default its fields document filled in, for `strategy`
// (unset = INCREMENTAL): optimizer AdamW, learning rate 1e-4 (incremental,
// online) or 1e-3 (full retraining), weight decay 0.01, betas 0.9/0.999,
// epsilon 1e-8, gradient clipping at norm 1.0, 2 or 20 epochs, batch 64,
// early stopping with patience 2, replay ratio 0.3, distillation
// temperature 2, target false-positive rate 0.01, micro-batch 1000. Seed 0
// becomes a random seed (so the effective configuration records it).
// INVALID_ARGUMENT naming the field for a value out of range (negative
// learning rate, replay ratio above 0.9, ...), e.g.
// "guards.replay_ratio is 0.95; allowed: [0, 0.9]"; the first such field,
// in the order optimizer, epochs, batch, early stopping, holdout, guards,
// false-positive rate, online, resources.
absl::StatusOr<v1::TrainingConfig> ResolveTrainingConfig(
    const v1::TrainingConfig& config);

// Replaces manifest.hyperparameters with those of the effective config `c`:
// strategy, optimizer and its settings (momentum for SGD, betas and epsilon
// otherwise), epochs, batch size, early stopping ("off" or "patience P,
// min_delta D"), the forgetting guards and the seed.
void SetHyperparameters(const v1::TrainingConfig& c,
                        v1::ArtifactManifest* manifest);

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_TRAINING_CONFIG_H_
