#include "services/drift/drift_service.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lib/core/field_rules.h"
#include "lib/core/grpc_status.h"
#include "lib/core/stream_messages.h"
#include "services/drift/observe_stream.h"

namespace continuum::drift_service {
namespace {

using core::Reply;
using core::ToGrpcStatus;

// The body of a unary handler: the request's field rules, then fn
// (core::Reply).
template <typename Fn, typename Out>
grpc::Status CheckedReply(const google::protobuf::Message& request, Fn fn,
                          Out* out) {
  if (absl::Status s = core::CheckFieldRules(request); !s.ok()) {
    return ToGrpcStatus(s);
  }
  return Reply(fn, out);
}

// One Observe call: reads raw messages until the client half-closes, parses
// and applies each (ObserveStream), and ends the call at the first that
// fails.
class ObserveReader final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  ObserveReader(DriftMonitor* monitor, grpc::ByteBuffer* response)
      : stream_(monitor), response_(response) {
    StartRead(&buffer_);
  }

 private:
  void OnReadDone(bool ok) override {
    if (!ok) {  // Half-closed by the client (or the call is over).
      Finish(core::SerializeStreamMessage(stream_.response(), response_));
      return;
    }
    v1::ObserveRequest request;
    absl::Status s =
        core::ParseStreamMessage(buffer_, stream_.next_message(), &request);
    s = s.ok() ? stream_.Add(request) : stream_.Unparsable(s);
    if (!s.ok()) {
      Finish(ToGrpcStatus(s));
      return;
    }
    StartRead(&buffer_);
  }

  void OnDone() override { delete this; }

  ObserveStream stream_;
  grpc::ByteBuffer* const response_;
  grpc::ByteBuffer buffer_;
};

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

// The request's field rules (drift.proto): model ids, since_sequence >= 0,
// a defined min_severity.
std::optional<grpc::Status> CheckWatch(const v1::WatchAlertsRequest& request) {
  if (absl::Status s = core::CheckFieldRules(request); !s.ok()) {
    return ToGrpcStatus(s);
  }
  return std::nullopt;
}

}  // namespace

grpc::ServerReadReactor<grpc::ByteBuffer>* DriftServiceImpl::Observe(
    grpc::CallbackServerContext*, grpc::ByteBuffer* response) {
  return new ObserveReader(monitor_, response);
}

grpc::Status DriftServiceImpl::ConfigureMonitor(
    grpc::ServerContext*, const v1::ConfigureMonitorRequest* request,
    v1::ConfigureMonitorResponse* response) {
  return CheckedReply(
      *request, [&] { return monitor_->ConfigureMonitor(*request); },
      response->mutable_monitor());
}

grpc::Status DriftServiceImpl::GetMonitor(grpc::ServerContext*,
                                          const v1::GetMonitorRequest* request,
                                          v1::GetMonitorResponse* response) {
  return CheckedReply(
      *request, [&] { return monitor_->GetMonitor(request->name()); },
      response->mutable_monitor());
}

grpc::Status DriftServiceImpl::ListMonitors(
    grpc::ServerContext*, const v1::ListMonitorsRequest* request,
    v1::ListMonitorsResponse* response) {
  return CheckedReply(
      *request, [&] { return monitor_->ListMonitors(*request); }, response);
}

grpc::Status DriftServiceImpl::GetDriftStatus(
    grpc::ServerContext*, const v1::GetDriftStatusRequest* request,
    v1::GetDriftStatusResponse* response) {
  return CheckedReply(
      *request,
      [&] {
        return monitor_->GetDriftStatus(request->name(), request->version());
      },
      response);
}

grpc::Status DriftServiceImpl::ListAlerts(grpc::ServerContext*,
                                          const v1::ListAlertsRequest* request,
                                          v1::ListAlertsResponse* response) {
  return CheckedReply(
      *request, [&] { return monitor_->ListAlerts(*request); }, response);
}

grpc::Status DriftServiceImpl::GetAlert(grpc::ServerContext*,
                                        const v1::GetAlertRequest* request,
                                        v1::GetAlertResponse* response) {
  return CheckedReply(
      *request, [&] { return monitor_->GetAlert(request->name()); },
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
