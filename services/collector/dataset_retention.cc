#include "services/collector/dataset_retention.h"

#include <algorithm>

#include "absl/time/time.h"
#include "services/collector/dataset_settings.h"

namespace continuum::collector {

RetentionLimits RetentionLimitsOf(const v1::Dataset& settings,
                                  int64_t now_micros) {
  RetentionLimits limits;
  limits.cutoff_micros =
      now_micros - absl::ToInt64Microseconds(MaxAge(settings));
  limits.max_bytes = static_cast<uint64_t>(
      std::max<int64_t>(settings.retention().max_bytes(), 0));
  return limits;
}

bool RetentionDue(const RetentionLimits& limits,
                  const store::SegmentLog& records,
                  const store::SegmentLog& outcomes) {
  bool due = limits.max_bytes > 0 && records.TotalBytes() > limits.max_bytes;
  for (const store::SegmentInfo& info : records.Segments()) {
    due |= info.max_event_time_micros < limits.cutoff_micros;
  }
  for (const store::SegmentInfo& info : outcomes.Segments()) {
    due |= info.max_event_time_micros < limits.cutoff_micros;
  }
  return due;
}

absl::flat_hash_set<int64_t> SegmentIds(const store::SegmentLog& log) {
  absl::flat_hash_set<int64_t> ids;
  for (const store::SegmentInfo& info : log.Segments()) ids.insert(info.id);
  return ids;
}

}  // namespace continuum::collector
