#include "lib/model/dataset.h"

#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "lib/model/bundle.h"

namespace continuum::model {

int Dataset::TargetWidth(const v1::ModelSpec& spec) {
  switch (TaskFamily(spec)) {
    case v1::MODEL_FAMILY_MLP_REGRESSOR:
      return spec.output_dim();
    case v1::MODEL_FAMILY_GRU_FORECASTER:
      return ResolveSpec(spec).horizons_size() * spec.output_dim();
    default:
      return 1;
  }
}

absl::Status CheckDataset(const Dataset& data, const v1::ModelSpec& spec,
                          absl::string_view name, bool check_features) {
  if (data.input_dim != InputWidth(spec)) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": rows have ", data.input_dim, " features; the model takes ",
        InputWidth(spec),
        spec.family() == v1::MODEL_FAMILY_GRU_FORECASTER
            ? " (a window of sequence_length steps of input_dim features)"
            : ""));
  }
  if (data.features.size() % data.input_dim != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", data.features.size(),
                     " features are not whole rows of ", data.input_dim));
  }
  const int64_t n = data.size();
  for (size_t i = 0; check_features && i < data.features.size(); ++i) {
    if (!std::isfinite(data.features[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": row ", i / data.input_dim, " feature ", i % data.input_dim,
          " is ", data.features[i], "; features must be finite"));
    }
  }
  const v1::ModelFamily task = TaskFamily(spec);
  const bool autoencoder = task == v1::MODEL_FAMILY_AUTOENCODER;
  const int width = Dataset::TargetWidth(spec);
  const int64_t want = n * width;
  if (static_cast<int64_t>(data.targets.size()) != want &&
      !(autoencoder && data.targets.empty())) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", data.targets.size(), " targets for ", n,
                     " rows; ", FamilyName(spec.family()), " needs ", width,
                     " per row", autoencoder ? " (or none)" : ""));
  }
  for (size_t i = 0; i < data.targets.size(); ++i) {
    const float t = data.targets[i];
    switch (task) {
      case v1::MODEL_FAMILY_MLP_CLASSIFIER:
        if (!(t >= 0 && t < spec.output_dim() && t == std::floor(t))) {
          return absl::InvalidArgumentError(
              absl::StrCat(name, ": row ", i, " has class ", t,
                           "; classes are 0 to ", spec.output_dim() - 1));
        }
        break;
      case v1::MODEL_FAMILY_AUTOENCODER:
        if (t != 0 && t != 1) {
          return absl::InvalidArgumentError(
              absl::StrCat(name, ": row ", i, " has label ", t,
                           "; anomaly labels are 0 (benign) or 1"));
        }
        break;
      default:
        if (!std::isfinite(t)) {
          return absl::InvalidArgumentError(
              absl::StrCat(name, ": row ", i / width, " target ", i % width,
                           " is ", t, "; targets must be finite"));
        }
    }
  }
  return absl::OkStatus();
}

}  // namespace continuum::model
