// The gRPC handlers of continuum.v1.CollectorService: thin adapters over
// Collector and its DatasetStores.
//
// Serving model: the unary methods and the Ingest client stream use gRPC's
// synchronous API on purpose: ingest blocks on fsync (group commit), and the
// synchronous server gives each blocked call its own thread instead of
// holding one of the callback API's few threads. The server streams, Scan
// and SampleReplay, use the callback API as finite core::WatchReactor
// streams (no notifier): each message is read when the previous one was
// written (DatasetStore::ReadScan / ReadReplaySample), so a slow reader
// holds no thread and no lock. They register with `streams`, so a drain
// ends them at its start with UNAVAILABLE (clients resume a scan from its
// last cursor).
//
// Errors: those of Collector and DatasetStore, converted once
// (core::ToGrpcStatus); a failed Ingest batch names how many batches of the
// stream were committed before it.
//
// Thread safety: thread-safe; `collector` and `streams` must outlive the
// service and every stream it started.
#ifndef CONTINUUM_SERVICES_COLLECTOR_COLLECTOR_SERVICE_H_
#define CONTINUUM_SERVICES_COLLECTOR_COLLECTOR_SERVICE_H_

#include "continuum/v1/collector.grpc.pb.h"
#include "lib/core/watch_reactor.h"
#include "services/collector/collector.h"

namespace continuum::collector {

class CollectorServiceImpl final
    : public v1::CollectorService::WithCallbackMethod_Scan<
          v1::CollectorService::WithCallbackMethod_SampleReplay<
              v1::CollectorService::Service>> {
 public:
  // `streams` may be null (no drain ends the streams early; the bench).
  explicit CollectorServiceImpl(Collector* collector,
                                core::OpenStreams* streams = nullptr)
      : collector_(collector), streams_(streams) {}

  grpc::Status CreateDataset(grpc::ServerContext* context,
                             const v1::CreateDatasetRequest* request,
                             v1::CreateDatasetResponse* response) override;
  grpc::Status GetDataset(grpc::ServerContext* context,
                          const v1::GetDatasetRequest* request,
                          v1::GetDatasetResponse* response) override;
  grpc::Status ListDatasets(grpc::ServerContext* context,
                            const v1::ListDatasetsRequest* request,
                            v1::ListDatasetsResponse* response) override;
  grpc::Status UpdateDataset(grpc::ServerContext* context,
                             const v1::UpdateDatasetRequest* request,
                             v1::UpdateDatasetResponse* response) override;
  grpc::Status DeleteDataset(grpc::ServerContext* context,
                             const v1::DeleteDatasetRequest* request,
                             v1::DeleteDatasetResponse* response) override;
  grpc::Status Ingest(grpc::ServerContext* context,
                      grpc::ServerReader<v1::IngestRequest>* reader,
                      v1::IngestResponse* response) override;
  grpc::Status IngestBatch(grpc::ServerContext* context,
                           const v1::IngestBatchRequest* request,
                           v1::IngestBatchResponse* response) override;
  grpc::Status ReportOutcome(grpc::ServerContext* context,
                             const v1::ReportOutcomeRequest* request,
                             v1::ReportOutcomeResponse* response) override;
  grpc::ServerWriteReactor<v1::ScanResponse>* Scan(
      grpc::CallbackServerContext* context,
      const v1::ScanRequest* request) override;
  grpc::ServerWriteReactor<v1::SampleReplayResponse>* SampleReplay(
      grpc::CallbackServerContext* context,
      const v1::SampleReplayRequest* request) override;
  grpc::Status GetDatasetStats(grpc::ServerContext* context,
                               const v1::GetDatasetStatsRequest* request,
                               v1::GetDatasetStatsResponse* response) override;

 private:
  Collector* const collector_;
  core::OpenStreams* const streams_;
};

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_COLLECTOR_SERVICE_H_
