#include "services/trainer/trainer_service.h"

#include "lib/core/call_identity.h"
#include "lib/core/grpc_status.h"
#include "services/trainer/run_watch.h"

namespace continuum::trainer {

using core::Reply;

grpc::Status TrainerServiceImpl::TriggerRun(
    grpc::ServerContext* context, const v1::TriggerRunRequest* request,
    v1::TriggerRunResponse* response) {
  return Reply(
      [&] { return scheduler_->TriggerRun(*request, core::ActorOf(*context)); },
      response);
}

grpc::Status TrainerServiceImpl::GetRun(grpc::ServerContext*,
                                        const v1::GetRunRequest* request,
                                        v1::GetRunResponse* response) {
  return Reply([&] { return scheduler_->GetRun(request->name()); },
               response->mutable_run());
}

grpc::Status TrainerServiceImpl::ListRuns(grpc::ServerContext*,
                                          const v1::ListRunsRequest* request,
                                          v1::ListRunsResponse* response) {
  return Reply([&] { return scheduler_->ListRuns(*request); }, response);
}

grpc::ServerWriteReactor<v1::WatchRunResponse>* TrainerServiceImpl::WatchRun(
    grpc::CallbackServerContext*, const v1::WatchRunRequest* request) {
  auto* watch = new RunWatch(scheduler_, streams_, request->name());
  watch->Start();
  return watch;
}

grpc::Status TrainerServiceImpl::CancelRun(grpc::ServerContext*,
                                           const v1::CancelRunRequest* request,
                                           v1::CancelRunResponse* response) {
  return Reply([&] { return scheduler_->CancelRun(*request); },
               response->mutable_run());
}

grpc::Status TrainerServiceImpl::ConfigureTraining(
    grpc::ServerContext*, const v1::ConfigureTrainingRequest* request,
    v1::ConfigureTrainingResponse* response) {
  return Reply([&] { return scheduler_->ConfigureTraining(*request); },
               response->mutable_config());
}

grpc::Status TrainerServiceImpl::GetTrainingConfig(
    grpc::ServerContext*, const v1::GetTrainingConfigRequest* request,
    v1::GetTrainingConfigResponse* response) {
  return Reply([&] { return scheduler_->GetTrainingConfig(request->name()); },
               response->mutable_config());
}

grpc::Status TrainerServiceImpl::PauseSchedule(
    grpc::ServerContext*, const v1::PauseScheduleRequest* request,
    v1::PauseScheduleResponse* response) {
  return Reply(
      [&] {
        return scheduler_->PauseSchedule(request->name(), request->reason());
      },
      response->mutable_status());
}

grpc::Status TrainerServiceImpl::ResumeSchedule(
    grpc::ServerContext*, const v1::ResumeScheduleRequest* request,
    v1::ResumeScheduleResponse* response) {
  return Reply(
      [&] {
        return scheduler_->ResumeSchedule(request->name(), request->reason());
      },
      response->mutable_status());
}

}  // namespace continuum::trainer
