#include "lib/core/grpc_status.h"

#include "absl/strings/str_cat.h"

namespace continuum::core {
namespace {

// Moves `end` back so that [0, end) does not split a UTF-8 sequence.
size_t Utf8Boundary(absl::string_view s, size_t end) {
  if (end >= s.size()) return s.size();
  // A continuation byte is 10xxxxxx; step back over them to the lead byte.
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) {
    --end;
  }
  return end;
}

}  // namespace

std::string TruncateStatusMessage(absl::string_view message, size_t max_bytes) {
  if (message.size() <= max_bytes) return std::string(message);
  // Reserve room for the suffix; 40 bytes hold any size_t.
  constexpr size_t kSuffixRoom = 40;
  size_t keep = max_bytes > kSuffixRoom ? max_bytes - kSuffixRoom : 0;
  keep = Utf8Boundary(message, keep);
  return absl::StrCat(message.substr(0, keep), "... [", message.size() - keep,
                      " bytes truncated]");
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()),
                      TruncateStatusMessage(status.message()));
}

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  int code = static_cast<int>(status.error_code());
  if (code < 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    return absl::UnknownError(status.error_message());
  }
  return absl::Status(static_cast<absl::StatusCode>(code),
                      status.error_message());
}

}  // namespace continuum::core
