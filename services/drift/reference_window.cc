#include "services/drift/reference_window.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"

namespace continuum::drift_service {
namespace {

std::vector<double> SortedFinite(
    const google::protobuf::RepeatedField<float>& in) {
  std::vector<double> out;
  out.reserve(static_cast<size_t>(in.size()));
  for (float v : in) {
    if (std::isfinite(v)) out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::shared_ptr<const PreparedReference> PreparedReference::Prepare(
    const v1::ReferenceStatistics& stats) {
  auto ref = std::make_shared<PreparedReference>();
  ref->sample_count = stats.sample_count();
  ref->features.reserve(static_cast<size_t>(stats.features_size()));
  for (const v1::FeatureReference& f : stats.features()) {
    PreparedReference::Feature& out = ref->features.emplace_back();
    out.sample = SortedFinite(f.sample());
    out.categorical = f.categorical();
    out.name = f.name();
  }
  ref->predictions = SortedFinite(stats.predictions().sample());
  if (stats.has_error_rate()) ref->error_rate = stats.error_rate();
  return ref;
}

std::string PreparedReference::Describe() const {
  return absl::StrCat(
      "loaded: ", features.size(), " features, ", sample_count,
      " training rows",
      error_rate.has_value() ? absl::StrCat(", error rate ", *error_rate) : "");
}

void ReferenceWindow::Append(const v1::ObservationBatch& batch, int64_t rows,
                             absl::Time now) {
  const int64_t dim = batch.feature_dim();
  if (capacity_ != rows || dim_ != dim ||
      static_cast<int64_t>(features_.size()) != rows * dim) {
    capacity_ = rows;
    dim_ = dim;
    features_.assign(static_cast<size_t>(rows * dim), 0.0f);
    scores_.assign(static_cast<size_t>(rows), 0.0);
    micros_.assign(static_cast<size_t>(rows), 0);
    next_ = 0;
    count_ = 0;
  }
  const int64_t now_micros = absl::ToUnixMicros(now);
  for (int64_t r = 0; r < batch.num_rows(); ++r) {
    const int64_t slot = next_;
    std::copy_n(batch.features().begin() + r * dim, dim,
                features_.begin() + slot * dim);
    double score = std::numeric_limits<double>::quiet_NaN();
    if (batch.confidences_size() > 0) {
      score = batch.confidences(static_cast<int>(r));
    } else if (batch.predicted_values_size() > 0) {
      score = batch.predicted_values(static_cast<int>(r));
    }
    scores_[slot] = score;
    micros_[slot] = batch.event_time_unix_micros_size() > 0
                        ? batch.event_time_unix_micros(static_cast<int>(r))
                        : now_micros;
    next_ = (slot + 1) % capacity_;
    count_ = std::min(count_ + 1, capacity_);
  }
  rows_total_ += batch.num_rows();
}

void ReferenceWindow::Clear() {
  capacity_ = 0;
  next_ = 0;
  count_ = 0;
}

WindowColumns ReferenceWindow::Columns() const {
  WindowColumns out;
  out.rows = count_;
  out.features.assign(static_cast<size_t>(dim_), {});
  for (std::vector<double>& column : out.features) {
    column.reserve(static_cast<size_t>(count_));
  }
  out.first_micros = std::numeric_limits<int64_t>::max();
  out.last_micros = std::numeric_limits<int64_t>::min();
  for (int64_t r = 0; r < count_; ++r) {
    const float* row = features_.data() + r * dim_;
    for (int64_t f = 0; f < dim_; ++f) out.features[f].push_back(row[f]);
    if (std::isfinite(scores_[r])) out.scores.push_back(scores_[r]);
    out.first_micros = std::min(out.first_micros, micros_[r]);
    out.last_micros = std::max(out.last_micros, micros_[r]);
  }
  return out;
}

}  // namespace continuum::drift_service
