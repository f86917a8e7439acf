// Bringing a user's PyTorch model in and out (MODEL_FAMILY_TORCHSCRIPT):
// a bundle from a module saved with torch.jit.script or torch.jit.trace,
// and the module of a bundle back, for torch.jit.load.
//
// Plain C++ (the implementation, torchscript.cc, uses LibTorch); no LibTorch
// exception crosses it.
#ifndef CONTINUUM_LIB_MODEL_TORCHSCRIPT_IMPORT_H_
#define CONTINUUM_LIB_MODEL_TORCHSCRIPT_IMPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "continuum/internal/v1/model_bundle.pb.h"
#include "continuum/v1/common.pb.h"

namespace continuum::model {

struct TorchScriptImportOptions {
  // manifest.model (may be empty: the registry's upload names the model).
  std::string model;
  // What the module computes (TorchScriptSpec.task); required.
  v1::ModelTask task = v1::MODEL_TASK_UNSPECIFIED;
  // The fine-tuning loss; unset = the task's.
  v1::TorchScriptLoss loss = v1::TORCHSCRIPT_LOSS_UNSPECIFIED;
  // With TORCHSCRIPT_LOSS_METHOD: the module's loss method.
  std::string loss_method;
  // Parameters fine-tuning changes, by name prefix; empty = all.
  std::vector<std::string> trainable_prefixes;
  // The module's input per row, e.g. {784} or {1, 28, 28}; required.
  std::vector<int64_t> input_shape;
  // Outputs per row the caller expects (classes, targets); 0 = whatever the
  // module returns. Ignored for anomaly scores (one per row).
  int output_dim = 0;
  // Warm-up rows, row-major (whole rows of the input); empty = 8 rows
  // drawn from N(0, 1) with `seed`.
  std::vector<float> warmup_rows;
  uint64_t seed = 0;
  // Optional names of the input features and outputs (classes, targets).
  std::vector<std::string> input_names;
  std::vector<std::string> output_names;
};

// A bundle of MODEL_FAMILY_TORCHSCRIPT holding `module_bytes` (what
// torch.jit.save wrote): its parameters listed in the manifest and copied
// into `weights` and `initial_weights`, the output width read from its
// output on the warm-up rows, schemas, warm-up rows and create_time filled
// in. The module must load, have float32 parameters, run the warm-up rows
// (and the loss method, when named) and give finite outputs of the task's
// shape; the bundle must pass ValidateBundle and Model::FromBundle.
// INVALID_ARGUMENT naming what failed, with the module's error text.
absl::StatusOr<internal::v1::ModelBundle> ImportTorchScript(
    std::string module_bytes, const TorchScriptImportOptions& options);

// The module of a torchscript bundle with the bundle's weights, as
// torch.jit.save writes it (torch.jit.load reads it back in Python).
// FAILED_PRECONDITION for another family; ValidateBundle's and
// Model::FromBundle's errors as they are.
absl::StatusOr<std::string> ExportTorchScript(
    const internal::v1::ModelBundle& bundle);

}  // namespace continuum::model

#endif  // CONTINUUM_LIB_MODEL_TORCHSCRIPT_IMPORT_H_
