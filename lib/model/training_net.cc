// The network of a bundle as tensors, and the operations training runs on
// it (training_net.h). A LibTorch translation unit.
#include "lib/model/training_net.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/model/blas_lock.h"
#include "lib/model/bundle.h"
#include "lib/model/gru_forecaster.h"
#include "lib/model/torch_activation.h"
#include "lib/model/torchscript.h"

namespace continuum::model {

using internal::v1::ModelBundle;

namespace {

// Rows per chunk when evaluating or computing the Fisher diagonal.
constexpr int64_t kChunkRows = 2048;

// Rows the Fisher diagonal of a TorchScript module or a GRU is computed on,
// at most: it takes one backward pass per row (AccumulatePerRowFisher).
constexpr int64_t kPerRowFisherRows = 1000;

// What Model::Forward returns for the raw output `out` (mlp.cc).
at::Tensor ServingOutput(const Net& net, const at::Tensor& out,
                         const at::Tensor& z, const at::Tensor& x) {
  if (net.script != nullptr) return ScriptServingOutput(net.spec, out);
  switch (net.spec.family()) {
    case v1::MODEL_FAMILY_GRU_FORECASTER:
      return ForecasterServingOutput(net.spec, out, x, net.std);
    case v1::MODEL_FAMILY_MLP_CLASSIFIER:
      return at::softmax(out, 1);
    case v1::MODEL_FAMILY_MLP_REGRESSOR:
      return net.target_mean.defined() ? out * net.target_std + net.target_mean
                                       : out;
    default:
      return (out - z).pow(2).mean(1, /*keepdim=*/true);
  }
}

// Whether the network is a stack of linear layers (the MLPs and the
// autoencoder), whose per-row gradients have the closed form below.
bool LinearLayers(const Net& net) {
  return net.script == nullptr &&
         net.spec.family() != v1::MODEL_FAMILY_GRU_FORECASTER;
}

// Adds the squared per-row gradients of the loss on `rows` rows to
// `fisher` (one tensor per parameter). For a linear layer s = a W^T + b the
// gradient of row r's loss is delta_r a_r^T (delta_r = d loss_r / d s_r),
// so the sum over rows of its square is (delta^2)^T (a^2): exact per-row
// gradients at the cost of one backward pass.
void AccumulatePerRowFisher(const Net& net, const Batch& b,
                            std::vector<at::Tensor>* fisher);

void AccumulateFisher(const Net& net, const Batch& b,
                      std::vector<at::Tensor>* fisher) {
  if (!LinearLayers(net)) {
    AccumulatePerRowFisher(net, b, fisher);
    return;
  }
  std::vector<at::Tensor> pre, inputs;
  at::Tensor z = Normalize(net, b.x);
  at::Tensor out = Forward(net, z, nullptr, &pre, &inputs);
  for (at::Tensor& s : pre) s.retain_grad();
  FamilyLoss(net, out, z, b.y, /*per_row=*/true).sum().backward();
  for (size_t i = 0; i < pre.size(); ++i) {
    at::Tensor d2 = pre[i].grad().pow(2);
    (*fisher)[2 * i] += at::mm(d2.t(), inputs[i].detach().pow(2));
    (*fisher)[2 * i + 1] += d2.sum(0);
  }
  for (const at::Tensor& p : net.params) {
    if (p.grad().defined()) p.mutable_grad().reset();
  }
}

// The per-row gradients of a TorchScript module or a GRU: one backward pass
// per row (AccumulateFisher's closed form is for linear layers).
void AccumulatePerRowFisher(const Net& net, const Batch& b,
                            std::vector<at::Tensor>* fisher) {
  const int64_t rows = b.x.size(0);
  for (int64_t r = 0; r < rows; ++r) {
    at::Tensor z = Normalize(net, b.x.narrow(0, r, 1));
    at::Tensor y = b.y.defined() ? b.y.narrow(0, r, 1) : at::Tensor();
    at::Tensor out = Forward(net, z, nullptr);
    FamilyLoss(net, out, z, y, /*per_row=*/false).backward();
    for (size_t i = 0; i < net.params.size(); ++i) {
      const at::Tensor& p = net.params[i];
      if (!p.grad().defined()) continue;
      (*fisher)[i] += p.grad().pow(2);
      p.mutable_grad().reset();
    }
  }
}

// Row indices: every row of a set of n when n <= want, else `want` evenly
// strided ones.
std::vector<int64_t> StridedRows(int64_t n, int64_t want) {
  std::vector<int64_t> rows;
  if (n <= want) {
    rows.resize(n);
    std::iota(rows.begin(), rows.end(), 0);
    return rows;
  }
  for (int64_t i = 0; i < want; ++i) rows.push_back(i * n / want);
  return rows;
}

}  // namespace

void WriteTensor(const at::Tensor& t, v1::Tensor* out) {
  at::Tensor c = t.detach().contiguous();
  out->clear_shape();
  for (int64_t d : c.sizes()) out->add_shape(d);
  const float* p = c.data_ptr<float>();
  out->mutable_data()->Assign(p, p + c.numel());
}

void CopyNamedWeights(
    const google::protobuf::RepeatedPtrField<internal::v1::NamedTensor>&
        weights,
    std::map<std::string, at::Tensor>& params) {
  at::NoGradGuard no_grad;
  for (const internal::v1::NamedTensor& w : weights) {
    auto it = params.find(w.name());
    if (it == params.end()) {
      throw std::runtime_error(
          absl::StrCat("the module has no parameter '", w.name(), "'"));
    }
    const v1::Tensor& t = w.tensor();
    std::vector<int64_t> shape(t.shape().begin(), t.shape().end());
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    if (n != t.data_size()) {
      throw std::runtime_error(absl::StrCat("tensor ", w.name(), " holds ",
                                            t.data_size(),
                                            " values, its shape needs ", n));
    }
    it->second.copy_(
        at::from_blob(const_cast<float*>(t.data().data()), shape, at::kFloat));
  }
}

at::Tensor CopyToTensor(const google::protobuf::RepeatedField<float>& values,
                        std::vector<int64_t> shape) {
  return at::from_blob(const_cast<float*>(values.data()), shape, at::kFloat)
      .clone();
}

Net BuildNet(const ModelBundle& bundle, bool trainable) {
  Net net;
  net.spec = ResolveSpec(bundle.manifest().spec());
  if (net.spec.family() == v1::MODEL_FAMILY_TORCHSCRIPT) {
    absl::StatusOr<torch::jit::Module> module = BuildScriptModule(bundle);
    if (!module.ok()) throw std::runtime_error(module.status().ToString());
    net.script = std::make_shared<torch::jit::Module>(std::move(*module));
    for (auto& [name, p] : ScriptParameters(*net.script)) {
      p.set_requires_grad(trainable &&
                          ScriptParameterTrainable(net.spec, name));
      net.names.push_back(name);
      net.params.push_back(p);
    }
    return net;
  }
  for (const internal::v1::NamedTensor& w : bundle.weights()) {
    const v1::Tensor& t = w.tensor();
    at::Tensor p = CopyToTensor(
        t.data(), std::vector<int64_t>(t.shape().begin(), t.shape().end()));
    p.set_requires_grad(trainable);
    net.names.push_back(w.name());
    net.params.push_back(p);
  }
  const v1::NormalizationStats& norm = bundle.manifest().normalization();
  bool identity = true;
  for (float m : norm.mean()) identity = identity && m == 0.0f;
  for (float s : norm.std()) identity = identity && s == 1.0f;
  if (!identity && norm.mean_size() > 0) {
    net.mean = CopyToTensor(norm.mean(), {norm.mean_size()});
    net.std = CopyToTensor(norm.std(), {norm.std_size()});
  }
  net.clip = norm.clip();
  const v1::NormalizationStats& target = bundle.target_normalization();
  if (target.mean_size() > 0) {
    net.target_mean = CopyToTensor(target.mean(), {target.mean_size()});
    net.target_std = CopyToTensor(target.std(), {target.std_size()});
  }
  return net;
}

at::Tensor Normalize(const Net& net, const at::Tensor& x) {
  if (net.spec.family() == v1::MODEL_FAMILY_GRU_FORECASTER) {
    return NormalizeWindows(net.spec, x, net.mean, net.std, net.clip);
  }
  at::Tensor z = net.mean.defined() ? (x - net.mean) / net.std : x;
  return net.clip > 0 ? z.clamp(-net.clip, net.clip) : z;
}

at::Tensor Forward(const Net& net, const at::Tensor& z,
                   at::Generator* generator,
                   std::vector<at::Tensor>* pre_activations,
                   std::vector<at::Tensor>* layer_inputs) {
  if (net.script != nullptr) return RunScript(*net.script, net.spec, z);
  if (net.spec.family() == v1::MODEL_FAMILY_GRU_FORECASTER) {
    return ForecasterForward(net.spec, net.params, z, generator);
  }
  const size_t layers = net.params.size() / 2;
  const double dropout = net.spec.dropout();
  at::Tensor h = z;
  for (size_t i = 0; i < layers; ++i) {
    if (layer_inputs != nullptr) layer_inputs->push_back(h);
    h = at::linear(h, net.params[2 * i], net.params[2 * i + 1]);
    if (pre_activations != nullptr) pre_activations->push_back(h);
    if (i + 1 < layers) {
      h = Activate(net.spec.activation(), h);
      if (generator != nullptr && dropout > 0) {
        at::Tensor keep =
            at::empty_like(h).bernoulli_(1.0 - dropout, *generator);
        h = h * keep / (1.0 - dropout);
      }
    }
  }
  return h;
}

double ClipGradNorm(const std::vector<at::Tensor>& params, double max_norm) {
  std::vector<at::Tensor> norms;
  for (const at::Tensor& p : params) {
    if (p.grad().defined()) norms.push_back(p.grad().norm());
  }
  if (norms.empty()) return 0;
  const double total = at::stack(norms).norm().item<double>();
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1) {
    for (const at::Tensor& p : params) {
      if (p.grad().defined()) p.grad().mul_(coef);
    }
  }
  return total;
}

