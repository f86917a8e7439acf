#include "services/drift/drift_service.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "lib/core/grpc_status.h"

namespace continuum::drift_service {

using core::ToGrpcStatus;

grpc::Status DriftServiceImpl::Observe(
    grpc::ServerContext*, grpc::ServerReader<v1::ObserveRequest>* reader,
    v1::ObserveResponse* response) {
  v1::ObserveRequest request;
  while (reader->Read(&request)) {
    absl::StatusOr<ObserveResult> result = monitor_->Observe(request.batch());
    if (!result.ok()) {
      // Earlier batches stay processed; say how many.
      return ToGrpcStatus(absl::Status(
          result.status().code(),
          absl::StrCat("batch ", response->batches(), ": ",
                       result.status().message(), " (", response->batches(),
                       " earlier batches of this stream were processed)")));
    }
    response->set_batches(response->batches() + 1);
    response->set_observations(response->observations() + result->observations);
    response->set_outcomes(response->outcomes() + result->outcomes);
  }
  return grpc::Status::OK;
}

grpc::Status DriftServiceImpl::ConfigureMonitor(
    grpc::ServerContext*, const v1::ConfigureMonitorRequest* request,
    v1::ConfigureMonitorResponse* response) {
  absl::StatusOr<v1::Monitor> monitor = monitor_->ConfigureMonitor(*request);
  if (!monitor.ok()) return ToGrpcStatus(monitor.status());
  *response->mutable_monitor() = *std::move(monitor);
  return grpc::Status::OK;
}

grpc::Status DriftServiceImpl::GetMonitor(grpc::ServerContext*,
                                          const v1::GetMonitorRequest* request,
                                          v1::GetMonitorResponse* response) {
  absl::StatusOr<v1::Monitor> monitor = monitor_->GetMonitor(request->name());
  if (!monitor.ok()) return ToGrpcStatus(monitor.status());
  *response->mutable_monitor() = *std::move(monitor);
  return grpc::Status::OK;
}

grpc::Status DriftServiceImpl::ListMonitors(
    grpc::ServerContext*, const v1::ListMonitorsRequest* request,
    v1::ListMonitorsResponse* response) {
  absl::StatusOr<v1::ListMonitorsResponse> list =
      monitor_->ListMonitors(*request);
  if (!list.ok()) return ToGrpcStatus(list.status());
  *response = *std::move(list);
  return grpc::Status::OK;
}

grpc::Status DriftServiceImpl::GetDriftStatus(
    grpc::ServerContext*, const v1::GetDriftStatusRequest* request,
    v1::GetDriftStatusResponse* response) {
  absl::StatusOr<v1::GetDriftStatusResponse> status =
      monitor_->GetDriftStatus(request->name(), request->version());
  if (!status.ok()) return ToGrpcStatus(status.status());
  *response = *std::move(status);
  return grpc::Status::OK;
}

grpc::Status DriftServiceImpl::ListAlerts(grpc::ServerContext*,
                                          const v1::ListAlertsRequest* request,
                                          v1::ListAlertsResponse* response) {
  absl::StatusOr<v1::ListAlertsResponse> list = monitor_->ListAlerts(*request);
  if (!list.ok()) return ToGrpcStatus(list.status());
  *response = *std::move(list);
  return grpc::Status::OK;
}

grpc::Status DriftServiceImpl::GetAlert(grpc::ServerContext*,
                                        const v1::GetAlertRequest* request,
                                        v1::GetAlertResponse* response) {
  absl::StatusOr<v1::Alert> alert = monitor_->GetAlert(request->name());
  if (!alert.ok()) return ToGrpcStatus(alert.status());
  *response->mutable_alert() = *std::move(alert);
  return grpc::Status::OK;
}

grpc::Status DriftServiceImpl::WatchAlerts(
    grpc::ServerContext* context, const v1::WatchAlertsRequest* request,
    grpc::ServerWriter<v1::WatchAlertsResponse>* writer) {
  if (request->since_sequence() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "since_sequence must not be negative");
  }
  if (!v1::AlertSeverity_IsValid(request->min_severity())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "unknown min_severity");
  }
  const std::vector<std::string> models(request->models().begin(),
                                        request->models().end());
  // 0 = only new alerts.
  int64_t since = request->since_sequence() > 0 ? request->since_sequence()
                                                : monitor_->latest_sequence();
  // Sequences continue across restarts when alerts are stored; a client
  // ahead of the service (its store was lost, or it keeps none) gets every
  // alert kept.
  if (since > monitor_->latest_sequence()) since = 0;
  auto cancelled = [context] { return context->IsCancelled(); };
  while (!cancelled()) {
    constexpr int kPage = 1000;
    int64_t scanned = since;
    std::vector<v1::Alert> alerts = monitor_->AlertsAfter(
        since, models, request->min_severity(), kPage, &scanned);
    for (v1::Alert& alert : alerts) {
      v1::WatchAlertsResponse response;
      *response.mutable_alert() = std::move(alert);
      if (!writer->Write(response)) return grpc::Status::OK;  // Client gone.
    }
    since = scanned;
    if (static_cast<int>(alerts.size()) == kPage) continue;
    monitor_->WaitForAlert(since, absl::Now() + absl::Seconds(1), cancelled);
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "watch ended");
}

}  // namespace continuum::drift_service
