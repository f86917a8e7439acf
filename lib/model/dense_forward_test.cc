#include "lib/model/dense_forward.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace continuum::model {
namespace {

using ::testing::HasSubstr;

// Weights a network's layers point into.
struct Weights {
  std::vector<std::vector<float>> weight, bias;
  std::vector<DenseLayer> layers;
};

Weights RandomWeights(const std::vector<int>& widths, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  Weights w;
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    w.weight.emplace_back(widths[l] * widths[l + 1]);
    w.bias.emplace_back(widths[l + 1]);
    for (float& v : w.weight.back()) v = u(rng);
    for (float& v : w.bias.back()) v = u(rng);
  }
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    w.layers.push_back({.weight = w.weight[l].data(),
                        .bias = w.bias[l].data(),
                        .in = widths[l],
                        .out = widths[l + 1]});
  }
  return w;
}

std::vector<float> RandomRows(int n, int dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> g(0, 1);
  std::vector<float> rows(static_cast<size_t>(n) * dim);
  for (float& v : rows) v = g(rng);
  return rows;
}

double ActivateRef(v1::Activation a, double x) {
  switch (a) {
    case v1::ACTIVATION_GELU:
      return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case v1::ACTIVATION_TANH:
      return std::tanh(x);
    case v1::ACTIVATION_SIGMOID:
      return 1 / (1 + std::exp(-x));
    default:
      return x > 0 ? x : 0;
  }
}

// The pass in double, written as the model's contract (model.h) says.
std::vector<double> Reference(const DenseForwardOptions& o, const float* row) {
  const int in = o.layers.front().in;
  std::vector<double> z(in);
  for (int j = 0; j < in; ++j) {
    z[j] = o.mean.empty() ? row[j] : (row[j] - o.mean[j]) / o.std[j];
  }
  std::vector<double> h = z;
  for (size_t l = 0; l < o.layers.size(); ++l) {
    const DenseLayer& layer = o.layers[l];
    std::vector<double> next(layer.out);
    for (int k = 0; k < layer.out; ++k) {
      double s = layer.bias[k];
      for (int j = 0; j < layer.in; ++j) {
        s += static_cast<double>(layer.weight[k * layer.in + j]) * h[j];
      }
      next[k] = l + 1 < o.layers.size() ? ActivateRef(o.activation, s) : s;
    }
    h = next;
  }
  if (o.family == v1::MODEL_FAMILY_MLP_CLASSIFIER) {
    double max = h[0], sum = 0;
    for (double v : h) max = std::max(max, v);
    for (double& v : h) sum += (v = std::exp(v - max));
    for (double& v : h) v /= sum;
  } else if (o.family == v1::MODEL_FAMILY_MLP_REGRESSOR) {
    for (size_t j = 0; j < h.size() && !o.target_mean.empty(); ++j) {
      h[j] = h[j] * o.target_std[j] + o.target_mean[j];
    }
  } else {
    double sum = 0;
    for (int j = 0; j < in; ++j) sum += (h[j] - z[j]) * (h[j] - z[j]);
    h = {sum / in};
  }
  return h;
}

TEST(DenseForwardTest, OneRowByHand) {
  // 2 inputs -> 2 hidden (ReLU) -> 2 classes.
  const std::vector<float> w1 = {1, 2, -1, 1}, b1 = {0, 0.5f};
  const std::vector<float> w2 = {1, 0, 0, 1}, b2 = {0, 0};
  DenseForwardOptions options;
  options.layers = {{w1.data(), b1.data(), 2, 2}, {w2.data(), b2.data(), 2, 2}};
  options.family = v1::MODEL_FAMILY_MLP_CLASSIFIER;
  auto dense = DenseForward::Create(options);
  ASSERT_TRUE(dense.ok()) << dense.status();
  EXPECT_EQ(dense->input_dim(), 2);
  EXPECT_EQ(dense->output_dim(), 2);
  const std::vector<float> row = {1, 3};
  std::vector<float> out = {42};  // Replaced.
  dense->Run(row.data(), 1, &out);
  // Hidden: relu(1 + 6) = 7, relu(-1 + 3 + 0.5) = 2.5; softmax(7, 2.5).
  const double e = std::exp(-4.5);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NEAR(out[0], 1 / (1 + e), 1e-7);
  EXPECT_NEAR(out[1], e / (1 + e), 1e-7);
}

