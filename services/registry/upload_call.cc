#include "services/registry/upload_call.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/call_identity.h"
#include "lib/core/field_rules.h"
#include "lib/core/grpc_status.h"
#include "lib/core/stream_messages.h"

namespace continuum::registry {

UploadCall::UploadCall(Registry* registry, grpc::CallbackServerContext* context,
                       grpc::ByteBuffer* response)
    : registry_(registry), context_(context), response_(response) {
  StartRead(&buffer_);
}

void UploadCall::OnReadDone(bool ok) {
  if (!ok) {  // The half-close, or a cancelled call.
    Complete();
    return;
  }
  ++index_;
  v1::UploadVersionRequest request;
  absl::Status s = core::ParseStreamMessage(buffer_, index_, &request);
  if (s.ok()) {
    s = core::CheckFieldRules(request);
    if (!s.ok()) {
      s = absl::InvalidArgumentError(
          absl::StrCat("message ", index_, " of the stream: ", s.message()));
    }
  }
  if (s.ok()) s = Take(request);
  if (!s.ok()) {
    Fail(s);
    return;
  }
  StartRead(&buffer_);
}

absl::Status UploadCall::Take(const v1::UploadVersionRequest& request) {
  if (index_ == 1) {
    if (!request.has_metadata()) {
      return absl::InvalidArgumentError(
          "the first message of an upload must be the metadata");
    }
    absl::StatusOr<std::unique_ptr<Upload>> upload =
        registry_->BeginUpload(request.metadata());
    if (!upload.ok()) return upload.status();
    upload_ = *std::move(upload);
    return absl::OkStatus();
  }
  if (!request.has_chunk()) {
    return absl::InvalidArgumentError(
        absl::StrCat("message ", index_,
                     " of the upload is not a chunk: send the "
                     "metadata once, first"));
  }
  return upload_->Append(request.chunk());
}

void UploadCall::Complete() {
  if (context_->IsCancelled()) {
    Finish(grpc::Status(grpc::StatusCode::CANCELLED, "upload cancelled"));
    return;
  }
  if (upload_ == nullptr) {
    Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "empty upload: send the metadata, then the bytes"));
    return;
  }
  absl::StatusOr<v1::UploadVersionResponse> response =
      registry_->FinishUpload(Caller{core::ActorOf(*context_)}, *upload_);
  upload_.reset();
  if (!response.ok()) {
    Finish(core::ToGrpcStatus(response.status()));
    return;
  }
  Finish(core::SerializeStreamMessage(*response, response_));
}

void UploadCall::Fail(const absl::Status& status) {
  upload_.reset();  // Removes the temporary blob.
  Finish(core::ToGrpcStatus(absl::Status(
      status.code(),
      absl::StrCat(status.message(),
                   "; nothing was stored: an upload is committed only after "
                   "its last message"))));
}

}  // namespace continuum::registry
