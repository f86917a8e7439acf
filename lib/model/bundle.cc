#include "lib/model/bundle.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "lib/store/crc32c.h"

namespace continuum::model {
namespace {

using internal::v1::ModelBundle;
using internal::v1::NamedTensor;

constexpr size_t kCrcBytes = 4;

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

absl::Status CheckSchema(const v1::TensorSchema& schema, int64_t width,
                         absl::string_view what) {
  if (schema.shape_size() > 0 &&
      (schema.shape_size() != 1 || schema.shape(0) != width)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ".shape is ",
                                                   ShapeString(schema.shape()),
                                                   "; expected [", width, "]"));
  }
  if (schema.names_size() > 0 && schema.names_size() != width) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " names ", schema.names_size(), " entries; expected ", width));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateSpec(const v1::ModelSpec& spec) {
  switch (spec.family()) {
    case v1::MODEL_FAMILY_MLP_CLASSIFIER:
    case v1::MODEL_FAMILY_MLP_REGRESSOR:
    case v1::MODEL_FAMILY_AUTOENCODER:
      break;
    case v1::MODEL_FAMILY_UNSPECIFIED:
      return absl::InvalidArgumentError("manifest.spec.family is not set");
    case v1::MODEL_FAMILY_GRU_FORECASTER:
      return absl::UnimplementedError(
          "manifest.spec.family gru_forecaster is not supported by this "
          "build");
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

v1::ModelSpec ResolveSpec(const v1::ModelSpec& spec) {
  v1::ModelSpec r = spec;
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

std::vector<v1::ParameterInfo> ExpectedParameters(const v1::ModelSpec& spec) {
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

int OutputWidth(const v1::ModelSpec& spec) {
  return spec.family() == v1::MODEL_FAMILY_AUTOENCODER ? 1 : spec.output_dim();
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
    default:
      return absl::StrCat("unknown(", static_cast<int>(family), ")");
  }
}

absl::StatusOr<v1::ModelFamily> ParseFamily(absl::string_view name) {
  std::string n = absl::AsciiStrToLower(name);
  for (v1::ModelFamily f :
       {v1::MODEL_FAMILY_MLP_CLASSIFIER, v1::MODEL_FAMILY_MLP_REGRESSOR,
        v1::MODEL_FAMILY_AUTOENCODER, v1::MODEL_FAMILY_GRU_FORECASTER}) {
    if (n == FamilyName(f)) return f;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown model family '", name,
      "'; use mlp_classifier, mlp_regressor, autoencoder or gru_forecaster"));
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

absl::Status ValidateBundle(const ModelBundle& bundle) {
  const v1::ArtifactManifest& manifest = bundle.manifest();
  if (manifest.format_version() != kBundleFormatVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest.format_version is ", manifest.format_version(),
                     "; this build reads format ", kBundleFormatVersion));
  }
  if (absl::Status s = ValidateSpec(manifest.spec()); !s.ok()) return s;
  const v1::ModelSpec spec = ResolveSpec(manifest.spec());
  const int input_dim = spec.input_dim();

  // Weights: exactly the expected parameters, in order.
  std::vector<v1::ParameterInfo> expected = ExpectedParameters(spec);
  for (size_t i = 0; i < expected.size(); ++i) {
    const v1::ParameterInfo& want = expected[i];
    if (static_cast<int>(i) >= bundle.weights_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "weights: tensor ", want.name(), " ", ShapeString(want.shape()),
          " is missing (the ", FamilyName(spec.family()), " spec needs ",
          expected.size(), " tensors, the bundle has ", bundle.weights_size(),
          ")"));
    }
    const NamedTensor& got = bundle.weights(static_cast<int>(i));
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
    if (absl::Status s = CheckTensorData(
            got.tensor(), absl::StrCat("weights: tensor ", want.name()));
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
  if (manifest.parameters_size() > 0) {
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
  }

  if (absl::Status s = CheckStats(manifest.normalization(), input_dim,
                                  "manifest.normalization");
      !s.ok()) {
    return s;
  }
  const v1::NormalizationStats& target = bundle.target_normalization();
  if (spec.family() != v1::MODEL_FAMILY_MLP_REGRESSOR &&
      (target.mean_size() > 0 || target.std_size() > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target_normalization is set, but only regressors use it (family ",
        FamilyName(spec.family()), ")"));
  }
  if (absl::Status s =
          CheckStats(target, spec.output_dim(), "target_normalization");
      !s.ok()) {
    return s;
  }

  const int out_width = OutputWidth(spec);
  if (absl::Status s = CheckSchema(manifest.input_schema(), input_dim,
                                   "manifest.input_schema");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckSchema(manifest.output_schema(), out_width,
                                   "manifest.output_schema");
      !s.ok()) {
    return s;
  }

  const v1::Thresholds& th = manifest.thresholds();
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
  if (manifest.warmup_rows() != warmup_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest.warmup_rows is ", manifest.warmup_rows(),
                     " but warmup_inputs holds ", warmup_rows, " rows"));
  }

  const v1::ReferenceStatistics& ref = bundle.reference();
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

}  // namespace continuum::model
