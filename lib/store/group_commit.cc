#include "lib/store/group_commit.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "lib/store/segment_files.h"

namespace continuum::store {
namespace {

using log_format::FrameBytes;
using log_format::kCheckpointInterval;

// Encode buffers kept between groups: how many, and the largest kept.
constexpr size_t kMaxSpareBuffers = 4;
constexpr size_t kMaxSpareBufferBytes = 16 << 20;

// Adds the frame starting at `offset` to `added` if it is far enough from
// the segment's last checkpoint: the last of `added`, else *last (none if
// null).
void MaybeAddCheckpoint(uint64_t offset, const uint64_t* last,
                        std::vector<uint64_t>* added) {
  if (!added->empty()) last = &added->back();
  if (last == nullptr || offset >= *last + kCheckpointInterval) {
    added->push_back(offset);
  }
}

}  // namespace

absl::Status SyncOrReopen(FileSystem* fs, const std::string& path,
                          WritableFile** file,
                          std::unique_ptr<WritableFile>* opened) {
  if (*file == nullptr) {
    absl::StatusOr<std::unique_ptr<WritableFile>> f =
        fs->NewAppendableFile(path);
    if (!f.ok()) return f.status();
    *opened = *std::move(f);
    *file = opened->get();
  }
  return (*file)->Sync();
}

// What a group commit does to one segment file.
struct GroupCommit::FilePlan {
  int64_t id = 0;
  int64_t day = 0;
  std::string path;
  // A segment created by this group (the file does not exist yet).
  bool is_new = false;
  // The first segment of its day (its directory may need creating).
  bool first_of_day = false;
  // The existing segment, or null for a new one.
  SegmentState* segment = nullptr;
  // The file to append to: the segment's open file, or `opened`.
  WritableFile* file = nullptr;
  std::unique_ptr<WritableFile> opened;
  // The file's size before the group; the entries to append (encoded into
  // `data` once the mutex is released) and their frames' total size.
  uint64_t start_size = 0;
  std::vector<const LogEntry*> entries;
  uint64_t data_bytes = 0;
  std::string data;
  int64_t records = 0;
  int64_t min_event_time_micros = 0;
  int64_t max_event_time_micros = 0;
  // The segment's last checkpoint before the group, and those added.
  bool has_last_checkpoint = false;
  uint64_t last_checkpoint = 0;
  std::vector<uint64_t> new_checkpoints;
  // The segment was dirty before the group.
  bool was_dirty = false;
  // Rotated away in this group: sync, close, write its sidecar.
  bool seal = false;
  // Progress of the I/O.
  bool append_attempted = false;
  bool synced = false;
};

GroupCommit::GroupCommit(FileSystem* fs, std::string dir,
                         uint64_t max_segment_bytes, bool sealed_frames)
    : fs_(fs),
      dir_(std::move(dir)),
      max_segment_bytes_(max_segment_bytes),
      sealed_frames_(sealed_frames) {}

GroupCommit::~GroupCommit() = default;

// ---------------------------------------------------------------------------
// 1. Plan

absl::Status GroupCommit::PlanNewSegment(int64_t day, SegmentSet* set) {
  DayState& d = set->day(day);
  if (d.next_seq >= kSegmentsPerDay) {
    return absl::ResourceExhaustedError(
        absl::StrCat("segment log ", dir_, ": day ", DayDirName(day),
                     " already has ", kSegmentsPerDay, " segments"));
  }
  FilePlan p;
  p.id = day * kSegmentsPerDay + d.next_seq++;
  p.day = day;
  p.path = SegmentFilePath(dir_, p.id, "log");
  p.is_new = true;
  p.first_of_day = d.active_id < 0;
  for (const FilePlan& other : plans_) {
    if (other.day == day) p.first_of_day = false;
  }
  plans_.push_back(std::move(p));
  return absl::OkStatus();
}

absl::StatusOr<size_t> GroupCommit::PlanFor(int64_t day, SegmentSet* set) {
  auto it = current_.find(day);
  if (it != current_.end()) return it->second;
  if (SegmentState* seg = set->ActiveSegment(day); seg != nullptr) {
    FilePlan p;
    p.id = seg->id;
    p.day = day;
    p.path = seg->path;
    p.segment = seg;
    p.file = seg->file.get();
    p.start_size = seg->bytes;
    p.has_last_checkpoint = !seg->checkpoints.empty();
    if (p.has_last_checkpoint) p.last_checkpoint = seg->checkpoints.back();
    p.was_dirty = seg->dirty;
    plans_.push_back(std::move(p));
  } else if (absl::Status s = PlanNewSegment(day, set); !s.ok()) {
    return s;
  }
  return plans_.size() - 1;
}

absl::Status GroupCommit::Plan(absl::Span<const LogEntry> entries, bool sync,
                               SegmentSet* set,
                               std::vector<LogPosition>* positions) {
  sync_ |= sync;
  positions->clear();
  positions->reserve(entries.size());
  for (const LogEntry& e : entries) {
    const int64_t day = e.event_time_micros / kMicrosPerDay;
    const uint64_t frame = FrameBytes(e.payload.size());
    absl::StatusOr<size_t> index = PlanFor(day, set);
    if (!index.ok()) return index.status();
    uint64_t at = plans_[*index].start_size + plans_[*index].data_bytes;
    if (at > 0 && at + frame > max_segment_bytes_) {
      // Rotate: seal this file, start a new segment of the day.
      plans_[*index].seal = true;
      if (absl::Status s = PlanNewSegment(day, set); !s.ok()) return s;
      *index = plans_.size() - 1;
      at = 0;
    }
    current_[day] = *index;
    FilePlan& p = plans_[*index];
    MaybeAddCheckpoint(at, p.has_last_checkpoint ? &p.last_checkpoint : nullptr,
                       &p.new_checkpoints);
    p.entries.push_back(&e);
    p.data_bytes += frame;
    ExtendTimeRange(p.records == 0, e.event_time_micros, e.event_time_micros,
                    &p.min_event_time_micros, &p.max_event_time_micros);
    ++p.records;
    positions->push_back(
        LogPosition{p.id, at + frame, static_cast<uint32_t>(frame)});
  }
  return absl::OkStatus();
}

void GroupCommit::TakeBuffers(std::vector<std::string>* spare) {
  for (FilePlan& p : plans_) {
    if (p.data_bytes > 0 && !spare->empty()) {
      p.data = std::move(spare->back());
      spare->pop_back();
      p.data.clear();
    }
  }
}

// ---------------------------------------------------------------------------
// 2. Write and sync

absl::Status GroupCommit::OpenFile(FilePlan& p) {
  if (p.is_new) {
    const std::string day_dir = DayDirPath(dir_, p.day);
    absl::Status status = fs_->CreateDirs(day_dir);
    if (status.ok() && p.first_of_day) status = fs_->SyncDir(dir_);
    if (!status.ok()) return status;
    absl::StatusOr<std::unique_ptr<WritableFile>> f =
        fs_->NewAppendableFile(p.path);
    if (!f.ok()) return f.status();
    p.opened = *std::move(f);
    p.file = p.opened.get();
    return fs_->SyncDir(day_dir);
  }
  if (p.file == nullptr) {
    absl::StatusOr<std::unique_ptr<WritableFile>> f =
        fs_->NewAppendableFile(p.path);
    if (!f.ok()) return f.status();
    p.opened = *std::move(f);
    p.file = p.opened.get();
  }
  return absl::OkStatus();
}

absl::Status GroupCommit::WriteAndSync() {
  for (FilePlan& p : plans_) {
    p.data.reserve(p.data_bytes);
    for (const LogEntry* e : p.entries) {
      log_format::AppendFrame(e->event_time_micros, e->payload, &p.data,
                              sealed_frames_);
    }
  }
  for (FilePlan& p : plans_) {
    if (p.data.empty()) continue;
    if (absl::Status s = OpenFile(p); !s.ok()) return s;
    if (p.file->size() != p.start_size) {
      return absl::DataLossError(absl::StrCat(
          p.path, " has ", p.file->size(), " bytes, expected ", p.start_size));
    }
    p.append_attempted = true;
    if (absl::Status s = p.file->Append(p.data); !s.ok()) return s;
  }
  for (FilePlan& p : plans_) {
    const bool written = !p.data.empty();
    if ((sync_ && written) || (p.seal && (written || p.was_dirty))) {
      // Dirty, but its file may have been dropped after a failed group.
      if (absl::Status s = SyncOrReopen(fs_, p.path, &p.file, &p.opened);
          !s.ok()) {
        return s;
      }
      p.synced = true;
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// 3. Undo or publish

absl::Status GroupCommit::Rollback() {
  absl::Status first_error;
  for (FilePlan& p : plans_) {
    if (p.is_new) {
      if (p.opened == nullptr) continue;  // Never created.
      p.opened.reset();
      p.file = nullptr;
      absl::Status s = fs_->DeleteFile(p.path);
      if (!s.ok() && !absl::IsNotFound(s)) {
        // Try at least to leave it empty.
        s = fs_->Truncate(p.path, 0);
        if (!s.ok() && first_error.ok()) first_error = s;
      }
      continue;
    }
    if (!p.append_attempted) continue;
    absl::Status s = fs_->Truncate(p.path, p.start_size);
    if (!s.ok()) {
      spdlog::error(
          "segment log {}: could not truncate {} back to {} bytes: {}", dir_,
          p.path, p.start_size, std::string(s.message()));
      if (first_error.ok()) first_error = s;
    }
    p.opened.reset();
  }
  return first_error;
}

std::vector<std::unique_ptr<WritableFile>> GroupCommit::TakeTouchedFiles() {
  std::vector<std::unique_ptr<WritableFile>> files;
  for (FilePlan& p : plans_) {
    if (p.segment != nullptr && p.append_attempted &&
        p.segment->file != nullptr) {
      files.push_back(std::move(p.segment->file));
    }
  }
  return files;
}

void GroupCommit::PublishFile(FilePlan& p, SegmentSet* set,
                              std::vector<SealTask>* seals) {
  SegmentState* seg = p.segment;
  if (p.is_new) {
    if (p.data.empty()) return;  // Planned, but not needed after all.
    SegmentState fresh;
    fresh.id = p.id;
    fresh.day = p.day;
    fresh.path = p.path;
    fresh.min_event_time_micros = p.min_event_time_micros;
    fresh.max_event_time_micros = p.max_event_time_micros;
    seg = &set->Add(std::move(fresh));
  }
  if (p.opened != nullptr) seg->file = std::move(p.opened);
  if (!p.data.empty()) {
    set->CountAppended(seg, p.records, p.data.size(), p.min_event_time_micros,
                       p.max_event_time_micros, p.new_checkpoints);
  }
  if (p.synced) seg->dirty = false;
  DayState& d = set->day(p.day);
  d.active_id = std::max(d.active_id, p.id);
  if (!p.seal) return;
  SealTask task;
  task.id = seg->id;
  task.index_path = SegmentFilePath(dir_, seg->id, "idx");
  task.index = seg->Index();
  task.file = std::move(seg->file);
  // Sealed segments were synced by WriteAndSync, so the sidecar describes
  // durable data; the check is a safeguard.
  task.write_index = !seg->dirty;
  if (task.write_index) seg->index_bytes = static_cast<int64_t>(seg->bytes);
  seals->push_back(std::move(task));
}

std::vector<SealTask> GroupCommit::Publish(SegmentSet* set) {
  std::vector<SealTask> seals;
  for (FilePlan& p : plans_) PublishFile(p, set, &seals);
  return seals;
}

void GroupCommit::RecycleBuffers(std::vector<std::string>* spare) {
  for (FilePlan& p : plans_) {
    if (spare->size() >= kMaxSpareBuffers) break;
    if (p.data.capacity() == 0 || p.data.capacity() > kMaxSpareBufferBytes) {
      continue;
    }
    p.data.clear();
    spare->push_back(std::move(p.data));
  }
}

void FinishSeals(FileSystem* fs, const std::string& dir,
                 std::vector<SealTask>& seals) {
  for (SealTask& task : seals) {
    if (task.file != nullptr) {
      if (absl::Status s = task.file->Close(); !s.ok()) {
        spdlog::warn("segment log {}: closing sealed segment {}: {}", dir,
                     task.id, std::string(s.message()));
      }
      task.file.reset();
    }
    if (!task.write_index) continue;
    absl::Status s = fs->WriteFileAtomically(
        task.index_path, log_format::EncodeIndex(task.index));
    if (!s.ok()) {
      // Only an optimisation: without it the segment is rescanned at Open.
      spdlog::warn("segment log {}: could not write {}: {}", dir,
                   task.index_path, std::string(s.message()));
    }
  }
}

}  // namespace continuum::store
