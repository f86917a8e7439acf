// The on-disk formats of the segment log (internal to lib/store; users go
// through segment_log.h): record frames, a reader that finds the valid frames
// of a file and skips corrupt regions, and the index sidecar of a segment.
//
// Frame (all integers little-endian):
//   [u32 magic 0xC0171A0D][u32 payload length][u32 masked CRC-32C]
//   [i64 event time, microseconds since the Unix epoch][payload]
// The CRC covers the 8 event-time bytes followed by the payload, and is
// masked with MaskCrc. A frame is valid when its magic matches, its length is
// at most kMaxFramePayloadBytes and fits in the file, and the CRC matches.
// Sealed frames (a payload encrypted by encryption.h's KeyRing) set the top
// bit of the length field (kSealedFlag) and start their CRC from the CRC of
// the byte 'S', so that the flag is covered too.
//
// Index sidecar (<id>.idx, written atomically):
//   [u32 magic 0xC01D1DC5][u32 version 1][i64 min event time]
//   [i64 max event time][i64 records][u64 bytes of the .log it describes]
//   [u32 n][n x u64 checkpoint offsets][u32 masked CRC-32C of all before]
#ifndef CONTINUUM_LIB_STORE_LOG_FORMAT_H_
#define CONTINUUM_LIB_STORE_LOG_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "lib/store/file_system.h"

namespace continuum::store::log_format {

// First four bytes of every frame.
inline constexpr uint32_t kFrameMagic = 0xC0171A0Du;
// Bytes before the payload: magic, length, CRC, event time.
inline constexpr size_t kFrameHeaderBytes = 20;
// Largest payload a caller may append (64 MiB).
inline constexpr size_t kMaxPayloadBytes = size_t{64} << 20;
// Largest payload a frame may hold: a caller's payload and, when sealed, the
// encryption overhead (kSealOverheadBytes, well under 1 KiB).
inline constexpr size_t kMaxFramePayloadBytes = kMaxPayloadBytes + 1024;
// Top bit of the length field: the payload is sealed.
inline constexpr uint32_t kSealedFlag = 0x80000000u;
// Distance between checkpoints (frame starts remembered per segment so that a
// record can be found from its end offset alone by reading at most this much
// plus the record).
inline constexpr uint64_t kCheckpointInterval = 16 << 10;

// Appends the frame of (event_time_micros, payload) to *out; `sealed` marks
// a payload sealed by a KeyRing.
void AppendFrame(int64_t event_time_micros, absl::string_view payload,
                 std::string* out, bool sealed = false);

// The associated data a sealed payload is bound to when sealed and opened:
// its event time's 8 bytes (little-endian), so that a sealed payload cannot
// be moved to another event time unnoticed.
std::string SealedPayloadContext(int64_t event_time_micros);

// Bytes of the frame holding a payload of `payload_bytes`.
inline uint64_t FrameBytes(size_t payload_bytes) {
  return kFrameHeaderBytes + payload_bytes;
}

// A frame decoded by ParseFrame or FrameReader.
struct Frame {
  // File offsets of the frame's first byte and of the byte after it.
  uint64_t offset = 0;
  uint64_t end = 0;
  int64_t event_time_micros = 0;
  // Points into the reader's buffer: valid until the next call.
  absl::string_view payload;
  // The payload is sealed (encrypted; open it with a KeyRing).
  bool sealed = false;
  // A corrupt region skipped just before this frame: its offset and length
  // (0 if none).
  uint64_t skipped_offset = 0;
  uint64_t skipped_bytes = 0;
};

// Checks that `data` holds exactly one valid frame and decodes it (offset and
// end are left 0 and data.size()). DATA_LOSS naming the problem otherwise.
absl::Status ParseExactFrame(absl::string_view data, Frame* frame);

// Reads the valid frames of a file in order, between two offsets.
//
// A region that does not start with a valid frame is skipped: the reader
// looks for the next offset holding a valid frame (resynchronising on the
// magic number) and reports the skipped region in that frame's
// skipped_offset/skipped_bytes. A region with no valid frame after it, up to
// the limit, is the tail: Next returns false and tail_bytes() tells its
// length (a torn write at the end of a file, or corruption of its last
// records).
class FrameReader {
 public:
  // Reads `file`, already positioned at byte `start`, up to byte `limit`
  // (exclusive). `file` is not owned. A file that ends before `limit` is read
  // to its end.
  FrameReader(SequentialFile* file, uint64_t start, uint64_t limit);

  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  // Reads the next valid frame into *frame; false at the end. Errors are
  // those of the file (UNAVAILABLE).
  absl::StatusOr<bool> Next(Frame* frame);

  // Offset just after the last valid frame read (`start` before any).
  uint64_t valid_end() const { return valid_end_; }
  // Once Next has returned false: bytes from valid_end() to the end that hold
  // no valid frame.
  uint64_t tail_bytes() const { return limit_ - valid_end_; }
  // Bytes read from the file so far.
  uint64_t bytes_read() const { return bytes_read_; }

 private:
  // Makes at least `n` bytes from pos_ available in buf_ unless the limit
  // comes first; returns how many are available.
  absl::StatusOr<size_t> Fill(size_t n);
  // Tries to decode a valid frame at pos_.
  absl::StatusOr<bool> TryFrameAtPos(Frame* frame);

  SequentialFile* const file_;
  uint64_t limit_;
  // buf_[0, buf_len_) holds the file's bytes from buf_offset_ (buf_ only
  // grows, so reads go straight into it); pos_ is the next offset to decode
  // (buf_offset_ <= pos_ <= buf_offset_ + buf_len_).
  std::string buf_;
  size_t buf_len_ = 0;
  uint64_t buf_offset_;
  uint64_t pos_;
  uint64_t valid_end_;
  uint64_t bytes_read_ = 0;
  // Start of the corrupt region being skipped, if in_corrupt_region_.
  bool in_corrupt_region_ = false;
  uint64_t corrupt_start_ = 0;
};

// What an index sidecar records about its segment.
struct SegmentIndex {
  int64_t min_event_time_micros = 0;
  int64_t max_event_time_micros = 0;
  int64_t records = 0;
  // Size of the .log file described; the sidecar is stale if it differs.
  uint64_t bytes = 0;
  // Offsets of frame starts, ascending, about kCheckpointInterval apart.
  std::vector<uint64_t> checkpoints;
};

// Serialises `index` in the sidecar format.
std::string EncodeIndex(const SegmentIndex& index);

// Parses a sidecar. DATA_LOSS if it is malformed or its CRC does not match.
absl::StatusOr<SegmentIndex> DecodeIndex(absl::string_view data);

}  // namespace continuum::store::log_format

#endif  // CONTINUUM_LIB_STORE_LOG_FORMAT_H_
