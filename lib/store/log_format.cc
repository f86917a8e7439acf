#include "lib/store/log_format.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lib/store/crc32c.h"

namespace continuum::store::log_format {
namespace {

// Bytes read from a file at a time.
constexpr uint64_t kReadChunk = 256 << 10;

constexpr uint32_t kIndexMagic = 0xC01D1DC5u;
constexpr uint32_t kIndexVersion = 1;
// magic, version, min, max, records, bytes, n.
constexpr size_t kIndexFixedBytes = 4 + 4 + 8 + 8 + 8 + 8 + 4;

void PutU32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  out->append(b, 4);
}

void PutU64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
  out->append(b, 8);
}

uint32_t GetU32(const char* p) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  return static_cast<uint32_t>(u[0]) | (static_cast<uint32_t>(u[1]) << 8) |
         (static_cast<uint32_t>(u[2]) << 16) |
         (static_cast<uint32_t>(u[3]) << 24);
}

uint64_t GetU64(const char* p) {
  return static_cast<uint64_t>(GetU32(p)) |
         (static_cast<uint64_t>(GetU32(p + 4)) << 32);
}

// The magic number as it appears in a file.
const char kMagicBytes[4] = {static_cast<char>(kFrameMagic & 0xFF),
                             static_cast<char>((kFrameMagic >> 8) & 0xFF),
                             static_cast<char>((kFrameMagic >> 16) & 0xFF),
                             static_cast<char>((kFrameMagic >> 24) & 0xFF)};

// The CRC of a sealed frame starts from the CRC of one marker byte, so that
// a flipped sealed flag is a CRC mismatch like any other damaged bit.
uint32_t CrcSeed(bool sealed) { return sealed ? Crc32c("S") : 0; }

// Checks the frame starting at p, of which `available` bytes are at hand.
// Returns false with *why set if it is not a valid frame.
bool CheckFrame(const char* p, size_t available, Frame* frame,
                const char** why) {
  if (available < kFrameHeaderBytes) {
    *why = "incomplete header";
    return false;
  }
  if (GetU32(p) != kFrameMagic) {
    *why = "bad magic number";
    return false;
  }
  const uint32_t raw_length = GetU32(p + 4);
  const bool sealed = (raw_length & kSealedFlag) != 0;
  const uint32_t length = raw_length & ~kSealedFlag;
  if (length > kMaxFramePayloadBytes) {
    *why = "length over 64 MiB";
    return false;
  }
  if (available < kFrameHeaderBytes + length) {
    *why = "incomplete payload";
    return false;
  }
  const uint32_t expected = UnmaskCrc(GetU32(p + 8));
  if (ExtendCrc32c(CrcSeed(sealed), absl::string_view(p + 12, 8 + length)) !=
      expected) {
    *why = "CRC mismatch";
    return false;
  }
  frame->event_time_micros = static_cast<int64_t>(GetU64(p + 12));
  frame->payload = absl::string_view(p + kFrameHeaderBytes, length);
  frame->sealed = sealed;
  return true;
}

}  // namespace

void AppendFrame(int64_t event_time_micros, absl::string_view payload,
                 std::string* out, bool sealed) {
  char time_bytes[8];
  const uint64_t t = static_cast<uint64_t>(event_time_micros);
  for (int i = 0; i < 8; ++i)
    time_bytes[i] = static_cast<char>((t >> (8 * i)) & 0xFF);
  const uint32_t crc = ExtendCrc32c(
      ExtendCrc32c(CrcSeed(sealed), absl::string_view(time_bytes, 8)),
      payload);
  PutU32(out, kFrameMagic);
  PutU32(out, static_cast<uint32_t>(payload.size()) |
                  (sealed ? kSealedFlag : 0));
  PutU32(out, MaskCrc(crc));
  out->append(time_bytes, 8);
  out->append(payload.data(), payload.size());
}

std::string SealedPayloadContext(int64_t event_time_micros) {
  std::string out;
  PutU64(&out, static_cast<uint64_t>(event_time_micros));
  return out;
}

absl::Status ParseExactFrame(absl::string_view data, Frame* frame) {
  const char* why = nullptr;
  if (!CheckFrame(data.data(), data.size(), frame, &why)) {
    return absl::DataLossError(why);
  }
  if (kFrameHeaderBytes + frame->payload.size() != data.size()) {
    return absl::DataLossError(absl::StrCat(
        "frame length ", frame->payload.size(), " does not match the ",
        data.size() - kFrameHeaderBytes, " payload bytes expected"));
  }
  frame->offset = 0;
  frame->end = data.size();
  frame->skipped_offset = 0;
  frame->skipped_bytes = 0;
  return absl::OkStatus();
}

FrameReader::FrameReader(SequentialFile* file, uint64_t start, uint64_t limit)
    : file_(file),
      limit_(std::max(start, limit)),
      buf_offset_(start),
      pos_(start),
      valid_end_(start) {}

absl::StatusOr<size_t> FrameReader::Fill(size_t n) {
  size_t index = static_cast<size_t>(pos_ - buf_offset_);
  size_t available = buf_len_ - index;
  if (available >= n) return available;
  uint64_t file_pos = buf_offset_ + buf_len_;
  if (file_pos >= limit_) return available;
  if (index > 0) {  // Move the unread bytes (less than a frame) to the front.
    std::memmove(buf_.data(), buf_.data() + index, available);
    buf_len_ = available;
    buf_offset_ = pos_;
  }
  uint64_t want = std::max<uint64_t>(n - available, kReadChunk);
  want = std::min(want, limit_ - file_pos);
  if (buf_.size() < buf_len_ + want) buf_.resize(buf_len_ + want);
  while (want > 0) {
    absl::StatusOr<size_t> got =
        file_->ReadInto(buf_.data() + buf_len_, static_cast<size_t>(want));
    if (!got.ok()) return got.status();
    if (*got == 0) {  // The file is shorter than the limit.
      limit_ = file_pos;
      break;
    }
    buf_len_ += *got;
    file_pos += *got;
    bytes_read_ += *got;
    want -= *got;
  }
  return buf_len_ - static_cast<size_t>(pos_ - buf_offset_);
}

