// Training in LibTorch (training.h). One of the few translation units that
// include LibTorch; every LibTorch exception is caught here and returned as
// absl::Status.
//
// The network is held as plain tensors, one per bundle weight
// (`layers.{i}.weight` [out, in], `layers.{i}.bias` [out]), and run with
// the same operations as mlp.cc's forward pass (normalise, linear,
// activation between layers), so a trained bundle serves exactly as it
// trained.
#include "lib/model/training.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/optimizer.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/model/blas_lock.h"
#include "lib/model/bundle.h"
#include "lib/model/evaluation.h"
#include "lib/model/model.h"
#include "lib/model/torch_runtime.h"

namespace continuum::model {

using internal::v1::ModelBundle;

namespace {

using Clock = std::chrono::steady_clock;

// Rows per chunk when evaluating or computing the Fisher diagonal.
constexpr int64_t kChunkRows = 2048;
// Rows the Fisher diagonal is computed on, at most.
constexpr int64_t kFisherRows = 10000;

// ---------------------------------------------------------------- the net

// The network as tensors. Built from a bundle; may throw (LibTorch).
struct Net {
  v1::ModelSpec spec;  // resolved
  std::vector<std::string> names;
  // [W0, b0, W1, b1, ...] in bundle order; require grad when trainable.
  std::vector<at::Tensor> params;
  // Input normalisation; undefined when it is the identity (mean 0, std 1).
  at::Tensor mean, std;
  // Regressors: target statistics; undefined when absent.
  at::Tensor target_mean, target_std;
};

at::Tensor CopyToTensor(const google::protobuf::RepeatedField<float>& values,
                        std::vector<int64_t> shape) {
  return at::from_blob(const_cast<float*>(values.data()), shape, at::kFloat)
      .clone();
}

Net BuildNet(const ModelBundle& bundle, bool trainable) {
  Net net;
  net.spec = ResolveSpec(bundle.manifest().spec());
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
  const v1::NormalizationStats& target = bundle.target_normalization();
  if (target.mean_size() > 0) {
    net.target_mean = CopyToTensor(target.mean(), {target.mean_size()});
    net.target_std = CopyToTensor(target.std(), {target.std_size()});
  }
  return net;
}

at::Tensor Normalize(const Net& net, const at::Tensor& x) {
  return net.mean.defined() ? (x - net.mean) / net.std : x;
}

at::Tensor Activate(v1::Activation activation, const at::Tensor& h) {
  switch (activation) {
    case v1::ACTIVATION_GELU:
      return at::gelu(h);
    case v1::ACTIVATION_TANH:
      return at::tanh(h);
    case v1::ACTIVATION_SIGMOID:
      return at::sigmoid(h);
    case v1::ACTIVATION_RELU:
    default:
      return at::relu(h);
  }
}

// The network's raw output (logits, normalised targets, reconstruction) for
// normalised inputs `z`. With `generator`, dropout (spec.dropout) after
// every hidden activation. `pre_activations`, when given, receives each
// layer's linear output and `layer_inputs` each layer's input.
at::Tensor Forward(const Net& net, const at::Tensor& z,
                   at::Generator* generator,
                   std::vector<at::Tensor>* pre_activations = nullptr,
                   std::vector<at::Tensor>* layer_inputs = nullptr) {
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

// What Model::Forward returns for the raw output `out` (mlp.cc).
at::Tensor ServingOutput(const Net& net, const at::Tensor& out,
                         const at::Tensor& z) {
  switch (net.spec.family()) {
    case v1::MODEL_FAMILY_MLP_CLASSIFIER:
      return at::softmax(out, 1);
    case v1::MODEL_FAMILY_MLP_REGRESSOR:
      return net.target_mean.defined() ? out * net.target_std + net.target_mean
                                       : out;
    default:
      return (out - z).pow(2).mean(1, /*keepdim=*/true);
  }
}

// Scales the gradients of `params` so that their global L2 norm is at most
// `max_norm` (as torch::nn::utils::clip_grad_norm_) and returns the norm
// before scaling.
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

// A batch of rows as tensors: inputs and the family's target tensor (class
// indices as int64, raw regression targets; undefined for autoencoders).
struct Batch {
  at::Tensor x;
  at::Tensor y;
};

// Views `rows` rows of features (and targets) without copying the features.
Batch MakeBatch(const Net& net, const float* features, const float* targets,
                int64_t rows) {
  Batch b;
  b.x = at::from_blob(const_cast<float*>(features),
                      {rows, net.spec.input_dim()}, at::kFloat);
  switch (net.spec.family()) {
    case v1::MODEL_FAMILY_MLP_CLASSIFIER:
      b.y = at::from_blob(const_cast<float*>(targets), {rows}, at::kFloat)
                .to(at::kLong);
      break;
    case v1::MODEL_FAMILY_MLP_REGRESSOR:
      b.y = at::from_blob(const_cast<float*>(targets),
                          {rows, net.spec.output_dim()}, at::kFloat);
      break;
    default:
      break;
  }
  return b;
}

// The family's loss of raw output `out`: the mean over rows, or one value
// per row when `per_row`.
at::Tensor FamilyLoss(const Net& net, const at::Tensor& out,
                      const at::Tensor& z, const at::Tensor& y, bool per_row) {
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
    default:
      return per_row ? (out - z).pow(2).mean(1) : at::mse_loss(out, z);
  }
}

// The family's mean loss over `data` (no dropout, no guards), chunk by chunk
// under the BLAS lock.
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

// What Model::Forward would return for every row of `data`.
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
    at::Tensor o = ServingOutput(net, Forward(net, z, nullptr), z).contiguous();
    const float* p = o.data_ptr<float>();
    outputs.insert(outputs.end(), p, p + o.numel());
  }
  return outputs;
}

