// A user's TorchScript module (torchscript.h, torchscript_import.h). A
// LibTorch translation unit.
#include "lib/model/torchscript.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/python/update_graph_executor_opt.h>
#include <torch/csrc/jit/serialization/import.h>

#include <cmath>
#include <exception>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/model/blas_lock.h"
#include "lib/model/bundle.h"
#include "lib/model/torchscript_import.h"
#include "lib/model/training_net.h"

namespace continuum::model {

using internal::v1::ModelBundle;

namespace {

// Rows ImportTorchScript runs through a module when it is given none.
constexpr int kImportWarmupRows = 8;

std::string ShapeText(at::IntArrayRef sizes) {
  return absl::StrCat("[", absl::StrJoin(sizes, ", "), "]");
}

// Once per process: the graph executor runs modules unoptimised (see
// torchscript.h).
void ConfigureExecutorOnce() {
  static std::once_flag once;
  std::call_once(once, [] { torch::jit::setGraphExecutorOptimize(false); });
}

std::string FirstLine(absl::string_view text) {
  // LibTorch's messages carry a C++ backtrace after the first lines; the
  // TorchScript traceback (the user's code) comes first.
  constexpr size_t kMaxBytes = 2000;
  size_t cut = text.find("\nException raised from");
  if (cut == absl::string_view::npos) cut = text.size();
  return std::string(text.substr(0, std::min(cut, kMaxBytes)));
}

// The message of a LibTorch exception without its C++ backtrace.
std::string ErrorText(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) {
    return FirstLine(c10->what_without_backtrace());
  }
  return FirstLine(e.what());
}

class TorchScriptModel final : public Model {
 public:
  TorchScriptModel(ModelBundle bundle, torch::jit::Module module)
      : bundle_(std::move(bundle)),
        spec_(ResolveSpec(bundle_.manifest().spec())),
        module_(std::move(module)) {}

  int input_dim() const override { return spec_.input_dim(); }
  int output_dim() const override { return OutputWidth(spec_); }
  const ModelBundle& bundle() const override { return bundle_; }

  absl::Status Forward(const float* rows, int n,
                       std::vector<float>* out) const override {
    if (n < 0 || (rows == nullptr && n > 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("Forward: ", n, " rows at ",
                       rows == nullptr ? "null" : "an address"));
    }
    out->clear();
    if (n == 0) return absl::OkStatus();
    try {
      // The module's operations use the BLAS (blas_lock.h): one forward at
      // a time when it is the serial OpenBLAS.
      std::unique_lock<std::mutex> lock = LockBlasIfNeeded();
      c10::InferenceMode inference;
      at::Tensor x = at::from_blob(const_cast<float*>(rows),
                                   {n, spec_.input_dim()}, at::kFloat);
      at::Tensor o =
          ScriptServingOutput(spec_, RunScript(module_, spec_, x)).contiguous();
      const float* p = o.data_ptr<float>();
      out->assign(p, p + o.numel());
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return absl::InternalError(
          absl::StrCat("TorchScript forward: ", ErrorText(e)));
    }
  }

 private:
  const ModelBundle bundle_;
  const v1::ModelSpec spec_;
  // forward is not a const method; concurrent calls are safe (the graph
  // executor is thread-safe, and the BLAS lock serialises the rest).
  mutable torch::jit::Module module_;
};


// The module's parameters are exactly manifest.parameters: names, order,
// shapes, float32.
absl::Status CheckParameters(const torch::jit::Module& module,
                             const v1::ArtifactManifest& manifest) {
  std::vector<std::pair<std::string, at::Tensor>> params =
      ScriptParameters(module);
  if (static_cast<int>(params.size()) != manifest.parameters_size()) {
    std::vector<std::string> names;
    for (const auto& p : params) names.push_back(p.first);
    return absl::InvalidArgumentError(absl::StrCat(
        "parameters: the module has ", params.size(), " (",
        absl::StrJoin(names, ", "), "); the manifest lists ",
        manifest.parameters_size()));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& [name, t] = params[i];
    const v1::ParameterInfo& want = manifest.parameters(static_cast<int>(i));
    std::vector<int64_t> shape(want.shape().begin(), want.shape().end());
    if (name != want.name() || t.sizes() != at::IntArrayRef(shape)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameters: the module's parameter ", i, " is ", name, " ",
          ShapeText(t.sizes()), "; the manifest lists ", want.name(), " ",
          ShapeText(shape)));
    }
    if (t.scalar_type() != at::kFloat) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameters: ", name, " is ", c10::toString(t.scalar_type()),
          "; Continuum trains and serves float32 modules (call .float() "
          "before saving)"));
    }
  }
  return absl::OkStatus();
}

