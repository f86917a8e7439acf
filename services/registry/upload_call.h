// One UploadVersion call (registry.proto) on gRPC's callback API, its
// messages read as raw bytes (lib/core/stream_messages.h) so that a
// message that does not parse ends the call with INVALID_ARGUMENT instead
// of looking like the client's half-close (with a typed reader, a stream
// of [metadata, all the bytes, garbage] used to end OK).
//
// Message 1 must be the metadata (Registry::BeginUpload checks it and
// opens a temporary blob), every later message a chunk, appended as it
// arrives; after the half-close Registry::FinishUpload verifies the bytes
// and commits the version. Each message is checked against its field rules
// (core::CheckFieldRules) first. Any error ends the call at once with the
// message's index, and nothing is stored (the temporary blob is removed):
//   message 3 of the stream is not a valid
//   continuum.v1.UploadVersionRequest (its bytes do not parse as that
//   message); nothing was stored: an upload is committed only after its
//   last message
//   message 1 of the stream: metadata.sha256: required; nothing was
//   stored: ...
// Appending and committing block the reactor's thread (disk writes, an
// fsync, one SQLite transaction) before the next message is read.
//
// Thread-safety: gRPC runs one reaction at a time; the object deletes
// itself in OnDone. The Registry must outlive it.
#ifndef CONTINUUM_SERVICES_REGISTRY_UPLOAD_CALL_H_
#define CONTINUUM_SERVICES_REGISTRY_UPLOAD_CALL_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "continuum/v1/registry.pb.h"
#include "services/registry/registry.h"

namespace continuum::registry {

class UploadCall final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  // Starts reading the call's messages; `response` receives the serialized
  // UploadVersionResponse.
  UploadCall(Registry* registry, grpc::CallbackServerContext* context,
             grpc::ByteBuffer* response);

  void OnReadDone(bool ok) override;
  void OnDone() override { delete this; }

 private:
  // Applies message `index_` of the stream.
  absl::Status Take(const v1::UploadVersionRequest& request);
  // After the half-close: verifies and commits.
  void Complete();
  // Ends the call with `status`, noting that nothing was stored.
  void Fail(const absl::Status& status);

  Registry* const registry_;
  grpc::CallbackServerContext* const context_;
  grpc::ByteBuffer* const response_;
  grpc::ByteBuffer buffer_;
  int64_t index_ = 0;
  std::unique_ptr<Upload> upload_;
};

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_UPLOAD_CALL_H_
