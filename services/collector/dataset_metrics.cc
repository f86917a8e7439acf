#include "services/collector/dataset_metrics.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "lib/core/metrics.h"

namespace continuum::collector {

DatasetMetrics::DatasetMetrics(CollectorMetrics* metrics,
                               std::string dataset_id)
    : metrics_(metrics), dataset_id_(std::move(dataset_id)) {}

void DatasetMetrics::Ingested(int64_t records, int64_t bytes,
                              int64_t duplicates) const {
  if (metrics_ == nullptr) return;
  metrics_->ingested_records.Add({{"dataset", dataset_id_}})
      .Increment(static_cast<double>(records));
  metrics_->ingested_bytes.Add({{"dataset", dataset_id_}})
      .Increment(static_cast<double>(bytes));
  metrics_->duplicate_records.Add({{"dataset", dataset_id_}})
      .Increment(static_cast<double>(duplicates));
}

void DatasetMetrics::Rejected(absl::string_view reason, int64_t records) const {
  if (metrics_ == nullptr) return;
  metrics_->rejected_records
      .Add({{"dataset", dataset_id_}, {"reason", std::string(reason)}})
      .Increment(static_cast<double>(records));
}

void DatasetMetrics::Committed(double seconds) const {
  if (metrics_ == nullptr) return;
  metrics_->commit_seconds
      .Add({{"dataset", dataset_id_}}, core::RpcLatencyBuckets())
      .Observe(seconds);
}

void DatasetMetrics::Outcome(v1::OutcomeDisposition disposition) const {
  if (metrics_ == nullptr) return;
  constexpr absl::string_view kPrefix = "OUTCOME_DISPOSITION_";
  const std::string name = absl::AsciiStrToLower(
      v1::OutcomeDisposition_Name(disposition).substr(kPrefix.size()));
  metrics_->outcomes.Add({{"dataset", dataset_id_}, {"disposition", name}})
      .Increment();
}

void DatasetMetrics::OutcomesDropped(int64_t count) const {
  if (metrics_ == nullptr) return;
  metrics_->outcomes.Add({{"dataset", dataset_id_}, {"disposition", "dropped"}})
      .Increment(static_cast<double>(count));
}

void DatasetMetrics::Scanned(int64_t records) const {
  if (metrics_ == nullptr) return;
  metrics_->scanned_records.Add({{"dataset", dataset_id_}})
      .Increment(static_cast<double>(records));
}

void DatasetMetrics::CorruptSkipped(int64_t records) const {
  if (metrics_ == nullptr || records <= 0) return;
  metrics_->corrupt_records.Add({{"dataset", dataset_id_}})
      .Increment(static_cast<double>(records));
}

void DatasetMetrics::RecoveredWithCorrupt(int64_t records) const {
  if (metrics_ == nullptr) return;
  CorruptSkipped(records);
  metrics_->recovery_corrupt_records.Add({{"dataset", dataset_id_}})
      .Set(static_cast<double>(records));
}

void DatasetMetrics::RetentionDeleted(int64_t records) const {
  if (metrics_ == nullptr) return;
  metrics_->retention_deleted_records.Add({{"dataset", dataset_id_}})
      .Increment(static_cast<double>(records));
}

void DatasetMetrics::SetStorage(int64_t segments, int64_t bytes) const {
  if (metrics_ == nullptr) return;
  metrics_->segments.Add({{"dataset", dataset_id_}})
      .Set(static_cast<double>(segments));
  metrics_->stored_bytes.Add({{"dataset", dataset_id_}})
      .Set(static_cast<double>(bytes));
}

}  // namespace continuum::collector
