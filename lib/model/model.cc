// The plain C++ part of Model: random initialisation and thresholds.
#include "lib/model/model.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "lib/model/bundle.h"

namespace continuum::model {

Model::~Model() = default;

std::optional<float> Model::anomaly_threshold() const {
  const v1::Thresholds& t = bundle().manifest().thresholds();
  if (!t.has_anomaly_threshold()) return std::nullopt;
  return t.anomaly_threshold();
}

bool Model::IsAnomaly(float score) const {
  std::optional<float> t = anomaly_threshold();
  return t.has_value() && score > *t;
}

namespace {

// Refuse bundles over ~1 GiB of float32 parameters (the message limit is
// 2 GiB).
constexpr int64_t kMaxParameters = int64_t{1} << 28;
constexpr int kWarmupRows = 8;

int64_t Elements(const v1::ParameterInfo& p) {
  int64_t n = 1;
  for (int64_t d : p.shape()) n *= d;
  return n;
}

// INVALID_ARGUMENT if `params` hold more than kMaxParameters values.
absl::Status CheckParameterCount(const std::vector<v1::ParameterInfo>& params) {
  int64_t total = 0;
  for (const v1::ParameterInfo& p : params) total += Elements(p);
  if (total > kMaxParameters) {
    return absl::InvalidArgumentError(
        absl::StrCat("the spec implies ", total, " parameters; at most ",
                     kMaxParameters, " fit in a bundle"));
  }
  return absl::OkStatus();
}

// Lists `params` in the manifest and adds their weights to the bundle, each
// uniform in +-1/sqrt(fan_in) from `rng`, in order.
void AddRandomWeights(const std::vector<v1::ParameterInfo>& params,
                      std::mt19937_64& rng,
                      internal::v1::ModelBundle* bundle) {
  v1::ArtifactManifest* m = bundle->mutable_manifest();
  m->clear_parameters();
  for (const v1::ParameterInfo& p : params) {
    *m->add_parameters() = p;
    internal::v1::NamedTensor* t = bundle->add_weights();
    t->set_name(p.name());
    *t->mutable_tensor()->mutable_shape() = p.shape();
    // fan_in: the weight's second dimension; the bias shares its layer's.
    // A GRU's tensors all use its hidden size H (their first dimension is
    // 3H), as torch::nn::GRU initialises them.
    int64_t fan_in = 1;
    if (absl::StartsWith(p.name(), "gru.")) {
      fan_in = std::max<int64_t>(1, p.shape(0) / 3);
    } else if (p.shape_size() == 2) {
      fan_in = p.shape(1);
    } else {
      fan_in = bundle->weights(bundle->weights_size() - 2).tensor().shape(1);
    }
    float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
    std::uniform_real_distribution<float> uniform(-bound, bound);
    const int64_t n = Elements(p);
    google::protobuf::RepeatedField<float>* data =
        t->mutable_tensor()->mutable_data();
    data->Reserve(static_cast<int>(n));
    for (int64_t i = 0; i < n; ++i) data->Add(uniform(rng));
  }
}

// Fills what the manifest leaves unset: identity normalisation, input and
// output schema shapes (and the autoencoder's output name), create_time.
void FillManifestDefaults(v1::ArtifactManifest* m) {
  const v1::ModelSpec& spec = m->spec();
  const int input_dim = spec.input_dim();
  v1::NormalizationStats* norm = m->mutable_normalization();
  if (norm->mean_size() == 0 && norm->std_size() == 0) {
    for (int i = 0; i < input_dim; ++i) {
      norm->add_mean(0.0f);
      norm->add_std(1.0f);
    }
  }
  if (m->input_schema().shape_size() == 0) {
    for (int64_t d : InputShape(spec)) m->mutable_input_schema()->add_shape(d);
  }
  if (m->output_schema().shape_size() == 0) {
    for (int64_t d : OutputShape(spec)) {
      m->mutable_output_schema()->add_shape(d);
    }
    if (spec.family() == v1::MODEL_FAMILY_AUTOENCODER &&
        m->output_schema().names_size() == 0) {
      m->mutable_output_schema()->add_names("anomaly_score");
    }
  }
  if (!m->has_create_time()) {
    int64_t nanos = absl::ToUnixNanos(absl::Now());
    m->mutable_create_time()->set_seconds(nanos / 1000000000);
    m->mutable_create_time()->set_nanos(
        static_cast<int32_t>(nanos % 1000000000));
  }
}

// Adds kWarmupRows warm-up rows: N(0, 1) in normalised space from `rng`,
// mapped back to raw inputs with the manifest's normalisation.
void AddWarmupRows(std::mt19937_64& rng, internal::v1::ModelBundle* bundle) {
  const v1::NormalizationStats& norm = bundle->manifest().normalization();
  const int input_dim = bundle->manifest().spec().input_dim();
  const int64_t width = InputWidth(bundle->manifest().spec());
  std::normal_distribution<float> normal(0.0f, 1.0f);
  v1::Tensor* warmup = bundle->mutable_warmup_inputs();
  warmup->add_shape(kWarmupRows);
  warmup->add_shape(width);
  for (int r = 0; r < kWarmupRows; ++r) {
    // A forecaster's row is a window of time steps of input_dim features.
    for (int64_t j = 0; j < width; ++j) {
      const int i = static_cast<int>(j % input_dim);
      warmup->add_data(norm.mean(i) + norm.std(i) * normal(rng));
    }
  }
  bundle->mutable_manifest()->set_warmup_rows(kWarmupRows);
}

}  // namespace

absl::StatusOr<internal::v1::ModelBundle> Model::InitBundle(
    const v1::ArtifactManifest& manifest, uint64_t seed) {
  if (absl::Status s = ValidateSpec(manifest.spec()); !s.ok()) return s;
  if (manifest.spec().family() == v1::MODEL_FAMILY_TORCHSCRIPT) {
    return absl::FailedPreconditionError(
        "a torchscript model has no fresh weights to start from: import the "
        "user's module (continuumctl model import --torchscript=FILE.pt)");
  }
  internal::v1::ModelBundle bundle;
  v1::ArtifactManifest* m = bundle.mutable_manifest();
  *m = manifest;
  if (m->format_version() == 0) m->set_format_version(kBundleFormatVersion);
  *m->mutable_spec() = ResolveSpec(manifest.spec());
  const std::vector<v1::ParameterInfo> params =
      ExpectedParameters(m->spec());
  if (absl::Status s = CheckParameterCount(params); !s.ok()) return s;
  std::mt19937_64 rng(seed);
  AddRandomWeights(params, rng, &bundle);
  FillManifestDefaults(m);
  AddWarmupRows(rng, &bundle);
  if (absl::Status s = ValidateBundle(bundle); !s.ok()) return s;
  return bundle;
}

}  // namespace continuum::model
