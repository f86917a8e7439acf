// SegmentSet: what a SegmentLog knows about its segments in memory (internal
// to lib/store, after LevelDB's VersionSet): each segment's event-time
// range, record and byte counts, checkpoints and open file; each day's
// active segment, next sequence number and tombstone; and the totals.
//
// It does no I/O. Recovery fills it at Open, a group commit adds segments
// and records to it, retention removes segments from it.
//
// Thread safety: none. SegmentLog holds it under its mutex (mu_); the leader
// of its write queue may use a segment's `file` without the mutex (nobody
// else touches it while it leads). Pointers to SegmentState stay valid until
// that segment is removed.
#ifndef CONTINUUM_LIB_STORE_SEGMENT_SET_H_
#define CONTINUUM_LIB_STORE_SEGMENT_SET_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lib/store/file_system.h"
#include "lib/store/log_format.h"
#include "lib/store/segment_log.h"

namespace continuum::store {

// One segment file.
struct SegmentState {
  int64_t id = 0;
  int64_t day = 0;
  std::string path;
  int64_t min_event_time_micros = 0;
  int64_t max_event_time_micros = 0;
  int64_t records = 0;
  // Bytes of acknowledged records: the file's size outside a group commit.
  uint64_t bytes = 0;
  // Frame starts about log_format::kCheckpointInterval apart.
  std::vector<uint64_t> checkpoints;
  // Open for appending once appended to; null otherwise.
  std::unique_ptr<WritableFile> file;
  // Appended to since its last fsync.
  bool dirty = false;
  // `bytes` recorded by its sidecar on disk; -1 if none.
  int64_t index_bytes = -1;

  // What its index sidecar records.
  log_format::SegmentIndex Index() const;
};

// Per-day state.
struct DayState {
  // Id of the newest segment of the day (appends go there); -1 if none.
  int64_t active_id = -1;
  // Sequence number the next new segment of the day gets.
  int64_t next_seq = 0;
  // Id recorded by the day's tombstone file; -1 if none.
  int64_t tomb_id = -1;
};

// Widens the event-time range [*min, *max] to include [lo, hi]; when
// `empty` (nothing counted in the range yet) sets it to [lo, hi].
void ExtendTimeRange(bool empty, int64_t lo, int64_t hi, int64_t* min,
                     int64_t* max);

// Adds a checkpoint at `offset` (a frame start) to `checkpoints` if it is
// at least log_format::kCheckpointInterval past the last one (or the first).
void MaybeAddCheckpoint(uint64_t offset, std::vector<uint64_t>* checkpoints);

class SegmentSet {
 public:
  using SegmentMap = std::map<int64_t, SegmentState>;
  using DayMap = std::map<int64_t, DayState>;

  SegmentSet() = default;
  SegmentSet(const SegmentSet&) = delete;
  SegmentSet& operator=(const SegmentSet&) = delete;

  // Segments by id (ascending id is ascending (day, creation)).
  SegmentMap& segments() { return segments_; }
  const SegmentMap& segments() const { return segments_; }
  // Days that have (or had) segments.
  DayMap& days() { return days_; }
  const DayMap& days() const { return days_; }
  // The state of `day`, created empty if missing.
  DayState& day(int64_t day) { return days_[day]; }

  // The segment appends to `day` go to, or null if the day has none.
  SegmentState* ActiveSegment(int64_t day);

  // The active segment of the newest day that has one (retention never
  // deletes it), or -1.
  int64_t NewestActiveId() const;

  // Adds a segment (recovered, or new and empty) and counts its records and
  // bytes in the totals. Returns it. Does not change its day's state.
  SegmentState& Add(SegmentState segment);

  // Counts `records` records of `bytes` bytes appended to `segment`, with
  // their event-time range and the checkpoints they add; marks it dirty.
  void CountAppended(SegmentState* segment, int64_t records, uint64_t bytes,
                     int64_t min_event_time_micros,
                     int64_t max_event_time_micros,
                     const std::vector<uint64_t>& new_checkpoints);

  // Removes segment `id` (which must exist) and its records from the totals.
  // If it was its day's active segment, the day's newest remaining one (if
  // any) becomes active.
  void Remove(int64_t id);

  // Forgets every segment and day.
  void Clear();

  // Describes every segment, ordered by id.
  std::vector<SegmentInfo> Describe() const;

  uint64_t total_bytes() const { return total_bytes_; }
  int64_t total_records() const { return total_records_; }

 private:
  SegmentMap segments_;
  DayMap days_;
  uint64_t total_bytes_ = 0;
  int64_t total_records_ = 0;
};

}  // namespace continuum::store

#endif  // CONTINUUM_LIB_STORE_SEGMENT_SET_H_
