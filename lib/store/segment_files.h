// The file layout of a SegmentLog directory (internal to lib/store; users go
// through segment_log.h, whose file comment describes the layout):
//
//   <dir>/LOCK
//   <dir>/<yyyymmdd>/<id>.log    a segment
//   <dir>/<yyyymmdd>/<id>.idx    its index sidecar
//   <dir>/<yyyymmdd>/<id>.tomb   the id of a deleted newest segment
//
// <yyyymmdd> is a UTC day of event time; <id> is 10 decimal digits,
// day * kSegmentsPerDay + sequence within the day. This file names those
// files, parses their names back and lists a directory.
//
// Pure functions, except ListSegmentDir, which reads the directory and
// deletes the temporary files of interrupted atomic writes. Thread-safe.
#ifndef CONTINUUM_LIB_STORE_SEGMENT_FILES_H_
#define CONTINUUM_LIB_STORE_SEGMENT_FILES_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/store/file_system.h"

namespace continuum::store {

// Microseconds in a UTC day.
inline constexpr int64_t kMicrosPerDay = int64_t{86'400} * 1'000'000;
// Segment ids are day * kSegmentsPerDay + sequence, in 10 decimal digits.
inline constexpr int64_t kSegmentsPerDay = 100'000;
// The last day (since the Unix epoch) a segment id can hold: 2243-10-16.
inline constexpr int64_t kMaxDay = 99'999;
// The directory lock file of a log.
inline constexpr char kSegmentLogLockFileName[] = "LOCK";

// The day (since the Unix epoch, UTC) of segment `id`.
inline int64_t DayOfSegment(int64_t id) { return id / kSegmentsPerDay; }

// "yyyymmdd" of `day` (days since the Unix epoch), e.g. 20000 ->
// "20241004".
std::string DayDirName(int64_t day);

// Parses a "yyyymmdd" made by DayDirName into days since the epoch. False
// (leaving *day unspecified) for anything else: another length, a non-digit,
// a date that does not exist, a day outside [0, kMaxDay].
bool ParseDayDirName(absl::string_view name, int64_t* day);

// "<10-digit id>.<extension>", e.g. (2000000003, "log") ->
// "2000000003.log".
std::string SegmentFileName(int64_t id, absl::string_view extension);

// Parses "<10 digits>.<extension>" (extension not empty). False otherwise.
bool ParseSegmentFileName(absl::string_view name, int64_t* id,
                          absl::string_view* extension);

// <dir>/<yyyymmdd of day>.
std::string DayDirPath(const std::string& dir, int64_t day);

// <dir>/<yyyymmdd of id's day>/<id>.<extension>.
std::string SegmentFilePath(const std::string& dir, int64_t id,
                            absl::string_view extension);

// The files of one segment id found by ListSegmentDir.
struct FoundSegmentFiles {
  int64_t day = 0;
  bool has_log = false;    // <id>.log
  bool has_index = false;  // <id>.idx
};

// What a log directory holds.
struct SegmentDirListing {
  // Every day directory, mapped to the largest id of its tombstones (-1 if
  // it has none).
  std::map<int64_t, int64_t> day_tombs;
  // Segment ids with a .log or .idx file, ascending.
  std::map<int64_t, FoundSegmentFiles> segments;
};

// Lists the log directory `dir`: its day directories and their segment,
// sidecar and tombstone files. Deletes "*.tmp" files in day directories (an
// atomic write interrupted by a crash). Ignores names it does not know, and
// (with a warning) segment files whose id is not of their directory's day.
// Errors: those of the file system.
absl::StatusOr<SegmentDirListing> ListSegmentDir(FileSystem* fs,
                                                 const std::string& dir);

}  // namespace continuum::store

#endif  // CONTINUUM_LIB_STORE_SEGMENT_FILES_H_
