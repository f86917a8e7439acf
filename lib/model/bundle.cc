// The bundle file format and the spec helpers (bundle.h); ValidateBundle
// and ValidateSpec are in bundle_validation.cc.
#include "lib/model/bundle.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "lib/store/crc32c.h"

namespace continuum::model {
namespace {

using internal::v1::ModelBundle;

constexpr size_t kCrcBytes = 4;

}  // namespace

v1::ModelSpec ResolveSpec(const v1::ModelSpec& spec) {
  v1::ModelSpec r = spec;
  if (r.family() == v1::MODEL_FAMILY_TORCHSCRIPT) {
    v1::TorchScriptSpec* ts = r.mutable_torchscript();
    if (ts->input_shape_size() == 0) ts->add_input_shape(r.input_dim());
    if (ts->loss() == v1::TORCHSCRIPT_LOSS_UNSPECIFIED) {
      switch (ts->task()) {
        case v1::MODEL_TASK_CLASSIFICATION:
          ts->set_loss(v1::TORCHSCRIPT_LOSS_CROSS_ENTROPY);
          break;
        case v1::MODEL_TASK_REGRESSION:
          ts->set_loss(v1::TORCHSCRIPT_LOSS_MSE);
          break;
        case v1::MODEL_TASK_QUANTILE_FORECAST:
          ts->set_loss(v1::TORCHSCRIPT_LOSS_PINBALL);
          break;
        default:  // the anomaly score is its own loss
          break;
      }
    }
    return r;
  }
  if (r.family() == v1::MODEL_FAMILY_GRU_FORECASTER) {
    if (r.hidden_sizes_size() == 0) r.add_hidden_sizes(64);
    if (r.sequence_length() == 0) r.set_sequence_length(32);
    if (r.num_layers() == 0) r.set_num_layers(1);
    if (r.horizons_size() == 0) r.add_horizons(1);
    if (r.quantiles_size() == 0) {
      for (float q : {0.1f, 0.5f, 0.9f}) r.add_quantiles(q);
    }
    return r;
  }
  if (r.hidden_sizes_size() == 0) r.add_hidden_sizes(256);
  if (r.activation() == v1::ACTIVATION_UNSPECIFIED) {
    r.set_activation(v1::ACTIVATION_RELU);
  }
  if (r.family() == v1::MODEL_FAMILY_AUTOENCODER && r.latent_dim() == 0) {
    r.set_latent_dim(std::max(2, r.input_dim() / 8));
  }
  return r;
}

std::vector<std::pair<int64_t, int64_t>> LayerWidths(const v1::ModelSpec& raw) {
  v1::ModelSpec spec = ResolveSpec(raw);
  std::vector<int64_t> widths = {spec.input_dim()};
  for (int h : spec.hidden_sizes()) widths.push_back(h);
  if (spec.family() == v1::MODEL_FAMILY_AUTOENCODER) {
    widths.push_back(spec.latent_dim());
    for (int i = spec.hidden_sizes_size() - 1; i >= 0; --i) {
      widths.push_back(spec.hidden_sizes(i));
    }
    widths.push_back(spec.input_dim());
  } else {
    widths.push_back(spec.output_dim());
  }
  std::vector<std::pair<int64_t, int64_t>> layers;
  for (size_t i = 0; i + 1 < widths.size(); ++i) {
    layers.emplace_back(widths[i], widths[i + 1]);
  }
  return layers;
}

namespace {

v1::ParameterInfo Parameter(std::string name, std::vector<int64_t> shape) {
  v1::ParameterInfo p;
  p.set_name(std::move(name));
  for (int64_t d : shape) p.add_shape(d);
  return p;
}

// The forecaster's parameters, named as torch::nn::GRU names them in a
// module `gru` (per layer k: weight_ih_l{k} [3H, in], weight_hh_l{k}
// [3H, H], bias_ih_l{k} [3H], bias_hh_l{k} [3H]; gates r, z, n) and the
// linear head `head` [horizons x series x quantiles, H].
std::vector<v1::ParameterInfo> ForecasterParameters(const v1::ModelSpec& raw) {
  const v1::ModelSpec spec = ResolveSpec(raw);
  const int64_t hidden = spec.hidden_sizes(0);
  std::vector<v1::ParameterInfo> params;
  for (int k = 0; k < spec.num_layers(); ++k) {
    const int64_t in = k == 0 ? spec.input_dim() : hidden;
    params.push_back(Parameter(absl::StrCat("gru.weight_ih_l", k),
                               {3 * hidden, in}));
    params.push_back(Parameter(absl::StrCat("gru.weight_hh_l", k),
                               {3 * hidden, hidden}));
    params.push_back(Parameter(absl::StrCat("gru.bias_ih_l", k), {3 * hidden}));
    params.push_back(Parameter(absl::StrCat("gru.bias_hh_l", k), {3 * hidden}));
  }
  params.push_back(Parameter("head.weight", {OutputWidth(spec), hidden}));
  params.push_back(Parameter("head.bias", {OutputWidth(spec)}));
  return params;
}

}  // namespace

std::vector<v1::ParameterInfo> ExpectedParameters(const v1::ModelSpec& spec) {
  if (spec.family() == v1::MODEL_FAMILY_GRU_FORECASTER) {
    return ForecasterParameters(spec);
  }
  std::vector<v1::ParameterInfo> params;
  std::vector<std::pair<int64_t, int64_t>> layers = LayerWidths(spec);
  for (size_t i = 0; i < layers.size(); ++i) {
    v1::ParameterInfo w;
    w.set_name(absl::StrCat("layers.", i, ".weight"));
    w.add_shape(layers[i].second);
    w.add_shape(layers[i].first);
    params.push_back(std::move(w));
    v1::ParameterInfo b;
    b.set_name(absl::StrCat("layers.", i, ".bias"));
    b.add_shape(layers[i].second);
    params.push_back(std::move(b));
  }
  return params;
}

v1::ModelFamily TaskFamily(const v1::ModelSpec& spec) {
  if (spec.family() != v1::MODEL_FAMILY_TORCHSCRIPT) return spec.family();
  switch (spec.torchscript().task()) {
    case v1::MODEL_TASK_CLASSIFICATION:
      return v1::MODEL_FAMILY_MLP_CLASSIFIER;
    case v1::MODEL_TASK_REGRESSION:
      return v1::MODEL_FAMILY_MLP_REGRESSOR;
    case v1::MODEL_TASK_ANOMALY_SCORE:
      return v1::MODEL_FAMILY_AUTOENCODER;
    default:
      return v1::MODEL_FAMILY_UNSPECIFIED;
  }
}

std::vector<v1::ParameterInfo> ManifestParameters(
    const v1::ArtifactManifest& manifest) {
  if (manifest.spec().family() == v1::MODEL_FAMILY_TORCHSCRIPT) {
    return {manifest.parameters().begin(), manifest.parameters().end()};
  }
  return ExpectedParameters(manifest.spec());
}

int OutputWidth(const v1::ModelSpec& spec) {
  if (spec.family() == v1::MODEL_FAMILY_GRU_FORECASTER) {
    const v1::ModelSpec r = ResolveSpec(spec);
    return r.horizons_size() * r.output_dim() * r.quantiles_size();
  }
  return TaskFamily(spec) == v1::MODEL_FAMILY_AUTOENCODER ? 1
                                                          : spec.output_dim();
}

int64_t InputWidth(const v1::ModelSpec& spec) {
  if (spec.family() == v1::MODEL_FAMILY_GRU_FORECASTER) {
    const std::vector<int64_t> shape = InputShape(spec);  // [steps, features]
    return shape[0] * shape[1];
  }
  return spec.input_dim();
}

std::vector<int64_t> InputShape(const v1::ModelSpec& spec) {
  if (spec.family() == v1::MODEL_FAMILY_GRU_FORECASTER) {
    const v1::ModelSpec r = ResolveSpec(spec);
    return {r.sequence_length(), r.input_dim()};
  }
  return {spec.input_dim()};
}

std::vector<int64_t> OutputShape(const v1::ModelSpec& spec) {
  if (spec.family() == v1::MODEL_FAMILY_GRU_FORECASTER) {
    const v1::ModelSpec r = ResolveSpec(spec);
    return {r.horizons_size(), r.output_dim(), r.quantiles_size()};
  }
  return {OutputWidth(spec)};
}

std::string FamilyName(v1::ModelFamily family) {
  switch (family) {
    case v1::MODEL_FAMILY_MLP_CLASSIFIER:
      return "mlp_classifier";
    case v1::MODEL_FAMILY_MLP_REGRESSOR:
      return "mlp_regressor";
    case v1::MODEL_FAMILY_AUTOENCODER:
      return "autoencoder";
    case v1::MODEL_FAMILY_GRU_FORECASTER:
      return "gru_forecaster";
    case v1::MODEL_FAMILY_TORCHSCRIPT:
      return "torchscript";
    default:
      return absl::StrCat("unknown(", static_cast<int>(family), ")");
  }
}

absl::StatusOr<v1::ModelFamily> ParseFamily(absl::string_view name) {
  std::string n = absl::AsciiStrToLower(name);
  for (v1::ModelFamily f :
       {v1::MODEL_FAMILY_MLP_CLASSIFIER, v1::MODEL_FAMILY_MLP_REGRESSOR,
        v1::MODEL_FAMILY_AUTOENCODER, v1::MODEL_FAMILY_GRU_FORECASTER,
        v1::MODEL_FAMILY_TORCHSCRIPT}) {
    if (n == FamilyName(f)) return f;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown model family '", name,
      "'; use mlp_classifier, mlp_regressor, autoencoder, gru_forecaster or "
      "torchscript"));
}

