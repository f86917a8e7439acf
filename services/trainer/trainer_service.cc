#include "services/trainer/trainer_service.h"

#include <string>
#include <utility>

#include "absl/time/clock.h"
#include "lib/core/grpc_status.h"

namespace continuum::trainer {
namespace {

using core::ToGrpcStatus;

// The caller named in the request metadata (`x-continuum-actor`), until
// authentication exists; `anonymous` without it.
std::string Actor(const grpc::ServerContext* context) {
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("x-continuum-actor");
  if (it == metadata.end() || it->second.empty()) return "anonymous";
  return std::string(it->second.data(), std::min<size_t>(it->second.size(), 128));
}

}  // namespace

grpc::Status TrainerServiceImpl::TriggerRun(
    grpc::ServerContext* context, const v1::TriggerRunRequest* request,
    v1::TriggerRunResponse* response) {
  absl::StatusOr<v1::TriggerRunResponse> r =
      scheduler_->TriggerRun(*request, Actor(context));
  if (!r.ok()) return ToGrpcStatus(r.status());
  *response = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status TrainerServiceImpl::GetRun(grpc::ServerContext*,
                                        const v1::GetRunRequest* request,
                                        v1::GetRunResponse* response) {
  absl::StatusOr<v1::Run> run = scheduler_->GetRun(request->name());
  if (!run.ok()) return ToGrpcStatus(run.status());
  *response->mutable_run() = *std::move(run);
  return grpc::Status::OK;
}

grpc::Status TrainerServiceImpl::ListRuns(grpc::ServerContext*,
                                          const v1::ListRunsRequest* request,
                                          v1::ListRunsResponse* response) {
  absl::StatusOr<v1::ListRunsResponse> list = scheduler_->ListRuns(*request);
  if (!list.ok()) return ToGrpcStatus(list.status());
  *response = *std::move(list);
  return grpc::Status::OK;
}

grpc::Status TrainerServiceImpl::WatchRun(
    grpc::ServerContext* context, const v1::WatchRunRequest* request,
    grpc::ServerWriter<v1::WatchRunResponse>* writer) {
  absl::StatusOr<RunUpdate> update =
      scheduler_->WaitForRunUpdate(request->name(), 0, absl::Now());
  if (!update.ok()) return ToGrpcStatus(update.status());
  v1::WatchRunResponse first;
  *first.mutable_progress() = update->run.progress();
  *first.mutable_run() = update->run;
  if (!writer->Write(first)) return grpc::Status::OK;  // Client gone.
  uint64_t seen = update->sequence;
  uint64_t state_seen = update->state_sequence;
  while (!update->final) {
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled");
    }
    update = scheduler_->WaitForRunUpdate(request->name(), seen,
                                          absl::Now() + absl::Seconds(1));
    if (!update.ok()) return ToGrpcStatus(update.status());
    if (!update->final && update->sequence == seen) continue;
    v1::WatchRunResponse message;
    *message.mutable_progress() = update->run.progress();
    if (update->final || update->state_sequence != state_seen) {
      *message.mutable_run() = update->run;
    }
    seen = update->sequence;
    state_seen = update->state_sequence;
    if (!writer->Write(message)) return grpc::Status::OK;
  }
  return grpc::Status::OK;
}

grpc::Status TrainerServiceImpl::CancelRun(grpc::ServerContext*,
                                           const v1::CancelRunRequest* request,
                                           v1::CancelRunResponse* response) {
  absl::StatusOr<v1::Run> run = scheduler_->CancelRun(*request);
  if (!run.ok()) return ToGrpcStatus(run.status());
  *response->mutable_run() = *std::move(run);
  return grpc::Status::OK;
}

grpc::Status TrainerServiceImpl::ConfigureTraining(
    grpc::ServerContext*, const v1::ConfigureTrainingRequest* request,
    v1::ConfigureTrainingResponse* response) {
  absl::StatusOr<v1::TrainingConfig> config =
      scheduler_->ConfigureTraining(*request);
  if (!config.ok()) return ToGrpcStatus(config.status());
  *response->mutable_config() = *std::move(config);
  return grpc::Status::OK;
}

grpc::Status TrainerServiceImpl::GetTrainingConfig(
    grpc::ServerContext*, const v1::GetTrainingConfigRequest* request,
    v1::GetTrainingConfigResponse* response) {
  absl::StatusOr<v1::TrainingConfig> config =
      scheduler_->GetTrainingConfig(request->name());
  if (!config.ok()) return ToGrpcStatus(config.status());
  *response->mutable_config() = *std::move(config);
  return grpc::Status::OK;
}

grpc::Status TrainerServiceImpl::PauseSchedule(
    grpc::ServerContext*, const v1::PauseScheduleRequest* request,
    v1::PauseScheduleResponse* response) {
  absl::StatusOr<v1::ScheduleStatus> status =
      scheduler_->PauseSchedule(request->name(), request->reason());
  if (!status.ok()) return ToGrpcStatus(status.status());
  *response->mutable_status() = *std::move(status);
  return grpc::Status::OK;
}

grpc::Status TrainerServiceImpl::ResumeSchedule(
    grpc::ServerContext*, const v1::ResumeScheduleRequest* request,
    v1::ResumeScheduleResponse* response) {
  absl::StatusOr<v1::ScheduleStatus> status =
      scheduler_->ResumeSchedule(request->name(), request->reason());
  if (!status.ok()) return ToGrpcStatus(status.status());
  *response->mutable_status() = *std::move(status);
  return grpc::Status::OK;
}

}  // namespace continuum::trainer
