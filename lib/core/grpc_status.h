// Conversion between absl::Status (used by all domain code) and grpc::Status
// (used only by the thin gRPC handlers). The canonical codes of both are the
// same numbers, so the conversion keeps the code and the message.
#ifndef CONTINUUM_LIB_CORE_GRPC_STATUS_H_
#define CONTINUUM_LIB_CORE_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include <cstddef>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace continuum::core {

// Longest error message sent to a client, in bytes. Messages travel in HTTP/2
// trailers, and proxies reject large trailers; longer messages are cut at a
// UTF-8 character boundary and end with "... [N bytes truncated]".
inline constexpr size_t kMaxStatusMessageBytes = 4096;

// Returns `message` unchanged if it fits in `max_bytes`, otherwise its longest
// UTF-8-valid prefix followed by a note of how many bytes were dropped. The
// result never exceeds `max_bytes` (for max_bytes >= 64).
std::string TruncateStatusMessage(absl::string_view message,
                                  size_t max_bytes = kMaxStatusMessageBytes);

// Converts a domain status for a gRPC reply: same code, message truncated.
// Example: `return ToGrpcStatus(registry_->Promote(request));`
grpc::Status ToGrpcStatus(const absl::Status& status);

// Converts a status received from a gRPC call into a domain status with the
// same code and message. Codes outside the canonical range become UNKNOWN.
absl::Status FromGrpcStatus(const grpc::Status& status);

// The body of a thin unary handler: runs `fn` (returning absl::StatusOr<T>)
// and moves its value into *out, or converts its error. Example:
//   return Reply([&] { return registry_->GetModel(request->name()); },
//                response->mutable_model());
template <typename T, typename Fn>
grpc::Status Reply(Fn&& fn, T* out) {
  auto result = fn();
  if (!result.ok()) return ToGrpcStatus(result.status());
  *out = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace continuum::core

#endif  // CONTINUUM_LIB_CORE_GRPC_STATUS_H_
