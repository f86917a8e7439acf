#include "tests/util/service_cluster.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace continuum::testing {
namespace {

std::shared_ptr<grpc::Channel> Channel(const std::string& target) {
  return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

}  // namespace

ServiceCluster::ServiceCluster(std::string bin_dir, const std::string& prefix)
    : bin_dir_(std::move(bin_dir)), dir_(MakeTempDir(prefix)) {}

ServiceCluster::~ServiceCluster() {
  // Callers first (the drift service calls the trainer, the trainer the
  // registry and the collector).
  for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
    processes_[*it].reset();
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string ServiceCluster::target(const std::string& service) const {
  auto it = ports_.find(service);
  return it == ports_.end() ? "" : absl::StrCat("127.0.0.1:", it->second);
}

absl::Status ServiceCluster::Start(const std::vector<std::string>& services) {
  for (const std::string& service : services) {
    if (absl::Status s = StartOne(service); !s.ok()) return s;
    order_.push_back(service);
  }
  return absl::OkStatus();
}

absl::Status ServiceCluster::StartOne(const std::string& service) {
  // The addresses of the services it calls, of those running.
  std::string config;
  auto wire = [&](const char* field, const char* peer) {
    if (ports_.contains(peer)) {
      absl::StrAppend(&config, field, ": \"", target(peer), "\" ");
    }
  };
  if (service == "trainer") {
    wire("registry_address", "registry");
    wire("collector_address", "collector");
  } else if (service == "drift") {
    wire("registry_address", "registry");
    wire("trainer_address", "trainer");
  }
  std::vector<std::string> extra;
  if (!config.empty()) extra.push_back("--config_text=" + config);
  int port = 0;
  // A restart logs to files of its own (the first start's stay).
  const int start = ++starts_[service];
  absl::StatusOr<std::unique_ptr<Subprocess>> process = StartService(
      bin_dir_, service, dir_, extra, &port,
      start == 1 ? "" : absl::StrCat(service, start));
  if (!process.ok()) return process.status();
  processes_[service] = *std::move(process);
  ports_[service] = port;
  if (service == "registry") {
    registry_ = v1::RegistryService::NewStub(Channel(target(service)));
  } else if (service == "collector") {
    collector_ = v1::CollectorService::NewStub(Channel(target(service)));
  } else if (service == "trainer") {
    trainer_ = v1::TrainerService::NewStub(Channel(target(service)));
  } else if (service == "drift") {
    drift_ = v1::DriftService::NewStub(Channel(target(service)));
  }
  return absl::OkStatus();
}

absl::Status ServiceCluster::KillAndRestart(const std::string& service) {
  auto it = processes_.find(service);
  if (it == processes_.end() || it->second == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(service, " was not started"));
  }
  if (absl::Status s = it->second->Signal(SIGKILL); !s.ok()) return s;
  if (absl::StatusOr<int> waited = it->second->Wait(absl::Seconds(30));
      !waited.ok()) {
    return waited.status();
  }
  it->second.reset();
  return StartOne(service);
}

absl::StatusOr<v1::ObserveResponse> ServiceCluster::Observe(
    const v1::ObservationBatch& batch) {
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(30));
  v1::ObserveResponse response;
  auto writer = drift_->Observe(&context, &response);
  v1::ObserveRequest request;
  *request.mutable_batch() = batch;
  writer->Write(request);
  writer->WritesDone();
  if (absl::Status s = FromGrpc(writer->Finish()); !s.ok()) return s;
  return response;
}

absl::StatusOr<v1::GetDriftStatusResponse> ServiceCluster::DriftStatus(
    const std::string& model) {
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(10));
  v1::GetDriftStatusRequest request;
  request.set_name(absl::StrCat("models/", model));
  v1::GetDriftStatusResponse response;
  if (absl::Status s =
          FromGrpc(drift_->GetDriftStatus(&context, request, &response));
      !s.ok()) {
    return s;
  }
  return response;
}

absl::StatusOr<std::vector<v1::Alert>> ServiceCluster::Alerts(
    const std::string& model, const std::string& filter) {
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(10));
  v1::ListAlertsRequest request;
  request.set_parent(absl::StrCat("models/", model));
  request.set_page_size(1000);
  request.set_filter(filter);
  v1::ListAlertsResponse response;
  if (absl::Status s =
          FromGrpc(drift_->ListAlerts(&context, request, &response));
      !s.ok()) {
    return s;
  }
  return std::vector<v1::Alert>(response.alerts().begin(),
                                response.alerts().end());
}

std::string ServiceCluster::DriftDump(const std::string& model) {
  std::string out = "\n--- GetDriftStatus ---\n";
  absl::StatusOr<v1::GetDriftStatusResponse> status = DriftStatus(model);
  absl::StrAppend(
      &out, status.ok() ? status->DebugString() : status.status().ToString());
  absl::StrAppend(&out, "\n--- alerts ---\n");
  absl::StatusOr<std::vector<v1::Alert>> alerts = Alerts(model, "");
  if (!alerts.ok()) absl::StrAppend(&out, alerts.status().ToString(), "\n");
  for (const v1::Alert& a : alerts.value_or(std::vector<v1::Alert>())) {
    absl::StrAppend(&out, a.DebugString(), "\n");
  }
  return out;
}

absl::StatusOr<int64_t> ServiceCluster::ProductionVersion(
    const std::string& model) {
  grpc::ClientContext context;
  SetDeadline(context, absl::Seconds(10));
  v1::GetModelRequest request;
  request.set_name(absl::StrCat("models/", model));
  v1::GetModelResponse response;
  if (absl::Status s =
          FromGrpc(registry_->GetModel(&context, request, &response));
      !s.ok()) {
    return s;
  }
  return response.model().production_version();
}

std::string ServiceCluster::Logs() const {
  std::string out;
  for (const std::string& service : order_) {
    const std::unique_ptr<Subprocess>& process = processes_.at(service);
    std::string err = process ? process->ReadStderr() : "";
    if (err.size() > 4000) err = "..." + err.substr(err.size() - 4000);
    absl::StrAppend(&out, "\n--- ", service, " ---\n", err);
  }
  return out;
}

}  // namespace continuum::testing
