// Moving a segment log's sealed records to the active key (key rotation's
// second half; docs/operations.md, "Encryption at rest").
//
// Every frame sealed with a key other than the ring's active one is opened
// and sealed again under the active key. A sealed record has the same size
// under every key (encryption.h), so each rewritten frame keeps its offset:
// positions held elsewhere (the collector's replay buffer snapshot, index
// sidecars, cursors) stay valid. A segment is rewritten whole to a temp
// file and renamed over the old one (WriteFileAtomically), so a crash
// leaves either version. Corrupt regions are copied as they are. Frames
// written without encryption are left in plaintext and counted: sealing
// them would change their sizes, and they leave with retention.
#ifndef CONTINUUM_LIB_STORE_SEGMENT_REENCRYPT_H_
#define CONTINUUM_LIB_STORE_SEGMENT_REENCRYPT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "lib/store/encryption.h"
#include "lib/store/file_system.h"

namespace continuum::store {

struct SegmentReencryptResult {
  int64_t segments = 0;            // Segment files examined.
  int64_t rewritten_segments = 0;  // Segment files rewritten.
  int64_t rekeyed_records = 0;     // Records moved to the active key.
  int64_t plaintext_records = 0;   // Records left unencrypted.
};

// Re-encrypts the segment log in `dir`, which no SegmentLog may have open:
// takes its LOCK (FAILED_PRECONDITION naming the directory while a process
// has it open). Errors: a record sealed with a key the ring does not hold,
// or that fails authentication, stops the pass naming the file and offset
// (segments before it are done; a second pass goes on); the file system's
// errors.
absl::StatusOr<SegmentReencryptResult> ReencryptSegmentLog(
    FileSystem* fs, const std::string& dir, const KeyRing& keys);

}  // namespace continuum::store

#endif  // CONTINUUM_LIB_STORE_SEGMENT_REENCRYPT_H_
