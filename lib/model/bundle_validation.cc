// ValidateBundle and ValidateSpec (bundle_validation.h): one check per
// section of the bundle.
#include "lib/model/bundle_validation.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "lib/model/bundle.h"

namespace continuum::model {
namespace {

using internal::v1::ModelBundle;
using internal::v1::NamedTensor;

std::string ShapeString(const google::protobuf::RepeatedField<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Product of the shape; INVALID_ARGUMENT for a negative dimension or an
// overflowing product.
absl::StatusOr<int64_t> ShapeElements(const v1::Tensor& t,
                                      absl::string_view what) {
  int64_t n = 1;
  for (int64_t d : t.shape()) {
    if (d < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": shape ", ShapeString(t.shape()), " has a negative size"));
    }
    if (d != 0 && n > (int64_t{1} << 40) / d) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": shape ", ShapeString(t.shape()), " is too large"));
    }
    n *= d;
  }
  return n;
}

// Data length = product of shape, and every element finite (and >= 0 when
// `non_negative`).
absl::Status CheckTensorData(const v1::Tensor& t, absl::string_view what,
                             bool non_negative = false) {
  absl::StatusOr<int64_t> n = ShapeElements(t, what);
  if (!n.ok()) return n.status();
  if (*n != t.data_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": shape ", ShapeString(t.shape()), " needs ", *n,
                     " values but the tensor holds ", t.data_size()));
  }
  for (int i = 0; i < t.data_size(); ++i) {
    float v = t.data(i);
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": element ", i, " is ", std::isnan(v) ? "NaN" : "infinite"));
    }
    if (non_negative && v < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": element ", i, " is negative (", v, ")"));
    }
  }
  return absl::OkStatus();
}

bool SameShape(const google::protobuf::RepeatedField<int64_t>& a,
               const google::protobuf::RepeatedField<int64_t>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

absl::Status CheckStats(const v1::NormalizationStats& stats, int expected,
                        absl::string_view what) {
  if (!std::isfinite(stats.clip()) || stats.clip() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ".clip is ", stats.clip(), "; must be finite and >= 0"));
  }
  if (stats.mean_size() == 0 && stats.std_size() == 0) return absl::OkStatus();
  if (stats.mean_size() != expected || stats.std_size() != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": mean has ", stats.mean_size(), " and std ",
                     stats.std_size(), " entries; both must have ", expected));
  }
  for (int i = 0; i < expected; ++i) {
    if (!std::isfinite(stats.mean(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ".mean[", i, "] is not finite"));
    }
    if (!std::isfinite(stats.std(i)) || stats.std(i) <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ".std[", i, "] is ", stats.std(i), "; must be finite and > 0"));
    }
  }
  return absl::OkStatus();
}

// A schema's shape, when set, is `shape`; its names, when set, name the
// entries of the last dimension.
absl::Status CheckSchema(const v1::TensorSchema& schema,
                         const std::vector<int64_t>& shape,
                         absl::string_view what) {
  if (schema.shape_size() > 0 &&
      !std::equal(schema.shape().begin(), schema.shape().end(), shape.begin(),
                  shape.end())) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ".shape is ", ShapeString(schema.shape()),
                     "; expected [", absl::StrJoin(shape, ", "), "]"));
  }
  const int64_t width = shape.back();
  if (schema.names_size() > 0 && schema.names_size() != width) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " names ", schema.names_size(), " entries; expected ", width));
  }
  return absl::OkStatus();
}

// The format version this build reads.
absl::Status CheckFormatVersion(const v1::ArtifactManifest& manifest) {
  if (manifest.format_version() != kBundleFormatVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest.format_version is ", manifest.format_version(),
                     "; this build reads format ", kBundleFormatVersion));
  }
  return absl::OkStatus();
}

// Weight i is the expected parameter `want`: name, shape, data.
absl::Status CheckWeight(const NamedTensor& got, size_t i,
                         const v1::ParameterInfo& want) {
  if (got.name() != want.name()) {
    return absl::InvalidArgumentError(
        absl::StrCat("weights[", i, "] is named '", got.name(),
                     "'; the spec expects ", want.name()));
  }
  if (!SameShape(got.tensor().shape(), want.shape())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weights: tensor ", want.name(), " has shape ",
        ShapeString(got.tensor().shape()), "; the manifest's spec implies ",
        ShapeString(want.shape())));
  }
  return CheckTensorData(got.tensor(),
                         absl::StrCat("weights: tensor ", want.name()));
}