Batch MakeBatch(const Net& net, const float* features, const float* targets,
                int64_t rows) {
  Batch b;
  b.x = at::from_blob(const_cast<float*>(features),
                      {rows, InputWidth(net.spec)}, at::kFloat);
  switch (TaskFamily(net.spec)) {
    case v1::MODEL_FAMILY_MLP_CLASSIFIER:
      b.y = at::from_blob(const_cast<float*>(targets), {rows}, at::kFloat)
                .to(at::kLong);
      break;
    case v1::MODEL_FAMILY_MLP_REGRESSOR:
      b.y = at::from_blob(const_cast<float*>(targets),
                          {rows, net.spec.output_dim()}, at::kFloat);
      break;
    case v1::MODEL_FAMILY_GRU_FORECASTER:
      // Relative to each window's anchor (gru_forecaster.h).
      if (targets != nullptr) {
        b.y = RelativeTargets(
            net.spec,
            at::from_blob(const_cast<float*>(targets),
                          {rows, Dataset::TargetWidth(net.spec)}, at::kFloat),
            b.x, net.std);
      }
      break;
    default:
      break;
  }
  return b;
}

at::Tensor FamilyLoss(const Net& net, const at::Tensor& out,
                      const at::Tensor& z, const at::Tensor& y, bool per_row) {
  if (net.script != nullptr) {
    return ScriptLoss(*net.script, net.spec, out, z, y, per_row);
  }
  switch (net.spec.family()) {
    case v1::MODEL_FAMILY_MLP_CLASSIFIER:
      return at::cross_entropy_loss(
          out, y, {}, per_row ? at::Reduction::None : at::Reduction::Mean);
    case v1::MODEL_FAMILY_MLP_REGRESSOR: {
      at::Tensor t = net.target_mean.defined()
                         ? (y - net.target_mean) / net.target_std
                         : y;
      return per_row ? (out - t).pow(2).mean(1) : at::mse_loss(out, t);
    }
    case v1::MODEL_FAMILY_GRU_FORECASTER:
      return PinballLoss(net.spec, out, y, per_row);
    default:
      return per_row ? (out - z).pow(2).mean(1) : at::mse_loss(out, z);
  }
}

