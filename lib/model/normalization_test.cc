// Fitting a normalisation (floors, bound) and moving a trained network to
// another one without changing what it computes.
#include "lib/model/normalization.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "lib/model/model.h"

namespace continuum::model {
namespace {

using internal::v1::ModelBundle;

TEST(FitNormalizationTest, FloorsNearlyConstantFeaturesAndBoundsValues) {
  // Feature 0: uniform in [0, 1] (std ~0.29). Feature 1: 0 but for one row
  // of 0.5 in 1000 (std ~0.016, range 0.5). Feature 2: constant 3.
  // Feature 3: small scale, uniform in [0, 0.01] (std ~0.003).
  std::mt19937_64 rng(1);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<float> rows;
  for (int i = 0; i < 1000; ++i) {
    rows.push_back(u(rng));
    rows.push_back(i == 7 ? 0.5f : 0.0f);
    rows.push_back(3.0f);
    rows.push_back(0.01f * u(rng));
  }
  v1::NormalizationStats s = FitNormalization(4, rows);
  ASSERT_EQ(s.mean_size(), 4);
  EXPECT_FLOAT_EQ(s.clip(), kNormalizedClip);
  EXPECT_NEAR(s.std(0), 0.29, 0.02);
  // Median std 0.0158 (feature 1's); floors a tenth of min(range, median):
  // none binds here.
  EXPECT_NEAR(s.mean(1), 0.0005, 1e-6);
  EXPECT_NEAR(s.std(1), 0.0158, 1e-3);  // its own std, above the floor
  EXPECT_FLOAT_EQ(s.std(2), 1.0f);      // constant: 1
  EXPECT_NEAR(s.std(3), 0.0029, 0.0003);  // small scale kept

  // Without the floor a feature that was 0 in every row but one would be
  // divided by ~0.0003 (std of 1 in 100000 rows): here by at least a tenth
  // of min(range, median).
  std::vector<float> sparse;
  for (int i = 0; i < 100000; ++i) {
    sparse.push_back(u(rng));
    sparse.push_back(i == 3 ? 0.1f : 0.0f);
    sparse.push_back(u(rng));
  }
  v1::NormalizationStats f = FitNormalization(3, sparse);
  EXPECT_NEAR(f.std(1), 0.1 * 0.1, 1e-4);  // range 0.1 < median 0.29
}

TEST(FitNormalizationTest, TwoPartsAreTheirConcatenation) {
  std::mt19937_64 rng(5);
  std::normal_distribution<float> g(2, 3);
  std::vector<float> a(3 * 40), b(3 * 25);
  for (float& v : a) v = g(rng);
  for (float& v : b) v = g(rng) * 0.1f;
  std::vector<float> both = a;
  both.insert(both.end(), b.begin(), b.end());
  const v1::NormalizationStats parts = FitNormalization(3, a, b);
  const v1::NormalizationStats whole = FitNormalization(3, both);
  EXPECT_EQ(parts.SerializeAsString(), whole.SerializeAsString());
}

TEST(FitNormalizationTest, EmptyIsTheIdentityWithTheBound) {
  v1::NormalizationStats s = FitNormalization(2, {});
  EXPECT_EQ(s.mean(0), 0);
  EXPECT_EQ(s.std(1), 1);
  EXPECT_FLOAT_EQ(s.clip(), kNormalizedClip);
}

TEST(FloorNormalizationTest, RaisesDeviationsToATenthOfTheMedian) {
  v1::NormalizationStats s;
  for (float sd : {0.3f, 0.001f, 0.4f, 0.2f}) {
    s.add_mean(0.5f);
    s.add_std(sd);
  }
  v1::NormalizationStats f = FloorNormalization(s);
  EXPECT_FLOAT_EQ(f.std(0), 0.3f);
  EXPECT_FLOAT_EQ(f.std(1), 0.03f);  // median 0.3
  EXPECT_FLOAT_EQ(f.std(2), 0.4f);
  EXPECT_FLOAT_EQ(f.clip(), kNormalizedClip);
}

ModelBundle Bundle(v1::ModelFamily family, const v1::NormalizationStats& n) {
  v1::ArtifactManifest manifest;
  manifest.mutable_spec()->set_family(family);
  manifest.mutable_spec()->set_input_dim(4);
  manifest.mutable_spec()->set_output_dim(
      family == v1::MODEL_FAMILY_AUTOENCODER ? 0 : 3);
  manifest.mutable_spec()->add_hidden_sizes(8);
  manifest.mutable_spec()->add_hidden_sizes(2);
  if (family == v1::MODEL_FAMILY_AUTOENCODER) {
    manifest.mutable_thresholds()->set_anomaly_threshold(1);
  }
  *manifest.mutable_normalization() = n;
  absl::StatusOr<ModelBundle> b = Model::InitBundle(manifest, 7);
  EXPECT_TRUE(b.ok()) << b.status();
  return *b;
}

v1::NormalizationStats Stats(std::vector<float> mean, std::vector<float> sd) {
  v1::NormalizationStats s;
  s.mutable_mean()->Add(mean.begin(), mean.end());
  s.mutable_std()->Add(sd.begin(), sd.end());
  return s;
}

std::vector<float> Outputs(const ModelBundle& bundle,
                           const std::vector<float>& rows) {
  absl::StatusOr<std::unique_ptr<Model>> m = Model::FromBundle(bundle);
  EXPECT_TRUE(m.ok()) << m.status();
  std::vector<float> out;
  EXPECT_TRUE((*m)->Forward(rows.data(), rows.size() / 4, &out).ok());
  return out;
}

std::vector<float> Rows() {
  std::mt19937_64 rng(3);
  std::normal_distribution<float> g(1, 2);
  std::vector<float> rows(4 * 50);
  for (float& v : rows) v = g(rng);
  return rows;
}

TEST(RenormalizeTest, AClassifierComputesTheSameFunction) {
  const ModelBundle before = Bundle(v1::MODEL_FAMILY_MLP_CLASSIFIER,
                                    Stats({1, 0, -2, 5}, {2, 0.5, 1, 10}));
  ModelBundle after = before;
  const v1::NormalizationStats to = Stats({0.5, 3, 0, -1}, {1, 4, 0.1, 2});
  ASSERT_TRUE(Renormalize(to, &after).ok());
  EXPECT_EQ(after.manifest().normalization().std(2), 0.1f);
  const std::vector<float> rows = Rows();
  const std::vector<float> a = Outputs(before, rows), b = Outputs(after, rows);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4) << i;
  // The weights did change.
  EXPECT_NE(before.weights(0).tensor().data(0),
            after.weights(0).tensor().data(0));
}

TEST(RenormalizeTest, AnAutoencoderReconstructsTheSameRowsAtAnotherScale) {
  // With every deviation doubled, the squared error in normalised space is
  // a quarter of what it was.
  const v1::NormalizationStats from = Stats({1, 0, -2, 5}, {2, 0.5, 1, 10});
  const ModelBundle before = Bundle(v1::MODEL_FAMILY_AUTOENCODER, from);
  ModelBundle after = before;
  ASSERT_TRUE(
      Renormalize(Stats({0, 1, 2, 3}, {4, 1, 2, 20}), &after).ok());
  const std::vector<float> rows = Rows();
  const std::vector<float> a = Outputs(before, rows), b = Outputs(after, rows);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(b[i], a[i] / 4, 1e-4 + 1e-4 * a[i]) << i;
  }
}