// The weights are exactly the expected parameters, in order.
absl::Status CheckWeights(const ModelBundle& bundle, const v1::ModelSpec& spec,
                          const std::vector<v1::ParameterInfo>& expected) {
  for (size_t i = 0; i < expected.size(); ++i) {
    const v1::ParameterInfo& want = expected[i];
    if (static_cast<int>(i) >= bundle.weights_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "weights: tensor ", want.name(), " ", ShapeString(want.shape()),
          " is missing (the ", FamilyName(spec.family()), " spec needs ",
          expected.size(), " tensors, the bundle has ", bundle.weights_size(),
          ")"));
    }
    if (absl::Status s =
            CheckWeight(bundle.weights(static_cast<int>(i)), i, want);
        !s.ok()) {
      return s;
    }
  }
  if (bundle.weights_size() > static_cast<int>(expected.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weights: unexpected tensor '",
        bundle.weights(static_cast<int>(expected.size())).name(), "' (the ",
        FamilyName(spec.family()), " spec needs ", expected.size(),
        " tensors, the bundle has ", bundle.weights_size(), ")"));
  }
  return absl::OkStatus();
}

// manifest.parameters, when set, lists the expected parameters.
absl::Status CheckManifestParameters(
    const v1::ArtifactManifest& manifest,
    const std::vector<v1::ParameterInfo>& expected) {
  if (manifest.parameters_size() == 0) return absl::OkStatus();
  if (manifest.parameters_size() != static_cast<int>(expected.size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest.parameters lists ", manifest.parameters_size(),
                     " tensors; the spec implies ", expected.size()));
  }
  for (size_t i = 0; i < expected.size(); ++i) {
    const v1::ParameterInfo& p = manifest.parameters(static_cast<int>(i));
    if (p.name() != expected[i].name() ||
        !SameShape(p.shape(), expected[i].shape())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "manifest.parameters[", i, "] is ", p.name(), " ",
          ShapeString(p.shape()), "; the spec implies ", expected[i].name(),
          " ", ShapeString(expected[i].shape())));
    }
  }
  return absl::OkStatus();
}

// The input normalisation (per feature; a forecaster's per feature of a
// time step), and the target normalisation (regressors only).
absl::Status CheckNormalization(const ModelBundle& bundle,
                                const v1::ModelSpec& spec) {
  if (absl::Status s = CheckStats(bundle.manifest().normalization(),
                                  spec.input_dim(), "manifest.normalization");
      !s.ok()) {
    return s;
  }
  const v1::NormalizationStats& target = bundle.target_normalization();
  if (spec.family() != v1::MODEL_FAMILY_MLP_REGRESSOR &&
      (target.mean_size() > 0 || target.std_size() > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target_normalization is set, but only regressors use it (family ",
        FamilyName(spec.family()),
        spec.family() == v1::MODEL_FAMILY_GRU_FORECASTER
            ? ", which scales forecasts with its input statistics)"
            : ")"));
  }
  return CheckStats(target, spec.output_dim(), "target_normalization");
}

// The input and output schemas agree with the dimensions.
absl::Status CheckSchemas(const v1::ArtifactManifest& manifest,
                          const v1::ModelSpec& spec) {
  if (absl::Status s = CheckSchema(manifest.input_schema(), InputShape(spec),
                                   "manifest.input_schema");
      !s.ok()) {
    return s;
  }
  return CheckSchema(manifest.output_schema(), OutputShape(spec),
                     "manifest.output_schema");
}

absl::Status CheckThresholds(const v1::Thresholds& th) {
  if (th.has_anomaly_threshold() &&
      !(std::isfinite(th.anomaly_threshold()) && th.anomaly_threshold() >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest.thresholds.anomaly_threshold is ",
                     th.anomaly_threshold(), "; must be finite and >= 0"));
  }
  if (th.has_decision_threshold() &&
      !(th.decision_threshold() >= 0 && th.decision_threshold() <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest.thresholds.decision_threshold is ",
                     th.decision_threshold(), "; must be in [0, 1]"));
  }
  return absl::OkStatus();
}