absl::StatusOr<bool> FrameReader::TryFrameAtPos(Frame* frame) {
  absl::StatusOr<size_t> available = Fill(kFrameHeaderBytes);
  if (!available.ok()) return available.status();
  if (*available < kFrameHeaderBytes) return false;
  const char* p = buf_.data() + (pos_ - buf_offset_);
  if (GetU32(p) != kFrameMagic) return false;
  const uint32_t length = GetU32(p + 4) & ~kSealedFlag;
  if (length > kMaxFramePayloadBytes || pos_ + FrameBytes(length) > limit_) {
    return false;
  }
  available = Fill(static_cast<size_t>(FrameBytes(length)));
  if (!available.ok()) return available.status();
  p = buf_.data() + (pos_ - buf_offset_);  // Fill may have moved the buffer.
  const char* why = nullptr;
  if (!CheckFrame(p, *available, frame, &why)) return false;
  frame->offset = pos_;
  frame->end = pos_ + FrameBytes(length);
  return true;
}

absl::StatusOr<bool> FrameReader::Next(Frame* frame) {
  for (;;) {
    if (pos_ >= limit_) return false;
    absl::StatusOr<bool> found = TryFrameAtPos(frame);
    if (!found.ok()) return found.status();
    if (*found) {
      if (in_corrupt_region_) {
        frame->skipped_offset = corrupt_start_;
        frame->skipped_bytes = pos_ - corrupt_start_;
        in_corrupt_region_ = false;
      } else {
        frame->skipped_offset = 0;
        frame->skipped_bytes = 0;
      }
      pos_ = frame->end;
      valid_end_ = pos_;
      return true;
    }
    if (!in_corrupt_region_) {
      in_corrupt_region_ = true;
      corrupt_start_ = pos_;
    }
    // Resynchronise: look for the next magic number after pos_.
    ++pos_;
    for (;;) {
      const uint64_t buf_end = buf_offset_ + buf_len_;
      if (pos_ >= limit_) {
        pos_ = limit_;
        break;
      }
      if (pos_ < buf_end) {
        const size_t index = static_cast<size_t>(pos_ - buf_offset_);
        const absl::string_view window(buf_.data() + index, buf_len_ - index);
        const size_t hit = window.find(absl::string_view(kMagicBytes, 4));
        if (hit != absl::string_view::npos) {
          pos_ += hit;
          break;
        }
        // Keep the last 3 bytes: a magic number may straddle the next read.
        pos_ = std::max(pos_, buf_end >= 3 ? buf_end - 3 : 0);
      }
      if (buf_end >= limit_) {
        pos_ = limit_;
        break;
      }
      absl::StatusOr<size_t> available =
          Fill(static_cast<size_t>(buf_end - pos_) + 1);
      if (!available.ok()) return available.status();
    }
  }
}

std::string EncodeIndex(const SegmentIndex& index) {
  std::string out;
  out.reserve(kIndexFixedBytes + 8 * index.checkpoints.size() + 4);
  PutU32(&out, kIndexMagic);
  PutU32(&out, kIndexVersion);
  PutU64(&out, static_cast<uint64_t>(index.min_event_time_micros));
  PutU64(&out, static_cast<uint64_t>(index.max_event_time_micros));
  PutU64(&out, static_cast<uint64_t>(index.records));
  PutU64(&out, index.bytes);
  PutU32(&out, static_cast<uint32_t>(index.checkpoints.size()));
  for (uint64_t c : index.checkpoints) PutU64(&out, c);
  PutU32(&out, MaskCrc(Crc32c(out)));
  return out;
}

absl::StatusOr<SegmentIndex> DecodeIndex(absl::string_view data) {
  if (data.size() < kIndexFixedBytes + 4) {
    return absl::DataLossError("index sidecar too short");
  }
  const char* p = data.data();
  if (GetU32(p) != kIndexMagic)
    return absl::DataLossError("index sidecar: bad magic");
  if (GetU32(p + 4) != kIndexVersion) {
    return absl::DataLossError("index sidecar: unknown version");
  }
  const uint64_t n = GetU32(p + kIndexFixedBytes - 4);
  if (data.size() != kIndexFixedBytes + 8 * n + 4) {
    return absl::DataLossError("index sidecar: wrong size");
  }
  const size_t crc_at = data.size() - 4;
  if (UnmaskCrc(GetU32(p + crc_at)) != Crc32c(data.substr(0, crc_at))) {
    return absl::DataLossError("index sidecar: CRC mismatch");
  }
  SegmentIndex index;
  index.min_event_time_micros = static_cast<int64_t>(GetU64(p + 8));
  index.max_event_time_micros = static_cast<int64_t>(GetU64(p + 16));
  index.records = static_cast<int64_t>(GetU64(p + 24));
  index.bytes = GetU64(p + 32);
  index.checkpoints.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t c = GetU64(p + kIndexFixedBytes + 8 * i);
    if ((i > 0 && c <= index.checkpoints.back()) || c >= index.bytes) {
      return absl::DataLossError("index sidecar: bad checkpoint");
    }
    index.checkpoints.push_back(c);
  }
  if (index.records < 0 ||
      (index.records > 0 &&
       index.min_event_time_micros > index.max_event_time_micros)) {
    return absl::DataLossError("index sidecar: bad counts");
  }
  return index;
}

}  // namespace continuum::store::log_format
