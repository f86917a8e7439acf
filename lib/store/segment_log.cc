#include "lib/store/segment_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/civil_time.h"
#include "lib/store/log_format.h"

namespace continuum::store {
namespace {

// Syncs *file; when it is null (its handle was dropped after a failed
// group), first opens `path` into *opened and points *file at it.
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

using log_format::FrameBytes;
using log_format::kCheckpointInterval;
using log_format::kFrameHeaderBytes;

constexpr int64_t kMicrosPerDay = int64_t{86'400} * 1'000'000;
// Segment ids are day * kSegmentsPerDay + sequence, in 10 decimal digits.
constexpr int64_t kSegmentsPerDay = 100'000;
constexpr int64_t kMaxDay = 99'999;
// Most bytes of frames one group commit writes (the leader's own entries
// are always taken, however large).
constexpr uint64_t kMaxGroupBytes = 8 << 20;
constexpr char kLockFileName[] = "LOCK";
// Encode buffers kept between groups: how many, and the largest kept.
constexpr size_t kMaxSpareBuffers = 4;
constexpr size_t kMaxSpareBufferBytes = 16 << 20;
constexpr uint8_t kPositionVersion = 1;
constexpr size_t kPositionBytes = 1 + 8 + 8 + 4;

const absl::CivilDay kEpochDay(1970, 1, 1);

std::string DayDirName(int64_t day) {
  const absl::CivilDay d = kEpochDay + day;
  return absl::StrFormat("%04d%02d%02d", d.year(), d.month(), d.day());
}

// Parses "yyyymmdd" into days since the epoch.
bool ParseDayDirName(absl::string_view name, int64_t* day) {
  if (name.size() != 8) return false;
  for (char c : name) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  int year = 0;
  int month = 0;
  int dom = 0;
  if (!absl::SimpleAtoi(name.substr(0, 4), &year) ||
      !absl::SimpleAtoi(name.substr(4, 2), &month) ||
      !absl::SimpleAtoi(name.substr(6, 2), &dom)) {
    return false;
  }
  const absl::CivilDay d(year, month, dom);
  if (d.year() != year || d.month() != month || d.day() != dom) return false;
  *day = d - kEpochDay;
  return *day >= 0 && *day <= kMaxDay;
}

// Parses "<10 digits>.<extension>".
bool ParseSegmentFileName(absl::string_view name, int64_t* id,
                          absl::string_view* extension) {
  if (name.size() < 12 || name[10] != '.') return false;
  for (int i = 0; i < 10; ++i) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(name[i]))) return false;
  }
  if (!absl::SimpleAtoi(name.substr(0, 10), id)) return false;
  *extension = name.substr(11);
  return true;
}

// The status an Append reports for an I/O error: always UNAVAILABLE.
absl::Status AppendError(const std::string& dir, const absl::Status& cause) {
  return absl::UnavailableError(
      absl::StrCat("segment log ", dir,
                   ": append failed, nothing acknowledged: ", cause.message()));
}

void PutLittleEndian(uint64_t v, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i)
    out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

uint64_t GetLittleEndian(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  }
  return v;
}

// Adds the frame starting at `offset` to `checkpoints` if it is far enough
// from the last one.
void MaybeAddCheckpoint(uint64_t offset, std::vector<uint64_t>* checkpoints) {
  if (checkpoints->empty() ||
      offset >= checkpoints->back() + kCheckpointInterval) {
    checkpoints->push_back(offset);
  }
}

// The same for a segment whose last checkpoint is *last (none if null) and
// whose checkpoints added by the current group are `added`.
void MaybeAddCheckpoint(uint64_t offset, const uint64_t* last,
                        std::vector<uint64_t>* added) {
  if (!added->empty()) last = &added->back();
  if (last == nullptr || offset >= *last + kCheckpointInterval) {
    added->push_back(offset);
  }
}

}  // namespace

// ---------------------------------------------------------------------------
// LogPosition

std::string LogPosition::Encode() const {
  std::string raw;
  raw.reserve(kPositionBytes);
  raw.push_back(static_cast<char>(kPositionVersion));
  PutLittleEndian(static_cast<uint64_t>(segment_id), 8, &raw);
  PutLittleEndian(offset, 8, &raw);
  PutLittleEndian(frame_bytes, 4, &raw);
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<LogPosition> LogPosition::Decode(absl::string_view encoded) {
  std::string raw;
  if (encoded.empty() || !absl::WebSafeBase64Unescape(encoded, &raw) ||
      raw.size() != kPositionBytes ||
      static_cast<uint8_t>(raw[0]) != kPositionVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed log position \"", encoded.substr(0, 64), "\""));
  }
  LogPosition pos;
  pos.segment_id = static_cast<int64_t>(GetLittleEndian(raw.data() + 1, 8));
  pos.offset = GetLittleEndian(raw.data() + 9, 8);
  pos.frame_bytes = static_cast<uint32_t>(GetLittleEndian(raw.data() + 17, 4));
  if (pos.segment_id < 0 ||
      (pos.frame_bytes != 0 &&
       (pos.frame_bytes < kFrameHeaderBytes || pos.frame_bytes > pos.offset))) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed log position \"", encoded.substr(0, 64), "\""));
  }
  return pos;
}

// ---------------------------------------------------------------------------
// Write plans

