#include "services/registry/registry_service.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/core/call_identity.h"
#include "lib/core/field_rules.h"
#include "lib/core/filter.h"
#include "lib/core/grpc_status.h"
#include "services/registry/deployment_cursor.h"
#include "services/registry/upload_call.h"

namespace continuum::registry {
namespace {

using core::ToGrpcStatus;

// The body of a unary handler: the request's field rules
// (core::CheckFieldRules), then core::Reply(fn, out).
template <typename Request, typename Fn, typename Out>
grpc::Status Reply(const Request& request, Fn&& fn, Out* out) {
  if (absl::Status s = core::CheckFieldRules(request); !s.ok()) {
    return ToGrpcStatus(s);
  }
  return core::Reply(std::forward<Fn>(fn), out);
}

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
  // `rejected`, if not OK, ends the stream at its first poll (a request
  // that breaks a rule).
  DeploymentWatch(DeploymentFeed* feed, core::SequenceNotifier* revisions,
                  core::OpenStreams* streams,
                  const v1::WatchDeploymentsRequest& request,
                  absl::Status rejected)
      : WatchReactor(streams, revisions),
        cursor_(feed, request),
        rejected_(std::move(rejected)) {}

 private:
  Batch Next() override {
    Batch batch;
    if (!rejected_.ok()) {
      batch.end = ToGrpcStatus(rejected_);
    } else if (absl::Status s = cursor_.Poll(&batch.messages); !s.ok()) {
      batch.end = ToGrpcStatus(s);
    }
    return batch;
  }

  DeploymentCursor cursor_;
  const absl::Status rejected_;
};

}  // namespace

grpc::Status RegistryServiceImpl::RegisterModel(
    grpc::ServerContext* context, const v1::RegisterModelRequest* request,
    v1::RegisterModelResponse* response) {
  return Reply(
      *request,
      [&] { return registry_->RegisterModel(CallerOf(context), *request); },
      response->mutable_model());
}

grpc::Status RegistryServiceImpl::GetModel(grpc::ServerContext*,
                                           const v1::GetModelRequest* request,
                                           v1::GetModelResponse* response) {
  return Reply(
      *request, [&] { return registry_->GetModel(request->name()); },
      response->mutable_model());
}

grpc::Status RegistryServiceImpl::ListModels(
    grpc::ServerContext*, const v1::ListModelsRequest* request,
    v1::ListModelsResponse* response) {
  return Reply(
      *request, [&] { return registry_->ListModels(*request); }, response);
}

grpc::Status RegistryServiceImpl::UpdateModel(
    grpc::ServerContext* context, const v1::UpdateModelRequest* request,
    v1::UpdateModelResponse* response) {
  return Reply(
      *request,
      [&] { return registry_->UpdateModel(CallerOf(context), *request); },
      response->mutable_model());
}

grpc::ServerReadReactor<grpc::ByteBuffer>* RegistryServiceImpl::UploadVersion(
    grpc::CallbackServerContext* context, grpc::ByteBuffer* response) {
  return new UploadCall(registry_, context, response);
}

grpc::Status RegistryServiceImpl::GetVersion(
    grpc::ServerContext*, const v1::GetVersionRequest* request,
    v1::GetVersionResponse* response) {
  return Reply(
      *request, [&] { return registry_->GetVersion(request->name()); },
      response->mutable_version());
}

grpc::Status RegistryServiceImpl::ListVersions(
    grpc::ServerContext*, const v1::ListVersionsRequest* request,
    v1::ListVersionsResponse* response) {
  return Reply(
      *request, [&] { return registry_->ListVersions(*request); }, response);
}

