#include "lib/store/segment_reencrypt.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/store/log_format.h"
#include "lib/store/segment_files.h"

namespace continuum::store {
namespace {

// The segment's bytes, already in memory, as the SequentialFile FrameReader
// reads, so that a segment is read from disk once.
class StringFile : public SequentialFile {
 public:
  explicit StringFile(absl::string_view data) : rest_(data) {}
  absl::StatusOr<absl::string_view> Read(size_t n, std::string*) override {
    const absl::string_view out = rest_.substr(0, n);
    rest_.remove_prefix(out.size());
    return out;
  }
  absl::Status Skip(uint64_t n) override {
    rest_.remove_prefix(static_cast<size_t>(std::min<uint64_t>(n, rest_.size())));
    return absl::OkStatus();
  }

 private:
  absl::string_view rest_;
};

// Re-seals the stale frames of one segment file; adds to *result.
absl::Status ReencryptSegmentFile(FileSystem* fs, const std::string& path,
                                  const KeyRing& keys,
                                  SegmentReencryptResult* result) {
  absl::StatusOr<std::string> data = fs->ReadFileToString(path);
  if (!data.ok()) return data.status();
  // Frames are patched in *data as they are read: sealed records keep their
  // size under every key, so offsets do not move.
  StringFile file(*data);
  log_format::FrameReader reader(&file, 0, data->size());
  log_format::Frame frame;
  std::string plaintext;
  std::string payload;
  std::string encoded;
  int64_t rekeyed = 0;
  for (;;) {
    absl::StatusOr<bool> more = reader.Next(&frame);
    if (!more.ok()) return more.status();
    if (!*more) break;
    if (!frame.sealed) {
      ++result->plaintext_records;
      continue;
    }
    absl::StatusOr<std::string> key = KeyRing::KeyIdOf(frame.payload);
    if (!key.ok()) {
      return absl::DataLossError(absl::StrCat(
          "record at offset ", frame.offset, " of ", path, ": ",
          key.status().message()));
    }
    if (*key == keys.active_key_id()) continue;
    const std::string context =
        log_format::SealedPayloadContext(frame.event_time_micros);
    if (absl::Status s = keys.Open(frame.payload, context, &plaintext);
        !s.ok()) {
      return absl::Status(s.code(),
                          absl::StrCat("record at offset ", frame.offset,
                                       " of ", path, ": ", s.message()));
    }
    payload.clear();
    keys.Seal(plaintext, context, &payload);
    encoded.clear();
    log_format::AppendFrame(frame.event_time_micros, payload, &encoded,
                            /*sealed=*/true);
    if (encoded.size() != frame.end - frame.offset) {
      return absl::InternalError(absl::StrCat(
          "record at offset ", frame.offset, " of ", path,
          ": re-sealing changed its size"));
    }
    std::memcpy(data->data() + frame.offset, encoded.data(), encoded.size());
    ++rekeyed;
  }
  ++result->segments;
  if (rekeyed == 0) return absl::OkStatus();
  if (absl::Status s = fs->WriteFileAtomically(path, *data); !s.ok()) return s;
  ++result->rewritten_segments;
  result->rekeyed_records += rekeyed;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SegmentReencryptResult> ReencryptSegmentLog(
    FileSystem* fs, const std::string& dir, const KeyRing& keys) {
  absl::StatusOr<std::unique_ptr<FileLock>> lock =
      fs->LockFile(JoinPath(dir, kSegmentLogLockFileName));
  if (!lock.ok()) {
    return absl::Status(lock.status().code(),
                        absl::StrCat("segment log ", dir,
                                     " is open in a running process (stop "
                                     "it first): ",
                                     lock.status().message()));
  }
  absl::StatusOr<SegmentDirListing> listing = ListSegmentDir(fs, dir);
  if (!listing.ok()) return listing.status();
  SegmentReencryptResult result;
  for (const auto& [id, found] : listing->segments) {
    if (!found.has_log) continue;
    if (absl::Status s = ReencryptSegmentFile(
            fs, SegmentFilePath(dir, id, "log"), keys, &result);
        !s.ok()) {
      return s;
    }
  }
  return result;
}

}  // namespace continuum::store
