// The collector's own Prometheus metrics (besides the per-RPC ones every
// service has), labelled by data set (operator-created, so of bounded
// cardinality) and, for rejections and outcomes, by reason.
#ifndef CONTINUUM_SERVICES_COLLECTOR_COLLECTOR_METRICS_H_
#define CONTINUUM_SERVICES_COLLECTOR_COLLECTOR_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

namespace continuum::collector {

struct CollectorMetrics {
  explicit CollectorMetrics(prometheus::Registry& registry);

  // Removes the series of a deleted data set.
  void RemoveDataset(const std::string& dataset);

  prometheus::Family<prometheus::Counter>& ingested_records;
  prometheus::Family<prometheus::Counter>& ingested_bytes;
  prometheus::Family<prometheus::Counter>& duplicate_records;
  prometheus::Family<prometheus::Counter>& rejected_records;
  prometheus::Family<prometheus::Histogram>& commit_seconds;
  prometheus::Family<prometheus::Gauge>& segments;
  prometheus::Family<prometheus::Gauge>& stored_bytes;
  prometheus::Family<prometheus::Counter>& retention_deleted_records;
  prometheus::Family<prometheus::Counter>& scanned_records;
  prometheus::Family<prometheus::Counter>& outcomes;
  prometheus::Family<prometheus::Counter>& corrupt_records;
  // Corrupt records the data set's last recovery (its opening) skipped: the
  // counter above starts at that number in a fresh process, which
  // Prometheus's increase() never sees, so the alert reads this gauge.
  prometheus::Family<prometheus::Gauge>& recovery_corrupt_records;
};

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_COLLECTOR_METRICS_H_