// The method names a module must have for its spec.
absl::Status CheckMethods(const torch::jit::Module& module,
                          const v1::ModelSpec& spec) {
  if (!module.find_method("forward").has_value()) {
    return absl::InvalidArgumentError("load: the module has no forward method");
  }
  const v1::TorchScriptSpec& ts = spec.torchscript();
  if (ts.loss() == v1::TORCHSCRIPT_LOSS_METHOD &&
      !module.find_method(ts.loss_method()).has_value()) {
    return absl::InvalidArgumentError(
        absl::StrCat("load: the module has no method '", ts.loss_method(),
                     "' (the manifest's loss method); export it with "
                     "@torch.jit.export"));
  }
  return absl::OkStatus();
}


}  // namespace

torch::jit::Module LoadScriptModule(const std::string& bytes) {
  ConfigureExecutorOnce();
  std::istringstream in(bytes);
  torch::jit::Module module = torch::jit::load(in);
  module.eval();
  return module;
}

std::string SaveScriptModule(const torch::jit::Module& module) {
  std::ostringstream out;
  module.save(out);
  return std::move(out).str();
}

std::vector<std::pair<std::string, at::Tensor>> ScriptParameters(
    const torch::jit::Module& module) {
  std::vector<std::pair<std::string, at::Tensor>> params;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) {
    params.emplace_back(p.name, p.value);
  }
  return params;
}

absl::StatusOr<torch::jit::Module> BuildScriptModule(
    const ModelBundle& bundle) {
  torch::jit::Module module;
  try {
    module = LoadScriptModule(bundle.torchscript_module());
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("load: ", ErrorText(e)));
  }
  const v1::ModelSpec spec = ResolveSpec(bundle.manifest().spec());
  if (absl::Status s = CheckMethods(module, spec); !s.ok()) return s;
  if (absl::Status s = CheckParameters(module, bundle.manifest()); !s.ok()) {
    return s;
  }
  try {
    std::map<std::string, at::Tensor> params;
    for (auto& [name, tensor] : ScriptParameters(module)) params[name] = tensor;
    CopyNamedWeights(bundle.weights(), params);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameters: ", ErrorText(e)));
  }
  return module;
}

bool ScriptParameterTrainable(const v1::ModelSpec& spec,
                              const std::string& name) {
  const auto& prefixes = spec.torchscript().trainable_prefixes();
  if (prefixes.empty()) return true;
  for (const std::string& p : prefixes) {
    if (absl::StartsWith(name, p)) return true;
  }
  return false;
}

at::Tensor RunScript(torch::jit::Module& module, const v1::ModelSpec& spec,
                     const at::Tensor& x) {
  const int64_t rows = x.size(0);
  std::vector<int64_t> shape = {rows};
  for (int64_t d : spec.torchscript().input_shape()) shape.push_back(d);
  if (shape.size() == 1) shape.push_back(spec.input_dim());
  c10::IValue result = module.forward({x.reshape(shape)});
  if (!result.isTensor()) {
    throw std::runtime_error(absl::StrCat("forward returned a ",
                                          result.tagKind(),
                                          ", not a tensor"));
  }
  at::Tensor out = result.toTensor();
  const int64_t width = OutputWidth(spec);
  const bool score = TaskFamily(spec) == v1::MODEL_FAMILY_AUTOENCODER;
  const bool fits =
      (out.dim() == 2 && out.size(0) == rows && out.size(1) == width) ||
      (score && out.dim() == 1 && out.size(0) == rows);
  if (!fits) {
    throw std::runtime_error(absl::StrCat(
        "forward returned shape ", ShapeText(out.sizes()), " for ", rows,
        " rows; the manifest expects [", rows, ", ", width, "]",
        score ? absl::StrCat(" or [", rows, "]") : ""));
  }
  if (!at::isFloatingType(out.scalar_type())) {
    throw std::runtime_error(
        absl::StrCat("forward returned ", c10::toString(out.scalar_type()),
                     " values; a float tensor is needed"));
  }
  return out.to(at::kFloat).reshape({rows, width});
}

at::Tensor ScriptServingOutput(const v1::ModelSpec& spec,
                               const at::Tensor& out) {
  return spec.torchscript().task() == v1::MODEL_TASK_CLASSIFICATION
             ? at::softmax(out, 1)
             : out;
}

