#include "services/collector/collector_service.h"

#include <google/protobuf/util/time_util.h>

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "lib/core/grpc_status.h"

namespace continuum::collector {
namespace {

using core::Reply;
using core::ToGrpcStatus;

// A finite server stream over one data set: opens the read of `request`
// with `kStart` (DatasetStore::StartScan or StartReplaySample), then each
// Next() reads one message with `kRead` (ReadScan or ReadReplaySample) until
// the read is done. A read that could not be opened (unknown data set, bad
// request) ends the stream at once with its error.
template <typename Request, typename Response, typename Cursor,
          absl::StatusOr<std::unique_ptr<Cursor>> (DatasetStore::*kStart)(
              const Request&),
          absl::StatusOr<bool> (DatasetStore::*kRead)(Cursor&, Response*)>
class DatasetStream final : public core::WatchReactor<Response> {
 public:
  using Batch = typename core::WatchReactor<Response>::Batch;

  DatasetStream(core::OpenStreams* streams, Collector& collector,
                const Request& request)
      : core::WatchReactor<Response>(streams, /*notifier=*/nullptr),
        read_(Open(collector, request)) {}

 private:
  // A data set and an open read of it.
  struct OpenRead {
    std::shared_ptr<DatasetStore> store;
    std::unique_ptr<Cursor> cursor;
  };

  static absl::StatusOr<OpenRead> Open(Collector& collector,
                                       const Request& request) {
    absl::StatusOr<std::shared_ptr<DatasetStore>> store =
        collector.Find(request.dataset());
    if (!store.ok()) return store.status();
    absl::StatusOr<std::unique_ptr<Cursor>> cursor =
        ((**store).*kStart)(request);
    if (!cursor.ok()) return cursor.status();
    return OpenRead{*std::move(store), *std::move(cursor)};
  }

  Batch Next() override {
    Batch batch;
    if (!read_.ok()) {
      batch.end = ToGrpcStatus(read_.status());
      return batch;
    }
    Response response;
    absl::StatusOr<bool> send =
        ((*read_->store).*kRead)(*read_->cursor, &response);
    if (!send.ok()) {
      batch.end = ToGrpcStatus(send.status());
      return batch;
    }
    if (*send) batch.messages.push_back(std::move(response));
    if (read_->cursor->done()) batch.end = grpc::Status::OK;
    return batch;
  }

  absl::StatusOr<OpenRead> read_;
};

using ScanStream =
    DatasetStream<v1::ScanRequest, v1::ScanResponse, RecordScan,
                  &DatasetStore::StartScan, &DatasetStore::ReadScan>;
using ReplayStream =
    DatasetStream<v1::SampleReplayRequest, v1::SampleReplayResponse,
                  ReplaySample, &DatasetStore::StartReplaySample,
                  &DatasetStore::ReadReplaySample>;

}  // namespace

grpc::Status CollectorServiceImpl::CreateDataset(
    grpc::ServerContext*, const v1::CreateDatasetRequest* request,
    v1::CreateDatasetResponse* response) {
  return Reply([&] { return collector_->CreateDataset(*request); },
               response->mutable_dataset());
}

grpc::Status CollectorServiceImpl::GetDataset(
    grpc::ServerContext*, const v1::GetDatasetRequest* request,
    v1::GetDatasetResponse* response) {
  return Reply([&] { return collector_->GetDataset(request->name()); },
               response->mutable_dataset());
}

grpc::Status CollectorServiceImpl::ListDatasets(
    grpc::ServerContext*, const v1::ListDatasetsRequest* request,
    v1::ListDatasetsResponse* response) {
  return Reply([&] { return collector_->ListDatasets(*request); }, response);
}

grpc::Status CollectorServiceImpl::UpdateDataset(
    grpc::ServerContext*, const v1::UpdateDatasetRequest* request,
    v1::UpdateDatasetResponse* response) {
  return Reply([&] { return collector_->UpdateDataset(*request); },
               response->mutable_dataset());
}

grpc::Status CollectorServiceImpl::DeleteDataset(
    grpc::ServerContext*, const v1::DeleteDatasetRequest* request,
    v1::DeleteDatasetResponse* response) {
  return Reply([&] { return collector_->DeleteDataset(request->name()); },
               response);
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
  return Reply(
      [&]() -> absl::StatusOr<v1::IngestBatchResponse> {
        absl::StatusOr<std::shared_ptr<DatasetStore>> store =
            collector_->Find(request->dataset());
        if (!store.ok()) return store.status();
        absl::StatusOr<IngestResult> result =
            (*store)->Ingest(request->records());
        if (!result.ok()) return result.status();
        v1::IngestBatchResponse out;
        out.set_accepted_records(result->accepted);
        out.set_duplicate_records(result->duplicates);
        out.set_stored_bytes(result->stored_bytes);
        return out;
      },
      response);
}

grpc::Status CollectorServiceImpl::ReportOutcome(
    grpc::ServerContext*, const v1::ReportOutcomeRequest* request,
    v1::ReportOutcomeResponse* response) {
  return Reply(
      [&]() -> absl::StatusOr<v1::ReportOutcomeResponse> {
        absl::StatusOr<std::shared_ptr<DatasetStore>> store =
            collector_->Find(request->dataset());
        if (!store.ok()) return store.status();
        absl::StatusOr<v1::OutcomeDisposition> disposition =
            (*store)->ReportOutcome(*request);
        if (!disposition.ok()) return disposition.status();
        v1::ReportOutcomeResponse out;
        out.set_disposition(*disposition);
        return out;
      },
      response);
}

grpc::ServerWriteReactor<v1::ScanResponse>* CollectorServiceImpl::Scan(
    grpc::CallbackServerContext*, const v1::ScanRequest* request) {
  auto* stream = new ScanStream(streams_, *collector_, *request);
  stream->Start();
  return stream;
}

grpc::ServerWriteReactor<v1::SampleReplayResponse>*
CollectorServiceImpl::SampleReplay(grpc::CallbackServerContext*,
                                   const v1::SampleReplayRequest* request) {
  auto* stream = new ReplayStream(streams_, *collector_, *request);
  stream->Start();
  return stream;
}

grpc::Status CollectorServiceImpl::GetDatasetStats(
    grpc::ServerContext*, const v1::GetDatasetStatsRequest* request,
    v1::GetDatasetStatsResponse* response) {
  return Reply(
      [&]() -> absl::StatusOr<v1::GetDatasetStatsResponse> {
        absl::StatusOr<std::shared_ptr<DatasetStore>> store =
            collector_->FindByName(request->name());
        if (!store.ok()) return store.status();
        absl::StatusOr<v1::DatasetStats> stats =
            (*store)->Stats(request->window());
        if (!stats.ok()) return stats.status();
        v1::GetDatasetStatsResponse out;
        *out.mutable_stats() = *std::move(stats);
        *out.mutable_compute_time() =
            google::protobuf::util::TimeUtil::GetCurrentTime();
        return out;
      },
      response);
}

}  // namespace continuum::collector