// Chunk by chunk under the BLAS lock.
double MeanLoss(const Net& net, const Dataset& data) {
  double sum = 0;
  for (int64_t start = 0; start < data.size(); start += kChunkRows) {
    const int64_t rows = std::min(kChunkRows, data.size() - start);
    std::unique_lock<std::mutex> lock = LockBlasIfNeeded();
    at::NoGradGuard no_grad;
    const int width = Dataset::TargetWidth(net.spec);
    Batch b = MakeBatch(
        net, data.features.data() + start * data.input_dim,
        data.targets.empty() ? nullptr : data.targets.data() + start * width,
        rows);
    at::Tensor z = Normalize(net, b.x);
    at::Tensor out = Forward(net, z, nullptr);
    sum += FamilyLoss(net, out, z, b.y, /*per_row=*/true).sum().item<double>();
  }
  return sum / static_cast<double>(data.size());
}

std::vector<float> ServingOutputs(const Net& net, const Dataset& data) {
  std::vector<float> outputs;
  for (int64_t start = 0; start < data.size(); start += kChunkRows) {
    const int64_t rows = std::min(kChunkRows, data.size() - start);
    std::unique_lock<std::mutex> lock = LockBlasIfNeeded();
    at::NoGradGuard no_grad;
    at::Tensor x = at::from_blob(
        const_cast<float*>(data.features.data() + start * data.input_dim),
        {rows, data.input_dim}, at::kFloat);
    at::Tensor z = Normalize(net, x);
    at::Tensor o =
        ServingOutput(net, Forward(net, z, nullptr), z, x).contiguous();
    const float* p = o.data_ptr<float>();
    outputs.insert(outputs.end(), p, p + o.numel());
  }
  return outputs;
}

