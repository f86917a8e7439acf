// SegmentLog: an append-only, CRC-framed, day-partitioned log of opaque
// payloads, each with an event time. The collector keeps one per data set
// (records, outcomes); the design follows Kafka's segment log and LevelDB's
// log and write path.
//
// Files, under SegmentLogOptions::dir:
//   LOCK                         flock(2)ed while a SegmentLog has the log open
//   <yyyymmdd>/                  one directory per UTC day of event time
//     <id>.log                   a segment: frames, appended in order
//     <id>.idx                   its index sidecar (min/max event time,
//                                records, bytes, checkpoints; see below)
//     <id>.tomb                  empty; left when retention deleted the day's
//                                newest segment, so that ids are never reused
// <id> is the segment id, 10 digits: day * 100000 + sequence number within
// the day. Ordering segments by id is ordering them by (day, creation).
//
// Frame format (all integers little-endian), one per record:
//   [u32 magic 0xC0171A0D][u32 payload length][u32 masked CRC-32C]
//   [i64 event time, microseconds since the Unix epoch][payload]
// The CRC-32C (crc32c.h) covers the 8 event-time bytes then the payload and
// is stored masked (MaskCrc). Payloads are at most 64 MiB. With encryption
// (SegmentLogOptions::keys) payloads are sealed and their frames marked so
// (log_format.h, encryption.h; lib/store/README.md "Encryption at rest").
//
// Index sidecar: written atomically (temp file, fsync, rename, fsync of the
// directory) when a segment is sealed (its day rotated to a new segment), and
// for every segment at Close(). It is used at Open only if its CRC matches
// and the byte count it records equals the .log file's size; otherwise the
// segment is rescanned.
//
// Recovery (Open): every segment without a usable sidecar is scanned frame by
// frame. A region that does not hold a valid frame but is followed by one is
// corruption in the middle: it is skipped (the reader resynchronises on the
// next magic number), counted in skipped_corrupt_records, logged with
// spdlog::warn naming the file and offset, never fatal. A region at the end
// of a file with no valid frame after it (a torn write: partial frame, or a
// last frame whose CRC fails) is truncated away and counted in
// truncated_tail_bytes. Scans and ReadAt skip or report corruption the same
// way at read time.
//
// Durability and group commit: Append(entries, sync=true) returns after every
// file it wrote is fsync'd (fdatasync; new files and directories are fsync'd
// too). Concurrent Append calls are batched: the first caller in the queue
// (the leader) writes the frames of every queued call (up to 8 MiB), one
// write per touched file, fsyncs each touched file once, and wakes the
// others. With sync=false the records are written (visible to scans, kept
// across a process crash) but reach the disk only by a later Sync(), a
// sync=true append to the same file, rotation or Close().
//
// Failures: if a write or fsync fails, Append returns UNAVAILABLE and no
// record of the failed group is acknowledged or visible: every touched file
// is truncated back to its size before the group (new files are deleted). If
// that undo fails too, the log enters a failed state: later Append/Sync calls
// return UNAVAILABLE ("reopen required") until it is reopened; reads keep
// working and Health() reports the cause. After a crash (or a failed undo), a
// record of a call that did not return OK may reappear after recovery, but
// always whole, never partially: callers treat UNAVAILABLE as "outcome
// unknown, retry" and deduplicate by their own ids. A failed fsync can lose
// data the kernel already accepted: records acknowledged with sync=false
// since the last successful sync may be lost when Sync() fails.
//
// Thread safety: all methods are thread-safe, except that no call may be in
// progress when the object is destroyed. Scans and ReadAt run concurrently
// with appends and see only records whose Append completed before the scan
// began (never a partially written frame). Sync, ApplyRetention, Close and
// Destroy wait for in-flight appends and run alone among writers.
//
// Implementation (internal headers, each with its own test): segment_files.h
// (names and listing of the files above), log_format.h (frames, sidecars),
// segment_set.h (the segments in memory), segment_recovery.h (Open's
// recovery), group_commit.h (the writes of one group), segment_reader.h
// (scans and ReadAt), segment_retention.h (ApplyRetention). segment_log.cc
// holds the write queue and the locking that ties them together.
#ifndef CONTINUUM_LIB_STORE_SEGMENT_LOG_H_
#define CONTINUUM_LIB_STORE_SEGMENT_LOG_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "lib/store/encryption.h"
#include "lib/store/file_system.h"
#include "lib/store/log_position.h"

