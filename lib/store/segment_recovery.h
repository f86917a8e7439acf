// Recovery of a SegmentLog's segments at Open (internal to lib/store; the
// rules are in segment_log.h's file comment, "Recovery"):
//
// - RecoverSegments lists the log directory (segment_files.h), removes
//   sidecars whose segment is gone, finds each day's active (newest) segment
//   and next sequence number (after its newest segment or tombstone), and
//   recovers every segment into a SegmentSet.
// - RecoverSegment recovers one: it trusts the index sidecar when its CRC
//   matches and it describes the file's current size; otherwise it scans the
//   file frame by frame, skips (and counts) corrupt regions in the middle,
//   truncates a torn tail (and fsyncs the file), and, for a segment that is
//   not its day's newest, writes the sidecar so that the next Open need not
//   scan it again.
//
// Corrupt data is never an error: it is repaired, counted in the
// RecoveryReport and logged. Errors are those of the file system.
//
// Not thread-safe: runs once, at Open, under SegmentLog's mutex, before the
// log is shared.
#ifndef CONTINUUM_LIB_STORE_SEGMENT_RECOVERY_H_
#define CONTINUUM_LIB_STORE_SEGMENT_RECOVERY_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "lib/store/file_system.h"
#include "lib/store/segment_log.h"
#include "lib/store/segment_set.h"

namespace continuum::store {

// Recovers every segment of the log directory `dir` into *set (which must be
// empty) and adds what it found and repaired to *report.
absl::Status RecoverSegments(FileSystem* fs, const std::string& dir,
                             SegmentSet* set, RecoveryReport* report);

// Recovers segment `id` of the log directory `dir` (its .log file must
// exist; `has_index` says whether its .idx does) and returns its state, with
// no open file. `newest_of_day`: it is its day's active segment (its sidecar
// is written only when it is sealed or the log is closed). Adds one segment,
// its records, and what was truncated or skipped to *report.
absl::StatusOr<SegmentState> RecoverSegment(FileSystem* fs,
                                            const std::string& dir, int64_t id,
                                            bool newest_of_day, bool has_index,
                                            RecoveryReport* report);

}  // namespace continuum::store

#endif  // CONTINUUM_LIB_STORE_SEGMENT_RECOVERY_H_