// Each Fisher tensor names a parameter, has its shape, is finite and >= 0.
absl::Status CheckFisher(const ModelBundle& bundle,
                         const std::vector<v1::ParameterInfo>& expected) {
  for (int i = 0; i < bundle.fisher_size(); ++i) {
    const NamedTensor& f = bundle.fisher(i);
    auto it = std::find_if(
        expected.begin(), expected.end(),
        [&](const v1::ParameterInfo& p) { return p.name() == f.name(); });
    if (it == expected.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fisher: tensor '", f.name(), "' names no parameter of the model"));
    }
    if (!SameShape(f.tensor().shape(), it->shape())) {
      return absl::InvalidArgumentError(
          absl::StrCat("fisher: tensor ", f.name(), " has shape ",
                       ShapeString(f.tensor().shape()), "; its parameter has ",
                       ShapeString(it->shape())));
    }
    if (absl::Status s = CheckTensorData(
            f.tensor(), absl::StrCat("fisher: tensor ", f.name()), true);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// Warm-up inputs, when present, are [n, InputWidth(spec)] and finite, and
// manifest.warmup_rows is n.
absl::Status CheckWarmup(const ModelBundle& bundle, int input_dim) {
  const v1::Tensor& warmup = bundle.warmup_inputs();
  if (warmup.shape_size() > 0 || warmup.data_size() > 0) {
    if (warmup.shape_size() != 2 || warmup.shape(1) != input_dim) {
      return absl::InvalidArgumentError(
          absl::StrCat("warmup_inputs: shape ", ShapeString(warmup.shape()),
                       " must be [n, ", input_dim, "]"));
    }
    if (absl::Status s = CheckTensorData(warmup, "warmup_inputs"); !s.ok()) {
      return s;
    }
  }
  int64_t warmup_rows = warmup.shape_size() == 2 ? warmup.shape(0) : 0;
  if (bundle.manifest().warmup_rows() != warmup_rows) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.warmup_rows is ", bundle.manifest().warmup_rows(),
        " but warmup_inputs holds ", warmup_rows, " rows"));
  }
  return absl::OkStatus();
}

// Reference statistics, when set, have one entry per input feature, in
// order, each with one count per bin.
absl::Status CheckReference(const v1::ReferenceStatistics& ref,
                            int input_dim) {
  if (ref.features_size() > 0 && ref.features_size() != input_dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("reference: ", ref.features_size(),
                     " feature statistics; expected input_dim = ", input_dim));
  }
  for (int i = 0; i < ref.features_size(); ++i) {
    const v1::FeatureReference& f = ref.features(i);
    if (f.index() != i) {
      return absl::InvalidArgumentError(
          absl::StrCat("reference.features[", i, "] has index ", f.index()));
    }
    if (f.bin_edges_size() > 0 &&
        f.bin_counts_size() != f.bin_edges_size() - 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("reference.features[", i, "]: ", f.bin_edges_size(),
                       " bin edges need ", f.bin_edges_size() - 1,
                       " counts, not ", f.bin_counts_size()));
    }
  }
  return absl::OkStatus();
}

// The loss a task may be fine-tuned with.
bool LossFitsTask(v1::TorchScriptLoss loss, v1::ModelTask task) {
  switch (loss) {
    case v1::TORCHSCRIPT_LOSS_UNSPECIFIED:
    case v1::TORCHSCRIPT_LOSS_METHOD:
      return true;
    case v1::TORCHSCRIPT_LOSS_CROSS_ENTROPY:
      return task == v1::MODEL_TASK_CLASSIFICATION;
    case v1::TORCHSCRIPT_LOSS_MSE:
      return task == v1::MODEL_TASK_REGRESSION;
    case v1::TORCHSCRIPT_LOSS_PINBALL:
      return task == v1::MODEL_TASK_QUANTILE_FORECAST;
    default:
      return false;
  }
}