namespace continuum::store {

class SegmentSet;

// A record to append.
struct LogEntry {
  // Event time, microseconds since the Unix epoch (UTC); decides the day
  // partition. Must be in [1970-01-01, 2243-10-17) (day 0 to 99999).
  int64_t event_time_micros = 0;
  // Opaque bytes, at most 64 MiB.
  std::string payload;
};

// What Open found and repaired.
struct RecoveryReport {
  // Segments found.
  int64_t segments = 0;
  // Valid records in them after recovery.
  int64_t records = 0;
  // Bytes cut from the ends of segments (torn writes).
  int64_t truncated_tail_bytes = 0;
  // Corrupt regions skipped in the middle of segments scanned at Open (each
  // usually one record).
  int64_t skipped_corrupt_records = 0;
};

// One segment file, as listed by Segments().
struct SegmentInfo {
  // Segment id: day * 100000 + sequence within the day.
  int64_t id = 0;
  // Path of the .log file.
  std::string path;
  // Days since the Unix epoch (UTC) of the event times it holds.
  int64_t day = 0;
  // Smallest and largest event time of its records; both the start of `day`
  // when it holds no record.
  int64_t min_event_time_micros = 0;
  int64_t max_event_time_micros = 0;
  // Records and bytes in it.
  int64_t records = 0;
  uint64_t bytes = 0;
  // True for the newest segment of its day: the one appends to that day go
  // to (until it reaches max_segment_bytes).
  bool active = false;
};

// Counters of one or more scans; Scan adds to them.
struct ScanStats {
  // Segment files opened (segments outside the window are not opened).
  int64_t segments_opened = 0;
  // Valid records decoded, inside the window or not.
  int64_t records_read = 0;
  // Records passed to the callback.
  int64_t records_returned = 0;
  // Corrupt regions skipped (each usually one record).
  int64_t skipped_corrupt_records = 0;
  // Bytes read from segment files.
  uint64_t bytes_read = 0;
};

// What ApplyRetention deleted.
struct RetentionResult {
  int64_t deleted_segments = 0;
  int64_t deleted_records = 0;
  uint64_t deleted_bytes = 0;
};

// How to open a SegmentLog.
struct SegmentLogOptions {
  // The file system; not owned, must outlive the log.
  FileSystem* fs = DefaultFileSystem();
  // Directory of the log; created if missing.
  std::string dir;
  // A day's active segment is sealed and a new one started when the next
  // record would take it past this size (a record larger than this gets a
  // segment of its own).
  uint64_t max_segment_bytes = 64 << 20;
  // Encryption at rest (encryption.h): when set, every appended payload is
  // sealed with the ring's active key (AES-256-GCM, bound to its event
  // time) and its frame marked sealed; reads open sealed payloads with any
  // listed key. Frames written without encryption stay readable (they are
  // returned as they are). Null: payloads are stored as given, and reading
  // a sealed frame is FAILED_PRECONDITION naming its key id.
  std::shared_ptr<const KeyRing> keys;
};

// The log. See the file comment for formats, recovery and durability.
class SegmentLog {
 public:
  // Largest payload Append accepts (64 MiB).
  static constexpr size_t kMaxPayloadBytes = size_t{64} << 20;

  // Opens the log in options.dir, creating it if missing, and recovers it
  // (see the file comment); fills *report if not null. Errors:
  // INVALID_ARGUMENT for bad options; FAILED_PRECONDITION if another
  // SegmentLog (in this or another process) has the directory open; the
  // file system's errors (UNAVAILABLE, PERMISSION_DENIED...) otherwise.
  // Corrupt data is never an error.
  static absl::StatusOr<std::unique_ptr<SegmentLog>> Open(
      SegmentLogOptions options, RecoveryReport* report);

  SegmentLog(const SegmentLog&) = delete;
  SegmentLog& operator=(const SegmentLog&) = delete;

  // Closes the log (see Close) and logs any error. No call may be in
  // progress.
  ~SegmentLog();

  // Appends `entries`, each to the active segment of its event day (UTC),
  // and returns their positions in the same order. With sync=true returns
  // only after every file written is fsync'd. Concurrent calls share writes
  // and fsyncs (group commit). Errors, with nothing appended:
  // INVALID_ARGUMENT (a payload over 64 MiB or an event time out of range,
  // naming the entry's index); UNAVAILABLE for an I/O error (the records of
  // the call are not visible; see the file comment) or when the log is in
  // the failed state; FAILED_PRECONDITION after Close or Destroy.
  absl::StatusOr<std::vector<LogPosition>> Append(
      absl::Span<const LogEntry> entries, bool sync);

  // Makes every record appended so far durable: fsyncs each file written
  // since its last sync. For the "interval" durability mode. UNAVAILABLE if
  // an fsync fails (records acknowledged with sync=false since the last
  // successful sync may then be lost) or the log is in the failed state.
  absl::Status Sync();

  // The callback of Scan: a record's position, event time and payload. The
  // payload is valid only during the call. Return false to stop the scan.
  using ScanCallback =
      std::function<bool(const LogPosition& pos, int64_t event_time_micros,
                         absl::string_view payload)>;

