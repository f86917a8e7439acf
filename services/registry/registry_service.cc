#include "services/registry/registry_service.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/core/call_identity.h"
#include "lib/core/filter.h"
#include "lib/core/grpc_status.h"
#include "services/registry/deployment_cursor.h"

namespace continuum::registry {
namespace {

using core::Reply;
using core::ToGrpcStatus;

// Until authentication exists, a caller may say who it is in the
// `x-continuum-actor` metadata (core::ActorOf); the audit log records it.
Caller CallerOf(const grpc::ServerContextBase* context) {
  return Caller{core::ActorOf(*context)};
}

// One WatchDeployments stream: a DeploymentCursor polled when the stream
// starts and after each revision `revisions` publishes.
class DeploymentWatch final
    : public core::WatchReactor<v1::WatchDeploymentsResponse> {
 public:
  DeploymentWatch(DeploymentFeed* feed, core::SequenceNotifier* revisions,
                  core::OpenStreams* streams,
                  const v1::WatchDeploymentsRequest& request)
      : WatchReactor(streams, revisions), cursor_(feed, request) {}

 private:
  Batch Next() override {
    Batch batch;
    if (absl::Status s = cursor_.Poll(&batch.messages); !s.ok()) {
      batch.end = ToGrpcStatus(s);
    }
    return batch;
  }

  DeploymentCursor cursor_;
};

}  // namespace

grpc::Status RegistryServiceImpl::RegisterModel(
    grpc::ServerContext* context, const v1::RegisterModelRequest* request,
    v1::RegisterModelResponse* response) {
  return Reply(
      [&] { return registry_->RegisterModel(CallerOf(context), *request); },
      response->mutable_model());
}

grpc::Status RegistryServiceImpl::GetModel(grpc::ServerContext*,
                                           const v1::GetModelRequest* request,
                                           v1::GetModelResponse* response) {
  return Reply([&] { return registry_->GetModel(request->name()); },
               response->mutable_model());
}

grpc::Status RegistryServiceImpl::ListModels(
    grpc::ServerContext*, const v1::ListModelsRequest* request,
    v1::ListModelsResponse* response) {
  return Reply([&] { return registry_->ListModels(*request); }, response);
}

grpc::Status RegistryServiceImpl::UpdateModel(
    grpc::ServerContext* context, const v1::UpdateModelRequest* request,
    v1::UpdateModelResponse* response) {
  return Reply(
      [&] { return registry_->UpdateModel(CallerOf(context), *request); },
      response->mutable_model());
}

grpc::Status RegistryServiceImpl::UploadVersion(
    grpc::ServerContext* context,
    grpc::ServerReader<v1::UploadVersionRequest>* reader,
    v1::UploadVersionResponse* response) {
  v1::UploadVersionRequest request;
  if (!reader->Read(&request)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "empty upload: send the metadata, then the bytes");
  }
  if (!request.has_metadata()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the first message of an upload must be the metadata");
  }
  absl::StatusOr<std::unique_ptr<Upload>> upload =
      registry_->BeginUpload(request.metadata());
  if (!upload.ok()) return ToGrpcStatus(upload.status());
  int64_t messages = 1;
  while (reader->Read(&request)) {
    ++messages;
    if (!request.has_chunk()) {
      return grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("message ", messages,
                       " of the upload is not a chunk: send the "
                       "metadata once, first"));
    }
    if (request.chunk().size() > static_cast<size_t>(kMaxChunkBytes)) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("chunk of ", request.chunk().size(),
                                       " bytes; at most ", kMaxChunkBytes));
    }
    if (absl::Status s = (*upload)->Append(request.chunk()); !s.ok()) {
      return ToGrpcStatus(s);
    }
  }
  if (context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "upload cancelled");
  }
  return Reply(
      [&] { return registry_->FinishUpload(CallerOf(context), **upload); },
      response);
}