// Adds the squared per-row gradients of the loss on `rows` rows to
// `fisher` (one tensor per parameter). For a linear layer s = a W^T + b the
// gradient of row r's loss is delta_r a_r^T (delta_r = d loss_r / d s_r),
// so the sum over rows of its square is (delta^2)^T (a^2): exact per-row
// gradients at the cost of one backward pass.
void AccumulateFisher(const Net& net, const Batch& b,
                      std::vector<at::Tensor>* fisher) {
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

// The empirical Fisher diagonal of `net` on up to `max_rows` rows of the
// sets, in proportion to their sizes. `net`'s parameters must require grad.
std::vector<at::Tensor> FisherDiagonal(const Net& net,
                                       const std::vector<const Dataset*>& sets,
                                       int64_t max_rows) {
  int64_t total = 0;
  for (const Dataset* d : sets) total += d->size();
  std::vector<at::Tensor> fisher;
  for (const at::Tensor& p : net.params) fisher.push_back(at::zeros_like(p));
  if (total == 0) return fisher;
  const int in = net.spec.input_dim();
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
            net.spec.family() != v1::MODEL_FAMILY_AUTOENCODER) {
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

void WriteTensor(const at::Tensor& t, v1::Tensor* out) {
  at::Tensor c = t.detach().contiguous();
  out->clear_shape();
  for (int64_t d : c.sizes()) out->add_shape(d);
  const float* p = c.data_ptr<float>();
  out->mutable_data()->Assign(p, p + c.numel());
}

void WriteWeights(const Net& net, ModelBundle* bundle) {
  for (size_t i = 0; i < net.params.size(); ++i) {
    internal::v1::NamedTensor* w = bundle->mutable_weights(static_cast<int>(i));
    WriteTensor(net.params[i], w->mutable_tensor());
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

// ---------------------------------------------------------------- learner

// The forgetting guards of a run.
struct Guards {
  // EWC: penalty ewc_lambda / 2 * sum F (theta - anchor)^2 over the
  // parameters that have a Fisher tensor (index into Net::params).
  double ewc_lambda = 0;
  std::vector<std::pair<size_t, std::pair<at::Tensor, at::Tensor>>> ewc;
  // Distillation from `teacher` (classifiers).
  double distillation_weight = 0;
  double temperature = 2;
  std::optional<Net> teacher;
};

std::unique_ptr<torch::optim::Optimizer> MakeOptimizer(
    const v1::OptimizerConfig& o, const std::vector<at::Tensor>& params) {
  switch (o.optimizer()) {
    case v1::OPTIMIZER_ADAM:
      return std::make_unique<torch::optim::Adam>(
          params, torch::optim::AdamOptions(o.learning_rate())
                      .betas({o.beta1(), o.beta2()})
                      .eps(o.epsilon())
                      .weight_decay(o.weight_decay()));
    case v1::OPTIMIZER_SGD:
      return std::make_unique<torch::optim::SGD>(
          params, torch::optim::SGDOptions(o.learning_rate())
                      .momentum(o.momentum())
                      .weight_decay(o.weight_decay()));
    case v1::OPTIMIZER_ADAMW:
    default:
      return std::make_unique<torch::optim::AdamW>(
          params, torch::optim::AdamWOptions(o.learning_rate())
                      .betas({o.beta1(), o.beta2()})
                      .eps(o.epsilon())
                      .weight_decay(o.weight_decay()));
  }
}

// A network, its optimizer and its guards: one optimizer step at a time.
class Learner {
 public:
  Learner(Net net, const v1::TrainingConfig& config, Guards guards,
          uint64_t seed)
      : net_(std::move(net)),
        guards_(std::move(guards)),
        clip_(config.optimizer().grad_clip_norm()),
        generator_(at::detail::createCPUGenerator(seed)),
        optimizer_(MakeOptimizer(config.optimizer(), net_.params)) {}

  struct StepResult {
    double loss = 0;
    bool applied = false;  // false: non-finite loss or gradient norm
  };

  // One optimizer step on `rows` rows. Call under the BLAS lock.
  StepResult Step(const float* features, const float* targets, int64_t rows) {
    Batch b = MakeBatch(net_, features, targets, rows);
    at::Tensor z = Normalize(net_, b.x);
    at::Tensor out = Forward(net_, z, &generator_);
    at::Tensor loss = FamilyLoss(net_, out, z, b.y, /*per_row=*/false);
    if (guards_.teacher.has_value()) {
      at::Tensor teacher_out;
      {
        at::NoGradGuard no_grad;
        teacher_out = Forward(*guards_.teacher, z, nullptr);
      }
      const double t = guards_.temperature;
      const double w = guards_.distillation_weight;
      at::Tensor kl = at::kl_div(at::log_softmax(out / t, 1),
                                 at::log_softmax(teacher_out / t, 1),
                                 at::Reduction::Sum, /*log_target=*/true) /
                      static_cast<double>(rows);
      loss = (1 - w) * loss + w * t * t * kl;
    }
    if (!guards_.ewc.empty()) {
      at::Tensor penalty = at::zeros({}, at::kFloat);
      for (const auto& [i, anchor] : guards_.ewc) {
        penalty =
            penalty +
            (anchor.second * (net_.params[i] - anchor.first).pow(2)).sum();
      }
      loss = loss + guards_.ewc_lambda / 2 * penalty;
    }
    StepResult result;
    result.loss = loss.item<double>();
    if (!std::isfinite(result.loss)) return result;
    optimizer_->zero_grad();
    loss.backward();
    if (clip_ > 0) {
      const double norm = ClipGradNorm(net_.params, clip_);
      if (!std::isfinite(norm)) return result;
    }
    optimizer_->step();
    result.applied = true;
    return result;
  }

  Net& net() { return net_; }
  const Net& net() const { return net_; }

 private:
  Net net_;
  Guards guards_;
  double clip_;
  at::Generator generator_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
};

// The guards of `config` against `anchor` (the parent), with notes on what
// is off and why.
Guards MakeGuards(const ModelBundle& anchor, const Net& student,
                  const v1::TrainingConfig& config,
                  std::vector<std::string>* notes) {
  Guards g;
  const v1::ForgettingGuards& c = config.guards();
  if (c.ewc_lambda() > 0) {
    if (anchor.fisher_size() == 0) {
      notes->push_back(
          "ewc: the parent bundle has no Fisher diagonal (a cold start?); "
          "EWC is off");
    } else {
      std::map<std::string, const internal::v1::NamedTensor*> fisher;
      for (const auto& f : anchor.fisher()) fisher[f.name()] = &f;
      for (size_t i = 0; i < student.names.size(); ++i) {
        auto it = fisher.find(student.names[i]);
        if (it == fisher.end()) continue;
        const v1::Tensor& w = anchor.weights(static_cast<int>(i)).tensor();
        const v1::Tensor& f = it->second->tensor();
        std::vector<int64_t> shape(w.shape().begin(), w.shape().end());
        g.ewc.push_back(
            {i,
             {CopyToTensor(w.data(), shape), CopyToTensor(f.data(), shape)}});
      }
      g.ewc_lambda = c.ewc_lambda();
    }
  }
  if (c.distillation_weight() > 0) {
    if (student.spec.family() != v1::MODEL_FAMILY_MLP_CLASSIFIER) {
      notes->push_back(absl::StrCat("distillation: only classifiers distil (",
                                    FamilyName(student.spec.family()),
                                    "); distillation is off"));
    } else {
      g.teacher = BuildNet(anchor, /*trainable=*/false);
      g.distillation_weight = c.distillation_weight();
      g.temperature = c.distillation_temperature();
    }
  }
  return g;
}

void SetHyperparameters(const v1::TrainingConfig& c,
                        v1::ArtifactManifest* manifest) {
  auto& h = *manifest->mutable_hyperparameters();
  h.clear();
  const v1::OptimizerConfig& o = c.optimizer();
  h["strategy"] = v1::TrainingStrategy_Name(c.strategy());
  h["optimizer"] = v1::Optimizer_Name(o.optimizer());
  h["learning_rate"] = absl::StrCat(o.learning_rate());
  h["weight_decay"] = absl::StrCat(o.weight_decay());
  h["grad_clip_norm"] = absl::StrCat(o.grad_clip_norm());
  if (o.optimizer() == v1::OPTIMIZER_SGD) {
    h["momentum"] = absl::StrCat(o.momentum());
  } else {
    h["beta1"] = absl::StrCat(o.beta1());
    h["beta2"] = absl::StrCat(o.beta2());
    h["epsilon"] = absl::StrCat(o.epsilon());
  }
  h["epochs"] = absl::StrCat(c.epochs());
  h["batch_size"] = absl::StrCat(c.batch_size());
  h["early_stopping"] =
      c.early_stopping().disabled()
          ? "off"
          : absl::StrCat("patience ", c.early_stopping().patience(),
                         ", min_delta ", c.early_stopping().min_delta());
  h["replay_ratio"] = absl::StrCat(c.guards().replay_ratio());
  h["ewc_lambda"] = absl::StrCat(c.guards().ewc_lambda());
  h["distillation_weight"] = absl::StrCat(c.guards().distillation_weight());
  h["distillation_temperature"] =
      absl::StrCat(c.guards().distillation_temperature());
  h["seed"] = absl::StrCat(c.seed());
}

// The body of Train, after validation. May throw (LibTorch).
absl::StatusOr<TrainResult> RunTraining(const ModelBundle& parent,
                                        const Dataset& train,
                                        const Dataset* replay,
                                        const Dataset& holdout,
                                        const v1::TrainingConfig& config,
                                        const TrainCallbacks& callbacks) {
  TrainResult result;
  result.config = config;
  const uint64_t seed = config.seed();
  const bool full = config.strategy() == v1::TRAINING_STRATEGY_FULL_RETRAIN;
  const v1::ForgettingGuards& gc = config.guards();

  ModelBundle start = parent;
  if (full) {
    absl::StatusOr<ModelBundle> fresh =
        Model::InitBundle(parent.manifest(), seed);
    if (!fresh.ok()) return fresh.status();
    *start.mutable_weights() = fresh->weights();
  }
  Net net = BuildNet(start, /*trainable=*/true);
  Guards guards;
  bool use_replay = false;
  if (full) {
    if (gc.replay_ratio() > 0 || gc.ewc_lambda() > 0 ||
        gc.distillation_weight() > 0) {
      result.notes.push_back(
          "full retraining trains on the whole window from fresh weights: "
          "replay, EWC and distillation are off");
    }
  } else {
    guards = MakeGuards(parent, net, config, &result.notes);
    if (gc.replay_ratio() > 0) {
      use_replay = replay != nullptr && replay->size() > 0;
      if (!use_replay) {
        result.notes.push_back("replay: no replay rows given; replay is off");
      }
    }
  }
  Learner learner(std::move(net), config, std::move(guards), seed + 1);
  const Net& n = learner.net();

  const int64_t rows = train.size();
  const int in = n.spec.input_dim();
  const int width = Dataset::TargetWidth(n.spec);
  const bool has_targets = n.spec.family() != v1::MODEL_FAMILY_AUTOENCODER;
  const int64_t batch = config.batch_size();
  const int64_t replay_per_batch =
      use_replay
          ? std::min<int64_t>(
                batch - 1,
                std::llround(static_cast<double>(batch) * gc.replay_ratio()))
          : 0;
  const int64_t new_per_batch = batch - replay_per_batch;
  const int64_t steps_per_epoch = (rows + new_per_batch - 1) / new_per_batch;
  const int epochs = config.epochs();

  std::mt19937_64 rng(seed);
  std::vector<int64_t> order(rows);
  std::iota(order.begin(), order.end(), 0);
  std::vector<int64_t> replay_order;
  size_t replay_cursor = 0;
  if (use_replay) {
    replay_order.resize(replay->size());
    std::iota(replay_order.begin(), replay_order.end(), 0);
    std::shuffle(replay_order.begin(), replay_order.end(), rng);
  }

  result.initial_holdout_loss = MeanLoss(n, holdout);
  const bool early = !config.early_stopping().disabled();
  double best = std::numeric_limits<double>::infinity();
  std::vector<at::Tensor> best_params;
  int bad_epochs = 0;

  TrainProgress progress;
  progress.total_epochs = epochs;
  progress.total_steps = static_cast<int64_t>(epochs) * steps_per_epoch;
  const auto started = Clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(Clock::now() - started).count();
  };
  std::vector<float> features, targets;
  features.reserve(batch * in);
  targets.reserve(batch * width);
  auto add_row = [&](const Dataset& d, int64_t r) {
    features.insert(features.end(), d.features.begin() + r * in,
                    d.features.begin() + (r + 1) * in);
    if (has_targets) {
      targets.insert(targets.end(), d.targets.begin() + r * width,
                     d.targets.begin() + (r + 1) * width);
    }
  };

  for (int epoch = 1; epoch <= epochs && !result.diverged; ++epoch) {
    const auto epoch_start = Clock::now();
    std::shuffle(order.begin(), order.end(), rng);
    EpochStats stats;
    stats.epoch = epoch;
    double loss_sum = 0;
    for (int64_t s = 0; s < steps_per_epoch; ++s) {
      if (callbacks.cancelled && callbacks.cancelled()) {
        return absl::CancelledError(absl::StrCat("training cancelled at epoch ",
                                                 epoch, ", step ",
                                                 result.steps + 1));
      }
      features.clear();
      targets.clear();
      const int64_t end = std::min(rows, (s + 1) * new_per_batch);
      for (int64_t i = s * new_per_batch; i < end; ++i)
        add_row(train, order[i]);
      for (int64_t i = 0; i < replay_per_batch; ++i) {
        if (replay_cursor == replay_order.size()) {
          std::shuffle(replay_order.begin(), replay_order.end(), rng);
          replay_cursor = 0;
        }
        add_row(*replay, replay_order[replay_cursor++]);
      }
      const int64_t batch_rows = static_cast<int64_t>(features.size()) / in;
      Learner::StepResult step;
      {
        std::unique_lock<std::mutex> lock = LockBlasIfNeeded();
        step = learner.Step(features.data(), targets.data(), batch_rows);
      }
      if (!step.applied) {
        result.diverged = true;
        result.notes.push_back(absl::StrCat(
            "diverged: the training loss (or the gradient norm) was not "
            "finite at epoch ",
            epoch, ", step ", result.steps + 1, " (loss ", step.loss,
            "); the run stopped there"));
        break;
      }
      ++result.steps;
      ++stats.steps;
      result.samples += batch_rows;
      loss_sum += step.loss;
      if (callbacks.progress) {
        progress.epoch = epoch;
        progress.step = result.steps;
        progress.loss = step.loss;
        progress.samples_per_second =
            static_cast<double>(result.samples) / std::max(elapsed(), 1e-9);
        progress.holdout_loss.reset();
        callbacks.progress(progress);
      }
    }
    if (result.diverged) break;
    stats.train_loss =
        loss_sum / static_cast<double>(std::max<int64_t>(1, stats.steps));
    stats.holdout_loss = MeanLoss(n, holdout);
    stats.seconds =
        std::chrono::duration<double>(Clock::now() - epoch_start).count();
    result.epochs.push_back(stats);
    if (callbacks.progress) {
      progress.epoch = epoch;
      progress.holdout_loss = stats.holdout_loss;
      progress.samples_per_second =
          static_cast<double>(result.samples) / std::max(elapsed(), 1e-9);
      callbacks.progress(progress);
    }
    result.best_epoch = epoch;
    if (!early) continue;
    if (stats.holdout_loss < best - config.early_stopping().min_delta()) {
      best = stats.holdout_loss;
      best_params.clear();
      for (const at::Tensor& p : n.params)
        best_params.push_back(p.detach().clone());
      bad_epochs = 0;
    } else if (++bad_epochs >= config.early_stopping().patience()) {
      result.stopped_early = epoch < epochs;
      break;
    }
  }
  if (!result.diverged && early && !best_params.empty()) {
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < best_params.size(); ++i) {
      learner.net().params[i].copy_(best_params[i]);
    }
    // The epoch whose loss is `best`.
    for (const EpochStats& e : result.epochs) {
      if (e.holdout_loss == best) {
        result.best_epoch = e.epoch;
        break;
      }
    }
  }
  result.train_seconds = elapsed();
  result.samples_per_second = static_cast<double>(result.samples) /
                              std::max(result.train_seconds, 1e-9);

  // The candidate.
  ModelBundle& candidate = result.candidate;
  candidate = parent;
  WriteWeights(n, &candidate);
  v1::ArtifactManifest* m = candidate.mutable_manifest();
  m->clear_sections();
  m->clear_weights_sha256();
  SetHyperparameters(config, m);
  SetNow(m->mutable_create_time());
  m->set_train_records(rows);
  m->set_replay_records(use_replay ? replay->size() : 0);
  const std::vector<float> outputs = ServingOutputs(n, holdout);
  if (result.diverged) {
    candidate.clear_fisher();
    candidate.clear_reference();
  } else {
    std::vector<const Dataset*> sets = {&train};
    if (use_replay) sets.push_back(replay);
    WriteFisher(n, FisherDiagonal(n, sets, kFisherRows), &candidate);
    if (n.spec.family() == v1::MODEL_FAMILY_AUTOENCODER) {
      std::vector<float> benign;
      for (int64_t r = 0; r < holdout.size(); ++r) {
        if (holdout.targets.empty() || holdout.targets[r] == 0) {
          benign.push_back(outputs[r]);
        }
      }
      absl::StatusOr<float> threshold = CalibrateAnomalyThreshold(
          std::move(benign), config.target_false_positive_rate());
      if (threshold.ok()) {
        m->mutable_thresholds()->set_anomaly_threshold(*threshold);
        m->mutable_thresholds()->set_target_false_positive_rate(
            config.target_false_positive_rate());
      } else {
        result.notes.push_back(absl::StrCat("threshold: not recalibrated: ",
                                            threshold.status().message()));
      }
    }
  }
  absl::StatusOr<v1::Metrics> metrics = EvaluateOutputs(*m, holdout, outputs);
  if (!metrics.ok()) return metrics.status();
  result.holdout_metrics = *metrics;
  *m->mutable_metrics() = *metrics;
  if (!result.diverged) {
    v1::ReferenceStatistics* ref = candidate.mutable_reference();
    *ref = ComputeReferenceStatistics(train, seed);
    // Prediction drift: the score of each held-out row, as
    // LoggedPrediction.score defines it.
    const int k = OutputWidth(n.spec);
    std::vector<float> scores;
    for (int64_t r = 0; r < holdout.size(); ++r) {
      const float* o = outputs.data() + r * k;
      scores.push_back(n.spec.family() == v1::MODEL_FAMILY_MLP_CLASSIFIER
                           ? *std::max_element(o, o + k)
                           : o[0]);
    }
    *ref->mutable_predictions() = SummarizeValues(scores, -1, seed);
    if (metrics->has_accuracy() &&
        n.spec.family() == v1::MODEL_FAMILY_MLP_CLASSIFIER) {
      ref->set_error_rate(1 - metrics->accuracy());
    }
    if (metrics->has_mean_absolute_error()) {
      ref->set_mean_error_value(metrics->mean_absolute_error());
    }
  }
  return result;
}

absl::Status CheckRange(bool ok, absl::string_view field, double value,
                        absl::string_view allowed) {
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, " is ", value, "; allowed: ", allowed));
}

}  // namespace