at::Tensor ScriptLoss(torch::jit::Module& module, const v1::ModelSpec& spec,
                      const at::Tensor& out, const at::Tensor& x,
                      const at::Tensor& y, bool per_row) {
  const v1::TorchScriptSpec& ts = spec.torchscript();
  const int64_t rows = out.size(0);
  switch (ts.loss()) {
    case v1::TORCHSCRIPT_LOSS_CROSS_ENTROPY:
      return at::cross_entropy_loss(
          out, y, {}, per_row ? at::Reduction::None : at::Reduction::Mean);
    case v1::TORCHSCRIPT_LOSS_MSE:
      return per_row ? (out - y).pow(2).mean(1) : at::mse_loss(out, y);
    case v1::TORCHSCRIPT_LOSS_METHOD: {
      std::vector<int64_t> shape = {rows};
      for (int64_t d : ts.input_shape()) shape.push_back(d);
      at::Tensor targets =
          y.defined() ? y : at::empty({rows, 0}, x.options());
      c10::IValue r =
          module.get_method(ts.loss_method())({x.reshape(shape), targets});
      if (!r.isTensor()) {
        throw std::runtime_error(absl::StrCat(
            "loss method ", ts.loss_method(), " returned a ", r.tagKind(),
            ", not a tensor"));
      }
      at::Tensor loss = r.toTensor();
      if (loss.dim() == 0) {
        return per_row ? loss.expand({rows}) : loss;
      }
      if (loss.dim() == 1 && loss.size(0) == rows) {
        return per_row ? loss : loss.mean();
      }
      throw std::runtime_error(absl::StrCat(
          "loss method ", ts.loss_method(), " returned shape ",
          ShapeText(loss.sizes()), "; a scalar or [", rows, "] is needed"));
    }
    default: {
      // An anomaly score is its own loss: lower scores on benign rows.
      at::Tensor score = out.reshape({rows});
      return per_row ? score : score.mean();
    }
  }
}

absl::StatusOr<std::unique_ptr<Model>> BuildTorchScriptModel(
    const ModelBundle& bundle) {
  absl::StatusOr<torch::jit::Module> module = BuildScriptModule(bundle);
  if (!module.ok()) return module.status();
  return std::unique_ptr<Model>(
      new TorchScriptModel(bundle, std::move(*module)));
}

// ---------------------------------------------------------------- import

