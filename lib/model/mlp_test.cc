#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "lib/model/bundle.h"
#include "lib/model/model.h"

namespace continuum::model {
namespace {

using internal::v1::ModelBundle;
using ::testing::HasSubstr;

void AddTensor(ModelBundle* b, const std::string& name,
               std::vector<int64_t> shape, std::vector<float> data) {
  internal::v1::NamedTensor* t = b->add_weights();
  t->set_name(name);
  for (int64_t d : shape) t->mutable_tensor()->add_shape(d);
  for (float v : data) t->mutable_tensor()->add_data(v);
}

// A 2-3-2 network with fixed weights, ReLU, and normalisation mean [1, 0],
// std [1, 2]. For the raw row [2, 4]: z = [1, 2]; hidden = relu(W0 z + b0)
// = relu([1, 2, 1 + 2 - 1]) = [1, 2, 2]; logits = W1 h + b1 =
// [1 - 2 + 1 + 0.5, 2 - 2 + 0] = [0.5, 0].
ModelBundle TinyMlp(v1::ModelFamily family) {
  ModelBundle b;
  v1::ArtifactManifest* m = b.mutable_manifest();
  m->set_format_version(1);
  m->mutable_spec()->set_family(family);
  m->mutable_spec()->set_input_dim(2);
  m->mutable_spec()->set_output_dim(2);
  m->mutable_spec()->add_hidden_sizes(3);
  m->mutable_normalization()->add_mean(1);
  m->mutable_normalization()->add_mean(0);
  m->mutable_normalization()->add_std(1);
  m->mutable_normalization()->add_std(2);
  AddTensor(&b, "layers.0.weight", {3, 2}, {1, 0, 0, 1, 1, 1});
  AddTensor(&b, "layers.0.bias", {3}, {0, 0, -1});
  AddTensor(&b, "layers.1.weight", {2, 3}, {1, -1, 0.5, 0, 1, -1});
  AddTensor(&b, "layers.1.bias", {2}, {0.5, 0});
  return b;
}

TEST(MlpTest, ClassifierMatchesHandComputation) {
  absl::StatusOr<std::unique_ptr<Model>> model =
      Model::FromBundle(TinyMlp(v1::MODEL_FAMILY_MLP_CLASSIFIER));
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->input_dim(), 2);
  EXPECT_EQ((*model)->output_dim(), 2);
  std::vector<float> rows = {2, 4};
  std::vector<float> out;
  ASSERT_TRUE((*model)->Forward(rows.data(), 1, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  double e = std::exp(0.5);
  EXPECT_NEAR(out[0], e / (e + 1), 1e-6);  // 0.622459
  EXPECT_NEAR(out[1], 1 / (e + 1), 1e-6);  // 0.377541
}

TEST(MlpTest, RegressorRawAndDenormalised) {
  ModelBundle b = TinyMlp(v1::MODEL_FAMILY_MLP_REGRESSOR);
  std::vector<float> rows = {2, 4};
  std::vector<float> out;
  auto model = Model::FromBundle(b);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_TRUE((*model)->Forward(rows.data(), 1, &out).ok());
  EXPECT_THAT(out, ::testing::ElementsAre(::testing::FloatNear(0.5f, 1e-6),
                                          ::testing::FloatNear(0.0f, 1e-6)));
  // Targets mean [10, -1], std [2, 3]: [0.5 * 2 + 10, 0 * 3 - 1].
  b.mutable_target_normalization()->add_mean(10);
  b.mutable_target_normalization()->add_mean(-1);
  b.mutable_target_normalization()->add_std(2);
  b.mutable_target_normalization()->add_std(3);
  model = Model::FromBundle(b);
  ASSERT_TRUE(model.ok()) << model.status();
  ASSERT_TRUE((*model)->Forward(rows.data(), 1, &out).ok());
  EXPECT_THAT(out, ::testing::ElementsAre(::testing::FloatNear(11.0f, 1e-5),
                                          ::testing::FloatNear(-1.0f, 1e-5)));
}

TEST(MlpTest, AutoencoderScoreAndThreshold) {
  // 2 -> 2 -> latent 1 -> 2 -> 2, identity-ish weights, no normalisation.
  // Row [1, 2]: relu(I x) = [1, 2]; relu(1 + 2) = 3; relu([3, 0]) = [3, 0];
  // I [3, 0] = [3, 0]. Score = ((3 - 1)^2 + (0 - 2)^2) / 2 = 4.
  ModelBundle b;
  v1::ArtifactManifest* m = b.mutable_manifest();
  m->set_format_version(1);
  m->mutable_spec()->set_family(v1::MODEL_FAMILY_AUTOENCODER);
  m->mutable_spec()->set_input_dim(2);
  m->mutable_spec()->add_hidden_sizes(2);
  m->mutable_spec()->set_latent_dim(1);
  m->mutable_thresholds()->set_anomaly_threshold(3.5f);
  AddTensor(&b, "layers.0.weight", {2, 2}, {1, 0, 0, 1});
  AddTensor(&b, "layers.0.bias", {2}, {0, 0});
  AddTensor(&b, "layers.1.weight", {1, 2}, {1, 1});
  AddTensor(&b, "layers.1.bias", {1}, {0});
  AddTensor(&b, "layers.2.weight", {2, 1}, {1, 0});
  AddTensor(&b, "layers.2.bias", {2}, {0, 0});
  AddTensor(&b, "layers.3.weight", {2, 2}, {1, 0, 0, 1});
  AddTensor(&b, "layers.3.bias", {2}, {0, 0});
  auto model = Model::FromBundle(b);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->output_dim(), 1);
  // Second row [1, 1]: [1, 1] -> 2 -> [2, 0] -> [2, 0]; score (1 + 1) / 2 = 1.
  std::vector<float> rows = {1, 2, 1, 1};
  std::vector<float> out;
  ASSERT_TRUE((*model)->Forward(rows.data(), 2, &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NEAR(out[0], 4.0f, 1e-6);
  EXPECT_NEAR(out[1], 1.0f, 1e-6);
  EXPECT_TRUE((*model)->IsAnomaly(out[0]));
  EXPECT_FALSE((*model)->IsAnomaly(out[1]));
  EXPECT_EQ((*model)->anomaly_threshold(), 3.5f);
}

TEST(MlpTest, ActivationsFromSpec) {
  // Tanh: hidden = tanh([1, 2, 2]); logits = [t1 - t2 + t2 / 2 + 0.5, 0].
  ModelBundle b = TinyMlp(v1::MODEL_FAMILY_MLP_REGRESSOR);
  b.mutable_manifest()->mutable_spec()->set_activation(v1::ACTIVATION_TANH);
  auto model = Model::FromBundle(b);
  ASSERT_TRUE(model.ok());
  std::vector<float> rows = {2, 4}, out;
  ASSERT_TRUE((*model)->Forward(rows.data(), 1, &out).ok());
  double t1 = std::tanh(1.0), t2 = std::tanh(2.0);
  EXPECT_NEAR(out[0], t1 - t2 + 0.5 * t2 + 0.5, 1e-6);
  EXPECT_NEAR(out[1], 0.0, 1e-6);
}

std::vector<float> RandomRows(int n, int dim, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  std::vector<float> rows(static_cast<size_t>(n) * dim);
  for (float& v : rows) v = normal(gen);
  return rows;
}

ModelBundle InitFor(v1::ModelFamily family, int inputs, int outputs) {
  v1::ArtifactManifest manifest;
  manifest.mutable_spec()->set_family(family);
  manifest.mutable_spec()->set_input_dim(inputs);
  manifest.mutable_spec()->set_output_dim(outputs);
  manifest.mutable_spec()->add_hidden_sizes(32);
  manifest.mutable_spec()->add_hidden_sizes(16);
  absl::StatusOr<ModelBundle> b = Model::InitBundle(manifest, 42);
  EXPECT_TRUE(b.ok()) << b.status();
  return *b;
}

TEST(MlpTest, InitBundleFromBundleForwardShapes) {
  for (auto family :
       {v1::MODEL_FAMILY_MLP_CLASSIFIER, v1::MODEL_FAMILY_MLP_REGRESSOR,
        v1::MODEL_FAMILY_AUTOENCODER}) {
    SCOPED_TRACE(FamilyName(family));
    ModelBundle b = InitFor(family, 20, 5);
    auto model = Model::FromBundle(b);
    ASSERT_TRUE(model.ok()) << model.status();
    int width = family == v1::MODEL_FAMILY_AUTOENCODER ? 1 : 5;
    EXPECT_EQ((*model)->output_dim(), width);
    std::vector<float> out;
    const v1::Tensor& warmup = b.warmup_inputs();
    ASSERT_TRUE(
        (*model)->Forward(warmup.data().data(), warmup.shape(0), &out).ok());
    EXPECT_EQ(out.size(), static_cast<size_t>(warmup.shape(0)) * width);
    for (float v : out) EXPECT_TRUE(std::isfinite(v));
    if (family == v1::MODEL_FAMILY_MLP_CLASSIFIER) {
      float sum = 0;
      for (int i = 0; i < width; ++i) sum += out[i];
      EXPECT_NEAR(sum, 1.0f, 1e-5);
    }
    ASSERT_TRUE((*model)->Forward(nullptr, 0, &out).ok());
    EXPECT_TRUE(out.empty());
    EXPECT_EQ((*model)->Forward(nullptr, 3, &out).code(),
              absl::StatusCode::kInvalidArgument);
  }
  // Deterministic for a seed, different across seeds.
  v1::ArtifactManifest manifest =
      InitFor(v1::MODEL_FAMILY_MLP_CLASSIFIER, 4, 2).manifest();
  manifest.clear_create_time();
  auto a = Model::InitBundle(manifest, 1);
  auto b = Model::InitBundle(manifest, 1);
  auto c = Model::InitBundle(manifest, 2);
  EXPECT_EQ(a->weights(0).tensor().data(0), b->weights(0).tensor().data(0));
  EXPECT_NE(a->weights(0).tensor().data(0), c->weights(0).tensor().data(0));
  // A bad spec is refused.
  manifest.mutable_spec()->set_input_dim(0);
  EXPECT_EQ(Model::InitBundle(manifest, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MlpTest, BatchOfOneEqualsBatchOf64) {
  ModelBundle b = InitFor(v1::MODEL_FAMILY_MLP_CLASSIFIER, 20, 5);
  auto model = Model::FromBundle(b);
  ASSERT_TRUE(model.ok());
  std::vector<float> rows = RandomRows(64, 20, 3);
  std::vector<float> batch;
  ASSERT_TRUE((*model)->Forward(rows.data(), 64, &batch).ok());
  ASSERT_EQ(batch.size(), 64u * 5);
  for (int r = 0; r < 64; ++r) {
    std::vector<float> one;
    ASSERT_TRUE((*model)->Forward(rows.data() + r * 20, 1, &one).ok());
    ASSERT_EQ(one.size(), 5u);
    for (int j = 0; j < 5; ++j) {
      // GEMM and GEMV may sum in different orders: equal up to rounding.
      EXPECT_NEAR(one[j], batch[r * 5 + j], 1e-6) << "row " << r;
    }
  }
}

TEST(MlpTest, SmallBatchesEqualBatchOf64) {
  // Batches under 5 rows run in plain C++ (dense_forward.h); larger ones on
  // LibTorch.
  ModelBundle b = InitFor(v1::MODEL_FAMILY_MLP_CLASSIFIER, 20, 5);
  auto model = Model::FromBundle(b);
  ASSERT_TRUE(model.ok());
  std::vector<float> rows = RandomRows(64, 20, 4);
  std::vector<float> batch;
  ASSERT_TRUE((*model)->Forward(rows.data(), 64, &batch).ok());
  for (int n : {2, 3, 4, 5}) {
    std::vector<float> small;
    ASSERT_TRUE((*model)->Forward(rows.data(), n, &small).ok());
    ASSERT_EQ(small.size(), static_cast<size_t>(n) * 5);
    for (int i = 0; i < n * 5; ++i) {
      EXPECT_NEAR(small[i], batch[i], 1e-6) << n << " rows, value " << i;
    }
  }
}

// Forward on one backend, forced for the duration of the call.
std::vector<float> ForwardOn(const Model& model, MatmulBackend backend,
                             const std::vector<float>& rows, int n) {
  model_internal::SetMatmulBackendForTest(backend);
  std::vector<float> out;
  absl::Status s = model.Forward(rows.data(), n, &out);
  model_internal::SetMatmulBackendForTest(MatmulBackend::kAuto);
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

TEST(MlpTest, OneDnnAgreesWithBlasForEveryFamily) {
  for (v1::ModelFamily family :
       {v1::MODEL_FAMILY_MLP_CLASSIFIER, v1::MODEL_FAMILY_MLP_REGRESSOR,
        v1::MODEL_FAMILY_AUTOENCODER}) {
    ModelBundle b = InitFor(family, 20, 3);
    auto model = Model::FromBundle(b);
    ASSERT_TRUE(model.ok()) << model.status();
    std::vector<float> rows = RandomRows(64, 20, 9);
    std::vector<float> blas = ForwardOn(**model, MatmulBackend::kBlas, rows, 64);
    std::vector<float> dnn = ForwardOn(**model, MatmulBackend::kOneDnn, rows, 64);
    ASSERT_EQ(blas.size(), dnn.size());
    ASSERT_FALSE(blas.empty());
    for (size_t i = 0; i < blas.size(); ++i) {
      EXPECT_NEAR(blas[i], dnn[i], 1e-5 * (1 + std::abs(blas[i])))
          << "family " << family << " value " << i;
    }
  }
}

TEST(MlpTest, SmallBatchesAgreeWithLibTorchForEveryFamilyAndActivation) {
  for (v1::ModelFamily family :
       {v1::MODEL_FAMILY_MLP_CLASSIFIER, v1::MODEL_FAMILY_MLP_REGRESSOR,
        v1::MODEL_FAMILY_AUTOENCODER}) {
    for (v1::Activation activation :
         {v1::ACTIVATION_RELU, v1::ACTIVATION_GELU, v1::ACTIVATION_TANH,
          v1::ACTIVATION_SIGMOID}) {
      SCOPED_TRACE(FamilyName(family) + " " +
                   v1::Activation_Name(activation));
      ModelBundle b = InitFor(family, 20, 3);
      b.mutable_manifest()->mutable_spec()->set_activation(activation);
      // Normalisation and target normalisation that are not the identity.
      auto* norm = b.mutable_manifest()->mutable_normalization();
      for (int j = 0; j < 20; ++j) {
        norm->set_mean(j, 0.1f * j);
        norm->set_std(j, 0.5f + 0.05f * j);
      }
      if (family == v1::MODEL_FAMILY_MLP_REGRESSOR) {
        for (float m : {10.0f, -2.0f, 0.5f}) {
          b.mutable_target_normalization()->add_mean(m);
          b.mutable_target_normalization()->add_std(2 - m / 10);
        }
      }
      auto model = Model::FromBundle(b);
      ASSERT_TRUE(model.ok()) << model.status();
      std::vector<float> rows = RandomRows(4, 20, 11);
      for (int n : {1, 2, 4}) {
        std::vector<float> torch =
            ForwardOn(**model, MatmulBackend::kBlas, rows, n);
        std::vector<float> dense;
        ASSERT_TRUE((*model)->Forward(rows.data(), n, &dense).ok());
        ASSERT_EQ(dense.size(), torch.size());
        ASSERT_FALSE(dense.empty());
        for (size_t i = 0; i < dense.size(); ++i) {
          EXPECT_NEAR(dense[i], torch[i], 1e-5 * (1 + std::abs(torch[i])))
              << n << " rows, value " << i;
        }
      }
    }
  }
}

// Four threads at once: every answer equals, bit for bit, the answer of the
// backend that computed it (OpenBLAS behind its lock, or oneDNN when the
// lock was busy), so no call ever sees another's buffers.
TEST(MlpTest, ConcurrentForwardIsIdentical) {
  ModelBundle b = InitFor(v1::MODEL_FAMILY_AUTOENCODER, 20, 0);
  auto model = Model::FromBundle(b);
  ASSERT_TRUE(model.ok());
  std::vector<float> rows = RandomRows(64, 20, 5);
  std::vector<float> blas = ForwardOn(**model, MatmulBackend::kBlas, rows, 64);
  std::vector<float> dnn = ForwardOn(**model, MatmulBackend::kOneDnn, rows, 64);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::vector<float> out;
        if (!(*model)->Forward(rows.data(), 64, &out).ok() ||
            (out != blas && out != dnn)) {
          ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_THAT(mismatches, ::testing::Each(0));
}

TEST(MlpTest, ConcurrentOneDnnForwardIsIdentical) {
  ModelBundle b = InitFor(v1::MODEL_FAMILY_MLP_CLASSIFIER, 20, 5);
  auto model = Model::FromBundle(b);
  ASSERT_TRUE(model.ok());
  std::vector<float> rows = RandomRows(64, 20, 6);
  std::vector<float> expected =
      ForwardOn(**model, MatmulBackend::kOneDnn, rows, 64);
  model_internal::SetMatmulBackendForTest(MatmulBackend::kOneDnn);
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        std::vector<float> out;
        if (!(*model)->Forward(rows.data(), 64, &out).ok() || out != expected) {
          ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  model_internal::SetMatmulBackendForTest(MatmulBackend::kAuto);
  EXPECT_THAT(mismatches, ::testing::Each(0));
}

TEST(MlpTest, LibTorchErrorsBecomeStatuses) {
  // Normalisation of 3 entries for 2 inputs: LibTorch's broadcast throws
  // inside Forward.
  ModelBundle b = TinyMlp(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  b.mutable_manifest()->mutable_normalization()->add_mean(0);
  b.mutable_manifest()->mutable_normalization()->add_std(1);
  EXPECT_EQ(Model::FromBundle(b).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto model = model_internal::FromBundleUnvalidatedForTest(b);
  ASSERT_TRUE(model.ok()) << model.status();
  std::vector<float> rows = {2, 4}, out;
  absl::Status s = (*model)->Forward(rows.data(), 1, &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("LibTorch"));
  EXPECT_TRUE(out.empty());

  // A weight whose shape disagrees with the module: copy_ throws while
  // building.
  b = TinyMlp(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  b.mutable_weights(0)->mutable_tensor()->set_shape(0, 2);
  b.mutable_weights(0)->mutable_tensor()->set_shape(1, 3);
  absl::Status build = model_internal::FromBundleUnvalidatedForTest(b).status();
  EXPECT_EQ(build.code(), absl::StatusCode::kInternal) << build;
}

TEST(MlpTest, FromBundleRefusesInvalidBundles) {
  ModelBundle b = TinyMlp(v1::MODEL_FAMILY_MLP_CLASSIFIER);
  b.mutable_weights(0)->mutable_tensor()->set_data(0, NAN);
  absl::Status s = Model::FromBundle(b).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("layers.0.weight"));
}

}  // namespace
}  // namespace continuum::model
