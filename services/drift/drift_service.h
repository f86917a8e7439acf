// The gRPC handlers of continuum.v1.DriftService: thin adapters over
// DriftMonitor. Every request (every message of Observe's stream) is
// checked against drift.proto's field rules first (core::CheckFieldRules):
// INVALID_ARGUMENT naming the field by its path. The unary methods are
// synchronous (core::Reply). Observe runs on gRPC's callback API reading
// raw bytes (WithRawCallbackMethod_Observe), so that a message that does
// not parse is told apart from the client's half-close; ObserveStream
// applies the batches in order, and the first bad message ends the call
// with INVALID_ARGUMENT naming it and what was processed before it. The
// monitor's work per batch runs in OnReadDone before the next read (the
// call's cost; batches of one stream are applied in order). WatchAlerts
// runs on the callback API as a core::WatchReactor that follows
// DriftMonitor::settled_alerts(), so a watcher holds no thread, and a
// drain (core::OpenStreams::EndAll) ends it with UNAVAILABLE at once: the
// client resumes from its last sequence.
//
// WatchAlerts: since_sequence 0 = only alerts settled from now on; a
// since_sequence beyond the latest alert (the service lost its store, or
// keeps none) gets every alert kept. A request that breaks a field rule
// (a model id that is not an id, a negative since_sequence, an unknown
// min_severity) ends the stream at once with INVALID_ARGUMENT. Cancelled
// watches end with CANCELLED.
#ifndef CONTINUUM_SERVICES_DRIFT_DRIFT_SERVICE_H_
#define CONTINUUM_SERVICES_DRIFT_DRIFT_SERVICE_H_

#include "continuum/v1/drift.grpc.pb.h"
#include "lib/core/watch_reactor.h"
#include "services/drift/drift_monitor.h"

namespace continuum::drift_service {

class DriftServiceImpl final
    : public v1::DriftService::WithRawCallbackMethod_Observe<
          v1::DriftService::WithCallbackMethod_WatchAlerts<
              v1::DriftService::Service>> {
 public:
  // `monitor` and `streams` (may be null: watches are not ended by a
  // drain) must outlive the service.
  explicit DriftServiceImpl(DriftMonitor* monitor,
                            core::OpenStreams* streams = nullptr)
      : monitor_(monitor), streams_(streams) {}

  grpc::ServerReadReactor<grpc::ByteBuffer>* Observe(
      grpc::CallbackServerContext* context,
      grpc::ByteBuffer* response) override;
  grpc::Status ConfigureMonitor(
      grpc::ServerContext* context, const v1::ConfigureMonitorRequest* request,
      v1::ConfigureMonitorResponse* response) override;
  grpc::Status GetMonitor(grpc::ServerContext* context,
                          const v1::GetMonitorRequest* request,
                          v1::GetMonitorResponse* response) override;
  grpc::Status ListMonitors(grpc::ServerContext* context,
                            const v1::ListMonitorsRequest* request,
                            v1::ListMonitorsResponse* response) override;
  grpc::Status GetDriftStatus(grpc::ServerContext* context,
                              const v1::GetDriftStatusRequest* request,
                              v1::GetDriftStatusResponse* response) override;
  grpc::Status ListAlerts(grpc::ServerContext* context,
                          const v1::ListAlertsRequest* request,
                          v1::ListAlertsResponse* response) override;
  grpc::Status GetAlert(grpc::ServerContext* context,
                        const v1::GetAlertRequest* request,
                        v1::GetAlertResponse* response) override;
  grpc::ServerWriteReactor<v1::WatchAlertsResponse>* WatchAlerts(
      grpc::CallbackServerContext* context,
      const v1::WatchAlertsRequest* request) override;

 private:
  DriftMonitor* const monitor_;
  core::OpenStreams* const streams_;
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_DRIFT_SERVICE_H_
