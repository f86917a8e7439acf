#include "services/collector/record_batch.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "lib/core/proto_time.h"

namespace continuum::collector {

void StartBatch(const v1::DatasetSchema& schema, v1::RecordBatch* batch) {
  batch->Clear();
  batch->set_feature_dim(schema.feature_dim());
  batch->set_label_kind(schema.label_kind());
  batch->set_target_dim(schema.label_kind() == v1::LABEL_KIND_VECTOR
                            ? schema.target_dim()
                        : schema.label_kind() == v1::LABEL_KIND_VALUE ? 1
                                                                      : 0);
}

void AppendRow(const v1::Record& record, const v1::Label* label,
               bool include_attributes, v1::RecordBatch* batch) {
  batch->set_num_rows(batch->num_rows() + 1);
  batch->mutable_features()->Add(record.features().begin(),
                                 record.features().end());
  batch->add_ids(record.id());
  batch->add_event_time_unix_micros(core::ToUnixMicros(record.event_time()));
  batch->add_labeled(label != nullptr);
  switch (batch->label_kind()) {
    case v1::LABEL_KIND_CLASS:
      batch->add_class_indices(label != nullptr ? label->class_index() : -1);
      break;
    case v1::LABEL_KIND_VALUE:
      batch->add_targets(label != nullptr
                             ? label->target_value()
                             : std::numeric_limits<float>::quiet_NaN());
      break;
    case v1::LABEL_KIND_VECTOR:
      for (int t = 0; t < batch->target_dim(); ++t) {
        batch->add_targets(label != nullptr &&
                                   t < label->target_vector().values_size()
                               ? label->target_vector().values(t)
                               : std::numeric_limits<float>::quiet_NaN());
      }
      break;
    default:
      break;
  }
  if (include_attributes) {
    *batch->add_attributes()->mutable_values() = record.attributes();
  }
}

int BatchRows(int requested, int feature_dim) {
  int rows = requested > 0 ? requested : kDefaultBatchRows;
  int64_t cap = std::max<int64_t>(
      1, kMaxBatchFeatureBytes / (int64_t{4} * std::max(feature_dim, 1) + 64));
  return static_cast<int>(std::min<int64_t>(rows, cap));
}

}  // namespace continuum::collector