absl::Status ValidateTorchScriptSpec(const v1::ModelSpec& spec) {
  if (!spec.has_torchscript()) {
    return absl::InvalidArgumentError(
        "manifest.spec.torchscript is required for the torchscript family "
        "(its task, loss and input shape)");
  }
  const v1::TorchScriptSpec& ts = spec.torchscript();
  if (ts.task() == v1::MODEL_TASK_UNSPECIFIED) {
    return absl::InvalidArgumentError(
        "manifest.spec.torchscript.task is not set (classification, "
        "regression or anomaly_score)");
  }
  if (!v1::ModelTask_IsValid(ts.task())) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest.spec.torchscript.task ",
                     static_cast<int>(ts.task()), " is unknown"));
  }
  if (ts.task() == v1::MODEL_TASK_QUANTILE_FORECAST) {
    return absl::UnimplementedError(
        "manifest.spec.torchscript.task quantile_forecast is not supported "
        "by this build (it arrives with the forecasting families)");
  }
  if (!v1::TorchScriptLoss_IsValid(ts.loss())) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest.spec.torchscript.loss ",
                     static_cast<int>(ts.loss()), " is unknown"));
  }
  if (!LossFitsTask(ts.loss(), ts.task())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.torchscript.loss ",
        v1::TorchScriptLoss_Name(ts.loss()), " does not fit task ",
        v1::ModelTask_Name(ts.task())));
  }
  const bool method = ts.loss() == v1::TORCHSCRIPT_LOSS_METHOD;
  if (method && ts.loss_method().empty()) {
    return absl::InvalidArgumentError(
        "manifest.spec.torchscript.loss_method is required with "
        "TORCHSCRIPT_LOSS_METHOD (the name of the module's loss method)");
  }
  if (!method && !ts.loss_method().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.torchscript.loss_method '", ts.loss_method(),
        "' is set, but the loss is not TORCHSCRIPT_LOSS_METHOD"));
  }
  if (ts.loss_method().size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.torchscript.loss_method: at most 128 bytes (got ",
        ts.loss_method().size(), ")"));
  }
  if (ts.trainable_prefixes_size() > 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.torchscript.trainable_prefixes: at most 64 (got ",
        ts.trainable_prefixes_size(), ")"));
  }
  for (int i = 0; i < ts.trainable_prefixes_size(); ++i) {
    const std::string& p = ts.trainable_prefixes(i);
    if (p.empty() || p.size() > 256) {
      return absl::InvalidArgumentError(absl::StrCat(
          "manifest.spec.torchscript.trainable_prefixes[", i, "]: 1 to 256 "
          "bytes (got ", p.size(), ")"));
    }
  }
  if (spec.input_dim() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.input_dim is ", spec.input_dim(), "; must be >= 1"));
  }
  if (ts.task() != v1::MODEL_TASK_ANOMALY_SCORE && spec.output_dim() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.output_dim is ", spec.output_dim(), "; must be >= 1 (",
        ts.task() == v1::MODEL_TASK_CLASSIFICATION ? "classes" : "targets",
        ")"));
  }
  if (ts.input_shape_size() > 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.torchscript.input_shape: at most 8 entries (got ",
        ts.input_shape_size(), ")"));
  }
  if (ts.input_shape_size() > 0) {
    int64_t product = 1;
    for (int i = 0; i < ts.input_shape_size(); ++i) {
      if (ts.input_shape(i) < 1 || ts.input_shape(i) > spec.input_dim()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "manifest.spec.torchscript.input_shape[", i, "] is ",
            ts.input_shape(i), "; must be in [1, input_dim]"));
      }
      product *= ts.input_shape(i);
    }
    if (product != spec.input_dim()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "manifest.spec.torchscript.input_shape [",
          absl::StrJoin(ts.input_shape(), ", "), "] holds ", product,
          " values; input_dim is ", spec.input_dim()));
    }
  }
  return absl::OkStatus();
}

