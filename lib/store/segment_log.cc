// SegmentLog: the write queue and the locking that tie the log's parts
// together (segment_log.h lists them). Each operation takes what it needs
// from the SegmentSet under mu_, does its I/O without mu_, and publishes the
// outcome under mu_ again. Writers (appends and the exclusive operations)
// go through the queue, so the I/O of one never overlaps another's.
#include "lib/store/segment_log.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/store/group_commit.h"
#include "lib/store/log_format.h"
#include "lib/store/segment_files.h"
#include "lib/store/segment_reader.h"
#include "lib/store/segment_recovery.h"
#include "lib/store/segment_retention.h"
#include "lib/store/segment_set.h"

namespace continuum::store {
namespace {

using log_format::FrameBytes;

// The status an Append reports for an I/O error: always UNAVAILABLE.
absl::Status AppendError(const std::string& dir, const absl::Status& cause) {
  return absl::UnavailableError(
      absl::StrCat("segment log ", dir,
                   ": append failed, nothing acknowledged: ", cause.message()));
}

absl::Status DestroyedError(const std::string& dir) {
  return absl::FailedPreconditionError(
      absl::StrCat("segment log ", dir, " was destroyed"));
}

// INVALID_ARGUMENT naming the first entry Append refuses.
absl::Status ValidateEntries(absl::Span<const LogEntry> entries) {
  for (size_t i = 0; i < entries.size(); ++i) {
    const LogEntry& e = entries[i];
    if (e.payload.size() > SegmentLog::kMaxPayloadBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "entry ", i, ": payload of ", e.payload.size(),
          " bytes is over the limit of ", SegmentLog::kMaxPayloadBytes));
    }
    if (e.event_time_micros < 0 ||
        e.event_time_micros / kMicrosPerDay > kMaxDay) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", i, ": event time ", e.event_time_micros,
                       " us is outside [1970-01-01, 2243-10-17)"));
    }
  }
  return absl::OkStatus();
}

// A segment Close flushes: its file, whether it must be fsync'd, and the
// sidecar to write.
struct ClosingSegment {
  SegmentState* segment = nullptr;
  std::unique_ptr<WritableFile> file;
  bool sync = false;
  bool write_index = false;
  log_format::SegmentIndex index;
  // Outcome.
  bool synced = false;
  bool indexed = false;
};

