// Internal to lib/model, for its LibTorch .cc files only (torchscript.cc,
// training_net.cc, mlp.cc): a user's TorchScript module
// (MODEL_FAMILY_TORCHSCRIPT) loaded from its bundle, and what serving and
// training run on it.
//
// The module runs in eval mode, serving and fine-tuning alike: dropout off,
// batch-norm statistics frozen (the usual way to fine-tune a trained
// network; docs/torchscript.md). Its graph executor runs unoptimised
// (setGraphExecutorOptimize(false), once per process): every call runs the
// module's operations as PyTorch's eager mode would, so outputs do not
// change after the first calls (profiling) and agree with Python's.
//
// Includes LibTorch: never include it from a header that services see.
// The functions may throw (LibTorch's c10::Error); callers catch at
// lib/model's boundary.
#ifndef CONTINUUM_LIB_MODEL_TORCHSCRIPT_H_
#define CONTINUUM_LIB_MODEL_TORCHSCRIPT_H_

#include <ATen/ATen.h>
#include <torch/csrc/jit/api/module.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "continuum/internal/v1/model_bundle.pb.h"
#include "continuum/v1/common.pb.h"
#include "lib/model/model.h"

namespace continuum::model {

// The module of `bytes` (torch.jit.save's archive), in eval mode. Throws
// what torch::jit::load throws.
torch::jit::Module LoadScriptModule(const std::string& bytes);

// The module as torch.jit.save writes it.
std::string SaveScriptModule(const torch::jit::Module& module);

// The module's parameters (recursive, in named_parameters order), as
// (name, tensor); the tensors are the module's own.
std::vector<std::pair<std::string, at::Tensor>> ScriptParameters(
    const torch::jit::Module& module);

// The bundle's module with the bundle's `weights` (or `weights_override`,
// when given: the same names, e.g. initial_weights) copied into its
// parameters. INVALID_ARGUMENT, prefixed with the stage ("load: " with the
// module's error text, "parameters: ..."), when the archive does not load,
// its parameters are not manifest.parameters (names, shapes, float32), or
// it lacks forward or the loss method.
absl::StatusOr<torch::jit::Module> BuildScriptModule(
    const internal::v1::ModelBundle& bundle);

// Whether parameter `name` is fine-tuned (spec.torchscript.trainable_prefixes
// empty or one of them a prefix of it).
bool ScriptParameterTrainable(const v1::ModelSpec& spec,
                              const std::string& name);

// The module's raw output for rows `x` [B, input_dim]: x is reshaped to
// [B, input_shape...] and the output checked and reshaped to
// [B, OutputWidth(spec)] (an anomaly score may come as [B] or [B, 1]).
// Throws std::runtime_error naming the shapes when the output is not a
// float tensor of that shape.
at::Tensor RunScript(torch::jit::Module& module, const v1::ModelSpec& spec,
                     const at::Tensor& x);

// The serving output of raw output `out`: the softmax of the logits for a
// classification module, else `out` itself.
at::Tensor ScriptServingOutput(const v1::ModelSpec& spec,
                               const at::Tensor& out);

// The fine-tuning loss (spec.torchscript.loss, resolved) of raw output
// `out` for inputs `x` and targets `y` (int64 classes [B], float [B, K], or
// undefined for anomaly scores): per row [B] when `per_row`, else the
// mean. A loss method returning a scalar is taken as the mean (per_row
// then repeats it for every row). Throws when the loss method fails or
// returns something else.
at::Tensor ScriptLoss(torch::jit::Module& module, const v1::ModelSpec& spec,
                      const at::Tensor& out, const at::Tensor& x,
                      const at::Tensor& y, bool per_row);

// The Model of a (valid) torchscript bundle (BuildScriptModule's errors).
// Whether it runs is for its first Forward: the inference pod's warm-up,
// ImportTorchScript's check.
absl::StatusOr<std::unique_ptr<Model>> BuildTorchScriptModel(
    const internal::v1::ModelBundle& bundle);

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_TORCHSCRIPT_H_