grpc::Status RegistryServiceImpl::GetVersion(
    grpc::ServerContext*, const v1::GetVersionRequest* request,
    v1::GetVersionResponse* response) {
  return Reply([&] { return registry_->GetVersion(request->name()); },
               response->mutable_version());
}

grpc::Status RegistryServiceImpl::ListVersions(
    grpc::ServerContext*, const v1::ListVersionsRequest* request,
    v1::ListVersionsResponse* response) {
  return Reply([&] { return registry_->ListVersions(*request); }, response);
}

grpc::Status RegistryServiceImpl::DownloadArtifact(
    grpc::ServerContext* context, const v1::DownloadArtifactRequest* request,
    grpc::ServerWriter<v1::DownloadArtifactResponse>* writer) {
  if (request->chunk_size() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "chunk_size must not be negative");
  }
  const size_t chunk = request->chunk_size() == 0
                           ? 1 << 20
                           : std::min(request->chunk_size(), kMaxChunkBytes);
  absl::StatusOr<Download> download = registry_->OpenArtifact(request->name());
  if (!download.ok()) return ToGrpcStatus(download.status());
  v1::DownloadArtifactResponse response;
  *response.mutable_info() = download->info;
  if (!writer->Write(response)) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  }
  std::string bytes;
  while (true) {
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "download cancelled");
    }
    // The reader re-verifies the SHA-256 at the end: a corrupt blob ends the
    // stream with DATA_LOSS, and clients use bytes only after an OK status.
    if (absl::Status s = download->reader->Next(chunk, &bytes); !s.ok()) {
      return ToGrpcStatus(s);
    }
    if (bytes.empty()) break;
    response.set_chunk(bytes);
    if (!writer->Write(response)) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
  }
  return grpc::Status::OK;
}

grpc::Status RegistryServiceImpl::SetTags(grpc::ServerContext* context,
                                          const v1::SetTagsRequest* request,
                                          v1::SetTagsResponse* response) {
  return Reply([&] { return registry_->SetTags(CallerOf(context), *request); },
               response->mutable_version());
}

grpc::Status RegistryServiceImpl::SetAlias(grpc::ServerContext* context,
                                           const v1::SetAliasRequest* request,
                                           v1::SetAliasResponse* response) {
  return Reply([&] { return registry_->SetAlias(CallerOf(context), *request); },
               response->mutable_model());
}

grpc::Status RegistryServiceImpl::DeleteAlias(
    grpc::ServerContext* context, const v1::DeleteAliasRequest* request,
    v1::DeleteAliasResponse* response) {
  return Reply(
      [&] { return registry_->DeleteAlias(CallerOf(context), *request); },
      response->mutable_model());
}

grpc::Status RegistryServiceImpl::TransitionVersion(
    grpc::ServerContext* context, const v1::TransitionVersionRequest* request,
    v1::TransitionVersionResponse* response) {
  return Reply(
      [&] { return registry_->TransitionVersion(CallerOf(context), *request); },
      response);
}

grpc::Status RegistryServiceImpl::SubmitValidation(
    grpc::ServerContext* context, const v1::SubmitValidationRequest* request,
    v1::SubmitValidationResponse* response) {
  return Reply(
      [&] { return registry_->SubmitValidation(CallerOf(context), *request); },
      response);
}

grpc::Status RegistryServiceImpl::Promote(grpc::ServerContext* context,
                                          const v1::PromoteRequest* request,
                                          v1::PromoteResponse* response) {
  return Reply([&] { return registry_->Promote(CallerOf(context), *request); },
               response);
}

grpc::Status RegistryServiceImpl::SetTraffic(
    grpc::ServerContext* context, const v1::SetTrafficRequest* request,
    v1::SetTrafficResponse* response) {
  return Reply(
      [&] { return registry_->SetTraffic(CallerOf(context), *request); },
      response);
}