// ---------------------------------------------------------------- API

absl::StatusOr<v1::TrainingConfig> ResolveTrainingConfig(
    const v1::TrainingConfig& config) {
  v1::TrainingConfig c = config;
  if (c.strategy() == v1::TRAINING_STRATEGY_UNSPECIFIED) {
    c.set_strategy(v1::TRAINING_STRATEGY_INCREMENTAL);
  }
  const bool full = c.strategy() == v1::TRAINING_STRATEGY_FULL_RETRAIN;
  v1::OptimizerConfig* o = c.mutable_optimizer();
  if (o->optimizer() == v1::OPTIMIZER_UNSPECIFIED) {
    o->set_optimizer(v1::OPTIMIZER_ADAMW);
  }
  absl::Status s;
  auto check = [&](bool ok, absl::string_view field, double value,
                   absl::string_view allowed) {
    if (s.ok()) s = CheckRange(ok, field, value, allowed);
  };
  check(o->learning_rate() >= 0 && std::isfinite(o->learning_rate()),
        "optimizer.learning_rate", o->learning_rate(), "> 0 (0 = default)");
  if (o->learning_rate() == 0) o->set_learning_rate(full ? 1e-3 : 1e-4);
  if (!o->has_weight_decay()) o->set_weight_decay(0.01);
  check(o->weight_decay() >= 0, "optimizer.weight_decay", o->weight_decay(),
        ">= 0");
  if (o->beta1() == 0) o->set_beta1(0.9);
  if (o->beta2() == 0) o->set_beta2(0.999);
  if (o->epsilon() == 0) o->set_epsilon(1e-8);
  check(o->beta1() > 0 && o->beta1() < 1, "optimizer.beta1", o->beta1(),
        "(0, 1)");
  check(o->beta2() > 0 && o->beta2() < 1, "optimizer.beta2", o->beta2(),
        "(0, 1)");
  check(o->epsilon() > 0, "optimizer.epsilon", o->epsilon(), "> 0");
  check(o->momentum() >= 0 && o->momentum() < 1, "optimizer.momentum",
        o->momentum(), "[0, 1)");
  if (!o->has_grad_clip_norm()) o->set_grad_clip_norm(1.0);
  check(o->grad_clip_norm() >= 0, "optimizer.grad_clip_norm",
        o->grad_clip_norm(), ">= 0 (0 = no clipping)");
  check(c.epochs() >= 0, "epochs", c.epochs(), ">= 0 (0 = default)");
  if (c.epochs() == 0) c.set_epochs(full ? 20 : 2);
  check(c.batch_size() >= 0, "batch_size", c.batch_size(),
        ">= 0 (0 = default)");
  if (c.batch_size() == 0) c.set_batch_size(64);
  v1::EarlyStopping* e = c.mutable_early_stopping();
  check(e->patience() >= 0, "early_stopping.patience", e->patience(), ">= 0");
  if (e->patience() == 0) e->set_patience(2);
  check(e->min_delta() >= 0, "early_stopping.min_delta", e->min_delta(),
        ">= 0");
  check(c.holdout_fraction() >= 0 && c.holdout_fraction() <= 0.5,
        "holdout_fraction", c.holdout_fraction(), "(0, 0.5] (0 = 0.1)");
  if (c.holdout_fraction() == 0) c.set_holdout_fraction(0.1);
  v1::ForgettingGuards* g = c.mutable_guards();
  if (!g->has_replay_ratio()) g->set_replay_ratio(0.3);
  check(g->replay_ratio() >= 0 && g->replay_ratio() <= 0.9,
        "guards.replay_ratio", g->replay_ratio(), "[0, 0.9]");
  check(g->ewc_lambda() >= 0 && std::isfinite(g->ewc_lambda()),
        "guards.ewc_lambda", g->ewc_lambda(), ">= 0");
  check(g->distillation_weight() >= 0 && g->distillation_weight() <= 1,
        "guards.distillation_weight", g->distillation_weight(), "[0, 1]");
  check(g->distillation_temperature() >= 0, "guards.distillation_temperature",
        g->distillation_temperature(), "> 0 (0 = 2)");
  if (g->distillation_temperature() == 0) g->set_distillation_temperature(2.0);
  check(
      c.target_false_positive_rate() >= 0 && c.target_false_positive_rate() < 1,
      "target_false_positive_rate", c.target_false_positive_rate(),
      "(0, 1) (0 = 0.01)");
  if (c.target_false_positive_rate() == 0)
    c.set_target_false_positive_rate(0.01);
  v1::OnlineSettings* online = c.mutable_online();
  check(online->micro_batch_size() >= 0, "online.micro_batch_size",
        online->micro_batch_size(), ">= 0 (0 = 1000)");
  if (online->micro_batch_size() == 0) online->set_micro_batch_size(1000);
  check(online->publish_every_updates() >= 0, "online.publish_every_updates",
        static_cast<double>(online->publish_every_updates()), ">= 0 (0 = 100)");
  if (online->publish_every_updates() == 0) {
    online->set_publish_every_updates(100);
  }
  check(c.resources().intra_op_threads() >= 0, "resources.intra_op_threads",
        c.resources().intra_op_threads(), ">= 0 (0 = 1)");
  if (!s.ok()) return s;
  if (c.seed() == 0) {
    std::random_device device;
    uint64_t seed = 0;
    while (seed == 0) {
      seed = (static_cast<uint64_t>(device()) << 32) | device();
    }
    c.set_seed(seed);
  }
  return c;
}

