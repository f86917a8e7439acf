#include "services/trainer/training_rows.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "absl/strings/str_cat.h"
#include "lib/model/bundle.h"
#include "services/trainer/held_out_split.h"

namespace continuum::trainer {
namespace {

bool AllFinite(std::vector<float>::const_iterator begin,
               std::vector<float>::const_iterator end) {
  return std::all_of(begin, end, [](float x) { return std::isfinite(x); });
}

// The target of row `r` of `batch` for `format`; nullopt when the row has
// no usable label.
std::optional<std::vector<float>> RowTarget(const v1::RecordBatch& batch,
                                            const RowFormat& format, int r) {
  const bool labeled = r < batch.labeled_size() && batch.labeled(r);
  std::optional<float> cls;
  if (r < batch.class_indices_size() && batch.class_indices(r) >= 0) {
    cls = static_cast<float>(batch.class_indices(r));
  }
  std::vector<float> target;
  switch (format.family) {
    case v1::MODEL_FAMILY_MLP_CLASSIFIER:
      if (!labeled || !cls.has_value() || *cls >= format.output_dim) {
        return std::nullopt;
      }
      target.push_back(*cls);
      break;
    case v1::MODEL_FAMILY_MLP_REGRESSOR: {
      const int target_dim = std::max(1, batch.target_dim());
      if (!labeled || batch.targets_size() < (r + 1) * target_dim ||
          target_dim != format.output_dim) {
        return std::nullopt;
      }
      target.assign(batch.targets().begin() + r * target_dim,
                    batch.targets().begin() + (r + 1) * target_dim);
      break;
    }
    default:  // Autoencoder.
      if (format.anomaly_labels) {
        if (!labeled || !cls.has_value() || (*cls != 0 && *cls != 1)) {
          return std::nullopt;
        }
        target.push_back(*cls);
      } else if (labeled && cls.has_value() && *cls != 0) {
        return std::nullopt;  // An anomaly: not trained on.
      }
      break;
  }
  if (static_cast<int>(target.size()) != format.TargetWidth()) {
    return std::nullopt;
  }
  return target;
}

}  // namespace

RowFormat RowFormat::For(const v1::ModelSpec& spec,
                         const v1::DatasetSchema& schema, bool anomaly_labels) {
  RowFormat f;
  f.family = model::TaskFamily(spec);
  f.input_dim = spec.input_dim();
  f.output_dim = spec.output_dim();
  f.label_kind = schema.label_kind();
  f.anomaly_labels = anomaly_labels;
  return f;
}

int RowFormat::TargetWidth() const {
  switch (family) {
    case v1::MODEL_FAMILY_MLP_CLASSIFIER:
      return 1;
    case v1::MODEL_FAMILY_MLP_REGRESSOR:
      return output_dim;
    default:
      return anomaly_labels ? 1 : 0;
  }
}

bool RowFormat::OnlyLabeled() const {
  return family != v1::MODEL_FAMILY_AUTOENCODER || anomaly_labels;
}

int64_t RowFormat::RowsInBudget(int64_t budget_bytes) const {
  const int64_t row_bytes =
      4 * (static_cast<int64_t>(input_dim) + TargetWidth()) + 8;
  return std::max<int64_t>(1, budget_bytes / row_bytes);
}

bool Rows::Finite(int64_t i) const {
  const auto f = features.begin() + i * input_dim;
  const auto t = targets.begin() + i * target_width;
  return AllFinite(f, f + input_dim) && AllFinite(t, t + target_width);
}

model::Dataset Rows::ToDataset(const std::vector<int64_t>& indices) const {
  model::Dataset d;
  d.input_dim = input_dim;
  d.features.reserve(indices.size() * input_dim);
  d.targets.reserve(indices.size() * target_width);
  for (int64_t i : indices) {
    d.features.insert(d.features.end(), features.begin() + i * input_dim,
                      features.begin() + (i + 1) * input_dim);
    d.targets.insert(d.targets.end(), targets.begin() + i * target_width,
                     targets.begin() + (i + 1) * target_width);
  }
  return d;
}

model::Dataset Rows::All() const {
  std::vector<int64_t> all(size());
  std::iota(all.begin(), all.end(), 0);
  return ToDataset(all);
}

void Rows::Append(const Rows& other) {
  features.insert(features.end(), other.features.begin(), other.features.end());
  targets.insert(targets.end(), other.targets.begin(), other.targets.end());
  keys.insert(keys.end(), other.keys.begin(), other.keys.end());
}

void Rows::EraseFront(int64_t n) {
  features.erase(features.begin(), features.begin() + n * input_dim);
  targets.erase(targets.begin(), targets.begin() + n * target_width);
  keys.erase(keys.begin(), keys.begin() + n);
}

absl::StatusOr<bool> AppendBatch(const v1::RecordBatch& batch,
                                 const RowFormat& format, int64_t cap,
                                 Rows* rows) {
  const int n = batch.num_rows();
  if (batch.feature_dim() != format.input_dim ||
      batch.features_size() != static_cast<int64_t>(n) * format.input_dim) {
    return absl::FailedPreconditionError(
        absl::StrCat("collector sent rows of ", batch.feature_dim(),
                     " features; the model takes ", format.input_dim));
  }
  if (batch.ids_size() != n) {
    return absl::InternalError("collector sent a batch without record ids");
  }
  for (int r = 0; r < n; ++r) {
    if (rows->size() >= cap) return false;
    std::optional<std::vector<float>> target = RowTarget(batch, format, r);
    if (!target.has_value()) {
      ++rows->skipped;
      continue;
    }
    const auto features =
        batch.features().begin() + static_cast<int64_t>(r) * format.input_dim;
    rows->features.insert(rows->features.end(), features,
                          features + format.input_dim);
    rows->targets.insert(rows->targets.end(), target->begin(), target->end());
    rows->keys.push_back(RowKey(batch.ids(r)));
  }
  return rows->size() < cap;
}

void AppendRecent(const model::Dataset& add, int width, int64_t cap,
                  model::Dataset* recent) {
  recent->input_dim = add.input_dim;
  recent->features.insert(recent->features.end(), add.features.begin(),
                          add.features.end());
  recent->targets.insert(recent->targets.end(), add.targets.begin(),
                         add.targets.end());
  const int64_t excess = recent->size() - cap;
  if (excess > 0) {
    recent->features.erase(recent->features.begin(),
                           recent->features.begin() + excess * add.input_dim);
    recent->targets.erase(recent->targets.begin(),
                          recent->targets.begin() + excess * width);
  }
}

void AppendRows(const model::Dataset& from, int width,
                const std::vector<int64_t>& indices, model::Dataset* to) {
  const int dim = from.input_dim;
  for (int64_t i : indices) {
    to->features.insert(to->features.end(), from.features.begin() + i * dim,
                        from.features.begin() + (i + 1) * dim);
    to->targets.insert(to->targets.end(), from.targets.begin() + i * width,
                       from.targets.begin() + (i + 1) * width);
  }
}

}  // namespace continuum::trainer
