#include "services/collector/dataset_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

namespace continuum::collector {
namespace {

TEST(DatasetMetricsTest, WithoutMetricsEveryCallIsANoOp) {
  DatasetMetrics metrics(nullptr, "ds");
  metrics.Ingested(1, 2, 3);
  metrics.Rejected("feature_dim", 4);
  metrics.Committed(0.5);
  metrics.Outcome(v1::OUTCOME_DISPOSITION_JOINED);
  metrics.OutcomesDropped(1);
  metrics.Scanned(1);
  metrics.CorruptSkipped(1);
  metrics.RecoveredWithCorrupt(1);
  metrics.RetentionDeleted(1);
  metrics.SetStorage(1, 2);
}

TEST(DatasetMetricsTest, SeriesAreLabelledByDataSet) {
  prometheus::Registry registry;
  CollectorMetrics collector(registry);
  DatasetMetrics metrics(&collector, "ds");
  const prometheus::Labels ds = {{"dataset", "ds"}};
  metrics.Ingested(10, 2000, 3);
  metrics.Ingested(5, 1000, 0);
  EXPECT_EQ(collector.ingested_records.Add(ds).Value(), 15);
  EXPECT_EQ(collector.ingested_bytes.Add(ds).Value(), 3000);
  EXPECT_EQ(collector.duplicate_records.Add(ds).Value(), 3);

  metrics.Rejected("storage_error", 7);
  EXPECT_EQ(collector.rejected_records
                .Add({{"dataset", "ds"}, {"reason", "storage_error"}})
                .Value(),
            7);

  metrics.Outcome(v1::OUTCOME_DISPOSITION_REPLACED);
  metrics.OutcomesDropped(2);
  EXPECT_EQ(
      collector.outcomes.Add({{"dataset", "ds"}, {"disposition", "replaced"}})
          .Value(),
      1);
  EXPECT_EQ(
      collector.outcomes.Add({{"dataset", "ds"}, {"disposition", "dropped"}})
          .Value(),
      2);

  metrics.Scanned(4);
  metrics.RetentionDeleted(6);
  metrics.CorruptSkipped(0);
  metrics.CorruptSkipped(8);
  EXPECT_EQ(collector.scanned_records.Add(ds).Value(), 4);
  EXPECT_EQ(collector.retention_deleted_records.Add(ds).Value(), 6);
  EXPECT_EQ(collector.corrupt_records.Add(ds).Value(), 8);
  // Recovery: the counter grows and the gauge holds what recovery found
  // (what the alert reads after a restart).
  metrics.RecoveredWithCorrupt(3);
  EXPECT_EQ(collector.corrupt_records.Add(ds).Value(), 11);
  EXPECT_EQ(collector.recovery_corrupt_records.Add(ds).Value(), 3);
  metrics.RecoveredWithCorrupt(0);
  EXPECT_EQ(collector.recovery_corrupt_records.Add(ds).Value(), 0);

  metrics.SetStorage(3, 4096);
  EXPECT_EQ(collector.segments.Add(ds).Value(), 3);
  EXPECT_EQ(collector.stored_bytes.Add(ds).Value(), 4096);

  metrics.Committed(0.25);
  prometheus::ClientMetric committed =
      collector.commit_seconds
          .Add(ds, prometheus::Histogram::BucketBoundaries{})
          .Collect();
  EXPECT_EQ(committed.histogram.sample_count, 1u);
  EXPECT_DOUBLE_EQ(committed.histogram.sample_sum, 0.25);
}

}  // namespace
}  // namespace continuum::collector
