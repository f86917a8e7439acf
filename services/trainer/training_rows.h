// Training rows as a run reads them from the collector: RowFormat says
// which rows of a data set a model trains (or is evaluated) on and how
// their labels become targets; Rows holds them as floats with a key per row
// (held_out_split.h) until they become model::Datasets.
//
// Labels (RowFormat::AppendBatch):
// - MLP_CLASSIFIER: labelled rows with a class index below output_dim; the
//   target is the index;
// - MLP_REGRESSOR: labelled rows with output_dim target values;
// - AUTOENCODER: for training (anomaly_labels false) every row but those
//   labelled as anomalies (class != 0), without targets; for evaluation
//   sets (anomaly_labels true) labelled rows of class 0 or 1, the class as
//   the target.
// Rows without a usable label are counted in Rows::skipped, not kept.
//
// Plain values; not thread-safe.
#ifndef CONTINUUM_SERVICES_TRAINER_TRAINING_ROWS_H_
#define CONTINUUM_SERVICES_TRAINER_TRAINING_ROWS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "continuum/v1/collector.pb.h"
#include "continuum/v1/common.pb.h"
#include "lib/model/dataset.h"

namespace continuum::trainer {

// How rows of a data set become training rows for a model.
struct RowFormat {
  v1::ModelFamily family = v1::MODEL_FAMILY_UNSPECIFIED;
  int input_dim = 0;
  int output_dim = 0;
  v1::LabelKind label_kind = v1::LABEL_KIND_UNSPECIFIED;
  // Autoencoders: keep 0/1 labels as targets (evaluation sets); otherwise
  // drop rows labelled as anomalies and keep no targets (training).
  bool anomaly_labels = false;

  // The format for a model of (resolved) `spec` on a data set of `schema`.
  static RowFormat For(const v1::ModelSpec& spec,
                       const v1::DatasetSchema& schema, bool anomaly_labels);

  // Target values per row.
  int TargetWidth() const;
  // Whether only labelled rows are of use (ScanRequest.only_labeled).
  bool OnlyLabeled() const;
  // How many rows fit in `budget_bytes` (at least 1): each row costs its
  // floats and its 8-byte key.
  int64_t RowsInBudget(int64_t budget_bytes) const;
};

// Rows read from the collector, with a key per row (RowKey of its id).
struct Rows {
  int input_dim = 0;
  int target_width = 0;  // 0: no targets kept
  std::vector<float> features;
  std::vector<float> targets;
  std::vector<uint64_t> keys;
  int64_t skipped = 0;  // rows of the stream not kept (no usable label)

  int64_t size() const { return static_cast<int64_t>(keys.size()); }
  // Whether row `i`'s features and targets are all finite.
  bool Finite(int64_t i) const;

  // Rows `indices`, in that order, as a model::Dataset.
  model::Dataset ToDataset(const std::vector<int64_t>& indices) const;
  model::Dataset All() const;
  void Append(const Rows& other);
  void EraseFront(int64_t n);
};

// Appends the usable rows of `batch` to `rows`, at most `cap` in all.
// Returns false when the cap was reached. FAILED_PRECONDITION for rows of
// another width than the model takes; INTERNAL for a batch without ids.
absl::StatusOr<bool> AppendBatch(const v1::RecordBatch& batch,
                                 const RowFormat& format, int64_t cap,
                                 Rows* rows);

// Appends the rows of `add` (targets `width` per row) to `recent`, then
// drops its oldest rows beyond `cap`.
void AppendRecent(const model::Dataset& add, int width, int64_t cap,
                  model::Dataset* recent);

// Appends rows `indices` of `from` (targets `width` per row) to `to`.
void AppendRows(const model::Dataset& from, int width,
                const std::vector<int64_t>& indices, model::Dataset* to);

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_TRAINING_ROWS_H_
