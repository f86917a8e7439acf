// BatchSampler: epochs over the training rows and replay mixing.
#include "lib/model/training_batches.h"

#include <gtest/gtest.h>

#include <map>
#include <vector>

#include "lib/model/dataset.h"

namespace continuum::model {
namespace {

v1::ModelSpec Classifier() {
  v1::ModelSpec spec;
  spec.set_family(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  spec.set_input_dim(2);
  spec.set_output_dim(2);
  return spec;
}

// n rows whose features are (base + r, -(base + r)) and target r % 2.
Dataset Rows(int n, float base) {
  Dataset d;
  d.input_dim = 2;
  for (int r = 0; r < n; ++r) {
    d.features.push_back(base + r);
    d.features.push_back(-(base + r));
    d.targets.push_back(static_cast<float>(r % 2));
  }
  return d;
}

TEST(BatchSamplerTest, AnEpochVisitsEveryTrainingRowOnce) {
  const Dataset train = Rows(10, 0);
  BatchSampler sampler(train, nullptr, Classifier(), 4, 0.3, 1);
  EXPECT_EQ(sampler.replay_per_batch(), 0);
  EXPECT_EQ(sampler.new_per_batch(), 4);
  EXPECT_EQ(sampler.steps_per_epoch(), 3);
  std::map<float, int> seen;
  std::vector<float> features, targets;
  sampler.StartEpoch();
  for (int64_t s = 0; s < sampler.steps_per_epoch(); ++s) {
    const int64_t rows = sampler.NextBatch(s, &features, &targets);
    EXPECT_EQ(rows, s < 2 ? 4 : 2);
    ASSERT_EQ(features.size(), static_cast<size_t>(2 * rows));
    ASSERT_EQ(targets.size(), static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      const float x = features[2 * r];
      EXPECT_EQ(features[2 * r + 1], -x);
      EXPECT_EQ(targets[r], static_cast<float>(static_cast<int>(x) % 2));
      ++seen[x];
    }
  }
  ASSERT_EQ(seen.size(), 10u);
  for (const auto& [x, count] : seen) EXPECT_EQ(count, 1) << x;
}

TEST(BatchSamplerTest, EveryBatchMixesInItsShareOfReplayRows) {
  const Dataset train = Rows(20, 0);
  const Dataset replay = Rows(3, 1000);
  BatchSampler sampler(train, &replay, Classifier(), 10, 0.3, 2);
  EXPECT_EQ(sampler.replay_per_batch(), 3);
  EXPECT_EQ(sampler.new_per_batch(), 7);
  EXPECT_EQ(sampler.steps_per_epoch(), 3);
  std::map<float, int> replayed;
  std::vector<float> features, targets;
  sampler.StartEpoch();
  for (int64_t s = 0; s < sampler.steps_per_epoch(); ++s) {
    const int64_t rows = sampler.NextBatch(s, &features, &targets);
    const int64_t fresh = s < 2 ? 7 : 6;
    EXPECT_EQ(rows, fresh + 3);
    for (int64_t r = 0; r < rows; ++r) {
      // Training rows first, then replay rows.
      EXPECT_EQ(features[2 * r] >= 1000, r >= fresh) << s << " " << r;
      if (features[2 * r] >= 1000) ++replayed[features[2 * r]];
    }
  }
  // The replay order cycles: each replay row once per pass over them.
  ASSERT_EQ(replayed.size(), 3u);
  for (const auto& [x, count] : replayed) EXPECT_EQ(count, 3) << x;
}

TEST(BatchSamplerTest, ReplayNeverFillsAWholeBatch) {
  const Dataset train = Rows(5, 0);
  const Dataset replay = Rows(5, 1000);
  BatchSampler sampler(train, &replay, Classifier(), 2, 0.9, 3);
  EXPECT_EQ(sampler.replay_per_batch(), 1);
  EXPECT_EQ(sampler.new_per_batch(), 1);
  EXPECT_EQ(sampler.steps_per_epoch(), 5);
  // A zero ratio switches replay off.
  BatchSampler off(train, &replay, Classifier(), 2, 0, 3);
  EXPECT_EQ(off.replay_per_batch(), 0);
}

TEST(BatchSamplerTest, DeterministicForASeedAndAutoencodersTakeNoTargets) {
  v1::ModelSpec spec;
  spec.set_family(v1::MODEL_FAMILY_AUTOENCODER);
  spec.set_input_dim(2);
  const Dataset train = Rows(50, 0);
  const Dataset replay = Rows(7, 1000);
  auto batches = [&](uint64_t seed) {
    BatchSampler sampler(train, &replay, spec, 8, 0.25, seed);
    std::vector<float> all, features, targets;
    for (int epoch = 0; epoch < 3; ++epoch) {
      sampler.StartEpoch();
      for (int64_t s = 0; s < sampler.steps_per_epoch(); ++s) {
        sampler.NextBatch(s, &features, &targets);
        EXPECT_TRUE(targets.empty());
        all.insert(all.end(), features.begin(), features.end());
      }
    }
    return all;
  };
  EXPECT_EQ(batches(9), batches(9));
  EXPECT_NE(batches(9), batches(10));
}

}  // namespace
}  // namespace continuum::model
