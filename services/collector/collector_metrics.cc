#include "services/collector/collector_metrics.h"

#include "lib/core/metrics.h"

namespace continuum::collector {
namespace {

template <typename Builder>
auto& Build(Builder builder, prometheus::Registry& registry, const char* name,
            const char* help) {
  return builder.Name(core::MetricName("collector", name))
      .Help(help)
      .Register(registry);
}

}  // namespace

CollectorMetrics::CollectorMetrics(prometheus::Registry& registry)
    : ingested_records(Build(prometheus::BuildCounter(), registry,
                             "ingested_records_total",
                             "Records stored, by data set.")),
      ingested_bytes(Build(prometheus::BuildCounter(), registry,
                           "ingested_bytes_total",
                           "Bytes appended to the records log.")),
      duplicate_records(Build(prometheus::BuildCounter(), registry,
                              "duplicate_records_total",
                              "Records acknowledged but not stored again "
                              "(id seen within the dedup window).")),
      rejected_records(Build(prometheus::BuildCounter(), registry,
                             "rejected_records_total",
                             "Records of rejected batches, by the reason of "
                             "the first problem.")),
      commit_seconds(Build(prometheus::BuildHistogram(), registry,
                           "commit_seconds",
                           "Time to write and fsync one ingest batch.")),
      segments(Build(prometheus::BuildGauge(), registry, "segments",
                     "Segment files of the records log.")),
      stored_bytes(Build(prometheus::BuildGauge(), registry, "stored_bytes",
                         "Bytes kept on disk for the data set.")),
      retention_deleted_records(Build(prometheus::BuildCounter(), registry,
                                      "retention_deleted_records_total",
                                      "Records deleted by retention.")),
      scanned_records(Build(prometheus::BuildCounter(), registry,
                            "scanned_records_total",
                            "Records returned by Scan and SampleReplay.")),
      outcomes(Build(prometheus::BuildCounter(), registry, "outcomes_total",
                     "Outcomes reported, by disposition (joined, pending, "
                     "duplicate, replaced, dropped).")),
      corrupt_records(Build(prometheus::BuildCounter(), registry,
                            "corrupt_records_total",
                            "Corrupt records skipped on read or recovery.")),
      recovery_corrupt_records(
          Build(prometheus::BuildGauge(), registry,
                "recovery_corrupt_records",
                "Corrupt records the data set's last recovery (at start) "
                "skipped.")) {}

void CollectorMetrics::RemoveDataset(const std::string& dataset) {
  // prometheus-cpp removes series by pointer; look each up by its labels.
  auto remove = [&](auto& family) {
    family.Remove(&family.Add({{"dataset", dataset}}));
  };
  remove(ingested_records);
  remove(ingested_bytes);
  remove(duplicate_records);
  remove(segments);
  remove(stored_bytes);
  remove(retention_deleted_records);
  remove(scanned_records);
  remove(corrupt_records);
  remove(recovery_corrupt_records);
}

}  // namespace continuum::collector