// The TorchScript sections: the module archive, the parameter list, the
// initial weights and the trainable prefixes (ValidateBundle).
absl::Status CheckTorchScript(const ModelBundle& bundle) {
  const v1::ArtifactManifest& manifest = bundle.manifest();
  if (manifest.spec().family() != v1::MODEL_FAMILY_TORCHSCRIPT) {
    if (!bundle.torchscript_module().empty() ||
        bundle.initial_weights_size() > 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "torchscript_module: set in a ", FamilyName(manifest.spec().family()),
          " bundle; only torchscript bundles hold a module"));
    }
    return absl::OkStatus();
  }
  constexpr absl::string_view kZipMagic("PK\x03\x04", 4);
  if (bundle.torchscript_module().empty()) {
    return absl::InvalidArgumentError(
        "torchscript_module is empty; a torchscript bundle holds the module "
        "(continuumctl model import --torchscript=FILE.pt)");
  }
  if (!absl::StartsWith(bundle.torchscript_module(), kZipMagic)) {
    return absl::InvalidArgumentError(
        "torchscript_module is not a TorchScript archive (torch.jit.save "
        "writes a zip file)");
  }
  std::vector<std::string> names;
  for (int i = 0; i < manifest.parameters_size(); ++i) {
    const std::string& name = manifest.parameters(i).name();
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest.parameters[", i, "] has no name"));
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "manifest.parameters[", i, "]: '", name, "' is listed twice"));
    }
    names.push_back(name);
  }
  for (const std::string& prefix :
       manifest.spec().torchscript().trainable_prefixes()) {
    if (std::none_of(names.begin(), names.end(), [&](const std::string& n) {
          return absl::StartsWith(n, prefix);
        })) {
      return absl::InvalidArgumentError(absl::StrCat(
          "manifest.spec.torchscript.trainable_prefixes: '", prefix,
          "' matches no parameter of the module (it has ",
          absl::StrJoin(names, ", "), ")"));
    }
  }
  if (bundle.initial_weights_size() > 0) {
    if (bundle.initial_weights_size() != manifest.parameters_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "initial_weights holds ", bundle.initial_weights_size(),
          " tensors; the module has ", manifest.parameters_size(),
          " parameters"));
    }
    for (int i = 0; i < bundle.initial_weights_size(); ++i) {
      const NamedTensor& w = bundle.initial_weights(i);
      const v1::ParameterInfo& p = manifest.parameters(i);
      if (w.name() != p.name() || !SameShape(w.tensor().shape(), p.shape())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "initial_weights[", i, "] is ", w.name(), " ",
            ShapeString(w.tensor().shape()), "; the module's parameter is ",
            p.name(), " ", ShapeString(p.shape())));
      }
      if (absl::Status s = CheckTensorData(
              w.tensor(), absl::StrCat("initial_weights: tensor ", w.name()));
          !s.ok()) {
        return s;
      }
    }
  }
  const v1::NormalizationStats& norm = manifest.normalization();
  if (norm.mean_size() > 0 || norm.std_size() > 0 || norm.clip() != 0) {
    return absl::InvalidArgumentError(
        "manifest.normalization is set; a torchscript module normalises its "
        "own inputs, so leave it empty");
  }
  return absl::OkStatus();
}