  // Calls `fn` for every record with start_micros <= event time < end_micros
  // (end_micros <= 0: no end), segments in (day, id) order, records in file
  // order. Opens only segments whose [min, max] event time overlaps the
  // window. If `after` is not null, resumes strictly after it: records of
  // earlier segments, and of its segment up to its offset, are skipped
  // without being read. Sees exactly the records whose Append completed
  // before the scan began (the sizes are taken then), never a partial one.
  // Corrupt regions are skipped and counted. Adds to *stats if not null.
  // UNAVAILABLE on a read error; segments deleted by retention during the scan
  // are skipped.
  absl::Status Scan(int64_t start_micros, int64_t end_micros,
                    const LogPosition* after, const ScanCallback& fn,
                    ScanStats* stats);

  // Reads the record whose frame ends at `pos` into *payload (and its event
  // time into *event_time_micros if not null). NOT_FOUND if its segment no
  // longer exists (deleted by retention) or the offset is past the segment's
  // end; DATA_LOSS if the record is corrupt or `pos` does not point at the
  // end of a record.
  absl::Status ReadAt(const LogPosition& pos, std::string* payload,
                      int64_t* event_time_micros = nullptr);

  // Deletes whole segments (and their sidecars): first those whose max event
  // time is before min_event_time_micros, then, while the log's total bytes
  // exceed max_bytes (0: no limit), the oldest (by day, then id). Never
  // deletes the active segment of the newest day. Waits for in-flight
  // appends; scans in progress may still read a deleted segment they opened.
  absl::StatusOr<RetentionResult> ApplyRetention(int64_t min_event_time_micros,
                                                 uint64_t max_bytes);

  // Describes every segment, ordered by id.
  std::vector<SegmentInfo> Segments() const;

  // Bytes in all segments.
  uint64_t TotalBytes() const;

  // Records in all segments.
  int64_t TotalRecords() const;

  // OK while appends can proceed; the error that put the log in the failed
  // state (UNAVAILABLE), or FAILED_PRECONDITION after Close/Destroy.
  absl::Status Health() const;

  // Syncs what is not yet durable, writes index sidecars for the active
  // segments, closes the files and releases the directory lock. Later
  // appends fail with FAILED_PRECONDITION; reads keep working. Returns the
  // first error. Idempotent.
  absl::Status Close();

  // Deletes every file of the log and its directory. The object is then
  // closed: appends, scans and reads fail with FAILED_PRECONDITION.
  // FAILED_PRECONDITION after Close (the directory lock is gone by then).
  absl::Status Destroy();

  // Directory of the log.
  const std::string& dir() const { return options_.dir; }

 private:
  // A caller waiting in the write queue: an Append, or an exclusive
  // operation (Sync, ApplyRetention, Close, Destroy) that must not overlap
  // with writes.
  struct Writer {
    explicit Writer(absl::Mutex* m) : mu(m) {}
    absl::Mutex* const mu;  // The log's mu_.
    bool exclusive = false;
    absl::Span<const LogEntry> entries;
    bool sync = false;
    bool done ABSL_GUARDED_BY(mu) = false;
    absl::Status status ABSL_GUARDED_BY(mu);
    std::vector<LogPosition> positions ABSL_GUARDED_BY(mu);
    absl::CondVar cv;
  };

  explicit SegmentLog(SegmentLogOptions options);

  // OK if appends may proceed.
  absl::Status UsableLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues `w` and waits until it leads the queue (or, for an append, until
  // a leader has done its work: w->done).
  void EnterQueueLocked(Writer* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes the leader `w` from the queue and wakes the next one.
  void LeaveQueueLocked(Writer* w) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // For an exclusive operation (Sync, ApplyRetention): if the log is usable,
  // queues `w` and waits until it leads; OK if the log is still usable then
  // (the caller must LeaveQueueLocked when done), else the error, with `w`
  // no longer queued.
  absl::Status LeadExclusiveLocked(Writer* w)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The appends the leader (the front of the queue) takes into its group:
  // itself, then the appends queued behind it up to the first exclusive
  // operation, within GroupCommit::kMaxGroupBytes.
  std::vector<Writer*> TakeGroupLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes (and syncs) the entries of `group` (group_commit.h); releases mu_
  // during I/O.
  absl::Status WriteGroupLocked(const std::vector<Writer*>& group)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SegmentLogOptions options_;
  FileSystem* const fs_;

  // State below is protected by mu_.
  mutable absl::Mutex mu_;
  // The segments, days and totals (segment_set.h). The leader of the write
  // queue may use a segment's file without mu_.
  const std::unique_ptr<SegmentSet> set_ ABSL_PT_GUARDED_BY(mu_);
  std::deque<Writer*> writers_ ABSL_GUARDED_BY(mu_);
  // Not OK once an undo failed: appends are refused until reopened.
  absl::Status failed_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool destroyed_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<FileLock> lock_ ABSL_GUARDED_BY(mu_);
  // Encode buffers of earlier groups, kept so that each group does not
  // allocate (and page-fault in) fresh memory.
  std::vector<std::string> spare_buffers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace continuum::store

#endif  // CONTINUUM_LIB_STORE_SEGMENT_LOG_H_
