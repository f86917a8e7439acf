// The real RegistryClient and CollectorClient: gRPC stubs with deadlines.
// Calls carry `x-continuum-actor: trainer` (core::PrepareCall) for the
// callee's audit log.
#ifndef CONTINUUM_SERVICES_TRAINER_GRPC_CLIENTS_H_
#define CONTINUUM_SERVICES_TRAINER_GRPC_CLIENTS_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "continuum/v1/collector.grpc.pb.h"
#include "continuum/v1/registry.grpc.pb.h"
#include "services/trainer/clients.h"

namespace continuum::trainer {

class GrpcRegistryClient : public RegistryClient {
 public:
  // `timeout` bounds unary calls; streams run until the caller's deadline.
  GrpcRegistryClient(std::shared_ptr<grpc::Channel> channel,
                     absl::Duration timeout);

  absl::StatusOr<v1::Model> GetModel(const std::string& model) override;
  absl::StatusOr<Artifact> DownloadArtifact(const std::string& model,
                                            int64_t version,
                                            absl::Time deadline) override;
  absl::StatusOr<v1::UploadVersionResponse> UploadVersion(
      const v1::UploadVersionMetadata& metadata, absl::string_view bytes,
      absl::Time deadline) override;
  absl::Status RecordAuditEvent(const v1::RecordAuditEventRequest& event,
                                absl::Time deadline) override;

 private:
  std::unique_ptr<v1::RegistryService::Stub> stub_;
  absl::Duration timeout_;
};

class GrpcCollectorClient : public CollectorClient {
 public:
  GrpcCollectorClient(std::shared_ptr<grpc::Channel> channel,
                      absl::Duration timeout);

  absl::StatusOr<v1::Dataset> GetDataset(const std::string& dataset) override;
  absl::StatusOr<v1::DatasetStats> GetDatasetStats(
      const std::string& dataset, const v1::TimeWindow& window) override;
  absl::Status Scan(const v1::ScanRequest& request, const BatchFn& on_batch,
                    absl::Time deadline) override;
  absl::Status SampleReplay(const v1::SampleReplayRequest& request,
                            const BatchFn& on_batch,
                            absl::Time deadline) override;

 private:
  std::unique_ptr<v1::CollectorService::Stub> stub_;
  absl::Duration timeout_;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_GRPC_CLIENTS_H_
