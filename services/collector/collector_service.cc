#include "services/collector/collector_service.h"

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "lib/core/grpc_status.h"

namespace continuum::collector {

using core::ToGrpcStatus;

grpc::Status CollectorServiceImpl::CreateDataset(
    grpc::ServerContext*, const v1::CreateDatasetRequest* request,
    v1::CreateDatasetResponse* response) {
  absl::StatusOr<v1::Dataset> dataset = collector_->CreateDataset(*request);
  if (!dataset.ok()) return ToGrpcStatus(dataset.status());
  *response->mutable_dataset() = *std::move(dataset);
  return grpc::Status::OK;
}

grpc::Status CollectorServiceImpl::GetDataset(
    grpc::ServerContext*, const v1::GetDatasetRequest* request,
    v1::GetDatasetResponse* response) {
  absl::StatusOr<v1::Dataset> dataset = collector_->GetDataset(request->name());
  if (!dataset.ok()) return ToGrpcStatus(dataset.status());
  *response->mutable_dataset() = *std::move(dataset);
  return grpc::Status::OK;
}

grpc::Status CollectorServiceImpl::ListDatasets(
    grpc::ServerContext*, const v1::ListDatasetsRequest* request,
    v1::ListDatasetsResponse* response) {
  absl::StatusOr<v1::ListDatasetsResponse> list =
      collector_->ListDatasets(*request);
  if (!list.ok()) return ToGrpcStatus(list.status());
  *response = *std::move(list);
  return grpc::Status::OK;
}

grpc::Status CollectorServiceImpl::UpdateDataset(
    grpc::ServerContext*, const v1::UpdateDatasetRequest* request,
    v1::UpdateDatasetResponse* response) {
  absl::StatusOr<v1::Dataset> dataset = collector_->UpdateDataset(*request);
  if (!dataset.ok()) return ToGrpcStatus(dataset.status());
  *response->mutable_dataset() = *std::move(dataset);
  return grpc::Status::OK;
}

grpc::Status CollectorServiceImpl::DeleteDataset(
    grpc::ServerContext*, const v1::DeleteDatasetRequest* request,
    v1::DeleteDatasetResponse* response) {
  absl::StatusOr<v1::DeleteDatasetResponse> deleted =
      collector_->DeleteDataset(request->name());
  if (!deleted.ok()) return ToGrpcStatus(deleted.status());
  *response = *std::move(deleted);
  return grpc::Status::OK;
}

grpc::Status CollectorServiceImpl::Ingest(
    grpc::ServerContext*, grpc::ServerReader<v1::IngestRequest>* reader,
    v1::IngestResponse* response) {
  v1::IngestRequest request;
  std::string dataset;
  while (reader->Read(&request)) {
    if (!request.dataset().empty()) dataset = request.dataset();
    absl::StatusOr<std::shared_ptr<DatasetStore>> store =
        collector_->Find(dataset);
    absl::StatusOr<IngestResult> result =
        store.ok() ? (*store)->Ingest(request.records())
                   : absl::StatusOr<IngestResult>(store.status());
    if (!result.ok()) {
      // Earlier batches stay committed; say how many.
      return ToGrpcStatus(absl::Status(
          result.status().code(),
          absl::StrCat("batch ", response->batches(), ": ",
                       result.status().message(), " (", response->batches(),
                       " earlier batches of this stream are committed)")));
    }
    response->set_batches(response->batches() + 1);
    response->set_accepted_records(response->accepted_records() +
                                   result->accepted);
    response->set_duplicate_records(response->duplicate_records() +
                                    result->duplicates);
    response->set_stored_bytes(response->stored_bytes() + result->stored_bytes);
  }
  return grpc::Status::OK;
}

grpc::Status CollectorServiceImpl::IngestBatch(
    grpc::ServerContext*, const v1::IngestBatchRequest* request,
    v1::IngestBatchResponse* response) {
  absl::StatusOr<std::shared_ptr<DatasetStore>> store =
      collector_->Find(request->dataset());
  if (!store.ok()) return ToGrpcStatus(store.status());
  absl::StatusOr<IngestResult> result = (*store)->Ingest(request->records());
  if (!result.ok()) return ToGrpcStatus(result.status());
  response->set_accepted_records(result->accepted);
  response->set_duplicate_records(result->duplicates);
  response->set_stored_bytes(result->stored_bytes);
  return grpc::Status::OK;
}

grpc::Status CollectorServiceImpl::ReportOutcome(
    grpc::ServerContext*, const v1::ReportOutcomeRequest* request,
    v1::ReportOutcomeResponse* response) {
  absl::StatusOr<std::shared_ptr<DatasetStore>> store =
      collector_->Find(request->dataset());
  if (!store.ok()) return ToGrpcStatus(store.status());
  absl::StatusOr<v1::OutcomeDisposition> disposition =
      (*store)->ReportOutcome(*request);
  if (!disposition.ok()) return ToGrpcStatus(disposition.status());
  response->set_disposition(*disposition);
  return grpc::Status::OK;
}

grpc::Status CollectorServiceImpl::Scan(
    grpc::ServerContext* context, const v1::ScanRequest* request,
    grpc::ServerWriter<v1::ScanResponse>* writer) {
  absl::StatusOr<std::shared_ptr<DatasetStore>> store =
      collector_->Find(request->dataset());
  if (!store.ok()) return ToGrpcStatus(store.status());
  absl::Status s = (*store)->Scan(*request, [&](v1::ScanResponse& response) {
    return !context->IsCancelled() && writer->Write(response);
  });
  if (context->IsCancelled()) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "scan cancelled");
  }
  return ToGrpcStatus(s);
}

grpc::Status CollectorServiceImpl::SampleReplay(
    grpc::ServerContext* context, const v1::SampleReplayRequest* request,
    grpc::ServerWriter<v1::SampleReplayResponse>* writer) {
  absl::StatusOr<std::shared_ptr<DatasetStore>> store =
      collector_->Find(request->dataset());
  if (!store.ok()) return ToGrpcStatus(store.status());
  absl::Status s =
      (*store)->SampleReplay(*request, [&](v1::SampleReplayResponse& response) {
        return !context->IsCancelled() && writer->Write(response);
      });
  return ToGrpcStatus(s);
}

grpc::Status CollectorServiceImpl::GetDatasetStats(
    grpc::ServerContext*, const v1::GetDatasetStatsRequest* request,
    v1::GetDatasetStatsResponse* response) {
  absl::StatusOr<std::shared_ptr<DatasetStore>> store =
      collector_->FindByName(request->name());
  if (!store.ok()) return ToGrpcStatus(store.status());
  absl::StatusOr<v1::DatasetStats> stats = (*store)->Stats(request->window());
  if (!stats.ok()) return ToGrpcStatus(stats.status());
  *response->mutable_stats() = *std::move(stats);
  *response->mutable_compute_time() =
      google::protobuf::util::TimeUtil::GetCurrentTime();
  return grpc::Status::OK;
}

}  // namespace continuum::collector