absl::StatusOr<std::string> SerializeBundle(const ModelBundle& bundle) {
  size_t size = bundle.ByteSizeLong();
  if (size > static_cast<size_t>(INT32_MAX) - 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("bundle of ", size, " bytes exceeds the 2 GiB limit"));
  }
  std::string out(kBundleMagic);
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    if (!bundle.SerializeToCodedStream(&coded)) {
      return absl::InvalidArgumentError("bundle could not be serialized");
    }
  }
  uint32_t crc = store::Crc32c(out);
  char tail[kCrcBytes];
  for (size_t i = 0; i < kCrcBytes; ++i) tail[i] = (crc >> (8 * i)) & 0xff;
  out.append(tail, kCrcBytes);
  return out;
}

absl::StatusOr<ModelBundle> ParseBundle(absl::string_view bytes) {
  if (bytes.size() < kBundleMagic.size() + kCrcBytes) {
    return absl::DataLossError(absl::StrCat(
        "not a model bundle: ", bytes.size(), " bytes is too short"));
  }
  if (bytes.substr(0, kBundleMagic.size()) != kBundleMagic) {
    return absl::DataLossError(
        "not a model bundle: the file does not start with \"CTMBNDL1\"");
  }
  absl::string_view body = bytes.substr(0, bytes.size() - kCrcBytes);
  uint32_t stored = 0;
  for (size_t i = 0; i < kCrcBytes; ++i) {
    stored |= static_cast<uint32_t>(
                  static_cast<unsigned char>(bytes[body.size() + i]))
              << (8 * i);
  }
  uint32_t actual = store::Crc32c(body);
  if (stored != actual) {
    return absl::DataLossError(absl::StrCat(
        "model bundle is corrupt: CRC-32C mismatch (stored ", absl::Hex(stored),
        ", computed ", absl::Hex(actual), " over ", body.size(), " bytes)"));
  }
  ModelBundle bundle;
  absl::string_view message = body.substr(kBundleMagic.size());
  if (!bundle.ParseFromArray(message.data(),
                             static_cast<int>(message.size()))) {
    return absl::DataLossError(
        "model bundle is corrupt: the ModelBundle message does not parse");
  }
  return bundle;
}

absl::StatusOr<ModelBundle> ReadBundleFile(const std::string& path,
                                           store::FileSystem* fs) {
  absl::StatusOr<std::string> bytes = fs->ReadFileToString(path);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<ModelBundle> bundle = ParseBundle(*bytes);
  if (!bundle.ok()) {
    return absl::Status(bundle.status().code(),
                        absl::StrCat(path, ": ", bundle.status().message()));
  }
  return bundle;
}

absl::Status WriteBundleFile(const std::string& path, const ModelBundle& bundle,
                             store::FileSystem* fs) {
  absl::StatusOr<std::string> bytes = SerializeBundle(bundle);
  if (!bytes.ok()) return bytes.status();
  return fs->WriteFileAtomically(path, *bytes);
}

}  // namespace continuum::model