absl::StatusOr<TrainResult> Train(const ModelBundle& parent,
                                  const Dataset& train, const Dataset* replay,
                                  const Dataset& holdout,
                                  const v1::TrainingConfig& config,
                                  const TrainCallbacks& callbacks) {
  if (absl::Status s = ValidateBundle(parent); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("parent bundle: ", s.message()));
  }
  absl::StatusOr<v1::TrainingConfig> resolved = ResolveTrainingConfig(config);
  if (!resolved.ok()) return resolved.status();
  if (resolved->strategy() == v1::TRAINING_STRATEGY_ONLINE) {
    return absl::InvalidArgumentError(
        "strategy TRAINING_STRATEGY_ONLINE trains with OnlineUpdater, not "
        "Train");
  }
  const v1::ModelSpec spec = ResolveSpec(parent.manifest().spec());
  if (absl::Status s = CheckDataset(train, spec, "train"); !s.ok()) return s;
  if (train.size() == 0) {
    return absl::InvalidArgumentError("train: no rows to train on");
  }
  if (replay != nullptr) {
    if (absl::Status s = CheckDataset(*replay, spec, "replay"); !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = CheckDataset(holdout, spec, "holdout"); !s.ok()) {
    return s;
  }
  if (holdout.size() == 0) {
    return absl::InvalidArgumentError(
        "holdout: no rows; early stopping, metrics and calibration need a "
        "held-out set");
  }
  if (resolved->resources().intra_op_threads() > 0) {
    config::v1::TorchRuntimeConfig runtime;
    runtime.set_intra_op_threads(resolved->resources().intra_op_threads());
    if (absl::Status s = ConfigureTorchRuntime(runtime); !s.ok()) return s;
  }
  try {
    return RunTraining(parent, train, replay, holdout, *resolved, callbacks);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("LibTorch training: ", e.what()));
  }
}

