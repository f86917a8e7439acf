// The gRPC handlers of continuum.v1.DriftService: thin adapters over
// DriftMonitor. Synchronous API, like the collector's: Observe reads its
// client stream batch by batch, and WatchAlerts blocks a thread of its own
// on DriftMonitor::WaitForAlert until the client cancels.
#ifndef CONTINUUM_SERVICES_DRIFT_DRIFT_SERVICE_H_
#define CONTINUUM_SERVICES_DRIFT_DRIFT_SERVICE_H_

#include "continuum/v1/drift.grpc.pb.h"
#include "services/drift/drift_monitor.h"

namespace continuum::drift_service {

class DriftServiceImpl final : public v1::DriftService::Service {
 public:
  // `monitor` must outlive the service.
  explicit DriftServiceImpl(DriftMonitor* monitor) : monitor_(monitor) {}

  grpc::Status Observe(grpc::ServerContext* context,
                       grpc::ServerReader<v1::ObserveRequest>* reader,
                       v1::ObserveResponse* response) override;
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
  grpc::Status WatchAlerts(
      grpc::ServerContext* context, const v1::WatchAlertsRequest* request,
      grpc::ServerWriter<v1::WatchAlertsResponse>* writer) override;

 private:
  DriftMonitor* monitor_;
};

}  // namespace continuum::drift_service

#endif  // CONTINUUM_SERVICES_DRIFT_DRIFT_SERVICE_H_
