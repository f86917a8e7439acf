// DatasetMetrics: the collector's metrics (collector_metrics.h) as one data
// set reports them: every series labelled {dataset="<id>"}, nothing at all
// when the collector runs without metrics (tests, the bench).
//
// Thread-safe (prometheus-cpp series are).
//
// Example:
//   DatasetMetrics metrics(options.metrics, "fraud");  // metrics may be null
//   metrics.Ingested(/*records=*/64, /*bytes=*/40960, /*duplicates=*/0);
#ifndef CONTINUUM_SERVICES_COLLECTOR_DATASET_METRICS_H_
#define CONTINUUM_SERVICES_COLLECTOR_DATASET_METRICS_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "continuum/v1/collector.pb.h"
#include "services/collector/collector_metrics.h"

namespace continuum::collector {

class DatasetMetrics {
 public:
  // `metrics` may be null (then every call does nothing); not owned.
  DatasetMetrics(CollectorMetrics* metrics, std::string dataset_id);

  // An ingest batch stored `records` records of `bytes` bytes and
  // acknowledged `duplicates` re-sent ones.
  void Ingested(int64_t records, int64_t bytes, int64_t duplicates) const;
  // A batch of `records` records was rejected; `reason` is the first
  // problem's label (record_validator.h) or "storage_error".
  void Rejected(absl::string_view reason, int64_t records) const;
  // Writing (and fsyncing) one ingest batch took `seconds`.
  void Committed(double seconds) const;
  // An outcome was reported with `disposition` (label "joined", "pending",
  // "duplicate" or "replaced").
  void Outcome(v1::OutcomeDisposition disposition) const;
  // `count` pending outcomes were dropped after their grace period.
  void OutcomesDropped(int64_t count) const;
  // Scan or SampleReplay returned `records` records.
  void Scanned(int64_t records) const;
  // `records` corrupt records were skipped (on recovery or read); nothing
  // when 0.
  void CorruptSkipped(int64_t records) const;
  // The data set's recovery skipped `records` corrupt records (0 included):
  // CorruptSkipped, and the recovery gauge set to it.
  void RecoveredWithCorrupt(int64_t records) const;
  // Retention deleted `records` records.
  void RetentionDeleted(int64_t records) const;
  // The records log has `segments` segments; both logs hold `bytes`.
  void SetStorage(int64_t segments, int64_t bytes) const;

 private:
  CollectorMetrics* const metrics_;
  const std::string dataset_id_;
};

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_DATASET_METRICS_H_
