// The gRPC handlers of continuum.v1.RegistryService: thin adapters over
// Registry. Each checks its request against the field rules of
// registry.proto (core::CheckFieldRules: INVALID_ARGUMENT naming the
// field) before anything else. Unary calls and the download and audit
// streams use the synchronous API (downloads stream in chunks);
// UploadVersion uses the callback API on raw messages (upload_call.h: an
// unparsable message is an error, not the end of the stream), and
// WatchDeployments the callback API too: each stream is a
// core::WatchReactor that follows Registry::revisions() as a RevisionRelay
// republishes them on its own thread (deployment_cursor.h says what a
// stream sends; the streams share their reads through a DeploymentFeed).
// So a thousand watchers hold no thread each, the call that made a
// revision does not wait for them, and a drain ends them at its start
// (UNAVAILABLE: clients resume from their last revision). A watch whose
// request breaks a rule ends at once with INVALID_ARGUMENT.
//
// Thread-safe; the Registry and OpenStreams must outlive the service.
#ifndef CONTINUUM_SERVICES_REGISTRY_REGISTRY_SERVICE_H_
#define CONTINUUM_SERVICES_REGISTRY_REGISTRY_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "continuum/v1/registry.grpc.pb.h"
#include "lib/core/watch_reactor.h"
#include "services/registry/deployment_feed.h"
#include "services/registry/registry.h"
#include "services/registry/revision_relay.h"

namespace continuum::registry {

// Largest download chunk sent (and upload chunk accepted: the rule of
// UploadVersionRequest.chunk).
inline constexpr int kMaxChunkBytes = 4 << 20;

class RegistryServiceImpl final
    : public v1::RegistryService::WithCallbackMethod_WatchDeployments<
          v1::RegistryService::WithRawCallbackMethod_UploadVersion<
              v1::RegistryService::Service>> {
 public:
  // `streams` (may be null) holds the open WatchDeployments streams for the
  // server's drain (ServiceServer::Options::open_streams).
  RegistryServiceImpl(Registry* registry, core::OpenStreams* streams)
      : registry_(registry),
        streams_(streams),
        relay_(&registry->revisions()),
        feed_(registry) {}

  grpc::Status RegisterModel(grpc::ServerContext*,
                             const v1::RegisterModelRequest*,
                             v1::RegisterModelResponse*) override;
  grpc::Status GetModel(grpc::ServerContext*, const v1::GetModelRequest*,
                        v1::GetModelResponse*) override;
  grpc::Status ListModels(grpc::ServerContext*, const v1::ListModelsRequest*,
                          v1::ListModelsResponse*) override;
  grpc::Status UpdateModel(grpc::ServerContext*, const v1::UpdateModelRequest*,
                           v1::UpdateModelResponse*) override;
  grpc::ServerReadReactor<grpc::ByteBuffer>* UploadVersion(
      grpc::CallbackServerContext* context,
      grpc::ByteBuffer* response) override;
  grpc::Status GetVersion(grpc::ServerContext*, const v1::GetVersionRequest*,
                          v1::GetVersionResponse*) override;
  grpc::Status ListVersions(grpc::ServerContext*,
                            const v1::ListVersionsRequest*,
                            v1::ListVersionsResponse*) override;
  grpc::Status DownloadArtifact(
      grpc::ServerContext*, const v1::DownloadArtifactRequest*,
      grpc::ServerWriter<v1::DownloadArtifactResponse>*) override;
  grpc::Status SetTags(grpc::ServerContext*, const v1::SetTagsRequest*,
                       v1::SetTagsResponse*) override;
  grpc::Status SetAlias(grpc::ServerContext*, const v1::SetAliasRequest*,
                        v1::SetAliasResponse*) override;
  grpc::Status DeleteAlias(grpc::ServerContext*, const v1::DeleteAliasRequest*,
                           v1::DeleteAliasResponse*) override;
  grpc::Status TransitionVersion(grpc::ServerContext*,
                                 const v1::TransitionVersionRequest*,
                                 v1::TransitionVersionResponse*) override;
  grpc::Status SubmitValidation(grpc::ServerContext*,
                                const v1::SubmitValidationRequest*,
                                v1::SubmitValidationResponse*) override;
  grpc::Status Promote(grpc::ServerContext*, const v1::PromoteRequest*,
                       v1::PromoteResponse*) override;
  grpc::Status SetTraffic(grpc::ServerContext*, const v1::SetTrafficRequest*,
                          v1::SetTrafficResponse*) override;
  grpc::Status PauseRollout(grpc::ServerContext*,
                            const v1::PauseRolloutRequest*,
                            v1::PauseRolloutResponse*) override;
  grpc::Status ResumeRollout(grpc::ServerContext*,
                             const v1::ResumeRolloutRequest*,
                             v1::ResumeRolloutResponse*) override;
  grpc::Status AbortRollout(grpc::ServerContext*,
                            const v1::AbortRolloutRequest*,
                            v1::AbortRolloutResponse*) override;
  grpc::Status Rollback(grpc::ServerContext*, const v1::RollbackRequest*,
                        v1::RollbackResponse*) override;
  grpc::Status GetRolloutStatus(grpc::ServerContext*,
                                const v1::GetRolloutStatusRequest*,
                                v1::GetRolloutStatusResponse*) override;
  grpc::ServerWriteReactor<v1::WatchDeploymentsResponse>* WatchDeployments(
      grpc::CallbackServerContext*,
      const v1::WatchDeploymentsRequest*) override;
  grpc::Status ReportServingState(grpc::ServerContext*,
                                  const v1::ReportServingStateRequest*,
                                  v1::ReportServingStateResponse*) override;
  grpc::Status ExportAudit(
      grpc::ServerContext*, const v1::ExportAuditRequest*,
      grpc::ServerWriter<v1::ExportAuditResponse>*) override;
  grpc::Status RecordAuditEvent(grpc::ServerContext*,
                                const v1::RecordAuditEventRequest*,
                                v1::RecordAuditEventResponse*) override;

  // The revisions the WatchDeployments streams follow (for tests).
  core::SequenceNotifier& watched_revisions() { return relay_.revisions(); }

 private:
  Registry* const registry_;
  core::OpenStreams* const streams_;
  // The revisions the WatchDeployments streams follow, on a thread of
  // their own, and the reads they share.
  RevisionRelay relay_;
  DeploymentFeed feed_;
};

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_REGISTRY_SERVICE_H_
