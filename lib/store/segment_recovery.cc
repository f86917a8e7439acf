#include "lib/store/segment_recovery.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include "lib/store/log_format.h"
#include "lib/store/segment_files.h"

namespace continuum::store {
namespace {

// The sidecar at `index_path` if it can stand for a scan of a segment of
// `size` bytes: its CRC matches, it describes exactly `size` bytes, and it
// is consistent. nullopt (with a log line saying why) otherwise. Errors are
// those of reading the file.
absl::StatusOr<std::optional<log_format::SegmentIndex>> ReadUsableIndex(
    FileSystem* fs, const std::string& dir, const std::string& index_path,
    uint64_t size) {
  absl::StatusOr<std::string> data = fs->ReadFileToString(index_path);
  if (!data.ok()) return data.status();
  absl::StatusOr<log_format::SegmentIndex> index =
      log_format::DecodeIndex(*data);
  if (!index.ok()) {
    spdlog::warn("segment log {}: ignoring {}: {}; rescanning the segment", dir,
                 index_path, std::string(index.status().message()));
    return std::nullopt;
  }
  if (index->bytes != size) {
    // Appended to (or cut) since the sidecar was written.
    spdlog::info(
        "segment log {}: {} describes {} bytes, the segment has {}; "
        "rescanning it",
        dir, index_path, index->bytes, size);
    return std::nullopt;
  }
  if ((index->records > 0) != !index->checkpoints.empty()) {
    spdlog::warn("segment log {}: ignoring {}: inconsistent; rescanning", dir,
                 index_path);
    return std::nullopt;
  }
  return *std::move(index);
}

// Cuts the torn tail of `path` at `valid_end` and fsyncs the file.
absl::Status TruncateTornTail(FileSystem* fs, const std::string& path,
                              uint64_t valid_end) {
  if (absl::Status s = fs->Truncate(path, valid_end); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<WritableFile>> w =
      fs->NewAppendableFile(path);
  if (!w.ok()) return w.status();
  return (*w)->Sync();
}

// Scans the `size` bytes of seg->path frame by frame into *seg (records,
// event-time range, checkpoints, bytes), skipping corrupt regions and
// truncating a torn tail; counts both in *report.
absl::Status ScanSegmentFile(FileSystem* fs, const std::string& dir,
                             uint64_t size, SegmentState* seg,
                             RecoveryReport* report) {
  absl::StatusOr<std::unique_ptr<SequentialFile>> file =
      fs->NewSequentialFile(seg->path);
  if (!file.ok()) return file.status();
  log_format::FrameReader reader(file->get(), 0, size);
  log_format::Frame frame;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(&frame);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (frame.skipped_bytes > 0) {
      ++report->skipped_corrupt_records;
      spdlog::warn(
          "segment log {}: skipped {} corrupt bytes at offset {} of {}", dir,
          frame.skipped_bytes, frame.skipped_offset, seg->path);
    }
    ExtendTimeRange(seg->records == 0, frame.event_time_micros,
                    frame.event_time_micros, &seg->min_event_time_micros,
                    &seg->max_event_time_micros);
    ++seg->records;
    MaybeAddCheckpoint(frame.offset, &seg->checkpoints);
  }
  seg->bytes = reader.valid_end();
  if (reader.tail_bytes() > 0) {
    spdlog::warn(
        "segment log {}: truncating {} torn or corrupt tail bytes at offset "
        "{} of {}",
        dir, reader.tail_bytes(), reader.valid_end(), seg->path);
    if (absl::Status s = TruncateTornTail(fs, seg->path, seg->bytes); !s.ok()) {
      return s;
    }
    report->truncated_tail_bytes += static_cast<int64_t>(reader.tail_bytes());
  }
  if (seg->records == 0) {
    seg->min_event_time_micros = seg->max_event_time_micros =
        seg->day * kMicrosPerDay;
  }
  return absl::OkStatus();
}

// Writes the sidecar of a scanned segment that is no longer appended to
// (best effort: without it the next Open scans the segment again).
void WriteSealedIndex(FileSystem* fs, const std::string& dir,
                      SegmentState* seg) {
  absl::Status s =
      fs->WriteFileAtomically(SegmentFilePath(dir, seg->id, "idx"),
                              log_format::EncodeIndex(seg->Index()));
  if (s.ok()) {
    seg->index_bytes = static_cast<int64_t>(seg->bytes);
  } else {
    spdlog::warn("segment log {}: could not write the index of {}: {}", dir,
                 seg->path, std::string(s.message()));
  }
}

}  // namespace

absl::StatusOr<SegmentState> RecoverSegment(FileSystem* fs,
                                            const std::string& dir, int64_t id,
                                            bool newest_of_day, bool has_index,
                                            RecoveryReport* report) {
  SegmentState seg;
  seg.id = id;
  seg.day = DayOfSegment(id);
  seg.path = SegmentFilePath(dir, id, "log");
  absl::StatusOr<uint64_t> size = fs->GetFileSize(seg.path);
  if (!size.ok()) return size.status();

  std::optional<log_format::SegmentIndex> index;
  if (has_index) {
    absl::StatusOr<std::optional<log_format::SegmentIndex>> read =
        ReadUsableIndex(fs, dir, SegmentFilePath(dir, id, "idx"), *size);
    if (!read.ok()) return read.status();
    index = *std::move(read);
  }
  if (index.has_value()) {
    seg.records = index->records;
    seg.min_event_time_micros = index->min_event_time_micros;
    seg.max_event_time_micros = index->max_event_time_micros;
    seg.bytes = index->bytes;
    seg.checkpoints = std::move(index->checkpoints);
    seg.index_bytes = static_cast<int64_t>(index->bytes);
  } else {
    if (absl::Status s = ScanSegmentFile(fs, dir, *size, &seg, report);
        !s.ok()) {
      return s;
    }
    // Sealed before the crash, or left behind by one: write its sidecar so
    // that the next start does not scan it again.
    if (!newest_of_day) WriteSealedIndex(fs, dir, &seg);
  }
  ++report->segments;
  report->records += seg.records;
  return seg;
}

absl::Status RecoverSegments(FileSystem* fs, const std::string& dir,
                             SegmentSet* set, RecoveryReport* report) {
  absl::StatusOr<SegmentDirListing> listing = ListSegmentDir(fs, dir);
  if (!listing.ok()) return listing.status();
  for (const auto& [day, tomb_id] : listing->day_tombs) {
    set->day(day).tomb_id = tomb_id;
  }
  // The newest segment of each day.
  for (const auto& [id, found] : listing->segments) {
    if (!found.has_log) continue;
    DayState& d = set->day(found.day);
    d.active_id = std::max(d.active_id, id);
  }
  for (auto& [day, d] : set->days()) {
    const int64_t newest = std::max(d.active_id, d.tomb_id);
    d.next_seq = newest < 0 ? 0 : newest % kSegmentsPerDay + 1;
  }
  for (const auto& [id, found] : listing->segments) {
    if (!found.has_log) {
      // A sidecar whose segment retention deleted before a crash.
      absl::Status s = fs->DeleteFile(SegmentFilePath(dir, id, "idx"));
      if (!s.ok() && !absl::IsNotFound(s)) return s;
      continue;
    }
    const bool newest = set->day(found.day).active_id == id;
    absl::StatusOr<SegmentState> seg =
        RecoverSegment(fs, dir, id, newest, found.has_index, report);
    if (!seg.ok()) return seg.status();
    set->Add(*std::move(seg));
  }
  return absl::OkStatus();
}

}  // namespace continuum::store
