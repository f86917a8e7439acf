// GroupCommit: the writes of one group commit of a SegmentLog (internal to
// lib/store; the rules are in segment_log.h's file comment, "Durability and
// group commit" and "Failures").
//
// The leader of SegmentLog's write queue takes the queued appends and, for
// the group:
//   1. Plan (under SegmentLog's mutex): assigns each entry to the active
//      segment of its event day, or to a new segment when the day has none
//      or the next frame would take the active one past max_segment_bytes
//      (which seals it), and computes every position. Nothing is written.
//   2. WriteAndSync (without the mutex: nobody else touches these files
//      while the leader leads): encodes the frames, creates new segment
//      files (and their directories, fsync'd), appends once per touched file
//      and fsyncs each file once if any append asked for sync, and every
//      file being sealed.
//   3a. On success, Publish (under the mutex): adds the records to the
//      SegmentSet, where scans see them, and returns the sealed segments,
//      whose files FinishSeals closes and whose sidecars it writes (without
//      the mutex).
//   3b. On failure, Rollback (without the mutex) truncates every touched
//      file back to its size before the group and deletes the new ones, so
//      that no record of the group is acknowledged or visible; then
//      TakeTouchedFiles (under the mutex) drops the open files of the
//      touched segments, so that the next group reopens them and learns
//      their size again. A failed Rollback puts the log in its failed state.
//
// Thread safety: none; one GroupCommit per group, used by the leader only,
// under or without SegmentLog's mutex as each method says.
#ifndef CONTINUUM_LIB_STORE_GROUP_COMMIT_H_
#define CONTINUUM_LIB_STORE_GROUP_COMMIT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/types/span.h"
#include "lib/store/file_system.h"
#include "lib/store/log_format.h"
#include "lib/store/segment_log.h"
#include "lib/store/segment_set.h"

namespace continuum::store {

// A segment sealed by a group: its file is closed and its sidecar written
// once the group is published (FinishSeals).
struct SealTask {
  std::string index_path;
  log_format::SegmentIndex index;
  std::unique_ptr<WritableFile> file;
  int64_t id = 0;
  bool write_index = true;
};

// Syncs *file; when it is null (its segment's file was dropped after a failed
// group), first opens `path` for appending into *opened and points *file at
// it. Errors: the file system's.
absl::Status SyncOrReopen(FileSystem* fs, const std::string& path,
                          WritableFile** file,
                          std::unique_ptr<WritableFile>* opened);

// Closes the files of sealed segments and writes their sidecars (best
// effort: failures are logged; without a sidecar the segment is rescanned at
// the next Open). `dir` names the log in log lines. Without SegmentLog's
// mutex.
void FinishSeals(FileSystem* fs, const std::string& dir,
                 std::vector<SealTask>& seals);

class GroupCommit {
 public:
  // Most bytes of frames one group writes: the leader's own entries are
  // always taken, however large; others join while the total stays within.
  static constexpr uint64_t kMaxGroupBytes = 8 << 20;

  // For the log in `dir` (its files and log lines), whose segments rotate
  // at `max_segment_bytes`. `sealed_frames`: the entries' payloads are
  // sealed (log_format's kSealedFlag is set on their frames).
  GroupCommit(FileSystem* fs, std::string dir, uint64_t max_segment_bytes,
              bool sealed_frames = false);
  ~GroupCommit();

  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Under the mutex: plans the frames of one append's `entries` (validated
  // by the caller; not copied: they must outlive WriteAndSync) after those
  // planned before, against `set`, and replaces *positions with theirs, in
  // order. `sync`: the group must be fsync'd.
  // Takes new segment ids from `set` (its days' next_seq). RESOURCE_EXHAUSTED
  // if a day has no segment id left; the group must then be abandoned.
  absl::Status Plan(absl::Span<const LogEntry> entries, bool sync,
                    SegmentSet* set, std::vector<LogPosition>* positions);

  // Under the mutex: takes encode buffers from *spare (kept by
  // RecycleBuffers of earlier groups) for the files it writes.
  void TakeBuffers(std::vector<std::string>* spare);

  // Without the mutex: writes and syncs the planned frames. The first error
  // (the file system's; DATA_LOSS if a file's size is not what the set
  // says) stops it; the caller must then Rollback.
  absl::Status WriteAndSync();

  // Without the mutex, after WriteAndSync failed: undoes its writes. The
  // first error of the undo; the files may then hold records of the group.
  absl::Status Rollback();

  // Under the mutex, after a failed group: the open files of the segments
  // the group tried to append to, taken out of the set, for the caller to
  // close without the mutex.
  std::vector<std::unique_ptr<WritableFile>> TakeTouchedFiles();

  // Under the mutex, after WriteAndSync succeeded: adds the group's segments
  // and records to `set` (new segments become their days' active ones) and
  // returns the segments it sealed, for FinishSeals.
  std::vector<SealTask> Publish(SegmentSet* set);

  // Under the mutex: gives the encode buffers back to *spare (at most a few,
  // none over 16 MiB), for the next group.
  void RecycleBuffers(std::vector<std::string>* spare);

 private:
  struct FilePlan;

  // Plans a new segment for `day` at the end of plans_.
  absl::Status PlanNewSegment(int64_t day, SegmentSet* set);
  // The plan entries of `day` go to next (plans_ index), creating it.
  absl::StatusOr<size_t> PlanFor(int64_t day, SegmentSet* set);
  // Opens (creating if new) the file of `p`.
  absl::Status OpenFile(FilePlan& p);
  // Publishes one file's plan; adds a SealTask if it seals its segment.
  void PublishFile(FilePlan& p, SegmentSet* set, std::vector<SealTask>* seals);

  FileSystem* const fs_;
  const std::string dir_;
  const uint64_t max_segment_bytes_;
  const bool sealed_frames_;
  std::vector<FilePlan> plans_;
  // Day -> index in plans_ of the file its next entry goes to.
  absl::flat_hash_map<int64_t, size_t> current_;
  // Some append of the group asked for sync.
  bool sync_ = false;
};

}  // namespace continuum::store

#endif  // CONTINUUM_LIB_STORE_GROUP_COMMIT_H_
