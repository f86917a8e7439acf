// The gRPC handlers of continuum.v1.RegistryService: thin adapters over
// Registry (synchronous API; uploads and downloads stream in chunks, and
// each WatchDeployments call holds one thread while it waits).
#ifndef CONTINUUM_SERVICES_REGISTRY_REGISTRY_SERVICE_H_
#define CONTINUUM_SERVICES_REGISTRY_REGISTRY_SERVICE_H_

#include "continuum/v1/registry.grpc.pb.h"
#include "services/registry/registry.h"

namespace continuum::registry {

// Largest upload chunk accepted and download chunk sent.
inline constexpr int kMaxChunkBytes = 4 << 20;

class RegistryServiceImpl final : public v1::RegistryService::Service {
 public:
  explicit RegistryServiceImpl(Registry* registry) : registry_(registry) {}

  grpc::Status RegisterModel(grpc::ServerContext*,
                             const v1::RegisterModelRequest*,
                             v1::RegisterModelResponse*) override;
  grpc::Status GetModel(grpc::ServerContext*, const v1::GetModelRequest*,
                        v1::GetModelResponse*) override;
  grpc::Status ListModels(grpc::ServerContext*, const v1::ListModelsRequest*,
                          v1::ListModelsResponse*) override;
  grpc::Status UpdateModel(grpc::ServerContext*, const v1::UpdateModelRequest*,
                           v1::UpdateModelResponse*) override;
  grpc::Status UploadVersion(grpc::ServerContext*,
                             grpc::ServerReader<v1::UploadVersionRequest>*,
                             v1::UploadVersionResponse*) override;
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
  grpc::Status WatchDeployments(
      grpc::ServerContext*, const v1::WatchDeploymentsRequest*,
      grpc::ServerWriter<v1::WatchDeploymentsResponse>*) override;
  grpc::Status ReportServingState(grpc::ServerContext*,
                                  const v1::ReportServingStateRequest*,
                                  v1::ReportServingStateResponse*) override;
  grpc::Status ExportAudit(
      grpc::ServerContext*, const v1::ExportAuditRequest*,
      grpc::ServerWriter<v1::ExportAuditResponse>*) override;

 private:
  Registry* registry_;
};

}  // namespace continuum::registry

#endif  // CONTINUUM_SERVICES_REGISTRY_REGISTRY_SERVICE_H_
