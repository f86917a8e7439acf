#include "services/trainer/grpc_clients.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/clients/artifact_download.h"
#include "lib/core/call_identity.h"
#include "lib/core/grpc_status.h"
#include "lib/core/resource_names.h"

namespace continuum::trainer {
namespace {

constexpr size_t kChunkBytes = 1 << 20;

// The calls name the trainer for the callee's audit log.
constexpr char kActor[] = "trainer";

}  // namespace

GrpcRegistryClient::GrpcRegistryClient(std::shared_ptr<grpc::Channel> channel,
                                       absl::Duration timeout)
    : stub_(v1::RegistryService::NewStub(std::move(channel))),
      timeout_(timeout) {}

absl::StatusOr<v1::Model> GrpcRegistryClient::GetModel(
    const std::string& model) {
  grpc::ClientContext context;
  core::PrepareCall(context, kActor, absl::Now() + timeout_);
  v1::GetModelRequest request;
  request.set_name(core::ModelName(model));
  v1::GetModelResponse response;
  grpc::Status s = stub_->GetModel(&context, request, &response);
  if (!s.ok()) return core::FromGrpcStatus(s);
  return response.model();
}

absl::StatusOr<Artifact> GrpcRegistryClient::DownloadArtifact(
    const std::string& model, int64_t version, absl::Time deadline) {
  grpc::ClientContext context;
  core::PrepareCall(context, kActor, deadline);
  absl::StatusOr<clients::DownloadedArtifact> downloaded =
      clients::DownloadArtifact(
          *stub_, context,
          absl::StrCat(core::ModelName(model), "/versions/", version));
  if (!downloaded.ok()) return downloaded.status();
  Artifact artifact;
  artifact.version = downloaded->info.version();
  artifact.sha256 = downloaded->info.sha256();
  artifact.bytes = std::move(downloaded->bytes);
  return artifact;
}

absl::StatusOr<v1::UploadVersionResponse> GrpcRegistryClient::UploadVersion(
    const v1::UploadVersionMetadata& metadata, absl::string_view bytes,
    absl::Time deadline) {
  grpc::ClientContext context;
  core::PrepareCall(context, kActor, deadline);
  v1::UploadVersionResponse response;
  auto writer = stub_->UploadVersion(&context, &response);
  v1::UploadVersionRequest request;
  *request.mutable_metadata() = metadata;
  bool ok = writer->Write(request);
  for (size_t at = 0; ok && at < bytes.size(); at += kChunkBytes) {
    request.Clear();
    request.set_chunk(std::string(bytes.substr(at, kChunkBytes)));
    ok = writer->Write(request);
  }
  if (ok) writer->WritesDone();
  grpc::Status s = writer->Finish();
  if (!s.ok()) return core::FromGrpcStatus(s);
  return response;
}

absl::Status GrpcRegistryClient::RecordAuditEvent(
    const v1::RecordAuditEventRequest& event, absl::Time deadline) {
  grpc::ClientContext context;
  core::PrepareCall(context, kActor, deadline);
  v1::RecordAuditEventResponse response;
  grpc::Status s = stub_->RecordAuditEvent(&context, event, &response);
  return s.ok() ? absl::OkStatus() : core::FromGrpcStatus(s);
}

GrpcCollectorClient::GrpcCollectorClient(std::shared_ptr<grpc::Channel> channel,
                                         absl::Duration timeout)
    : stub_(v1::CollectorService::NewStub(std::move(channel))),
      timeout_(timeout) {}

absl::StatusOr<v1::Dataset> GrpcCollectorClient::GetDataset(
    const std::string& dataset) {
  grpc::ClientContext context;
  core::PrepareCall(context, kActor, absl::Now() + timeout_);
  v1::GetDatasetRequest request;
  request.set_name(core::DatasetName(dataset));
  v1::GetDatasetResponse response;
  grpc::Status s = stub_->GetDataset(&context, request, &response);
  if (!s.ok()) return core::FromGrpcStatus(s);
  return response.dataset();
}

absl::StatusOr<v1::DatasetStats> GrpcCollectorClient::GetDatasetStats(
    const std::string& dataset, const v1::TimeWindow& window) {
  grpc::ClientContext context;
  core::PrepareCall(context, kActor, absl::Now() + timeout_);
  v1::GetDatasetStatsRequest request;
  request.set_name(core::DatasetName(dataset));
  *request.mutable_window() = window;
  v1::GetDatasetStatsResponse response;
  grpc::Status s = stub_->GetDatasetStats(&context, request, &response);
  if (!s.ok()) return core::FromGrpcStatus(s);
  return response.stats();
}

namespace {

// Hands each message's batch to `on_batch` until it returns false (the
// call is then cancelled and drained: OK) or the stream ends (its status).
template <typename Response>
absl::Status ReadBatches(grpc::ClientContext& context,
                         grpc::ClientReader<Response>& reader,
                         const CollectorClient::BatchFn& on_batch) {
  Response message;
  while (reader.Read(&message)) {
    if (!on_batch(message.batch())) {
      context.TryCancel();
      while (reader.Read(&message)) {
      }
      (void)reader.Finish();
      return absl::OkStatus();
    }
  }
  return core::FromGrpcStatus(reader.Finish());
}

}  // namespace

absl::Status GrpcCollectorClient::Scan(const v1::ScanRequest& request,
                                       const BatchFn& on_batch,
                                       absl::Time deadline) {
  grpc::ClientContext context;
  core::PrepareCall(context, kActor, deadline);
  auto reader = stub_->Scan(&context, request);
  return ReadBatches(context, *reader, on_batch);
}

absl::Status GrpcCollectorClient::SampleReplay(
    const v1::SampleReplayRequest& request, const BatchFn& on_batch,
    absl::Time deadline) {
  grpc::ClientContext context;
  core::PrepareCall(context, kActor, deadline);
  auto reader = stub_->SampleReplay(&context, request);
  return ReadBatches(context, *reader, on_batch);
}

}  // namespace continuum::trainer
