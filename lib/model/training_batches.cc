#include "lib/model/training_batches.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "lib/model/bundle.h"

namespace continuum::model {

BatchSampler::BatchSampler(const Dataset& train, const Dataset* replay,
                           const v1::ModelSpec& spec, int64_t batch_size,
                           double replay_ratio, uint64_t seed)
    : train_(train),
      replay_(replay_ratio > 0 ? replay : nullptr),
      input_dim_(InputWidth(spec)),
      target_width_(Dataset::TargetWidth(spec)),
      has_targets_(TaskFamily(spec) != v1::MODEL_FAMILY_AUTOENCODER),
      rng_(seed) {
  replay_per_batch_ =
      replay_ != nullptr
          ? std::min<int64_t>(
                batch_size - 1,
                std::llround(static_cast<double>(batch_size) * replay_ratio))
          : 0;
  new_per_batch_ = batch_size - replay_per_batch_;
  steps_per_epoch_ = (train.size() + new_per_batch_ - 1) / new_per_batch_;
  order_.resize(train.size());
  std::iota(order_.begin(), order_.end(), 0);
  if (replay_ != nullptr) {
    replay_order_.resize(replay_->size());
    std::iota(replay_order_.begin(), replay_order_.end(), 0);
    std::shuffle(replay_order_.begin(), replay_order_.end(), rng_);
  }
}

void BatchSampler::StartEpoch() {
  std::shuffle(order_.begin(), order_.end(), rng_);
}

void BatchSampler::AddRow(const Dataset& d, int64_t r,
                          std::vector<float>* features,
                          std::vector<float>* targets) const {
  features->insert(features->end(), d.features.begin() + r * input_dim_,
                   d.features.begin() + (r + 1) * input_dim_);
  if (has_targets_) {
    targets->insert(targets->end(), d.targets.begin() + r * target_width_,
                    d.targets.begin() + (r + 1) * target_width_);
  }
}

int64_t BatchSampler::NextBatch(int64_t step, std::vector<float>* features,
                                std::vector<float>* targets) {
  features->clear();
  targets->clear();
  const int64_t end = std::min(train_.size(), (step + 1) * new_per_batch_);
  for (int64_t i = step * new_per_batch_; i < end; ++i) {
    AddRow(train_, order_[i], features, targets);
  }
  for (int64_t i = 0; i < replay_per_batch_; ++i) {
    if (replay_cursor_ == replay_order_.size()) {
      std::shuffle(replay_order_.begin(), replay_order_.end(), rng_);
      replay_cursor_ = 0;
    }
    AddRow(*replay_, replay_order_[replay_cursor_++], features, targets);
  }
  return static_cast<int64_t>(features->size()) / input_dim_;
}

}  // namespace continuum::model
