// Retention of a data set: what its settings keep (records and outcomes
// younger than retention.max_age; at most retention.max_bytes of records),
// and whether its logs hold anything past that, so the maintenance pass
// takes the store's exclusive lock only when a segment is due. The deleting
// itself is SegmentLog::ApplyRetention (whole segments; never the active
// segment of the newest day).
//
// Pure functions over the logs' segment lists; thread-safe (SegmentLog is).
#ifndef CONTINUUM_SERVICES_COLLECTOR_DATASET_RETENTION_H_
#define CONTINUUM_SERVICES_COLLECTOR_DATASET_RETENTION_H_

#include <cstdint>

#include "absl/container/flat_hash_set.h"
#include "continuum/v1/collector.pb.h"
#include "lib/store/segment_log.h"

namespace continuum::collector {

struct RetentionLimits {
  // Segments whose newest event time is before this go (µs since the epoch).
  int64_t cutoff_micros = 0;
  // The oldest records segments go while the log is larger (0: no limit).
  uint64_t max_bytes = 0;
};

// The limits of `settings` at `now_micros`.
RetentionLimits RetentionLimitsOf(const v1::Dataset& settings,
                                  int64_t now_micros);

// Whether retention would delete a segment of `records` (too old, or the
// log too large) or of `outcomes` (too old).
bool RetentionDue(const RetentionLimits& limits,
                  const store::SegmentLog& records,
                  const store::SegmentLog& outcomes);

// The ids of the segments `log` has now.
absl::flat_hash_set<int64_t> SegmentIds(const store::SegmentLog& log);

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_DATASET_RETENTION_H_
