#include "lib/store/log_position.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "lib/store/log_format.h"

namespace continuum::store {
namespace {

constexpr uint8_t kPositionVersion = 1;
constexpr size_t kPositionBytes = 1 + 8 + 8 + 4;

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

absl::Status Malformed(absl::string_view encoded) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed log position \"", encoded.substr(0, 64), "\""));
}

}  // namespace

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
    return Malformed(encoded);
  }
  LogPosition pos;
  pos.segment_id = static_cast<int64_t>(GetLittleEndian(raw.data() + 1, 8));
  pos.offset = GetLittleEndian(raw.data() + 9, 8);
  pos.frame_bytes = static_cast<uint32_t>(GetLittleEndian(raw.data() + 17, 4));
  if (pos.segment_id < 0 ||
      (pos.frame_bytes != 0 &&
       (pos.frame_bytes < log_format::kFrameHeaderBytes ||
        pos.frame_bytes > pos.offset))) {
    return Malformed(encoded);
  }
  return pos;
}

}  // namespace continuum::store
