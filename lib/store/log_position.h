// LogPosition: where a record of a SegmentLog (segment_log.h) is, and its
// cursor encoding. Part of segment_log.h's interface (which includes this
// header); kept apart because it is a value type with its own format.
//
// Cursor format (before web-safe base64):
//   [u8 version 1][u64 segment id][u64 offset][u32 frame bytes]
// all integers little-endian.
//
// Thread safety: a plain value; Encode and Decode are thread-safe.
#ifndef CONTINUUM_LIB_STORE_LOG_POSITION_H_
#define CONTINUUM_LIB_STORE_LOG_POSITION_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace continuum::store {

// Where a record is: its segment and the offset just past its frame. Returned
// by Append and Scan; identifies the record for ReadAt and resumes a Scan.
// Positions order like the records in a scan: by segment_id, then offset.
struct LogPosition {
  // The segment (SegmentInfo::id).
  int64_t segment_id = 0;
  // Offset of the NEXT byte after the record's frame in its segment file.
  uint64_t offset = 0;
  // Size of the record's whole frame (header + payload), when known: a hint
  // that lets ReadAt read the record directly. 0 = unknown (ReadAt then reads
  // forward from the nearest checkpoint, at most ~16 KiB more). Not part of
  // the identity: == and < ignore it.
  uint32_t frame_bytes = 0;

  // Returns an opaque, URL-safe cursor string holding the whole position.
  std::string Encode() const;
  // Parses a string made by Encode. INVALID_ARGUMENT if it is malformed.
  static absl::StatusOr<LogPosition> Decode(absl::string_view encoded);

  friend bool operator==(const LogPosition& a, const LogPosition& b) {
    return a.segment_id == b.segment_id && a.offset == b.offset;
  }
  friend bool operator<(const LogPosition& a, const LogPosition& b) {
    return a.segment_id != b.segment_id ? a.segment_id < b.segment_id
                                        : a.offset < b.offset;
  }
};

}  // namespace continuum::store

#endif  // CONTINUUM_LIB_STORE_LOG_POSITION_H_