absl::Status UpdateFisherDiagonal(const Dataset& data, ModelBundle* bundle,
                                  int64_t max_rows) {
  if (absl::Status s = ValidateBundle(*bundle); !s.ok()) return s;
  const v1::ModelSpec spec = ResolveSpec(bundle->manifest().spec());
  if (absl::Status s = CheckDataset(data, spec, "fisher data"); !s.ok()) {
    return s;
  }
  if (data.size() == 0 || max_rows <= 0) {
    return absl::InvalidArgumentError(
        "the Fisher diagonal needs at least one row");
  }
  try {
    Net net = BuildNet(*bundle, /*trainable=*/true);
    WriteFisher(net, FisherDiagonal(net, {&data}, max_rows), bundle);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("LibTorch computing the Fisher diagonal: ", e.what()));
  }
}

// ---------------------------------------------------------------- online

class OnlineUpdater::Impl {
 public:
  Impl(ModelBundle start, Learner learner)
      : start_(std::move(start)), learner_(std::move(learner)) {}

  absl::StatusOr<double> Update(const Dataset& batch) {
    const Net& net = learner_.net();
    if (absl::Status s =
            CheckDataset(batch, net.spec, "batch", /*check_features=*/false);
        !s.ok()) {
      return s;
    }
    if (batch.size() == 0) {
      return absl::InvalidArgumentError("batch: no rows");
    }
    Learner::StepResult step;
    try {
      std::unique_lock<std::mutex> lock = LockBlasIfNeeded();
      step = learner_.Step(batch.features.data(), batch.targets.data(),
                           batch.size());
    } catch (const std::exception& e) {
      return absl::InternalError(
          absl::StrCat("LibTorch online update: ", e.what()));
    }
    if (!step.applied) {
      return absl::InvalidArgumentError(absl::StrCat(
          "batch: the loss (", step.loss,
          ") or the gradient norm is not finite (NaN or infinite features?); "
          "the update was not applied"));
    }
    ++updates_;
    return step.loss;
  }

