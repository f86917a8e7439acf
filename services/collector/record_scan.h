// RecordScan: one Scan call's walk through a data set's records log, read
// one message at a time, so that a server stream holds no thread and no lock
// between its messages (DatasetStore::ReadScan, the Scan handler's reactor).
//
// What a scan returns (continuum.v1.ScanRequest): the records whose event
// time is in [window.start_time, window.end_time) (an unset end: no end), in
// log order (by UTC day of event time, then as stored), only the labelled
// ones if only_labeled, those whose attributes match `filter`, at most
// `limit` (0: all), strictly after `cursor`. Each message holds up to
// BatchRows(batch_size, feature_dim) rows (record_batch.h), the cursor of
// its last row (a new scan with it resumes exactly after) and the corrupt
// records skipped since the previous message. A window with no matching
// record gives no message at all.
//
// Consistency: a scan returns the records stored before it read its first
// message, never those stored while it runs (as one SegmentLog::Scan does):
// it notes the size of every segment then and skips what lies beyond.
// Records deleted by retention between two messages are skipped.
//
// Thread safety: not thread-safe: one stream reads it, one call at a time
// (from any thread). Next() reads the log, which is thread-safe; the caller
// keeps the log open meanwhile (DatasetStore holds its rebuild lock shared).
#ifndef CONTINUUM_SERVICES_COLLECTOR_RECORD_SCAN_H_
#define CONTINUUM_SERVICES_COLLECTOR_RECORD_SCAN_H_

#include <cstdint>
#include <memory>
#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "continuum/v1/collector.pb.h"
#include "lib/core/filter.h"
#include "lib/store/segment_log.h"

namespace continuum::collector {

// The label a record has now: copies it into *label and returns true, or
// returns false when the record has none.
using LabelOf = absl::FunctionRef<bool(const v1::Record&, v1::Label*)>;

// The window bounds of a request in microseconds since the Unix epoch
// (0: unbounded), checked: INVALID_ARGUMENT "window.end_time must be after
// window.start_time". Shared by Scan and GetDatasetStats.
struct WindowMicros {
  int64_t start = 0;
  int64_t end = 0;
};
absl::StatusOr<WindowMicros> ParseWindow(const v1::TimeWindow& window);

class RecordScan {
 public:
  // Checks `request` against nothing but itself: UNIMPLEMENTED for follow
  // ("poll with the last cursor instead"); INVALID_ARGUMENT for a negative
  // limit ("limit must not be negative"), a window that ends before it
  // starts ("window.end_time must be after window.start_time"), a malformed
  // cursor ("cursor is malformed: ...") or a filter on anything but
  // attributes.KEY. `schema` shapes the messages.
  static absl::StatusOr<std::unique_ptr<RecordScan>> Create(
      const v1::ScanRequest& request, const v1::DatasetSchema& schema);

  RecordScan(const RecordScan&) = delete;
  RecordScan& operator=(const RecordScan&) = delete;

  // Reads the next message from `log` into *response (which it clears).
  // Returns true if *response holds rows to send, false if there are none;
  // done() then says whether the scan has ended (it has whenever Next
  // returns false). UNAVAILABLE on a read error (the scan can be retried
  // from the last cursor sent).
  absl::StatusOr<bool> Next(store::SegmentLog& log, LabelOf label_of,
                            v1::ScanResponse* response);

  // Whether every message was read.
  bool done() const { return done_; }

  // Corrupt records skipped since the previous call (for the data set's
  // counters; the messages report them too).
  int64_t TakeSkippedCorrupt();

 private:
  RecordScan(const v1::ScanRequest& request, const v1::DatasetSchema& schema,
             int64_t start_micros, int64_t end_micros, core::Filter filter);

  // Whether the record at `pos` was stored before the scan began.
  bool StoredBeforeStart(const store::LogPosition& pos) const;
  // Whether `record` passes only_labeled and the filter; sets *label to its
  // label or null.
  bool Wanted(const v1::Record& record, LabelOf label_of, v1::Label* copy,
              const v1::Label** label) const;

  const v1::DatasetSchema schema_;
  const int64_t start_micros_;
  const int64_t end_micros_;
  const int64_t limit_;
  const bool only_labeled_;
  const bool include_attributes_;
  const int rows_per_batch_;
  const core::Filter filter_;

  // Resume after this position (the cursor, then the last row sent).
  std::optional<store::LogPosition> after_;
  // Segment id -> its size when the scan began; set by the first Next().
  std::optional<absl::flat_hash_map<int64_t, uint64_t>> sizes_at_start_;
  int64_t returned_ = 0;
  // Corrupt records skipped in all, reported in messages, and taken by
  // TakeSkippedCorrupt.
  int64_t skipped_ = 0;
  int64_t reported_ = 0;
  int64_t taken_ = 0;
  bool done_ = false;
};

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_RECORD_SCAN_H_
