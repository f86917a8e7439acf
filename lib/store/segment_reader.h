// Reading a SegmentLog (internal to lib/store; the contracts are
// SegmentLog::Scan's and SegmentLog::ReadAt's): which segments a scan reads,
// reading them, and finding and reading one record.
//
// Each read is split in two: a selection under SegmentLog's mutex, which
// takes the segments' paths and sizes from the SegmentSet (so that a scan
// sees exactly the records acknowledged before it began, never a partial
// frame), and the reading itself without the mutex, concurrent with appends
// and with other reads. A segment that retention deleted in between is
// skipped by a scan and NOT_FOUND for ReadAt.
//
// Thread safety: the functions are thread-safe; the selections need the
// mutex that guards the SegmentSet (SegmentLog's).
#ifndef CONTINUUM_LIB_STORE_SEGMENT_READER_H_
#define CONTINUUM_LIB_STORE_SEGMENT_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/store/encryption.h"
#include "lib/store/file_system.h"
#include "lib/store/log_format.h"
#include "lib/store/segment_log.h"
#include "lib/store/segment_set.h"

namespace continuum::store {

// The part of one segment a scan reads: bytes [begin, limit) of its file.
struct ScanTarget {
  int64_t id = 0;
  std::string path;
  uint64_t begin = 0;
  uint64_t limit = 0;
};

// Under the mutex: the segments of `set` a scan for event times in
// [start_micros, end_micros) (end_micros <= 0: no end) resuming after
// `after` (null: from the start) reads, by id: those whose event-time range
// overlaps the window and that hold records after the cursor, each from the
// cursor (in its segment) or its start, to its acknowledged size.
std::vector<ScanTarget> SelectScanTargets(const SegmentSet& set,
                                          int64_t start_micros,
                                          int64_t end_micros,
                                          const LogPosition* after);

// Opens the sealed payload of `frame` (at `offset` of `path`, named in
// errors) into *plaintext with `keys` (may be null: FAILED_PRECONDITION
// naming the key id). KeyRing::Open's errors otherwise: DATA_LOSS for a
// payload that fails authentication, FAILED_PRECONDITION for a key that is
// not listed or not the one it was sealed with.
absl::Status OpenSealedPayload(const KeyRing* keys,
                               const log_format::Frame& frame,
                               const std::string& path, uint64_t offset,
                               std::string* plaintext);

// Without the mutex: calls `fn` for each valid record of `target` with an
// event time in the window, in file order, until it returns false (then
// sets *stopped). Skips corrupt regions, counts them and logs them (naming
// `dir`, the log); a sealed record that fails authentication counts as
// corrupt too. Sealed payloads are opened with `keys` (may be null) and
// handed to `fn` in plaintext; a key that is missing or wrong ends the scan
// with FAILED_PRECONDITION naming the key id. Adds to *stats. A segment file
// that no longer exists (deleted by retention) is skipped: OK, nothing
// counted. UNAVAILABLE on a read error.
absl::Status ScanSegment(FileSystem* fs, const KeyRing* keys,
                         const std::string& dir, const ScanTarget& target,
                         int64_t start_micros,
                         int64_t end_micros,
                         const SegmentLog::ScanCallback& fn, ScanStats* stats,
                         bool* stopped);

// Where the record whose frame ends at a position is: its segment's file and
// the last checkpoint at or before where the record may start.
struct RecordLocation {
  std::string path;
  uint64_t checkpoint = 0;
};

// Under the mutex: locates the record of `set` whose frame ends at `pos`
// (`dir` names the log in messages). NOT_FOUND if its segment is not in the
// set or the offset is past the segment's end; DATA_LOSS if no record can
// end there.
absl::StatusOr<RecordLocation> LocateRecord(const SegmentSet& set,
                                            const std::string& dir,
                                            const LogPosition& pos);

// Without the mutex: reads the record at `location` whose frame ends at
// `pos` into *payload (and its event time into *event_time_micros if not
// null): directly when pos.frame_bytes is known, else reading forward from
// the checkpoint; a sealed record is opened with `keys` (OpenSealedPayload's
// errors). NOT_FOUND if the file no longer exists; DATA_LOSS if the record
// is corrupt or none ends at pos.offset; UNAVAILABLE on a read error.
absl::Status ReadRecord(FileSystem* fs, const KeyRing* keys,
                        const RecordLocation& location,
                        const LogPosition& pos, std::string* payload,
                        int64_t* event_time_micros);

}  // namespace continuum::store

#endif  // CONTINUUM_LIB_STORE_SEGMENT_READER_H_