// The GRU forecaster's spec (ResolveSpec's defaults for what is unset).
absl::Status ValidateForecasterSpec(const v1::ModelSpec& spec) {
  if (spec.has_torchscript()) {
    return absl::InvalidArgumentError(
        "manifest.spec.torchscript is set, but the family is gru_forecaster; "
        "it is for torchscript models");
  }
  if (spec.input_dim() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.input_dim is ", spec.input_dim(),
        "; must be >= 1 (features per time step)"));
  }
  if (spec.output_dim() < 1 || spec.output_dim() > spec.input_dim()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.output_dim is ", spec.output_dim(),
        "; must be 1 to input_dim (", spec.input_dim(),
        "): the forecast series are the first output_dim features of each "
        "step"));
  }
  if (spec.hidden_sizes_size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.hidden_sizes has ", spec.hidden_sizes_size(),
        " entries; the forecaster takes one, the GRU's hidden size"));
  }
  if (spec.hidden_sizes_size() == 1 &&
      (spec.hidden_sizes(0) < 1 || spec.hidden_sizes(0) > kMaxForecasterHidden)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.hidden_sizes[0] is ", spec.hidden_sizes(0),
        "; must be 1 to ", kMaxForecasterHidden));
  }
  if (spec.sequence_length() < 0 ||
      spec.sequence_length() > kMaxForecasterSteps) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.sequence_length is ", spec.sequence_length(),
        "; must be 1 to ", kMaxForecasterSteps, " (0 = 32)"));
  }
  if (spec.num_layers() < 0 || spec.num_layers() > kMaxForecasterLayers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.num_layers is ", spec.num_layers(), "; must be 1 to ",
        kMaxForecasterLayers, " (0 = 1)"));
  }
  if (spec.horizons_size() > kMaxForecasterHorizons) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.horizons has ", spec.horizons_size(),
        " entries; at most ", kMaxForecasterHorizons));
  }
  for (int i = 0; i < spec.horizons_size(); ++i) {
    const int h = spec.horizons(i);
    if (h < 1 || h > kMaxForecasterSteps ||
        (i > 0 && h <= spec.horizons(i - 1))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "manifest.spec.horizons[", i, "] is ", h,
          "; horizons are steps ahead, 1 to ", kMaxForecasterSteps,
          ", strictly increasing"));
    }
  }
  if (spec.quantiles_size() > kMaxForecasterQuantiles) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.quantiles has ", spec.quantiles_size(),
        " entries; at most ", kMaxForecasterQuantiles));
  }
  for (int i = 0; i < spec.quantiles_size(); ++i) {
    const float q = spec.quantiles(i);
    if (!(q > 0 && q < 1) || (i > 0 && q <= spec.quantiles(i - 1))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "manifest.spec.quantiles[", i, "] is ", q,
          "; quantiles are in (0, 1), strictly increasing"));
    }
  }
  if (spec.latent_dim() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.latent_dim is ", spec.latent_dim(),
        "; only autoencoders have one"));
  }
  if (!(spec.dropout() >= 0 && spec.dropout() < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.dropout is ", spec.dropout(), "; must be in [0, 1)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateSpec(const v1::ModelSpec& spec) {
  switch (spec.family()) {
    case v1::MODEL_FAMILY_MLP_CLASSIFIER:
    case v1::MODEL_FAMILY_MLP_REGRESSOR:
    case v1::MODEL_FAMILY_AUTOENCODER:
      if (spec.has_torchscript()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "manifest.spec.torchscript is set, but the family is ",
            FamilyName(spec.family()), "; it is for torchscript models"));
      }
      break;
    case v1::MODEL_FAMILY_TORCHSCRIPT:
      return ValidateTorchScriptSpec(spec);
    case v1::MODEL_FAMILY_UNSPECIFIED:
      return absl::InvalidArgumentError("manifest.spec.family is not set");
    case v1::MODEL_FAMILY_GRU_FORECASTER:
      return ValidateForecasterSpec(spec);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("manifest.spec.family ", static_cast<int>(spec.family()),
                       " is unknown"));
  }
  if (spec.input_dim() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.input_dim is ", spec.input_dim(), "; must be >= 1"));
  }
  if (spec.family() != v1::MODEL_FAMILY_AUTOENCODER && spec.output_dim() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.output_dim is ", spec.output_dim(), "; must be >= 1 (",
        spec.family() == v1::MODEL_FAMILY_MLP_CLASSIFIER ? "classes"
                                                         : "targets",
        ")"));
  }
  for (int i = 0; i < spec.hidden_sizes_size(); ++i) {
    if (spec.hidden_sizes(i) < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("manifest.spec.hidden_sizes[", i, "] is ",
                       spec.hidden_sizes(i), "; must be >= 1"));
    }
  }
  if (spec.latent_dim() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.latent_dim is ", spec.latent_dim(), "; must be >= 0"));
  }
  if (!v1::Activation_IsValid(spec.activation())) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest.spec.activation ",
                     static_cast<int>(spec.activation()), " is unknown"));
  }
  if (!(spec.dropout() >= 0 && spec.dropout() < 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest.spec.dropout is ", spec.dropout(), "; must be in [0, 1)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateBundle(const ModelBundle& bundle) {
  const v1::ArtifactManifest& manifest = bundle.manifest();
  if (absl::Status s = CheckFormatVersion(manifest); !s.ok()) return s;
  if (absl::Status s = ValidateSpec(manifest.spec()); !s.ok()) return s;
  const v1::ModelSpec spec = ResolveSpec(manifest.spec());
  if (absl::Status s = CheckTorchScript(bundle); !s.ok()) return s;
  const std::vector<v1::ParameterInfo> expected = ManifestParameters(manifest);
  if (absl::Status s = CheckWeights(bundle, spec, expected); !s.ok()) return s;
  if (absl::Status s = CheckManifestParameters(manifest, expected); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckNormalization(bundle, spec); !s.ok()) return s;
  if (absl::Status s = CheckSchemas(manifest, spec); !s.ok()) return s;
  if (absl::Status s = CheckThresholds(manifest.thresholds()); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckFisher(bundle, expected); !s.ok()) return s;
  if (absl::Status s = CheckWarmup(bundle, InputWidth(spec)); !s.ok()) {
    return s;
  }
  return CheckReference(bundle.reference(), spec.input_dim());
}

}  // namespace continuum::model
