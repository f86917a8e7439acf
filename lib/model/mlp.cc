// The multi-layer perceptron families (classifier, regressor, autoencoder)
// in LibTorch. One of the few translation units that include LibTorch;
// every LibTorch exception is caught here and returned as absl::Status.
#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <c10/core/InferenceMode.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/linear.h>
#include <torch/utils.h>

#include <atomic>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/model/blas_lock.h"
#include "lib/model/bundle.h"
#include "lib/model/gru_forecaster.h"
#include "lib/model/torchscript.h"
#include "lib/model/training_net.h"
#include "lib/model/dense_forward.h"
#include "lib/model/model.h"
#include "lib/model/torch_activation.h"
#include "lib/model/torch_runtime.h"

namespace continuum::model {
namespace {

using internal::v1::ModelBundle;

// The network as a LibTorch module: a ModuleList `layers` of linear layers,
// so its parameters are named `layers.{i}.weight` and `layers.{i}.bias`
// (ExpectedParameters).
struct MlpNetImpl : torch::nn::Module {
  explicit MlpNetImpl(const std::vector<std::pair<int64_t, int64_t>>& widths) {
    layers = register_module("layers", torch::nn::ModuleList());
    for (const auto& [in, out] : widths) {
      layers->push_back(torch::nn::Linear(in, out));
    }
  }
  torch::nn::ModuleList layers;
};
TORCH_MODULE(MlpNet);

// Debian's openblas-serial is not thread-safe: OpenBLAS calls take the
// process-wide BlasMutex() (blas_lock.h), shared with training. Batches of
// fewer than kDenseForwardMaxRows rows use neither library nor the lock:
// they run in plain C++ (dense_forward.h).

// Batches this large or larger go to oneDNN when another thread holds the
// BLAS: oneDNN's inner product is thread-safe and, from 32 rows of a
// 784-256-10 network, about as fast as OpenBLAS per row (measured here:
// 151k vs 167k rows/s at 32 rows, 195k vs 213k at 64). Smaller batches
// wait for the BLAS: oneDNN's fixed cost per call (about 100 us) is larger
// than their whole OpenBLAS pass.
constexpr int kOneDnnMinRows = 32;

std::atomic<MatmulBackend>& BackendOverride() {
  static auto* backend = new std::atomic<MatmulBackend>(MatmulBackend::kAuto);
  return *backend;
}

// The values of a 1-D float tensor; empty when undefined.
absl::Span<const float> Values(const at::Tensor& t) {
  if (!t.defined()) return {};
  return absl::MakeConstSpan(t.data_ptr<float>(), t.numel());
}

// A 1-D float tensor owning a copy of `values`; undefined when empty.
at::Tensor VectorTensor(const google::protobuf::RepeatedField<float>& values) {
  if (values.empty()) return at::Tensor();
  return at::from_blob(const_cast<float*>(values.data()), {values.size()},
                       at::kFloat)
      .clone();
}

class MlpModel final : public Model {
 public:
  explicit MlpModel(ModelBundle bundle)
      : bundle_(std::move(bundle)),
        spec_(ResolveSpec(bundle_.manifest().spec())) {}

  // Builds the module and copies the weights; may throw (LibTorch).
  void Build() {
    net_ = MlpNet(LayerWidths(spec_));
    torch::NoGradGuard no_grad;
    std::map<std::string, at::Tensor> params;
    for (auto& p : net_->named_parameters()) params[p.key()] = p.value();
    CopyNamedWeights(bundle_.weights(), params);
    for (auto& [name, p] : params) p.set_requires_grad(false);
    for (size_t i = 0; i < net_->layers->size(); ++i) {
      auto* linear = net_->layers[i]->as<torch::nn::LinearImpl>();
      layers_.emplace_back(linear->weight, linear->bias);
      if (at::hasMKLDNN()) {
        onednn_layers_.emplace_back(linear->weight.to_mkldnn(),
                                    linear->bias.to_mkldnn());
      }
    }
    mean_ = VectorTensor(bundle_.manifest().normalization().mean());
    std_ = VectorTensor(bundle_.manifest().normalization().std());
    target_mean_ = VectorTensor(bundle_.target_normalization().mean());
    target_std_ = VectorTensor(bundle_.target_normalization().std());
    clip_ = bundle_.manifest().normalization().clip();
    BuildDense();
  }

  int input_dim() const override { return spec_.input_dim(); }
  int output_dim() const override { return OutputWidth(spec_); }
  const ModelBundle& bundle() const override { return bundle_; }

