// The columnar v1::RecordBatch that Scan and SampleReplay send: one row per
// record, features row-major, labels in the columns of the schema's label
// kind (class_indices -1 or targets NaN for an unlabelled row), optional
// attributes. And how many rows one message may hold: the requested batch
// size, capped so a message stays below 16 MiB of features.
//
// Pure functions, thread-safe.
//
// Example:
//   v1::ScanResponse response;
//   StartBatch(schema, response.mutable_batch());
//   AppendRow(record, label_or_null, /*include_attributes=*/false,
//             response.mutable_batch());
#ifndef CONTINUUM_SERVICES_COLLECTOR_RECORD_BATCH_H_
#define CONTINUUM_SERVICES_COLLECTOR_RECORD_BATCH_H_

#include <cstdint>

#include "continuum/v1/collector.pb.h"
#include "continuum/v1/common.pb.h"

namespace continuum::collector {

// Rows per message when the request asks for none.
inline constexpr int kDefaultBatchRows = 1024;
// Messages stay below this many bytes of features.
inline constexpr int64_t kMaxBatchFeatureBytes = 16 << 20;

// Clears `batch` and sets its shape from `schema`: feature_dim, label_kind
// and target_dim (the vector's size, 1 for a value, 0 otherwise).
void StartBatch(const v1::DatasetSchema& schema, v1::RecordBatch* batch);

// Appends `record` as a row of `batch` (started by StartBatch) with `label`
// (the record's current label, or null for none) and, if
// `include_attributes`, its attributes.
void AppendRow(const v1::Record& record, const v1::Label* label,
               bool include_attributes, v1::RecordBatch* batch);

// Rows per message: `requested` (kDefaultBatchRows when <= 0), at most what
// fits in kMaxBatchFeatureBytes at `feature_dim` features a row (at least
// 1).
int BatchRows(int requested, int feature_dim);

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_RECORD_BATCH_H_