std::vector<at::Tensor> FisherDiagonal(const Net& net,
                                       const std::vector<const Dataset*>& sets,
                                       int64_t max_rows) {
  int64_t total = 0;
  for (const Dataset* d : sets) total += d->size();
  std::vector<at::Tensor> fisher;
  for (const at::Tensor& p : net.params) fisher.push_back(at::zeros_like(p));
  if (total == 0) return fisher;
  if (!LinearLayers(net)) max_rows = std::min(max_rows, kPerRowFisherRows);
  const int64_t in = InputWidth(net.spec);
  const int width = Dataset::TargetWidth(net.spec);
  int64_t used = 0;
  std::vector<float> features, targets;
  for (const Dataset* d : sets) {
    if (d->size() == 0) continue;
    const int64_t want = std::max<int64_t>(
        1, static_cast<int64_t>(static_cast<double>(max_rows) *
                                static_cast<double>(d->size()) / total));
    const std::vector<int64_t> rows = StridedRows(d->size(), want);
    for (size_t start = 0; start < rows.size(); start += kChunkRows) {
      const size_t end = std::min(rows.size(), start + kChunkRows);
      features.clear();
      targets.clear();
      for (size_t i = start; i < end; ++i) {
        const int64_t r = rows[i];
        features.insert(features.end(), d->features.begin() + r * in,
                        d->features.begin() + (r + 1) * in);
        if (!d->targets.empty() &&
            TaskFamily(net.spec) != v1::MODEL_FAMILY_AUTOENCODER) {
          targets.insert(targets.end(), d->targets.begin() + r * width,
                         d->targets.begin() + (r + 1) * width);
        }
      }
      std::unique_lock<std::mutex> lock = LockBlasIfNeeded();
      AccumulateFisher(net,
                       MakeBatch(net, features.data(), targets.data(),
                                 static_cast<int64_t>(end - start)),
                       &fisher);
    }
    used += static_cast<int64_t>(rows.size());
  }
  for (at::Tensor& f : fisher) f.div_(static_cast<double>(used));
  return fisher;
}

void WriteWeights(const Net& net, ModelBundle* bundle) {
  for (size_t i = 0; i < net.params.size(); ++i) {
    internal::v1::NamedTensor* w = bundle->mutable_weights(static_cast<int>(i));
    WriteTensor(net.params[i], w->mutable_tensor());
  }
  if (net.script != nullptr) {
    bundle->set_torchscript_module(SaveScriptModule(*net.script));
  }
}

void WriteFisher(const Net& net, const std::vector<at::Tensor>& fisher,
                 ModelBundle* bundle) {
  bundle->clear_fisher();
  for (size_t i = 0; i < fisher.size(); ++i) {
    internal::v1::NamedTensor* f = bundle->add_fisher();
    f->set_name(net.names[i]);
    WriteTensor(fisher[i], f->mutable_tensor());
  }
}

void SetNow(google::protobuf::Timestamp* t) {
  const int64_t nanos = absl::ToUnixNanos(absl::Now());
  t->set_seconds(nanos / 1000000000);
  t->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

}  // namespace continuum::model
