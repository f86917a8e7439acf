// The gRPC handlers of continuum.v1.CollectorService: thin adapters over
// Collector. They use gRPC's synchronous API on purpose: ingest blocks on
// fsync (group commit), and the synchronous server gives each blocked call
// its own thread instead of holding one of the callback API's few threads.
#ifndef CONTINUUM_SERVICES_COLLECTOR_COLLECTOR_SERVICE_H_
#define CONTINUUM_SERVICES_COLLECTOR_COLLECTOR_SERVICE_H_

#include "continuum/v1/collector.grpc.pb.h"
#include "services/collector/collector.h"

namespace continuum::collector {

class CollectorServiceImpl final : public v1::CollectorService::Service {
 public:
  // `collector` must outlive the service.
  explicit CollectorServiceImpl(Collector* collector) : collector_(collector) {}

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
  grpc::Status Scan(grpc::ServerContext* context,
                    const v1::ScanRequest* request,
                    grpc::ServerWriter<v1::ScanResponse>* writer) override;
  grpc::Status SampleReplay(
      grpc::ServerContext* context, const v1::SampleReplayRequest* request,
      grpc::ServerWriter<v1::SampleReplayResponse>* writer) override;
  grpc::Status GetDatasetStats(grpc::ServerContext* context,
                               const v1::GetDatasetStatsRequest* request,
                               v1::GetDatasetStatsResponse* response) override;

 private:
  Collector* collector_;
};

}  // namespace continuum::collector

#endif  // CONTINUUM_SERVICES_COLLECTOR_COLLECTOR_SERVICE_H_