grpc::Status RegistryServiceImpl::PauseRollout(
    grpc::ServerContext* context, const v1::PauseRolloutRequest* request,
    v1::PauseRolloutResponse* response) {
  return Reply(
      [&] { return registry_->PauseRollout(CallerOf(context), *request); },
      response);
}

grpc::Status RegistryServiceImpl::ResumeRollout(
    grpc::ServerContext* context, const v1::ResumeRolloutRequest* request,
    v1::ResumeRolloutResponse* response) {
  return Reply(
      [&] { return registry_->ResumeRollout(CallerOf(context), *request); },
      response);
}

grpc::Status RegistryServiceImpl::AbortRollout(
    grpc::ServerContext* context, const v1::AbortRolloutRequest* request,
    v1::AbortRolloutResponse* response) {
  return Reply(
      [&] { return registry_->AbortRollout(CallerOf(context), *request); },
      response);
}

grpc::Status RegistryServiceImpl::Rollback(grpc::ServerContext* context,
                                           const v1::RollbackRequest* request,
                                           v1::RollbackResponse* response) {
  return Reply([&] { return registry_->Rollback(CallerOf(context), *request); },
               response);
}

grpc::Status RegistryServiceImpl::GetRolloutStatus(
    grpc::ServerContext*, const v1::GetRolloutStatusRequest* request,
    v1::GetRolloutStatusResponse* response) {
  return Reply([&] { return registry_->GetRolloutStatus(request->name()); },
               response);
}

grpc::ServerWriteReactor<v1::WatchDeploymentsResponse>*
RegistryServiceImpl::WatchDeployments(
    grpc::CallbackServerContext*, const v1::WatchDeploymentsRequest* request) {
  auto* watch =
      new DeploymentWatch(&feed_, &relay_.revisions(), streams_, *request);
  watch->Start();
  return watch;
}

grpc::Status RegistryServiceImpl::ReportServingState(
    grpc::ServerContext*, const v1::ReportServingStateRequest* request,
    v1::ReportServingStateResponse* response) {
  return Reply([&] { return registry_->ReportServingState(*request); },
               response);
}

grpc::Status RegistryServiceImpl::ExportAudit(
    grpc::ServerContext* context, const v1::ExportAuditRequest* request,
    grpc::ServerWriter<v1::ExportAuditResponse>* writer) {
  if (request->limit() < 0 || request->start_sequence() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "limit and start_sequence must not be negative");
  }
  absl::StatusOr<core::Filter> filter =
      core::Filter::Parse(request->filter(), [](absl::string_view key) {
        return key == "actor" || key == "action" || key == "object";
      });
  if (!filter.ok()) return ToGrpcStatus(filter.status());
  int64_t after = std::max<int64_t>(request->start_sequence(), 1) - 1;
  int64_t sent = 0;
  while (!context->IsCancelled()) {
    absl::StatusOr<std::vector<v1::AuditEntry>> page =
        registry_->AuditEntriesAfter(after, 512);
    if (!page.ok()) return ToGrpcStatus(page.status());
    if (page->empty()) break;
    for (const v1::AuditEntry& e : *page) {
      after = e.sequence();
      if (request->has_window()) {
        if (request->window().has_start_time() &&
            e.time().seconds() < request->window().start_time().seconds()) {
          continue;
        }
        if (request->window().has_end_time() &&
            e.time().seconds() >= request->window().end_time().seconds()) {
          continue;
        }
      }
      if (!filter->Matches(
              [&](absl::string_view key) -> std::optional<std::string> {
                if (key == "actor") return e.actor();
                if (key == "action") return e.action();
                return e.object();
              })) {
        continue;
      }
      v1::ExportAuditResponse response;
      *response.mutable_entry() = e;
      if (!writer->Write(response)) return grpc::Status::OK;
      if (request->limit() > 0 && ++sent >= request->limit())
        return grpc::Status::OK;
    }
  }
  return grpc::Status::OK;
}

}  // namespace continuum::registry
