// DatasetAggregates: the running statistics of a data set's records, kept up
// to date as records and labels arrive, so GetDatasetStats needs no scan:
// counts (all, labelled, per UTC day of event time, per class), the event
// time range, and per feature the mean and variance (Welford's online
// algorithm). Statistics of a time window are computed by scanning it into a
// fresh DatasetAggregates.
//
// Thread safety: not thread-safe. DatasetStore keeps one inside its
// DatasetState, under its mutex.
//
// Example:
//   DatasetAggregates aggregates;
//   aggregates.AddRecord(record, record.has_label() ? &record.label()
//                                                   : nullptr);
//   v1::DatasetStats stats;
//   aggregates.FillStats(&stats);
#ifndef CONTINUUM_SERVICES_COLLECTOR_DATASET_AGGREGATES_H_
#define CONTINUUM_SERVICES_COLLECTOR_DATASET_AGGREGATES_H_

#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "continuum/v1/collector.pb.h"
#include "continuum/v1/common.pb.h"

namespace continuum::collector {

class DatasetAggregates {
 public:
  // Counts `record`: its event day and time, its features; `label`, when not
  // null, is the label the record has now (counted as by AddLabel). The
  // feature statistics restart when the record's feature count differs from
  // the previous records'.
  void AddRecord(const v1::Record& record, const v1::Label* label);

  // Counts a label that a record of event time `event_micros` (microseconds
  // since the Unix epoch) received: labelled counts, and its class.
  void AddLabel(int64_t event_micros, const v1::Label& label);

  // A labelled record's label changed from `old` to `replacement`: moves the
  // class count (labelled counts stay).
  void ReplaceLabel(const v1::Label& old, const v1::Label& replacement);

  // Fills the counts, event time range, daily counts (dates "YYYY-MM-DD",
  // UTC), feature means and (population) variances and the class counts of
  // `stats`; the other fields are left alone.
  void FillStats(v1::DatasetStats* stats) const;

  int64_t records() const { return records_; }
  int64_t labeled() const { return labeled_; }

 private:
  int64_t records_ = 0;
  int64_t labeled_ = 0;
  int64_t first_event_micros_ = 0;
  int64_t last_event_micros_ = 0;
  // Day (days since the epoch, UTC) -> {records, labelled records}.
  std::map<int64_t, std::pair<int64_t, int64_t>> days_;
  std::vector<double> means_;
  // Sums of squared deviations from the mean.
  std::vector<double> m2_;
  std::map<int32_t, int64_t> class_counts_;
};

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_DATASET_AGGREGATES_H_