  absl::StatusOr<ModelBundle> Export() const {
    ModelBundle b = start_;
    try {
      WriteWeights(learner_.net(), &b);
    } catch (const std::exception& e) {
      return absl::InternalError(
          absl::StrCat("LibTorch exporting weights: ", e.what()));
    }
    b.mutable_manifest()->clear_sections();
    b.mutable_manifest()->clear_weights_sha256();
    SetNow(b.mutable_manifest()->mutable_create_time());
    return b;
  }

  int64_t updates() const { return updates_; }

 private:
  const ModelBundle start_;
  Learner learner_;
  int64_t updates_ = 0;
};

OnlineUpdater::OnlineUpdater(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
OnlineUpdater::~OnlineUpdater() = default;

absl::StatusOr<std::unique_ptr<OnlineUpdater>> OnlineUpdater::Create(
    const ModelBundle& start, const v1::TrainingConfig& config) {
  if (absl::Status s = ValidateBundle(start); !s.ok()) return s;
  absl::StatusOr<v1::TrainingConfig> resolved = ResolveTrainingConfig(config);
  if (!resolved.ok()) return resolved.status();
  try {
    Net net = BuildNet(start, /*trainable=*/true);
    std::vector<std::string> notes;
    Guards guards = MakeGuards(start, net, *resolved, &notes);
    Learner learner(std::move(net), *resolved, std::move(guards),
                    resolved->seed() + 1);
    return std::unique_ptr<OnlineUpdater>(
        new OnlineUpdater(std::make_unique<Impl>(start, std::move(learner))));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("LibTorch building the online updater: ", e.what()));
  }
}

absl::StatusOr<double> OnlineUpdater::Update(const Dataset& batch) {
  return impl_->Update(batch);
}

absl::StatusOr<ModelBundle> OnlineUpdater::ExportBundle() const {
  return impl_->Export();
}

int64_t OnlineUpdater::updates() const { return impl_->updates(); }

}  // namespace continuum::model