// Without mu_: fsyncs (reopening if needed) and closes t's file, then writes
// its sidecar if its data is durable. Sets *status to the first error.
void CloseSegment(FileSystem* fs, const std::string& dir, ClosingSegment& t,
                  absl::Status* status) {
  bool durable = !t.sync;
  if (t.sync) {
    if (t.file == nullptr) {
      absl::StatusOr<std::unique_ptr<WritableFile>> f =
          fs->NewAppendableFile(t.segment->path);
      if (f.ok()) {
        t.file = *std::move(f);
      } else if (status->ok()) {
        *status = f.status();
      }
    }
    if (t.file != nullptr) {
      absl::Status s = t.file->Sync();
      if (s.ok()) {
        durable = true;
        t.synced = true;
      } else if (status->ok()) {
        *status = s;
      }
    }
  }
  if (t.file != nullptr) {
    absl::Status s = t.file->Close();
    if (!s.ok() && status->ok()) *status = s;
    t.file.reset();
  }
  if (t.write_index && durable) {
    absl::Status s =
        fs->WriteFileAtomically(SegmentFilePath(dir, t.segment->id, "idx"),
                                log_format::EncodeIndex(t.index));
    if (s.ok()) {
      t.indexed = true;
    } else {
      spdlog::warn("segment log {}: could not write the index of {}: {}", dir,
                   t.segment->path, std::string(s.message()));
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// Opening

SegmentLog::SegmentLog(SegmentLogOptions options)
    : options_(std::move(options)),
      fs_(options_.fs),
      set_(std::make_unique<SegmentSet>()) {}

SegmentLog::~SegmentLog() {
  if (absl::Status s = Close(); !s.ok()) {
    spdlog::error("segment log {}: close: {}", options_.dir,
                  std::string(s.message()));
  }
}

absl::StatusOr<std::unique_ptr<SegmentLog>> SegmentLog::Open(
    SegmentLogOptions options, RecoveryReport* report) {
  if (options.fs == nullptr) {
    return absl::InvalidArgumentError("SegmentLogOptions.fs is null");
  }
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("SegmentLogOptions.dir is empty");
  }
  if (options.max_segment_bytes < log_format::kFrameHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("SegmentLogOptions.max_segment_bytes ",
                     options.max_segment_bytes, " is too small"));
  }
  FileSystem* fs = options.fs;
  const bool existed = fs->FileExists(options.dir);
  if (absl::Status s = fs->CreateDirs(options.dir); !s.ok()) return s;
  if (!existed) {
    // Make the new directory's entry durable.
    if (absl::Status s = fs->SyncDir(DirName(options.dir)); !s.ok()) return s;
  }
  absl::StatusOr<std::unique_ptr<FileLock>> lock =
      fs->LockFile(JoinPath(options.dir, kSegmentLogLockFileName));
  if (!lock.ok()) return lock.status();

  std::unique_ptr<SegmentLog> log(new SegmentLog(std::move(options)));
  RecoveryReport local;
  {
    absl::MutexLock l(&log->mu_);
    log->lock_ = *std::move(lock);
    if (absl::Status s =
            RecoverSegments(fs, log->options_.dir, log->set_.get(), &local);
        !s.ok()) {
      log->closed_ = true;  // Nothing to flush: do not write sidecars.
      return s;
    }
  }
  if (local.truncated_tail_bytes > 0 || local.skipped_corrupt_records > 0) {
    spdlog::warn(
        "segment log {}: recovered {} segments, {} records; truncated {} torn "
        "tail bytes, skipped {} corrupt records",
        log->options_.dir, local.segments, local.records,
        local.truncated_tail_bytes, local.skipped_corrupt_records);
  }
  if (report != nullptr) *report = local;
  return log;
}

// ---------------------------------------------------------------------------
// The write queue

absl::Status SegmentLog::UsableLocked() const {
  if (destroyed_) return DestroyedError(options_.dir);
  if (closed_) {
    return absl::FailedPreconditionError(
        absl::StrCat("segment log ", options_.dir, " is closed"));
  }
  return failed_;
}

void SegmentLog::EnterQueueLocked(Writer* w) {
  w->mu->AssertHeld();  // w->mu is mu_; tells the analysis so.
  writers_.push_back(w);
  while (!w->done && writers_.front() != w) w->cv.Wait(&mu_);
}

void SegmentLog::LeaveQueueLocked(Writer* w) {
  if (!writers_.empty() && writers_.front() == w) writers_.pop_front();
  if (!writers_.empty()) writers_.front()->cv.Signal();
}

absl::Status SegmentLog::LeadExclusiveLocked(Writer* w) {
  if (absl::Status s = UsableLocked(); !s.ok()) return s;
  EnterQueueLocked(w);
  if (absl::Status s = UsableLocked(); !s.ok()) {  // Closed while waiting.
    LeaveQueueLocked(w);
    return s;
  }
  return absl::OkStatus();
}

std::vector<SegmentLog::Writer*> SegmentLog::TakeGroupLocked() {
  std::vector<Writer*> group;
  uint64_t group_bytes = 0;
  for (Writer* o : writers_) {
    if (o->exclusive) break;
    uint64_t bytes = 0;
    for (const LogEntry& e : o->entries) bytes += FrameBytes(e.payload.size());
    if (!group.empty() && group_bytes + bytes > GroupCommit::kMaxGroupBytes) {
      break;
    }
    group.push_back(o);
    group_bytes += bytes;
  }
  return group;
}

absl::StatusOr<std::vector<LogPosition>> SegmentLog::Append(
    absl::Span<const LogEntry> entries, bool sync) {
  if (absl::Status s = ValidateEntries(entries); !s.ok()) return s;
  // Sealed outside the lock, by each caller, so that encryption runs on every
  // appending thread in parallel rather than in the group's leader.
  std::vector<LogEntry> sealed;
  if (options_.keys != nullptr) {
    sealed.resize(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      sealed[i].event_time_micros = entries[i].event_time_micros;
      options_.keys->Seal(
          entries[i].payload,
          log_format::SealedPayloadContext(entries[i].event_time_micros),
          &sealed[i].payload);
    }
    entries = sealed;
  }
  Writer w(&mu_);
  w.entries = entries;
  w.sync = sync;
  absl::MutexLock lock(&mu_);
  if (absl::Status s = UsableLocked(); !s.ok()) return s;
  if (entries.empty()) return std::vector<LogPosition>();
  EnterQueueLocked(&w);
  w.mu->AssertHeld();
  if (w.done) {
    if (!w.status.ok()) return w.status;
    return std::move(w.positions);
  }

  // This caller leads: take every queued append, up to kMaxGroupBytes.
  const std::vector<Writer*> group = TakeGroupLocked();
  absl::Status status = UsableLocked();
  if (status.ok()) status = WriteGroupLocked(group);
  for (Writer* g : group) {
    g->mu->AssertHeld();
    if (!writers_.empty() && writers_.front() == g) writers_.pop_front();
    if (!status.ok()) {
      g->status = status;
      g->positions.clear();
    }
    g->done = true;
    if (g != &w) g->cv.Signal();
  }
  if (!writers_.empty()) writers_.front()->cv.Signal();
  if (!status.ok()) return status;
  return std::move(w.positions);
}

absl::Status SegmentLog::WriteGroupLocked(const std::vector<Writer*>& group) {
  // 1. Plan, under mu_: which file each entry goes to, at which offset.
  GroupCommit commit(fs_, options_.dir, options_.max_segment_bytes,
                     options_.keys != nullptr);
  for (Writer* g : group) {
    g->mu->AssertHeld();
    if (absl::Status s =
            commit.Plan(g->entries, g->sync, set_.get(), &g->positions);
        !s.ok()) {
      return s;
    }
  }
  commit.TakeBuffers(&spare_buffers_);

  // 2. Write and sync, without mu_: this thread leads the queue, so no other
  // writer, retention or close touches these files meanwhile.
  mu_.Unlock();
  absl::Status status = commit.WriteAndSync();
  if (!status.ok()) {
    spdlog::error("segment log {}: append failed: {}", options_.dir,
                  std::string(status.message()));
    absl::Status undo = commit.Rollback();
    mu_.Lock();
    // Drop the open files of the touched segments: the next group reopens
    // them and so learns their size again.
    std::vector<std::unique_ptr<WritableFile>> to_close =
        commit.TakeTouchedFiles();
    if (!undo.ok()) {
      failed_ = absl::UnavailableError(absl::StrCat(
          "segment log ", options_.dir,
          " is in a failed state (reopen required): a failed append could not "
          "be undone: ",
          undo.message()));
      spdlog::error("{}", std::string(failed_.message()));
    }
    mu_.Unlock();
    to_close.clear();  // close(2) without mu_.
    mu_.Lock();
    commit.RecycleBuffers(&spare_buffers_);
    return AppendError(options_.dir, status);
  }

  // 3. Publish, under mu_; then seal, without it.
  mu_.Lock();
  std::vector<SealTask> seals = commit.Publish(set_.get());
  commit.RecycleBuffers(&spare_buffers_);
  if (!seals.empty()) {
    mu_.Unlock();
    FinishSeals(fs_, options_.dir, seals);
    mu_.Lock();
  }
  return absl::OkStatus();
}

absl::Status SegmentLog::Sync() {
  Writer w(&mu_);
  w.exclusive = true;
  absl::MutexLock lock(&mu_);
  if (absl::Status s = LeadExclusiveLocked(&w); !s.ok()) return s;
  struct ToSync {
    SegmentState* segment;
    WritableFile* file;
    std::unique_ptr<WritableFile> opened;
  };
  std::vector<ToSync> to_sync;
  for (auto& [id, seg] : set_->segments()) {
    if (seg.dirty) to_sync.push_back({&seg, seg.file.get(), nullptr});
  }
  mu_.Unlock();
  absl::Status status;
  std::vector<SegmentState*> synced;
  for (ToSync& t : to_sync) {
    status = SyncOrReopen(fs_, t.segment->path, &t.file, &t.opened);
    if (!status.ok()) break;
    synced.push_back(t.segment);
  }
  mu_.Lock();
  for (SegmentState* seg : synced) seg->dirty = false;
  LeaveQueueLocked(&w);
  if (!status.ok()) {
    spdlog::error("segment log {}: sync failed: {}", options_.dir,
                  std::string(status.message()));
    return absl::UnavailableError(absl::StrCat(
        "segment log ", options_.dir,
        ": sync failed; records appended without sync since the last "
        "successful one may be lost: ",
        status.message()));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Reading

absl::Status SegmentLog::Scan(int64_t start_micros, int64_t end_micros,
                              const LogPosition* after, const ScanCallback& fn,
                              ScanStats* stats) {
  std::vector<ScanTarget> targets;
  {
    absl::MutexLock lock(&mu_);
    if (destroyed_) return DestroyedError(options_.dir);
    targets = SelectScanTargets(*set_, start_micros, end_micros, after);
  }
  ScanStats local;
  absl::Status status;
  bool stopped = false;
  for (const ScanTarget& t : targets) {
    status = ScanSegment(fs_, options_.keys.get(), options_.dir, t,
                         start_micros, end_micros, fn, &local, &stopped);
    if (!status.ok() || stopped) break;
  }
  if (stats != nullptr) {
    stats->segments_opened += local.segments_opened;
    stats->records_read += local.records_read;
    stats->records_returned += local.records_returned;
    stats->skipped_corrupt_records += local.skipped_corrupt_records;
    stats->bytes_read += local.bytes_read;
  }
  return status;
}

absl::Status SegmentLog::ReadAt(const LogPosition& pos, std::string* payload,
                                int64_t* event_time_micros) {
  absl::StatusOr<RecordLocation> location;
  {
    absl::MutexLock lock(&mu_);
    if (destroyed_) return DestroyedError(options_.dir);
    location = LocateRecord(*set_, options_.dir, pos);
  }
  if (!location.ok()) return location.status();
  return ReadRecord(fs_, options_.keys.get(), *location, pos, payload,
                    event_time_micros);
}

std::vector<SegmentInfo> SegmentLog::Segments() const {
  absl::MutexLock lock(&mu_);
  return set_->Describe();
}

uint64_t SegmentLog::TotalBytes() const {
  absl::MutexLock lock(&mu_);
  return set_->total_bytes();
}

int64_t SegmentLog::TotalRecords() const {
  absl::MutexLock lock(&mu_);
  return set_->total_records();
}

absl::Status SegmentLog::Health() const {
  absl::MutexLock lock(&mu_);
  return UsableLocked();
}

// ---------------------------------------------------------------------------
// Retention, close, destroy

absl::StatusOr<RetentionResult> SegmentLog::ApplyRetention(
    int64_t min_event_time_micros, uint64_t max_bytes) {
  Writer w(&mu_);
  w.exclusive = true;
  absl::MutexLock lock(&mu_);
  if (absl::Status s = LeadExclusiveLocked(&w); !s.ok()) return s;
  RetentionPass pass(fs_, options_.dir);
  pass.Plan(set_.get(), min_event_time_micros, max_bytes);
  mu_.Unlock();
  const absl::Status status = pass.DeleteFiles();
  mu_.Lock();
  const RetentionResult result = pass.Publish(set_.get());
  LeaveQueueLocked(&w);
  if (result.deleted_segments > 0) {
    spdlog::info(
        "segment log {}: retention deleted {} segments ({} records, {} bytes)",
        options_.dir, result.deleted_segments, result.deleted_records,
        result.deleted_bytes);
  }
  if (!status.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "segment log ", options_.dir, ": retention: ", status.message()));
  }
  return result;
}

absl::Status SegmentLog::Close() {
  Writer w(&mu_);
  w.exclusive = true;
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::OkStatus();
  EnterQueueLocked(&w);
  if (closed_) {  // Another Close ran while this one waited.
    LeaveQueueLocked(&w);
    return absl::OkStatus();
  }
  std::vector<ClosingSegment> work;
  const bool healthy = failed_.ok();
  for (auto& [id, seg] : set_->segments()) {
    const bool write_index =
        healthy && seg.index_bytes != static_cast<int64_t>(seg.bytes);
    if (seg.file == nullptr && !seg.dirty && !write_index) continue;
    ClosingSegment& t = work.emplace_back();
    t.segment = &seg;
    t.file = std::move(seg.file);
    t.sync = seg.dirty;
    t.write_index = write_index;
    t.index = seg.Index();
  }
  mu_.Unlock();
  absl::Status status;
  for (ClosingSegment& t : work) CloseSegment(fs_, options_.dir, t, &status);
  mu_.Lock();
  for (const ClosingSegment& t : work) {
    if (t.synced) t.segment->dirty = false;
    if (t.indexed) {
      t.segment->index_bytes = static_cast<int64_t>(t.segment->bytes);
    }
  }
  closed_ = true;
  lock_.reset();
  LeaveQueueLocked(&w);
  return status;
}

absl::Status SegmentLog::Destroy() {
  Writer w(&mu_);
  w.exclusive = true;
  absl::MutexLock lock(&mu_);
  if (destroyed_) return absl::OkStatus();
  EnterQueueLocked(&w);
  if (destroyed_ || closed_) {
    // After Close the directory lock is released: another opener may own
    // the files now.
    LeaveQueueLocked(&w);
    return destroyed_ ? absl::OkStatus()
                      : absl::FailedPreconditionError(absl::StrCat(
                            "segment log ", options_.dir,
                            " is closed; open it again to destroy it"));
  }
  std::vector<std::unique_ptr<WritableFile>> files;
  for (auto& [id, seg] : set_->segments()) {
    if (seg.file != nullptr) files.push_back(std::move(seg.file));
  }
  mu_.Unlock();
  files.clear();
  absl::Status status = fs_->DeleteRecursively(options_.dir);
  if (status.ok()) {
    const std::string parent = DirName(options_.dir);
    if (absl::Status s = fs_->SyncDir(parent); !s.ok()) {
      spdlog::warn("segment log {}: {}", options_.dir,
                   std::string(s.message()));
    }
  }
  mu_.Lock();
  if (status.ok()) {
    set_->Clear();
    destroyed_ = true;
  }
  closed_ = true;
  lock_.reset();
  LeaveQueueLocked(&w);
  return status;
}

}  // namespace continuum::store