absl::StatusOr<ModelBundle> ImportTorchScript(
    std::string module_bytes, const TorchScriptImportOptions& options) {
  ModelBundle bundle;
  v1::ArtifactManifest* m = bundle.mutable_manifest();
  m->set_format_version(kBundleFormatVersion);
  m->set_model(options.model);
  v1::ModelSpec* spec = m->mutable_spec();
  spec->set_family(v1::MODEL_FAMILY_TORCHSCRIPT);
  v1::TorchScriptSpec* ts = spec->mutable_torchscript();
  ts->set_task(options.task);
  ts->set_loss(options.loss);
  ts->set_loss_method(options.loss_method);
  for (const std::string& p : options.trainable_prefixes) {
    ts->add_trainable_prefixes(p);
  }
  int64_t input_dim = 1;
  for (int64_t d : options.input_shape) {
    ts->add_input_shape(d);
    input_dim *= d;
  }
  if (options.input_shape.empty() || input_dim < 1 || input_dim > INT32_MAX) {
    return absl::InvalidArgumentError(
        "the input shape per row is required, e.g. 784 or 1,28,28");
  }
  spec->set_input_dim(static_cast<int>(input_dim));
  bundle.set_torchscript_module(std::move(module_bytes));

  torch::jit::Module module;
  try {
    module = LoadScriptModule(bundle.torchscript_module());
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the file is not a TorchScript module torch.jit.load can read: ",
        ErrorText(e)));
  }
  // Parameters, weights and the initial weights, in the module's order.
  for (const auto& [name, t] : ScriptParameters(module)) {
    if (t.scalar_type() != at::kFloat) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parameter ", name, " is ", c10::toString(t.scalar_type()),
          "; Continuum trains and serves float32 modules (call .float() "
          "before saving)"));
    }
    v1::ParameterInfo* p = m->add_parameters();
    p->set_name(name);
    for (int64_t d : t.sizes()) p->add_shape(d);
    internal::v1::NamedTensor* w = bundle.add_weights();
    w->set_name(name);
    WriteTensor(t, w->mutable_tensor());
    *bundle.add_initial_weights() = *w;
  }

  // Warm-up rows: the caller's, or N(0, 1).
  const int64_t given = static_cast<int64_t>(options.warmup_rows.size());
  if (given % input_dim != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "warm-up rows: ", given, " values are not whole rows of ", input_dim));
  }
  v1::Tensor* warmup = bundle.mutable_warmup_inputs();
  if (given > 0) {
    warmup->mutable_data()->Assign(options.warmup_rows.begin(),
                                   options.warmup_rows.end());
  } else {
    std::mt19937_64 rng(options.seed);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int64_t i = 0; i < kImportWarmupRows * input_dim; ++i) {
      warmup->add_data(normal(rng));
    }
  }
  const int64_t rows = warmup->data_size() / input_dim;
  warmup->add_shape(rows);
  warmup->add_shape(input_dim);
  m->set_warmup_rows(rows);

  // The output width: the module's, on the warm-up rows.
  int64_t width = 0;
  try {
    std::unique_lock<std::mutex> lock = LockBlasIfNeeded();
    c10::InferenceMode inference;
    std::vector<int64_t> shape = {rows};
    for (int64_t d : options.input_shape) shape.push_back(d);
    c10::IValue r = module.forward({CopyToTensor(warmup->data(), shape)});
    if (!r.isTensor()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "warm-up: forward returned a ", r.tagKind(), ", not a tensor"));
    }
    at::Tensor out = r.toTensor();
    if (options.task == v1::MODEL_TASK_ANOMALY_SCORE) {
      width = 1;
    } else if (out.dim() == 2 && out.size(0) == rows) {
      width = out.size(1);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "warm-up: forward returned shape ", ShapeText(out.sizes()), " for ",
          rows, " rows; a ",
          options.task == v1::MODEL_TASK_CLASSIFICATION ? "classifier"
                                                        : "regressor",
          " returns [rows, outputs]"));
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("warm-up: ", ErrorText(e)));
  }
  if (options.task != v1::MODEL_TASK_ANOMALY_SCORE) {
    if (options.output_dim > 0 && options.output_dim != width) {
      return absl::InvalidArgumentError(
          absl::StrCat("the module returns ", width, " values per row; ",
                       options.output_dim, " were expected"));
    }
    spec->set_output_dim(static_cast<int>(width));
  }
  m->mutable_input_schema()->add_shape(input_dim);
  for (const std::string& n : options.input_names) {
    m->mutable_input_schema()->add_names(n);
  }
  m->mutable_output_schema()->add_shape(OutputWidth(*spec));
  for (const std::string& n : options.output_names) {
    m->mutable_output_schema()->add_names(n);
  }
  if (options.task == v1::MODEL_TASK_ANOMALY_SCORE &&
      options.output_names.empty()) {
    m->mutable_output_schema()->add_names("anomaly_score");
  }
  const int64_t nanos = absl::ToUnixNanos(absl::Now());
  m->mutable_create_time()->set_seconds(nanos / 1000000000);
  m->mutable_create_time()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  m->mutable_tags()->insert({"source", "torchscript import"});

  // The whole bundle as the platform will check it: valid, loads, runs its
  // warm-up rows with finite outputs of the right shape.
  if (absl::Status s = ValidateBundle(bundle); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<Model>> model = Model::FromBundle(bundle);
  if (!model.ok()) return model.status();
  std::vector<float> out;
  if (absl::Status s = (*model)->Forward(warmup->data().data(),
                                         static_cast<int>(rows), &out);
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("warm-up: ", s.message()));
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (!std::isfinite(out[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "warm-up: output ", i % width, " of row ", i / width, " is ",
          out[i], "; the module must give finite outputs"));
    }
  }
  if (options.loss == v1::TORCHSCRIPT_LOSS_METHOD) {
    // The loss method must run too (on targets of zeros).
    try {
      std::unique_lock<std::mutex> lock = LockBlasIfNeeded();
      at::NoGradGuard no_grad;
      at::Tensor x = CopyToTensor(warmup->data(), {rows, input_dim});
      at::Tensor y;
      if (options.task == v1::MODEL_TASK_CLASSIFICATION) {
        y = at::zeros({rows}, at::kLong);
      } else if (options.task == v1::MODEL_TASK_REGRESSION) {
        y = at::zeros({rows, width}, at::kFloat);
      }
      const v1::ModelSpec resolved = ResolveSpec(*spec);
      at::Tensor o = RunScript(module, resolved, x);
      ScriptLoss(module, resolved, o, x, y, /*per_row=*/false);
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat("loss method ", options.loss_method, ": ",
                       ErrorText(e)));
    }
  }
  return bundle;
}

absl::StatusOr<std::string> ExportTorchScript(const ModelBundle& bundle) {
  if (bundle.manifest().spec().family() != v1::MODEL_FAMILY_TORCHSCRIPT) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the version is a ", FamilyName(bundle.manifest().spec().family()),
        " model; only torchscript versions hold a module to export"));
  }
  if (absl::Status s = ValidateBundle(bundle); !s.ok()) return s;
  absl::StatusOr<torch::jit::Module> module = BuildScriptModule(bundle);
  if (!module.ok()) return module.status();
  try {
    return SaveScriptModule(*module);
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("saving the module: ", ErrorText(e)));
  }
}

}  // namespace continuum::model