grpc::Status RegistryServiceImpl::DownloadArtifact(
    grpc::ServerContext* context, const v1::DownloadArtifactRequest* request,
    grpc::ServerWriter<v1::DownloadArtifactResponse>* writer) {
  if (absl::Status s = core::CheckFieldRules(*request); !s.ok()) {
    return ToGrpcStatus(s);
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
  return Reply(
      *request, [&] { return registry_->SetTags(CallerOf(context), *request); },
      response->mutable_version());
}

grpc::Status RegistryServiceImpl::SetAlias(grpc::ServerContext* context,
                                           const v1::SetAliasRequest* request,
                                           v1::SetAliasResponse* response) {
  return Reply(
      *request,
      [&] { return registry_->SetAlias(CallerOf(context), *request); },
      response->mutable_model());
}

grpc::Status RegistryServiceImpl::DeleteAlias(
    grpc::ServerContext* context, const v1::DeleteAliasRequest* request,
    v1::DeleteAliasResponse* response) {
  return Reply(
      *request,
      [&] { return registry_->DeleteAlias(CallerOf(context), *request); },
      response->mutable_model());
}

grpc::Status RegistryServiceImpl::TransitionVersion(
    grpc::ServerContext* context, const v1::TransitionVersionRequest* request,
    v1::TransitionVersionResponse* response) {
  return Reply(
      *request,
      [&] { return registry_->TransitionVersion(CallerOf(context), *request); },
      response);
}

grpc::Status RegistryServiceImpl::SubmitValidation(
    grpc::ServerContext* context, const v1::SubmitValidationRequest* request,
    v1::SubmitValidationResponse* response) {
  return Reply(
      *request,
      [&] { return registry_->SubmitValidation(CallerOf(context), *request); },
      response);
}

grpc::Status RegistryServiceImpl::Promote(grpc::ServerContext* context,
                                          const v1::PromoteRequest* request,
                                          v1::PromoteResponse* response) {
  return Reply(
      *request, [&] { return registry_->Promote(CallerOf(context), *request); },
      response);
}

grpc::Status RegistryServiceImpl::SetTraffic(
    grpc::ServerContext* context, const v1::SetTrafficRequest* request,
    v1::SetTrafficResponse* response) {
  return Reply(
      *request,
      [&] { return registry_->SetTraffic(CallerOf(context), *request); },
      response);
}

grpc::Status RegistryServiceImpl::PauseRollout(
    grpc::ServerContext* context, const v1::PauseRolloutRequest* request,
    v1::PauseRolloutResponse* response) {
  return Reply(
      *request,
      [&] { return registry_->PauseRollout(CallerOf(context), *request); },
      response);
}

grpc::Status RegistryServiceImpl::ResumeRollout(
    grpc::ServerContext* context, const v1::ResumeRolloutRequest* request,
    v1::ResumeRolloutResponse* response) {
  return Reply(
      *request,
      [&] { return registry_->ResumeRollout(CallerOf(context), *request); },
      response);
}

grpc::Status RegistryServiceImpl::AbortRollout(
    grpc::ServerContext* context, const v1::AbortRolloutRequest* request,
    v1::AbortRolloutResponse* response) {
  return Reply(
      *request,
      [&] { return registry_->AbortRollout(CallerOf(context), *request); },
      response);
}

grpc::Status RegistryServiceImpl::Rollback(grpc::ServerContext* context,
                                           const v1::RollbackRequest* request,
                                           v1::RollbackResponse* response) {
  return Reply(
      *request,
      [&] { return registry_->Rollback(CallerOf(context), *request); },
      response);
}

grpc::Status RegistryServiceImpl::GetRolloutStatus(
    grpc::ServerContext*, const v1::GetRolloutStatusRequest* request,
    v1::GetRolloutStatusResponse* response) {
  return Reply(
      *request, [&] { return registry_->GetRolloutStatus(request->name()); },
      response);
}

grpc::ServerWriteReactor<v1::WatchDeploymentsResponse>*
RegistryServiceImpl::WatchDeployments(
    grpc::CallbackServerContext*, const v1::WatchDeploymentsRequest* request) {
  auto* watch = new DeploymentWatch(&feed_, &relay_.revisions(), streams_,
                                    *request, core::CheckFieldRules(*request));
  watch->Start();
  return watch;
}

grpc::Status RegistryServiceImpl::ReportServingState(
    grpc::ServerContext*, const v1::ReportServingStateRequest* request,
    v1::ReportServingStateResponse* response) {
  return Reply(
      *request, [&] { return registry_->ReportServingState(*request); },
      response);
}

grpc::Status RegistryServiceImpl::RecordAuditEvent(
    grpc::ServerContext* context, const v1::RecordAuditEventRequest* request,
    v1::RecordAuditEventResponse* response) {
  return Reply(
      *request,
      [&] { return registry_->RecordAuditEvent(CallerOf(context), *request); },
      response->mutable_entry());
}

grpc::Status RegistryServiceImpl::ExportAudit(
    grpc::ServerContext* context, const v1::ExportAuditRequest* request,
    grpc::ServerWriter<v1::ExportAuditResponse>* writer) {
  if (absl::Status s = core::CheckFieldRules(*request); !s.ok()) {
    return ToGrpcStatus(s);
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
