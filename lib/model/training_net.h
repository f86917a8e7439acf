// Internal to lib/model, for its LibTorch .cc files only (training.cc,
// learner.cc): a bundle's network held as plain tensors, one per bundle
// weight (`layers.{i}.weight` [out, in], `layers.{i}.bias` [out]), and the
// operations training runs on it: the forward pass (the same operations as
// mlp.cc's: normalise, linear, activation between layers, so a trained
// bundle serves exactly as it trained), the family's loss, the held-out
// loss and serving outputs of a data set, the empirical Fisher diagonal,
// and writing weights and Fisher back into a bundle.
//
// Includes LibTorch: never include it from a header that services see.
// Every function may throw (LibTorch); callers catch at lib/model's
// boundary. The functions that run over a data set (MeanLoss,
// ServingOutputs, FisherDiagonal) take the BLAS lock (blas_lock.h) per
// chunk; Forward and FamilyLoss expect the caller to hold it. Not
// thread-safe on one Net.
#ifndef CONTINUUM_LIB_MODEL_TRAINING_NET_H_
#define CONTINUUM_LIB_MODEL_TRAINING_NET_H_

#include <ATen/ATen.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "continuum/internal/v1/model_bundle.pb.h"
#include "continuum/v1/common.pb.h"
#include "lib/model/dataset.h"

namespace torch::jit {
struct Module;
}  // namespace torch::jit

namespace continuum::model {

// Rows the Fisher diagonal of a training run is computed on, at most.
inline constexpr int64_t kFisherRows = 10000;

// The network as tensors.
struct Net {
  v1::ModelSpec spec;  // resolved
  std::vector<std::string> names;
  // [W0, b0, W1, b1, ...] in bundle order; require grad when trainable.
  std::vector<at::Tensor> params;
  // Input normalisation; undefined when it is the identity (mean 0, std 1).
  at::Tensor mean, std;
  // Bound on the normalised inputs (NormalizationStats.clip); 0 = none.
  float clip = 0;
  // Regressors: target statistics; undefined when absent.
  at::Tensor target_mean, target_std;
  // MODEL_FAMILY_TORCHSCRIPT: the user's module (torchscript.h); `params`
  // are its parameters (its own tensors: a step changes the module), those
  // outside the spec's trainable prefixes not requiring grad. Null for the
  // built-in families.
  std::shared_ptr<torch::jit::Module> script;
};

// Copies each of `weights` into the tensor of its name in `params` (a
// module's parameters, built-in or TorchScript), without recording
// gradients. Throws std::runtime_error naming a weight the module has no
// parameter for, or whose data does not fill its shape.
void CopyNamedWeights(
    const google::protobuf::RepeatedPtrField<internal::v1::NamedTensor>&
        weights,
    std::map<std::string, at::Tensor>& params);

// `t` (float32) into `out`: its shape and row-major data.
void WriteTensor(const at::Tensor& t, v1::Tensor* out);

// A copy of `values` as a float tensor of `shape`.
at::Tensor CopyToTensor(const google::protobuf::RepeatedField<float>& values,
                        std::vector<int64_t> shape);

// The network of a (valid) bundle; its parameters require grad when
// `trainable` (a TorchScript module's: those the spec's trainable prefixes
// name). Throws std::runtime_error when a TorchScript module does not load
// (BuildScriptModule's message).
Net BuildNet(const internal::v1::ModelBundle& bundle, bool trainable);

// The inputs normalised with the network's input statistics.
at::Tensor Normalize(const Net& net, const at::Tensor& x);

// The network's raw output (logits, normalised targets, reconstruction) for
// normalised inputs `z`. With `generator`, dropout (spec.dropout) after
// every hidden activation. `pre_activations`, when given, receives each
// layer's linear output and `layer_inputs` each layer's input.
at::Tensor Forward(const Net& net, const at::Tensor& z,
                   at::Generator* generator,
                   std::vector<at::Tensor>* pre_activations = nullptr,
                   std::vector<at::Tensor>* layer_inputs = nullptr);

// A batch of rows as tensors: inputs and the family's target tensor (class
// indices as int64, raw regression targets, a forecaster's actuals relative
// to each window's anchor (gru_forecaster.h); undefined for autoencoders).
struct Batch {
  at::Tensor x;
  at::Tensor y;
};

// Views `rows` rows of features (and targets) without copying the features.
Batch MakeBatch(const Net& net, const float* features, const float* targets,
                int64_t rows);

// The family's loss of raw output `out` (normalised inputs `z`, targets
// `y`): cross-entropy, MSE on normalised targets, or reconstruction MSE;
// the mean over rows, or one value per row when `per_row`.
at::Tensor FamilyLoss(const Net& net, const at::Tensor& out,
                      const at::Tensor& z, const at::Tensor& y, bool per_row);

// Scales the gradients of `params` so that their global L2 norm is at most
// `max_norm` (as torch::nn::utils::clip_grad_norm_) and returns the norm
// before scaling.
double ClipGradNorm(const std::vector<at::Tensor>& params, double max_norm);

// The family's mean loss over `data` (no dropout, no guards).
double MeanLoss(const Net& net, const Dataset& data);

// What Model::Forward would return for every row of `data`.
std::vector<float> ServingOutputs(const Net& net, const Dataset& data);

// The empirical Fisher diagonal of `net` (mean over rows of the squared
// per-row gradient of the loss) on up to `max_rows` rows of the sets, in
// proportion to their sizes, evenly strided; one tensor per parameter.
// `net`'s parameters must require grad.
std::vector<at::Tensor> FisherDiagonal(const Net& net,
                                       const std::vector<const Dataset*>& sets,
                                       int64_t max_rows);

// Copies the network's weights into bundle->weights (same order, shapes);
// a TorchScript network's module is saved into bundle->torchscript_module
// too.
void WriteWeights(const Net& net, internal::v1::ModelBundle* bundle);

// Replaces bundle->fisher with `fisher`, named as the network's weights.
void WriteFisher(const Net& net, const std::vector<at::Tensor>& fisher,
                 internal::v1::ModelBundle* bundle);

// Sets *t to the current time (for a candidate's create_time).
void SetNow(google::protobuf::Timestamp* t);

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_TRAINING_NET_H_