TEST(RenormalizeTest, FisherEntriesFollowTheirWeights) {
  ModelBundle b = Bundle(v1::MODEL_FAMILY_MLP_CLASSIFIER,
                         Stats({0, 0, 0, 0}, {1, 1, 1, 1}));
  internal::v1::NamedTensor* f = b.add_fisher();
  f->set_name("layers.0.weight");
  *f->mutable_tensor() = b.weights(0).tensor();
  for (int i = 0; i < f->tensor().data_size(); ++i) {
    f->mutable_tensor()->set_data(i, 1.0f);
  }
  ASSERT_TRUE(Renormalize(Stats({0, 0, 0, 0}, {2, 1, 1, 0.5}), &b).ok());
  // F' = F (s / s')^2 column by column.
  EXPECT_FLOAT_EQ(b.fisher(0).tensor().data(0), 0.25f);
  EXPECT_FLOAT_EQ(b.fisher(0).tensor().data(1), 1.0f);
  EXPECT_FLOAT_EQ(b.fisher(0).tensor().data(3), 4.0f);
}

// The bound applies on both forward paths (plain C++ under 5 rows,
// LibTorch from 5).
TEST(ClipTest, NormalisedValuesAreBoundedOnEveryPath) {
  v1::NormalizationStats n = Stats({0, 0, 0, 0}, {1, 1, 1, 1});
  n.set_clip(2);
  const ModelBundle bundle = Bundle(v1::MODEL_FAMILY_MLP_CLASSIFIER, n);
  for (int rows : {1, 8}) {
    std::vector<float> far(4 * rows, 1.0f), clipped(4 * rows, 1.0f);
    for (int r = 0; r < rows; ++r) {
      far[4 * r] = 1000.0f;     // normalised 1000 -> 2
      clipped[4 * r] = 2.0f;
      far[4 * r + 1] = -50.0f;  // -> -2
      clipped[4 * r + 1] = -2.0f;
    }
    const std::vector<float> a = Outputs(bundle, far);
    const std::vector<float> b = Outputs(bundle, clipped);
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_NEAR(a[i], b[i], 1e-6) << rows << " rows, output " << i;
    }
  }
}

TEST(RenormalizeTest, WidthsMustMatch) {
  ModelBundle b = Bundle(v1::MODEL_FAMILY_MLP_CLASSIFIER,
                         Stats({0, 0, 0, 0}, {1, 1, 1, 1}));
  absl::Status s = Renormalize(Stats({0, 0}, {1, 1}), &b);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "new normalisation has 2 means and 2 deviations; the model "
            "takes 4 inputs");
}

}  // namespace
}  // namespace continuum::model
