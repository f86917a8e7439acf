#include "lib/store/segment_reader.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>
#include <memory>

#include "absl/strings/str_cat.h"
#include "lib/store/log_format.h"

namespace continuum::store {
namespace {

using log_format::kFrameHeaderBytes;

absl::Status SetRecord(const log_format::Frame& frame, const KeyRing* keys,
                       const std::string& path, uint64_t offset,
                       std::string* payload, int64_t* event_time_micros) {
  if (frame.sealed) {
    if (absl::Status s = OpenSealedPayload(keys, frame, path, offset, payload);
        !s.ok()) {
      return s;
    }
  } else {
    payload->assign(frame.payload.data(), frame.payload.size());
  }
  if (event_time_micros != nullptr) {
    *event_time_micros = frame.event_time_micros;
  }
  return absl::OkStatus();
}

// Reads the frame of pos.frame_bytes bytes that ends at pos.offset.
absl::Status ReadExactFrame(SequentialFile* file, const std::string& path,
                            const KeyRing* keys, const LogPosition& pos,
                            std::string* payload,
                            int64_t* event_time_micros) {
  const uint64_t start = pos.offset - pos.frame_bytes;
  if (absl::Status s = file->Skip(start); !s.ok()) {
    return absl::UnavailableError(s.message());
  }
  std::string scratch;
  absl::StatusOr<absl::string_view> data =
      file->Read(pos.frame_bytes, &scratch);
  if (!data.ok()) return absl::UnavailableError(data.status().message());
  log_format::Frame frame;
  if (absl::Status s = log_format::ParseExactFrame(*data, &frame); !s.ok()) {
    return absl::DataLossError(absl::StrCat("record at offset ", start, " of ",
                                            path, ": ", s.message()));
  }
  return SetRecord(frame, keys, path, start, payload, event_time_micros);
}

// Reads forward from `checkpoint` to the frame that ends at pos.offset.
absl::Status ReadFromCheckpoint(SequentialFile* file, const std::string& path,
                                const KeyRing* keys, uint64_t checkpoint,
                                const LogPosition& pos,
                                std::string* payload,
                                int64_t* event_time_micros) {
  if (absl::Status s = file->Skip(checkpoint); !s.ok()) {
    return absl::UnavailableError(s.message());
  }
  log_format::FrameReader reader(file, checkpoint, pos.offset);
  log_format::Frame frame;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(&frame);
    if (!more.ok()) return absl::UnavailableError(more.status().message());
    if (!*more) break;
    if (frame.end == pos.offset) {
      return SetRecord(frame, keys, path, frame.offset, payload,
                       event_time_micros);
    }
  }
  return absl::DataLossError(absl::StrCat("no valid record ends at offset ",
                                          pos.offset, " of ", path));
}

}  // namespace

absl::Status OpenSealedPayload(const KeyRing* keys,
                               const log_format::Frame& frame,
                               const std::string& path, uint64_t offset,
                               std::string* plaintext) {
  if (keys == nullptr) {
    absl::StatusOr<std::string> id = KeyRing::KeyIdOf(frame.payload);
    return absl::FailedPreconditionError(absl::StrCat(
        path, " holds records encrypted with key ", id.ok() ? *id : "(?)",
        " but no encryption keys are configured (server.encryption)"));
  }
  absl::Status s = keys->Open(
      frame.payload, log_format::SealedPayloadContext(frame.event_time_micros),
      plaintext);
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("record at offset ", offset,
                                             " of ", path, ": ", s.message()));
}

std::vector<ScanTarget> SelectScanTargets(const SegmentSet& set,
                                          int64_t start_micros,
                                          int64_t end_micros,
                                          const LogPosition* after) {
  std::vector<ScanTarget> targets;
  for (const auto& [id, seg] : set.segments()) {
    if (after != nullptr && id < after->segment_id) continue;
    const uint64_t begin =
        (after != nullptr && id == after->segment_id) ? after->offset : 0;
    if (begin >= seg.bytes || seg.records == 0) continue;
    if (seg.max_event_time_micros < start_micros) continue;
    if (end_micros > 0 && seg.min_event_time_micros >= end_micros) continue;
    targets.push_back(ScanTarget{id, seg.path, begin, seg.bytes});
  }
  return targets;
}

