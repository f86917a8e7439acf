// The gRPC handlers of continuum.v1.CollectorService: thin adapters over
// Collector and its DatasetStores.
//
// Every handler first checks its request against the (continuum.v1.rules)
// options of collector.proto (core::CheckFieldRules): INVALID_ARGUMENT
// naming the field, e.g. `id: at most 128 bytes (got 200)`; Ingest checks
// each message of its stream.
//
// Serving model: the unary methods use gRPC's synchronous API on purpose:
// IngestBatch and ReportOutcome block on fsync (group commit), and the
// synchronous server gives each blocked call its own thread. The Ingest
// client stream uses the callback API and reads raw bytes
// (WithRawCallbackMethod_Ingest): gRPC's typed reader ends a read alike on
// a message that does not parse and on the client's half-close, so a
// stream of [valid, unparsable, valid] looked complete and answered OK.
// Each message is parsed (core::ParseStreamMessage), checked and committed
// (IngestStream) before the next is read; committing blocks the callback
// thread for the fsync, as the synchronous handler blocked its own. The
// server streams, Scan and SampleReplay, use the callback API as finite
// core::WatchReactor streams (no notifier): each message is read when the
// previous one was written (DatasetStore::ReadScan / ReadReplaySample), so
// a slow reader holds no thread and no lock. They register with `streams`,
// so a drain ends them at its start with UNAVAILABLE (clients resume a scan
// from its last cursor).
//
// Errors: those of the field rules, Collector and DatasetStore, converted
// once (core::ToGrpcStatus). A failed Ingest names the failed batch (or the
// unparsable message) and what was committed before it, in the message and
// in an ErrorDetails (reason BATCH_REJECTED or UNPARSABLE_MESSAGE,
// committed_batches) sent as the status details (RpcStatus).
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
    : public v1::CollectorService::WithRawCallbackMethod_Ingest<
          v1::CollectorService::WithCallbackMethod_Scan<
              v1::CollectorService::WithCallbackMethod_SampleReplay<
                  v1::CollectorService::Service>>> {
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
  // The response is a serialized v1::IngestResponse.
  grpc::ServerReadReactor<grpc::ByteBuffer>* Ingest(
      grpc::CallbackServerContext* context,
      grpc::ByteBuffer* response) override;
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
