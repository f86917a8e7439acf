#include "services/drift/drift_service.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "lib/core/grpc_status.h"

namespace continuum::drift_service {
namespace {

using core::Reply;
using core::ToGrpcStatus;

// One WatchAlerts call: the settled alerts after its cursor, every time
// the monitor settles more.
class AlertWatch final : public core::WatchReactor<v1::WatchAlertsResponse> {
 public:
  // `rejected`: the request was invalid; the stream ends with it at once.
  AlertWatch(DriftMonitor* monitor, core::OpenStreams* streams,
             const v1::WatchAlertsRequest& request,
             std::optional<grpc::Status> rejected)
      : WatchReactor(streams, &monitor->settled_alerts()),
        monitor_(monitor),
        models_(request.models().begin(), request.models().end()),
        min_severity_(request.min_severity()),
        rejected_(std::move(rejected)) {
    if (rejected_.has_value()) return;
    // 0 = only new alerts.
    cursor_ = request.since_sequence() > 0 ? request.since_sequence()
                                           : monitor_->latest_sequence();
    // Sequences continue across restarts when alerts are stored; a client
    // ahead of the service (its store was lost, or it keeps none) gets
    // every alert kept.
    if (cursor_ > monitor_->latest_sequence()) cursor_ = 0;
  }

 private:
  Batch Next() override {
    Batch batch;
    if (rejected_.has_value()) {
      batch.end = *rejected_;
      return batch;
    }
    constexpr int kPage = 1000;
    while (true) {
      int64_t scanned = cursor_;
      std::vector<v1::Alert> alerts = monitor_->AlertsAfter(
          cursor_, models_, min_severity_, kPage, &scanned);
      for (v1::Alert& alert : alerts) {
        *batch.messages.emplace_back().mutable_alert() = std::move(alert);
      }
      cursor_ = scanned;
      if (static_cast<int>(alerts.size()) < kPage) return batch;
    }
  }

  DriftMonitor* const monitor_;
  const std::vector<std::string> models_;
  const v1::AlertSeverity min_severity_;
  const std::optional<grpc::Status> rejected_;
  int64_t cursor_ = 0;
};

std::optional<grpc::Status> CheckWatch(const v1::WatchAlertsRequest& request) {
  if (request.since_sequence() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "since_sequence must not be negative");
  }
  if (!v1::AlertSeverity_IsValid(request.min_severity())) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "unknown min_severity");
  }
  return std::nullopt;
}

}  // namespace

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
  return Reply([&] { return monitor_->ConfigureMonitor(*request); },
               response->mutable_monitor());
}

grpc::Status DriftServiceImpl::GetMonitor(grpc::ServerContext*,
                                          const v1::GetMonitorRequest* request,
                                          v1::GetMonitorResponse* response) {
  return Reply([&] { return monitor_->GetMonitor(request->name()); },
               response->mutable_monitor());
}

grpc::Status DriftServiceImpl::ListMonitors(
    grpc::ServerContext*, const v1::ListMonitorsRequest* request,
    v1::ListMonitorsResponse* response) {
  return Reply([&] { return monitor_->ListMonitors(*request); }, response);
}

grpc::Status DriftServiceImpl::GetDriftStatus(
    grpc::ServerContext*, const v1::GetDriftStatusRequest* request,
    v1::GetDriftStatusResponse* response) {
  return Reply(
      [&] {
        return monitor_->GetDriftStatus(request->name(), request->version());
      },
      response);
}

grpc::Status DriftServiceImpl::ListAlerts(grpc::ServerContext*,
                                          const v1::ListAlertsRequest* request,
                                          v1::ListAlertsResponse* response) {
  return Reply([&] { return monitor_->ListAlerts(*request); }, response);
}

grpc::Status DriftServiceImpl::GetAlert(grpc::ServerContext*,
                                        const v1::GetAlertRequest* request,
                                        v1::GetAlertResponse* response) {
  return Reply([&] { return monitor_->GetAlert(request->name()); },
               response->mutable_alert());
}

grpc::ServerWriteReactor<v1::WatchAlertsResponse>*
DriftServiceImpl::WatchAlerts(grpc::CallbackServerContext*,
                              const v1::WatchAlertsRequest* request) {
  auto* watch = new AlertWatch(monitor_, streams_, *request,
                               CheckWatch(*request));
  watch->Start();
  return watch;
}

}  // namespace continuum::drift_service