  absl::Status Forward(const float* rows, int n,
                       std::vector<float>* out) const override {
    if (n < 0) {
      return absl::InvalidArgumentError(absl::StrCat("n is ", n));
    }
    if (n > 0 && rows == nullptr) {
      return absl::InvalidArgumentError("rows is null");
    }
    out->clear();
    if (n == 0) return absl::OkStatus();
    if (dense_.has_value() && n < kDenseForwardMaxRows &&
        BackendOverride().load(std::memory_order_relaxed) ==
            MatmulBackend::kAuto) {
      dense_->Run(rows, n, out);
      return absl::OkStatus();
    }
    // Which library multiplies: see kOneDnnMinRows. Both give the same
    // results up to float rounding (about 1e-7).
    std::unique_lock<std::mutex> blas_lock(BlasMutex(), std::defer_lock);
    bool onednn = false;
    switch (BackendOverride().load(std::memory_order_relaxed)) {
      case MatmulBackend::kOneDnn:
        onednn = !onednn_layers_.empty();
        break;
      case MatmulBackend::kBlas:
        break;
      case MatmulBackend::kAuto:
        onednn = BlasNeedsLock() && n >= kOneDnnMinRows &&
                 !onednn_layers_.empty() && !blas_lock.try_lock();
        break;
    }
    if (!onednn && BlasNeedsLock() && !blas_lock.owns_lock()) {
      blas_lock.lock();
    }
    try {
      c10::InferenceMode guard;
      at::Tensor x = at::from_blob(const_cast<float*>(rows),
                                   {n, spec_.input_dim()}, at::kFloat);
      at::Tensor z = mean_.defined() ? (x - mean_) / std_ : x;
      if (clip_ > 0) z = z.clamp(-clip_, clip_);
      at::Tensor h = z;
      for (size_t i = 0; i < layers_.size(); ++i) {
        if (onednn) {
          h = at::mkldnn_linear(h.contiguous().to_mkldnn(),
                                onednn_layers_[i].first,
                                onednn_layers_[i].second)
                  .to_dense();
        } else {
          h = at::linear(h, layers_[i].first, layers_[i].second);
        }
        if (i + 1 < layers_.size()) h = Activate(spec_.activation(), h);
      }
      switch (spec_.family()) {
        case v1::MODEL_FAMILY_MLP_CLASSIFIER:
          h = at::softmax(h, 1);
          break;
        case v1::MODEL_FAMILY_MLP_REGRESSOR:
          if (target_mean_.defined()) h = h * target_std_ + target_mean_;
          break;
        case v1::MODEL_FAMILY_AUTOENCODER:
          h = (h - z).pow(2).mean(1, /*keepdim=*/true);
          break;
        default:
          return absl::InternalError("unsupported family");
      }
      h = h.contiguous();
      if (h.numel() != static_cast<int64_t>(n) * output_dim()) {
        return absl::InternalError(absl::StrCat("forward produced ", h.numel(),
                                                " values for ", n, " rows of ",
                                                output_dim()));
      }
      const float* p = h.data_ptr<float>();
      out->assign(p, p + h.numel());
      return absl::OkStatus();
    } catch (const std::exception& e) {
      out->clear();
      return absl::InternalError(absl::StrCat("LibTorch forward: ", e.what()));
    }
  }

 private:
  // The plain C++ pass of small batches (dense_forward.h) over the module's
  // weights; left out when they are not what it reads (the shapes
  // disagree: LibTorch's pass then reports the error).
  void BuildDense() {
    DenseForwardOptions options;
    for (const auto& [weight, bias] : layers_) {
      if (weight.dim() != 2 || !weight.is_contiguous() ||
          weight.scalar_type() != at::kFloat || !bias.is_contiguous() ||
          bias.scalar_type() != at::kFloat || bias.numel() != weight.size(0)) {
        return;
      }
      options.layers.push_back({.weight = weight.data_ptr<float>(),
                                .bias = bias.data_ptr<float>(),
                                .in = static_cast<int>(weight.size(1)),
                                .out = static_cast<int>(weight.size(0))});
    }
    if (options.layers.empty() ||
        options.layers.front().in != spec_.input_dim()) {
      return;
    }
    options.activation = spec_.activation();
    options.family = spec_.family();
    options.mean = Values(mean_);
    options.std = Values(std_);
    options.clip = clip_;
    options.target_mean = Values(target_mean_);
    options.target_std = Values(target_std_);
    absl::StatusOr<DenseForward> dense = DenseForward::Create(options);
    if (dense.ok() && dense->output_dim() == output_dim()) {
      dense_.emplace(*std::move(dense));
    }
  }

  const ModelBundle bundle_;
  const v1::ModelSpec spec_;
  MlpNet net_{nullptr};
  // (weight, bias) of each linear layer, views of net_'s parameters.
  std::vector<std::pair<at::Tensor, at::Tensor>> layers_;
  // The same weights in oneDNN's layout; empty when LibTorch lacks oneDNN.
  std::vector<std::pair<at::Tensor, at::Tensor>> onednn_layers_;
  at::Tensor mean_, std_, target_mean_, target_std_;
  // Bound on the normalised inputs; 0 = none.
  float clip_ = 0;
  // Set by Build when the weights suit it.
  std::optional<DenseForward> dense_;
};

absl::StatusOr<std::unique_ptr<Model>> Build(const ModelBundle& bundle) {
  if (bundle.manifest().spec().family() == v1::MODEL_FAMILY_TORCHSCRIPT) {
    return BuildTorchScriptModel(bundle);
  }
  if (bundle.manifest().spec().family() == v1::MODEL_FAMILY_GRU_FORECASTER) {
    return BuildForecasterModel(bundle);
  }
  try {
    auto model = std::make_unique<MlpModel>(bundle);
    model->Build();
    return std::unique_ptr<Model>(std::move(model));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("LibTorch building the model: ", e.what()));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Model>> Model::FromBundle(
    const ModelBundle& bundle) {
  if (absl::Status s = ValidateBundle(bundle); !s.ok()) return s;
  return Build(bundle);
}

namespace model_internal {
void SetMatmulBackendForTest(MatmulBackend backend) {
  BackendOverride().store(backend, std::memory_order_relaxed);
}

absl::StatusOr<std::unique_ptr<Model>> FromBundleUnvalidatedForTest(
    const ModelBundle& bundle) {
  if (absl::Status s = ValidateSpec(bundle.manifest().spec()); !s.ok()) {
    return s;
  }
  return Build(bundle);
}
}  // namespace model_internal

}  // namespace continuum::model