absl::Status ScanSegment(FileSystem* fs, const KeyRing* keys,
                         const std::string& dir, const ScanTarget& t,
                         int64_t start_micros,
                         int64_t end_micros,
                         const SegmentLog::ScanCallback& fn, ScanStats* stats,
                         bool* stopped) {
  absl::StatusOr<std::unique_ptr<SequentialFile>> file =
      fs->NewSequentialFile(t.path);
  if (absl::IsNotFound(file.status())) return absl::OkStatus();  // Deleted.
  if (!file.ok()) return absl::UnavailableError(file.status().message());
  ++stats->segments_opened;
  if (t.begin > 0) {
    if (absl::Status s = (*file)->Skip(t.begin); !s.ok()) {
      return absl::UnavailableError(s.message());
    }
  }
  log_format::FrameReader reader(file->get(), t.begin, t.limit);
  log_format::Frame frame;
  absl::Status status;
  std::string plaintext;  // Of a sealed frame.
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(&frame);
    if (!more.ok()) {
      status = absl::UnavailableError(more.status().message());
      break;
    }
    if (!*more) break;
    if (frame.skipped_bytes > 0) {
      ++stats->skipped_corrupt_records;
      spdlog::warn(
          "segment log {}: scan skipped {} corrupt bytes at offset {} of {}",
          dir, frame.skipped_bytes, frame.skipped_offset, t.path);
    }
    ++stats->records_read;
    if (frame.event_time_micros < start_micros ||
        (end_micros > 0 && frame.event_time_micros >= end_micros)) {
      continue;
    }
    absl::string_view payload = frame.payload;
    if (frame.sealed) {
      absl::Status s =
          OpenSealedPayload(keys, frame, t.path, frame.offset, &plaintext);
      if (absl::IsDataLoss(s)) {  // Tampered or damaged: as a bad CRC.
        ++stats->skipped_corrupt_records;
        spdlog::warn("segment log {}: scan skipped a record: {}", dir,
                     std::string(s.message()));
        continue;
      }
      if (!s.ok()) {
        status = s;
        break;
      }
      payload = plaintext;
    }
    ++stats->records_returned;
    const LogPosition pos{t.id, frame.end,
                          static_cast<uint32_t>(frame.end - frame.offset)};
    if (!fn(pos, frame.event_time_micros, payload)) {
      *stopped = true;
      break;
    }
  }
  stats->bytes_read += reader.bytes_read();
  if (!status.ok() || *stopped) return status;
  if (reader.tail_bytes() > 0) {
    ++stats->skipped_corrupt_records;
    spdlog::warn(
        "segment log {}: scan skipped {} corrupt bytes at offset {} of {}", dir,
        reader.tail_bytes(), reader.valid_end(), t.path);
  }
  return absl::OkStatus();
}

absl::StatusOr<RecordLocation> LocateRecord(const SegmentSet& set,
                                            const std::string& dir,
                                            const LogPosition& pos) {
  auto it = set.segments().find(pos.segment_id);
  if (it == set.segments().end()) {
    return absl::NotFoundError(
        absl::StrCat("segment ", pos.segment_id, " of ", dir,
                     " does not exist (deleted by retention?)"));
  }
  const SegmentState& seg = it->second;
  if (pos.offset > seg.bytes) {
    return absl::NotFoundError(absl::StrCat("offset ", pos.offset,
                                            " is past the end (", seg.bytes,
                                            ") of ", seg.path));
  }
  // The last checkpoint at which the record may start.
  auto cp = std::upper_bound(
      seg.checkpoints.begin(), seg.checkpoints.end(),
      pos.offset >= kFrameHeaderBytes ? pos.offset - kFrameHeaderBytes : 0);
  if (pos.offset < kFrameHeaderBytes || cp == seg.checkpoints.begin()) {
    return absl::DataLossError(absl::StrCat("no record ends at offset ",
                                            pos.offset, " of ", seg.path));
  }
  return RecordLocation{seg.path, *std::prev(cp)};
}

absl::Status ReadRecord(FileSystem* fs, const KeyRing* keys,
                        const RecordLocation& location,
                        const LogPosition& pos, std::string* payload,
                        int64_t* event_time_micros) {
  const std::string& path = location.path;
  absl::StatusOr<std::unique_ptr<SequentialFile>> file =
      fs->NewSequentialFile(path);
  if (absl::IsNotFound(file.status())) {
    return absl::NotFoundError(
        absl::StrCat(path, " no longer exists (deleted by retention?)"));
  }
  if (!file.ok()) return absl::UnavailableError(file.status().message());
  if (pos.frame_bytes >= kFrameHeaderBytes && pos.frame_bytes <= pos.offset) {
    return ReadExactFrame(file->get(), path, keys, pos, payload,
                          event_time_micros);
  }
  // No frame size: read forward from the checkpoint to the record.
  return ReadFromCheckpoint(file->get(), path, keys, location.checkpoint, pos,
                            payload, event_time_micros);
}

}  // namespace continuum::store