TEST(DenseForwardTest, EveryFamilyAndActivationMatchesTheReference) {
  const std::vector<float> mean = {0.5f, -1, 2, 0, 1, 0.25f, 3};
  const std::vector<float> std = {1, 2, 0.5f, 1, 3, 1, 0.75f};
  const std::vector<float> target_mean = {10, -5}, target_std = {2, 0.5f};
  for (v1::ModelFamily family :
       {v1::MODEL_FAMILY_MLP_CLASSIFIER, v1::MODEL_FAMILY_MLP_REGRESSOR,
        v1::MODEL_FAMILY_AUTOENCODER}) {
    for (v1::Activation activation :
         {v1::ACTIVATION_UNSPECIFIED, v1::ACTIVATION_RELU,
          v1::ACTIVATION_GELU, v1::ACTIVATION_TANH,
          v1::ACTIVATION_SIGMOID}) {
      SCOPED_TRACE(v1::ModelFamily_Name(family) + " " +
                   v1::Activation_Name(activation));
      const bool autoencoder = family == v1::MODEL_FAMILY_AUTOENCODER;
      const bool regressor = family == v1::MODEL_FAMILY_MLP_REGRESSOR;
      Weights w = RandomWeights(
          {7, 13, 9, autoencoder ? 7 : regressor ? 2 : 4}, 17);
      DenseForwardOptions options;
      options.layers = w.layers;
      options.activation = activation;
      options.family = family;
      options.mean = mean;
      options.std = std;
      if (regressor) {
        options.target_mean = target_mean;
        options.target_std = target_std;
      }
      auto dense = DenseForward::Create(options);
      ASSERT_TRUE(dense.ok()) << dense.status();
      const std::vector<float> rows = RandomRows(3, 7, 5);
      std::vector<float> out;
      dense->Run(rows.data(), 3, &out);
      const int dim = dense->output_dim();
      ASSERT_EQ(out.size(), 3u * dim);
      for (int r = 0; r < 3; ++r) {
        const std::vector<double> want = Reference(options, &rows[r * 7]);
        ASSERT_EQ(want.size(), static_cast<size_t>(dim));
        for (int j = 0; j < dim; ++j) {
          EXPECT_NEAR(out[r * dim + j], want[j],
                      1e-5 * (1 + std::abs(want[j])))
              << "row " << r << " value " << j;
        }
      }
    }
  }
}

TEST(DenseForwardTest, RowsOfABatchEqualRowsAlone) {
  Weights w = RandomWeights({20, 16, 5}, 3);
  DenseForwardOptions options;
  options.layers = w.layers;
  options.family = v1::MODEL_FAMILY_MLP_CLASSIFIER;
  auto dense = DenseForward::Create(options);
  ASSERT_TRUE(dense.ok());
  const std::vector<float> rows = RandomRows(4, 20, 9);
  std::vector<float> batch;
  dense->Run(rows.data(), 4, &batch);
  for (int r = 0; r < 4; ++r) {
    std::vector<float> one;
    dense->Run(&rows[r * 20], 1, &one);
    for (int j = 0; j < 5; ++j) EXPECT_EQ(one[j], batch[r * 5 + j]);
  }
}

TEST(DenseForwardTest, ShapesThatDisagreeAreRefused) {
  Weights w = RandomWeights({4, 3, 2}, 1);
  DenseForwardOptions good;
  good.layers = w.layers;
  good.family = v1::MODEL_FAMILY_MLP_CLASSIFIER;
  ASSERT_TRUE(DenseForward::Create(good).ok());

  DenseForwardOptions none = good;
  none.layers.clear();
  EXPECT_EQ(DenseForward::Create(none).status().code(),
            absl::StatusCode::kInvalidArgument);

  DenseForwardOptions chain = good;
  chain.layers[1].in = 4;
  EXPECT_THAT(std::string(DenseForward::Create(chain).status().message()),
              HasSubstr("layer 1 takes 4 values; layer 0 gives 3"));

  const std::vector<float> three = {0, 0, 0}, four = {1, 1, 1, 1};
  DenseForwardOptions norm = good;
  norm.mean = three;
  norm.std = three;
  EXPECT_THAT(std::string(DenseForward::Create(norm).status().message()),
              HasSubstr("normalisation of 3 means and 3 deviations for 4"));
  norm.mean = four;
  EXPECT_EQ(DenseForward::Create(norm).status().code(),
            absl::StatusCode::kInvalidArgument);

  DenseForwardOptions target = good;
  target.family = v1::MODEL_FAMILY_MLP_REGRESSOR;
  target.target_mean = three;
  target.target_std = three;
  EXPECT_EQ(DenseForward::Create(target).status().code(),
            absl::StatusCode::kInvalidArgument);

  DenseForwardOptions autoencoder = good;
  autoencoder.family = v1::MODEL_FAMILY_AUTOENCODER;
  EXPECT_THAT(std::string(DenseForward::Create(autoencoder).status().message()),
              HasSubstr("autoencoder of 4 inputs reconstructs 2"));

  DenseForwardOptions family = good;
  family.family = v1::MODEL_FAMILY_UNSPECIFIED;
  EXPECT_EQ(DenseForward::Create(family).status().code(),
            absl::StatusCode::kInvalidArgument);

  DenseForwardOptions null = good;
  null.layers[0].weight = nullptr;
  EXPECT_EQ(DenseForward::Create(null).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace continuum::model
