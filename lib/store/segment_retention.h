// Retention of a SegmentLog (internal to lib/store; the contract is
// SegmentLog::ApplyRetention's): which whole segments to delete, and
// deleting them.
//
// A pass, run by SegmentLog::ApplyRetention while it leads the write queue
// (no append, sync or close runs meanwhile):
//   1. Plan (under SegmentLog's mutex): ChooseRetentionVictims, and takes the
//      victims' open files out of the SegmentSet.
//   2. DeleteFiles (without the mutex): for each victim, oldest first, closes
//      its file; if it is its day's newest segment, first leaves a tombstone
//      (<id>.tomb, atomically; the day's older tombstone is then removed) so
//      that its id is never reused; deletes its sidecar, then its .log. Stops
//      at the first error. Then fsyncs the touched day directories (best
//      effort: a deletion lost in a crash is redone by the next pass).
//   3. Publish (under the mutex): removes the deleted segments from the
//      SegmentSet (a day's newest remaining segment becomes its active one)
//      and records the new tombstones.
//
// Thread safety: none; one RetentionPass per ApplyRetention call, under or
// without SegmentLog's mutex as each method says.
#ifndef CONTINUUM_LIB_STORE_SEGMENT_RETENTION_H_
#define CONTINUUM_LIB_STORE_SEGMENT_RETENTION_H_

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "lib/store/file_system.h"
#include "lib/store/segment_log.h"
#include "lib/store/segment_set.h"

namespace continuum::store {

// The ids of the segments of `set` that retention deletes: first every
// segment whose newest event time (the start of its day if it is empty) is
// before min_event_time_micros, then, while the bytes of the segments kept
// exceed max_bytes (0: no limit), the oldest kept ones (by id, i.e. by day
// then creation). Never the active segment of the newest day
// (SegmentSet::NewestActiveId).
std::set<int64_t> ChooseRetentionVictims(const SegmentSet& set,
                                         int64_t min_event_time_micros,
                                         uint64_t max_bytes);

class RetentionPass {
 public:
  // For the log in `dir` (its files and log lines).
  RetentionPass(FileSystem* fs, std::string dir);

  RetentionPass(const RetentionPass&) = delete;
  RetentionPass& operator=(const RetentionPass&) = delete;

  // Under the mutex: chooses the victims (ChooseRetentionVictims) and takes
  // their open files out of `set`.
  void Plan(SegmentSet* set, int64_t min_event_time_micros, uint64_t max_bytes);

  // Without the mutex: deletes the victims' files (see the file comment).
  // The first error of the file system; victims before it are deleted.
  absl::Status DeleteFiles();

  // Under the mutex: removes the deleted victims from `set` and records the
  // tombstones written. Returns what was deleted.
  RetentionResult Publish(SegmentSet* set);

 private:
  struct Victim {
    int64_t id;
    int64_t day;
    std::string path;
    std::unique_ptr<WritableFile> file;
    // Its day's newest id: leave a tombstone before deleting it.
    bool needs_tomb;
    // The day's tombstone before, -1 if none.
    int64_t old_tomb;
  };

  // Deletes one victim's files (and writes its tombstone).
  absl::Status DeleteVictim(Victim& v);
  // Fsyncs the directories of the victims' days (best effort).
  void SyncDayDirs();

  FileSystem* const fs_;
  const std::string dir_;
  std::vector<Victim> victims_;  // Oldest first.
  std::vector<int64_t> deleted_;
  std::vector<std::pair<int64_t, int64_t>> tombs_;  // (day, tombstone id)
};

}  // namespace continuum::store

#endif  // CONTINUUM_LIB_STORE_SEGMENT_RETENTION_H_