// What a group commit does to one segment file.
struct SegmentLog::FilePlan {
  int64_t id = 0;
  int64_t day = 0;
  std::string path;
  // A segment created by this group (the file does not exist yet).
  bool is_new = false;
  // The first segment of its day (its directory may need creating).
  bool first_of_day = false;
  // The existing segment, or null for a new one.
  Segment* segment = nullptr;
  // The file to append to: the segment's open file, or `opened`.
  WritableFile* file = nullptr;
  std::unique_ptr<WritableFile> opened;
  // The file's size before the group; the entries to append (encoded into
  // `data` once mu_ is released) and their frames' total size.
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

// A segment sealed by a group: its sidecar is written once the group is
// published.
struct SegmentLog::SealTask {
  std::string index_path;
  log_format::SegmentIndex index;
  std::unique_ptr<WritableFile> file;
  int64_t id = 0;
  bool write_index = true;
};

// ---------------------------------------------------------------------------
// Opening and recovery

SegmentLog::SegmentLog(SegmentLogOptions options)
    : options_(std::move(options)), fs_(options_.fs) {}

SegmentLog::~SegmentLog() {
  if (absl::Status s = Close(); !s.ok()) {
    spdlog::error("segment log {}: close: {}", options_.dir,
                  std::string(s.message()));
  }
}

std::string SegmentLog::DayDir(int64_t day) const {
  return JoinPath(options_.dir, DayDirName(day));
}

std::string SegmentLog::SegmentPath(int64_t id,
                                    absl::string_view extension) const {
  return JoinPath(DayDir(id / kSegmentsPerDay),
                  absl::StrFormat("%010d.%s", id, extension));
}

absl::StatusOr<std::unique_ptr<SegmentLog>> SegmentLog::Open(
    SegmentLogOptions options, RecoveryReport* report) {
  if (options.fs == nullptr) {
    return absl::InvalidArgumentError("SegmentLogOptions.fs is null");
  }
  if (options.dir.empty()) {
    return absl::InvalidArgumentError("SegmentLogOptions.dir is empty");
  }
  if (options.max_segment_bytes < kFrameHeaderBytes) {
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
      fs->LockFile(JoinPath(options.dir, kLockFileName));
  if (!lock.ok()) return lock.status();

  std::unique_ptr<SegmentLog> log(new SegmentLog(std::move(options)));
  RecoveryReport local;
  {
    absl::MutexLock l(&log->mu_);
    log->lock_ = *std::move(lock);
    if (absl::Status s = log->Recover(&local); !s.ok()) {
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

absl::Status SegmentLog::Recover(RecoveryReport* report) {
  absl::StatusOr<std::vector<std::string>> children =
      fs_->GetChildren(options_.dir);
  if (!children.ok()) return children.status();

  struct Found {
    int64_t day = 0;
    bool has_log = false;
    bool has_index = false;
  };
  std::map<int64_t, Found> found;
  for (const std::string& day_name : *children) {
    int64_t day = 0;
    if (!ParseDayDirName(day_name, &day)) continue;
    const std::string day_dir = JoinPath(options_.dir, day_name);
    absl::StatusOr<std::vector<std::string>> files = fs_->GetChildren(day_dir);
    if (!files.ok()) return files.status();
    Day& d = days_[day];
    for (const std::string& name : *files) {
      const std::string path = JoinPath(day_dir, name);
      if (absl::EndsWith(name, ".tmp")) {
        // An atomic write interrupted by a crash.
        if (absl::Status s = fs_->DeleteFile(path);
            !s.ok() && !absl::IsNotFound(s)) {
          return s;
        }
        continue;
      }
      int64_t id = 0;
      absl::string_view extension;
      if (!ParseSegmentFileName(name, &id, &extension)) continue;
      if (id / kSegmentsPerDay != day) {
        spdlog::warn("segment log {}: ignoring {}: its id is not of day {}",
                     options_.dir, path, day_name);
        continue;
      }
      if (extension == "log") {
        found[id].day = day;
        found[id].has_log = true;
      } else if (extension == "idx") {
        found[id].day = day;
        found[id].has_index = true;
      } else if (extension == "tomb") {
        d.tomb_id = std::max(d.tomb_id, id);
      }
    }
  }

  // The newest segment of each day.
  for (const auto& [id, f] : found) {
    if (!f.has_log) continue;
    Day& d = days_[f.day];
    d.active_id = std::max(d.active_id, id);
  }
  for (auto& [day, d] : days_) {
    d.next_seq = std::max(d.active_id, d.tomb_id) < 0
                     ? 0
                     : std::max(d.active_id, d.tomb_id) % kSegmentsPerDay + 1;
  }

  for (const auto& [id, f] : found) {
    if (!f.has_log) {
      // A sidecar whose segment retention deleted before a crash.
      absl::Status s = fs_->DeleteFile(SegmentPath(id, "idx"));
      if (!s.ok() && !absl::IsNotFound(s)) return s;
      continue;
    }
    const bool newest = days_[f.day].active_id == id;
    if (absl::Status s = RecoverSegment(id, f.day, newest, f.has_index, report);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status SegmentLog::RecoverSegment(int64_t id, int64_t day,
                                        bool newest_of_day, bool has_index,
                                        RecoveryReport* report) {
  Segment seg;
  seg.id = id;
  seg.day = day;
  seg.path = SegmentPath(id, "log");
  absl::StatusOr<uint64_t> size = fs_->GetFileSize(seg.path);
  if (!size.ok()) return size.status();

  bool indexed = false;
  if (has_index) {
    const std::string index_path = SegmentPath(id, "idx");
    absl::StatusOr<std::string> data = fs_->ReadFileToString(index_path);
    if (!data.ok()) return data.status();
    absl::StatusOr<log_format::SegmentIndex> index =
        log_format::DecodeIndex(*data);
    if (!index.ok()) {
      spdlog::warn("segment log {}: ignoring {}: {}; rescanning the segment",
                   options_.dir, index_path,
                   std::string(index.status().message()));
    } else if (index->bytes != *size) {
      // Appended to (or cut) since the sidecar was written.
      spdlog::info(
          "segment log {}: {} describes {} bytes, the segment has {}; "
          "rescanning it",
          options_.dir, index_path, index->bytes, *size);
    } else if ((index->records > 0) != !index->checkpoints.empty()) {
      spdlog::warn("segment log {}: ignoring {}: inconsistent; rescanning",
                   options_.dir, index_path);
    } else {
      indexed = true;
      seg.records = index->records;
      seg.min_event_time_micros = index->min_event_time_micros;
      seg.max_event_time_micros = index->max_event_time_micros;
      seg.bytes = index->bytes;
      seg.checkpoints = std::move(index->checkpoints);
      seg.index_bytes = static_cast<int64_t>(index->bytes);
    }
  }

  if (!indexed) {
    absl::StatusOr<std::unique_ptr<SequentialFile>> file =
        fs_->NewSequentialFile(seg.path);
    if (!file.ok()) return file.status();
    log_format::FrameReader reader(file->get(), 0, *size);
    log_format::Frame frame;
    for (;;) {
      absl::StatusOr<bool> more = reader.Next(&frame);
      if (!more.ok()) return more.status();
      if (!*more) break;
      if (frame.skipped_bytes > 0) {
        ++report->skipped_corrupt_records;
        spdlog::warn(
            "segment log {}: skipped {} corrupt bytes at offset {} of {}",
            options_.dir, frame.skipped_bytes, frame.skipped_offset, seg.path);
      }
      if (seg.records == 0) {
        seg.min_event_time_micros = frame.event_time_micros;
        seg.max_event_time_micros = frame.event_time_micros;
      } else {
        seg.min_event_time_micros =
            std::min(seg.min_event_time_micros, frame.event_time_micros);
        seg.max_event_time_micros =
            std::max(seg.max_event_time_micros, frame.event_time_micros);
      }
      ++seg.records;
      MaybeAddCheckpoint(frame.offset, &seg.checkpoints);
    }
    seg.bytes = reader.valid_end();
    if (reader.tail_bytes() > 0) {
      spdlog::warn(
          "segment log {}: truncating {} torn or corrupt tail bytes at offset "
          "{} of {}",
          options_.dir, reader.tail_bytes(), reader.valid_end(), seg.path);
      if (absl::Status s = fs_->Truncate(seg.path, seg.bytes); !s.ok())
        return s;
      absl::StatusOr<std::unique_ptr<WritableFile>> w =
          fs_->NewAppendableFile(seg.path);
      if (!w.ok()) return w.status();
      if (absl::Status s = (*w)->Sync(); !s.ok()) return s;
      report->truncated_tail_bytes += static_cast<int64_t>(reader.tail_bytes());
    }
    if (seg.records == 0) {
      seg.min_event_time_micros = seg.max_event_time_micros =
          day * kMicrosPerDay;
    }
    if (!newest_of_day) {
      // Sealed before the crash, or left behind by one: write its sidecar so
      // that the next start does not scan it again.
      log_format::SegmentIndex index{seg.min_event_time_micros,
                                     seg.max_event_time_micros, seg.records,
                                     seg.bytes, seg.checkpoints};
      absl::Status s = fs_->WriteFileAtomically(SegmentPath(id, "idx"),
                                                log_format::EncodeIndex(index));
      if (s.ok()) {
        seg.index_bytes = static_cast<int64_t>(seg.bytes);
      } else {
        spdlog::warn("segment log {}: could not write the index of {}: {}",
                     options_.dir, seg.path, std::string(s.message()));
      }
    }
  }

  ++report->segments;
  report->records += seg.records;
  total_bytes_ += seg.bytes;
  total_records_ += seg.records;
  segments_.emplace(id, std::move(seg));
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// The write queue

absl::Status SegmentLog::UsableLocked() const {
  if (destroyed_) {
    return absl::FailedPreconditionError(
        absl::StrCat("segment log ", options_.dir, " was destroyed"));
  }
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

absl::StatusOr<std::vector<LogPosition>> SegmentLog::Append(
    absl::Span<const LogEntry> entries, bool sync) {
  for (size_t i = 0; i < entries.size(); ++i) {
    const LogEntry& e = entries[i];
    if (e.payload.size() > kMaxPayloadBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", i, ": payload of ", e.payload.size(),
                       " bytes is over the limit of ", kMaxPayloadBytes));
    }
    if (e.event_time_micros < 0 ||
        e.event_time_micros / kMicrosPerDay > kMaxDay) {
      return absl::InvalidArgumentError(
          absl::StrCat("entry ", i, ": event time ", e.event_time_micros,
                       " us is outside [1970-01-01, 2243-10-17)"));
    }
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
  std::vector<Writer*> group;
  uint64_t group_bytes = 0;
  for (Writer* o : writers_) {
    if (o->exclusive) break;
    uint64_t bytes = 0;
    for (const LogEntry& e : o->entries) bytes += FrameBytes(e.payload.size());
    if (!group.empty() && group_bytes + bytes > kMaxGroupBytes) break;
    group.push_back(o);
    group_bytes += bytes;
  }
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

absl::Status SegmentLog::PlanNewSegment(int64_t day,
                                        std::vector<FilePlan>* plans) {
  Day& d = days_[day];
  if (d.next_seq >= kSegmentsPerDay) {
    return absl::ResourceExhaustedError(
        absl::StrCat("segment log ", options_.dir, ": day ", DayDirName(day),
                     " already has ", kSegmentsPerDay, " segments"));
  }
  FilePlan p;
  p.id = day * kSegmentsPerDay + d.next_seq++;
  p.day = day;
  p.path = SegmentPath(p.id, "log");
  p.is_new = true;
  p.first_of_day = d.active_id < 0;
  for (const FilePlan& other : *plans) {
    if (other.day == day) p.first_of_day = false;
  }
  plans->push_back(std::move(p));
  return absl::OkStatus();
}

absl::Status SegmentLog::WriteGroupLocked(const std::vector<Writer*>& group) {
  // 1. Plan, under mu_: which file each entry goes to, at which offset.
  std::vector<FilePlan> plans;
  absl::flat_hash_map<int64_t, size_t> current;  // day -> index in plans
  bool group_sync = false;
  for (Writer* g : group) {
    g->mu->AssertHeld();
    group_sync |= g->sync;
    g->positions.clear();
    g->positions.reserve(g->entries.size());
    for (const LogEntry& e : g->entries) {
      const int64_t day = e.event_time_micros / kMicrosPerDay;
      const uint64_t frame = FrameBytes(e.payload.size());
      size_t index;
      auto it = current.find(day);
      if (it != current.end()) {
        index = it->second;
      } else {
        auto d = days_.find(day);
        if (d != days_.end() && d->second.active_id >= 0) {
          Segment& seg = segments_.at(d->second.active_id);
          FilePlan p;
          p.id = seg.id;
          p.day = day;
          p.path = seg.path;
          p.segment = &seg;
          p.file = seg.file.get();
          p.start_size = seg.bytes;
          p.has_last_checkpoint = !seg.checkpoints.empty();
          if (p.has_last_checkpoint) p.last_checkpoint = seg.checkpoints.back();
          p.was_dirty = seg.dirty;
          plans.push_back(std::move(p));
        } else if (absl::Status s = PlanNewSegment(day, &plans); !s.ok()) {
          return s;
        }
        index = plans.size() - 1;
      }
      uint64_t at = plans[index].start_size + plans[index].data_bytes;
      if (at > 0 && at + frame > options_.max_segment_bytes) {
        plans[index].seal = true;
        if (absl::Status s = PlanNewSegment(day, &plans); !s.ok()) return s;
        index = plans.size() - 1;
        at = 0;
      }
      current[day] = index;
      FilePlan& p = plans[index];
      MaybeAddCheckpoint(at,
                         p.has_last_checkpoint ? &p.last_checkpoint : nullptr,
                         &p.new_checkpoints);
      p.entries.push_back(&e);
      p.data_bytes += frame;
      if (p.records == 0) {
        p.min_event_time_micros = p.max_event_time_micros = e.event_time_micros;
      } else {
        p.min_event_time_micros =
            std::min(p.min_event_time_micros, e.event_time_micros);
        p.max_event_time_micros =
            std::max(p.max_event_time_micros, e.event_time_micros);
      }
      ++p.records;
      g->positions.push_back(
          LogPosition{p.id, at + frame, static_cast<uint32_t>(frame)});
    }
  }

  for (FilePlan& p : plans) {
    if (p.data_bytes > 0 && !spare_buffers_.empty()) {
      p.data = std::move(spare_buffers_.back());
      spare_buffers_.pop_back();
      p.data.clear();
    }
  }

  // 2. Write and sync, without mu_: this thread leads the queue, so no other
  // writer, retention or close touches these files meanwhile.
  mu_.Unlock();
  for (FilePlan& p : plans) {
    p.data.reserve(p.data_bytes);
    for (const LogEntry* e : p.entries) {
      log_format::AppendFrame(e->event_time_micros, e->payload, &p.data);
    }
  }
  absl::Status status;
  for (FilePlan& p : plans) {
    if (p.data.empty()) continue;
    if (p.is_new) {
      const std::string day_dir = DayDir(p.day);
      status = fs_->CreateDirs(day_dir);
      if (status.ok() && p.first_of_day) status = fs_->SyncDir(options_.dir);
      if (!status.ok()) break;
      absl::StatusOr<std::unique_ptr<WritableFile>> f =
          fs_->NewAppendableFile(p.path);
      if (!f.ok()) {
        status = f.status();
        break;
      }
      p.opened = *std::move(f);
      p.file = p.opened.get();
      status = fs_->SyncDir(day_dir);
      if (!status.ok()) break;
    } else if (p.file == nullptr) {
      absl::StatusOr<std::unique_ptr<WritableFile>> f =
          fs_->NewAppendableFile(p.path);
      if (!f.ok()) {
        status = f.status();
        break;
      }
      p.opened = *std::move(f);
      p.file = p.opened.get();
    }
    if (p.file->size() != p.start_size) {
      status = absl::DataLossError(absl::StrCat(
          p.path, " has ", p.file->size(), " bytes, expected ", p.start_size));
      break;
    }
    p.append_attempted = true;
    status = p.file->Append(p.data);
    if (!status.ok()) break;
  }
  if (status.ok()) {
    for (FilePlan& p : plans) {
      const bool written = !p.data.empty();
      if ((group_sync && written) || (p.seal && (written || p.was_dirty))) {
        // Dirty, but its file may have been dropped after a failed group.
        status = SyncOrReopen(fs_, p.path, &p.file, &p.opened);
        if (!status.ok()) break;
        p.synced = true;
      }
    }
  }
  if (!status.ok()) {
    spdlog::error("segment log {}: append failed: {}", options_.dir,
                  std::string(status.message()));
    absl::Status undo = RollbackGroup(plans);
    mu_.Lock();
    // Drop the open files of the touched segments: the next group reopens
    // them and so learns their size again.
    std::vector<std::unique_ptr<WritableFile>> to_close;
    for (FilePlan& p : plans) {
      if (p.segment != nullptr && p.append_attempted &&
          p.segment->file != nullptr) {
        to_close.push_back(std::move(p.segment->file));
      }
    }
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
    RecycleBuffersLocked(plans);
    return AppendError(options_.dir, status);
  }

  // 3. Publish, under mu_.
  mu_.Lock();
  std::vector<SealTask> seals;
  for (FilePlan& p : plans) {
    Segment* seg = p.segment;
    if (p.is_new) {
      if (p.data.empty()) continue;  // Planned, but not needed after all.
      Segment fresh;
      fresh.id = p.id;
      fresh.day = p.day;
      fresh.path = p.path;
      fresh.min_event_time_micros = p.min_event_time_micros;
      fresh.max_event_time_micros = p.max_event_time_micros;
      seg = &segments_.emplace(p.id, std::move(fresh)).first->second;
    }
    if (p.opened != nullptr) seg->file = std::move(p.opened);
    if (!p.data.empty()) {
      if (seg->records == 0) {
        seg->min_event_time_micros = p.min_event_time_micros;
        seg->max_event_time_micros = p.max_event_time_micros;
      } else {
        seg->min_event_time_micros =
            std::min(seg->min_event_time_micros, p.min_event_time_micros);
        seg->max_event_time_micros =
            std::max(seg->max_event_time_micros, p.max_event_time_micros);
      }
      seg->records += p.records;
      seg->bytes += p.data.size();
      seg->checkpoints.insert(seg->checkpoints.end(), p.new_checkpoints.begin(),
                              p.new_checkpoints.end());
      seg->dirty = true;
      total_bytes_ += p.data.size();
      total_records_ += p.records;
    }
    if (p.synced) seg->dirty = false;
    Day& d = days_[p.day];
    d.active_id = std::max(d.active_id, p.id);
    if (p.seal) {
      SealTask task;
      task.id = seg->id;
      task.index_path = SegmentPath(seg->id, "idx");
      task.index = log_format::SegmentIndex{
          seg->min_event_time_micros, seg->max_event_time_micros, seg->records,
          seg->bytes, seg->checkpoints};
      task.file = std::move(seg->file);
      // Sealed segments were synced above, so the sidecar describes
      // durable data; the check is a safeguard.
      task.write_index = !seg->dirty;
      if (task.write_index) seg->index_bytes = static_cast<int64_t>(seg->bytes);
      seals.push_back(std::move(task));
    }
  }
  RecycleBuffersLocked(plans);
  if (!seals.empty()) {
    mu_.Unlock();
    FinishSeals(seals);
    mu_.Lock();
  }
  return absl::OkStatus();
}

void SegmentLog::RecycleBuffersLocked(std::vector<FilePlan>& plans) {
  for (FilePlan& p : plans) {
    if (spare_buffers_.size() >= kMaxSpareBuffers) break;
    if (p.data.capacity() == 0 || p.data.capacity() > kMaxSpareBufferBytes)
      continue;
    p.data.clear();
    spare_buffers_.push_back(std::move(p.data));
  }
}

absl::Status SegmentLog::RollbackGroup(std::vector<FilePlan>& plans) {
  absl::Status first_error;
  for (FilePlan& p : plans) {
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
          "segment log {}: could not truncate {} back to {} bytes: {}",
          options_.dir, p.path, p.start_size, std::string(s.message()));
      if (first_error.ok()) first_error = s;
    }
    p.opened.reset();
  }
  return first_error;
}

void SegmentLog::FinishSeals(std::vector<SealTask>& seals) {
  for (SealTask& task : seals) {
    if (task.file != nullptr) {
      if (absl::Status s = task.file->Close(); !s.ok()) {
        spdlog::warn("segment log {}: closing sealed segment {}: {}",
                     options_.dir, task.id, std::string(s.message()));
      }
      task.file.reset();
    }
    if (!task.write_index) continue;
    absl::Status s = fs_->WriteFileAtomically(
        task.index_path, log_format::EncodeIndex(task.index));
    if (!s.ok()) {
      // Only an optimisation: without it the segment is rescanned at Open.
      spdlog::warn("segment log {}: could not write {}: {}", options_.dir,
                   task.index_path, std::string(s.message()));
    }
  }
}

absl::Status SegmentLog::Sync() {
  Writer w(&mu_);
  w.exclusive = true;
  absl::MutexLock lock(&mu_);
  if (absl::Status s = UsableLocked(); !s.ok()) return s;
  EnterQueueLocked(&w);
  if (absl::Status s = UsableLocked(); !s.ok()) {  // Closed while waiting.
    LeaveQueueLocked(&w);
    return s;
  }
  struct ToSync {
    Segment* segment;
    WritableFile* file;
    std::unique_ptr<WritableFile> opened;
  };
  std::vector<ToSync> to_sync;
  for (auto& [id, seg] : segments_) {
    if (seg.dirty) to_sync.push_back({&seg, seg.file.get(), nullptr});
  }
  mu_.Unlock();
  absl::Status status;
  std::vector<Segment*> synced;
  for (ToSync& t : to_sync) {
    status = SyncOrReopen(fs_, t.segment->path, &t.file, &t.opened);
    if (!status.ok()) break;
    synced.push_back(t.segment);
  }
  mu_.Lock();
  for (Segment* seg : synced) seg->dirty = false;
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
  struct Target {
    int64_t id;
    std::string path;
    uint64_t begin;
    uint64_t limit;
  };
  std::vector<Target> targets;
  {
    absl::MutexLock lock(&mu_);
    if (destroyed_) {
      return absl::FailedPreconditionError(
          absl::StrCat("segment log ", options_.dir, " was destroyed"));
    }
    for (const auto& [id, seg] : segments_) {
      if (after != nullptr && id < after->segment_id) continue;
      const uint64_t begin =
          (after != nullptr && id == after->segment_id) ? after->offset : 0;
      if (begin >= seg.bytes || seg.records == 0) continue;
      if (seg.max_event_time_micros < start_micros) continue;
      if (end_micros > 0 && seg.min_event_time_micros >= end_micros) continue;
      targets.push_back(Target{id, seg.path, begin, seg.bytes});
    }
  }

  ScanStats local;
  absl::Status status;
  bool stopped = false;
  for (const Target& t : targets) {
    absl::StatusOr<std::unique_ptr<SequentialFile>> file =
        fs_->NewSequentialFile(t.path);
    if (absl::IsNotFound(file.status())) continue;  // Deleted by retention.
    if (!file.ok()) {
      status = absl::UnavailableError(file.status().message());
      break;
    }
    ++local.segments_opened;
    if (t.begin > 0) {
      if (absl::Status s = (*file)->Skip(t.begin); !s.ok()) {
        status = absl::UnavailableError(s.message());
        break;
      }
    }
    log_format::FrameReader reader(file->get(), t.begin, t.limit);
    log_format::Frame frame;
    for (;;) {
      absl::StatusOr<bool> more = reader.Next(&frame);
      if (!more.ok()) {
        status = absl::UnavailableError(more.status().message());
        break;
      }
      if (!*more) break;
      if (frame.skipped_bytes > 0) {
        ++local.skipped_corrupt_records;
        spdlog::warn(
            "segment log {}: scan skipped {} corrupt bytes at offset {} of {}",
            options_.dir, frame.skipped_bytes, frame.skipped_offset, t.path);
      }
      ++local.records_read;
      if (frame.event_time_micros < start_micros ||
          (end_micros > 0 && frame.event_time_micros >= end_micros)) {
        continue;
      }
      ++local.records_returned;
      const LogPosition pos{t.id, frame.end,
                            static_cast<uint32_t>(frame.end - frame.offset)};
      if (!fn(pos, frame.event_time_micros, frame.payload)) {
        stopped = true;
        break;
      }
    }
    local.bytes_read += reader.bytes_read();
    if (!status.ok() || stopped) break;
    if (reader.tail_bytes() > 0) {
      ++local.skipped_corrupt_records;
      spdlog::warn(
          "segment log {}: scan skipped {} corrupt bytes at offset {} of {}",
          options_.dir, reader.tail_bytes(), reader.valid_end(), t.path);
    }
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
  std::string path;
  uint64_t checkpoint = 0;
  {
    absl::MutexLock lock(&mu_);
    if (destroyed_) {
      return absl::FailedPreconditionError(
          absl::StrCat("segment log ", options_.dir, " was destroyed"));
    }
    auto it = segments_.find(pos.segment_id);
    if (it == segments_.end()) {
      return absl::NotFoundError(
          absl::StrCat("segment ", pos.segment_id, " of ", options_.dir,
                       " does not exist (deleted by retention?)"));
    }
    const Segment& seg = it->second;
    if (pos.offset > seg.bytes) {
      return absl::NotFoundError(absl::StrCat("offset ", pos.offset,
                                              " is past the end (", seg.bytes,
                                              ") of ", seg.path));
    }
    path = seg.path;
    // The last checkpoint at which the record may start.
    auto cp = std::upper_bound(
        seg.checkpoints.begin(), seg.checkpoints.end(),
        pos.offset >= kFrameHeaderBytes ? pos.offset - kFrameHeaderBytes : 0);
    if (pos.offset < kFrameHeaderBytes || cp == seg.checkpoints.begin()) {
      return absl::DataLossError(absl::StrCat("no record ends at offset ",
                                              pos.offset, " of ", seg.path));
    }
    checkpoint = *std::prev(cp);
  }

  absl::StatusOr<std::unique_ptr<SequentialFile>> file =
      fs_->NewSequentialFile(path);
  if (absl::IsNotFound(file.status())) {
    return absl::NotFoundError(
        absl::StrCat(path, " no longer exists (deleted by retention?)"));
  }
  if (!file.ok()) return absl::UnavailableError(file.status().message());

  log_format::Frame frame;
  if (pos.frame_bytes >= kFrameHeaderBytes && pos.frame_bytes <= pos.offset) {
    const uint64_t start = pos.offset - pos.frame_bytes;
    if (absl::Status s = (*file)->Skip(start); !s.ok()) {
      return absl::UnavailableError(s.message());
    }
    std::string scratch;
    absl::StatusOr<absl::string_view> data =
        (*file)->Read(pos.frame_bytes, &scratch);
    if (!data.ok()) return absl::UnavailableError(data.status().message());
    if (absl::Status s = log_format::ParseExactFrame(*data, &frame); !s.ok()) {
      return absl::DataLossError(absl::StrCat("record at offset ", start,
                                              " of ", path, ": ", s.message()));
    }
    payload->assign(frame.payload.data(), frame.payload.size());
    if (event_time_micros != nullptr)
      *event_time_micros = frame.event_time_micros;
    return absl::OkStatus();
  }

  // No frame size: read forward from the checkpoint to the record.
  if (absl::Status s = (*file)->Skip(checkpoint); !s.ok()) {
    return absl::UnavailableError(s.message());
  }
  log_format::FrameReader reader(file->get(), checkpoint, pos.offset);
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(&frame);
    if (!more.ok()) return absl::UnavailableError(more.status().message());
    if (!*more) break;
    if (frame.end == pos.offset) {
      payload->assign(frame.payload.data(), frame.payload.size());
      if (event_time_micros != nullptr)
        *event_time_micros = frame.event_time_micros;
      return absl::OkStatus();
    }
  }
  return absl::DataLossError(absl::StrCat("no valid record ends at offset ",
                                          pos.offset, " of ", path));
}

std::vector<SegmentInfo> SegmentLog::Segments() const {
  absl::MutexLock lock(&mu_);
  std::vector<SegmentInfo> infos;
  infos.reserve(segments_.size());
  for (const auto& [id, seg] : segments_) {
    SegmentInfo info;
    info.id = id;
    info.path = seg.path;
    info.day = seg.day;
    info.min_event_time_micros = seg.min_event_time_micros;
    info.max_event_time_micros = seg.max_event_time_micros;
    info.records = seg.records;
    info.bytes = seg.bytes;
    auto d = days_.find(seg.day);
    info.active = d != days_.end() && d->second.active_id == id;
    infos.push_back(std::move(info));
  }
  return infos;
}

uint64_t SegmentLog::TotalBytes() const {
  absl::MutexLock lock(&mu_);
  return total_bytes_;
}

int64_t SegmentLog::TotalRecords() const {
  absl::MutexLock lock(&mu_);
  return total_records_;
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
  if (absl::Status s = UsableLocked(); !s.ok()) return s;
  EnterQueueLocked(&w);
  if (absl::Status s = UsableLocked(); !s.ok()) {  // Closed while waiting.
    LeaveQueueLocked(&w);
    return s;
  }

  // The active segment of the newest day is never deleted.
  int64_t protected_id = -1;
  for (auto it = days_.rbegin(); it != days_.rend(); ++it) {
    if (it->second.active_id >= 0) {
      protected_id = it->second.active_id;
      break;
    }
  }
  std::set<int64_t> victims;  // Ordered: oldest first.
  uint64_t remaining = total_bytes_;
  for (const auto& [id, seg] : segments_) {
    if (id == protected_id) continue;
    const int64_t newest =
        seg.records > 0 ? seg.max_event_time_micros : seg.day * kMicrosPerDay;
    if (newest < min_event_time_micros) {
      victims.insert(id);
      remaining -= seg.bytes;
    }
  }
  if (max_bytes > 0) {
    for (const auto& [id, seg] : segments_) {
      if (remaining <= max_bytes) break;
      if (id == protected_id || victims.contains(id)) continue;
      victims.insert(id);
      remaining -= seg.bytes;
    }
  }

  struct Victim {
    int64_t id;
    int64_t day;
    std::string path;
    uint64_t bytes;
    int64_t records;
    std::unique_ptr<WritableFile> file;
    // Its day's newest id: leave a tombstone before deleting it.
    bool needs_tomb;
    int64_t old_tomb;
  };
  std::vector<Victim> plan;
  for (int64_t id : victims) {
    Segment& seg = segments_.at(id);
    const Day& d = days_.at(seg.day);
    plan.push_back(Victim{id, seg.day, seg.path, seg.bytes, seg.records,
                          std::move(seg.file), d.active_id == id, d.tomb_id});
  }

  mu_.Unlock();
  absl::Status status;
  std::vector<int64_t> deleted;
  std::vector<std::pair<int64_t, int64_t>> tombs;  // (day, tomb id)
  for (Victim& v : plan) {
    v.file.reset();
    if (v.needs_tomb) {
      status = fs_->WriteFileAtomically(SegmentPath(v.id, "tomb"), "");
      if (!status.ok()) break;
      if (v.old_tomb >= 0) {
        absl::Status s = fs_->DeleteFile(SegmentPath(v.old_tomb, "tomb"));
        if (!s.ok() && !absl::IsNotFound(s)) {
          spdlog::warn("segment log {}: {}", options_.dir,
                       std::string(s.message()));
        }
      }
      tombs.emplace_back(v.day, v.id);
    }
    status = fs_->DeleteFile(SegmentPath(v.id, "idx"));
    if (absl::IsNotFound(status)) status = absl::OkStatus();
    if (status.ok()) status = fs_->DeleteFile(v.path);
    if (absl::IsNotFound(status)) status = absl::OkStatus();
    if (!status.ok()) break;
    deleted.push_back(v.id);
  }
  // Make the deletions durable (best effort: a deletion that is lost in a
  // crash is redone by the next retention pass).
  std::vector<int64_t> days_touched;
  for (const Victim& v : plan) days_touched.push_back(v.day);
  std::sort(days_touched.begin(), days_touched.end());
  days_touched.erase(std::unique(days_touched.begin(), days_touched.end()),
                     days_touched.end());
  for (int64_t day : days_touched) {
    if (absl::Status s = fs_->SyncDir(DayDir(day)); !s.ok()) {
      spdlog::warn("segment log {}: {}", options_.dir,
                   std::string(s.message()));
    }
  }
  mu_.Lock();

  RetentionResult result;
  for (const auto& [day, tomb] : tombs) days_[day].tomb_id = tomb;
  for (int64_t id : deleted) {
    auto it = segments_.find(id);
    const int64_t day = it->second.day;
    result.deleted_segments += 1;
    result.deleted_records += it->second.records;
    result.deleted_bytes += it->second.bytes;
    total_bytes_ -= it->second.bytes;
    total_records_ -= it->second.records;
    segments_.erase(it);
    Day& d = days_[day];
    if (d.active_id == id) {
      // The day's newest remaining segment (if any) becomes its active one.
      d.active_id = -1;
      auto end = segments_.lower_bound((day + 1) * kSegmentsPerDay);
      if (end != segments_.begin() &&
          std::prev(end)->first >= day * kSegmentsPerDay) {
        d.active_id = std::prev(end)->first;
      }
    }
  }
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
  struct ToClose {
    Segment* segment;
    std::unique_ptr<WritableFile> file;
    bool sync;
    bool write_index;
    log_format::SegmentIndex index;
  };
  std::vector<ToClose> work;
  const bool healthy = failed_.ok();
  for (auto& [id, seg] : segments_) {
    const bool write_index =
        healthy && seg.index_bytes != static_cast<int64_t>(seg.bytes);
    if (seg.file == nullptr && !seg.dirty && !write_index) continue;
    work.push_back(
        ToClose{&seg, std::move(seg.file), seg.dirty, write_index,
                log_format::SegmentIndex{seg.min_event_time_micros,
                                         seg.max_event_time_micros, seg.records,
                                         seg.bytes, seg.checkpoints}});
  }
  mu_.Unlock();
  absl::Status status;
  std::vector<Segment*> indexed;
  std::vector<Segment*> synced;
  for (ToClose& t : work) {
    bool durable = !t.sync;
    if (t.sync) {
      if (t.file == nullptr) {
        absl::StatusOr<std::unique_ptr<WritableFile>> f =
            fs_->NewAppendableFile(t.segment->path);
        if (f.ok()) {
          t.file = *std::move(f);
        } else if (status.ok()) {
          status = f.status();
        }
      }
      if (t.file != nullptr) {
        absl::Status s = t.file->Sync();
        if (s.ok()) {
          durable = true;
          synced.push_back(t.segment);
        } else if (status.ok()) {
          status = s;
        }
      }
    }
    if (t.file != nullptr) {
      absl::Status s = t.file->Close();
      if (!s.ok() && status.ok()) status = s;
      t.file.reset();
    }
    if (t.write_index && durable) {
      absl::Status s = fs_->WriteFileAtomically(
          SegmentPath(t.segment->id, "idx"), log_format::EncodeIndex(t.index));
      if (s.ok()) {
        indexed.push_back(t.segment);
      } else {
        spdlog::warn("segment log {}: could not write the index of {}: {}",
                     options_.dir, t.segment->path, std::string(s.message()));
      }
    }
  }
  mu_.Lock();
  for (Segment* seg : synced) seg->dirty = false;
  for (Segment* seg : indexed)
    seg->index_bytes = static_cast<int64_t>(seg->bytes);
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
  for (auto& [id, seg] : segments_) {
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
    segments_.clear();
    days_.clear();
    total_bytes_ = 0;
    total_records_ = 0;
    destroyed_ = true;
  }
  closed_ = true;
  lock_.reset();
  LeaveQueueLocked(&w);
  return status;
}

}  // namespace continuum::store
