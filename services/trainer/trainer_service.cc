#include "services/trainer/trainer_service.h"

#include <utility>

#include "lib/core/call_identity.h"
#include "lib/core/field_rules.h"
#include "lib/core/grpc_status.h"
#include "services/trainer/run_watch.h"

namespace continuum::trainer {
namespace {

// The body of every unary handler: the request's field rules first
// (INVALID_ARGUMENT naming the field), then core::Reply(fn, out).
template <typename T, typename Fn>
grpc::Status Reply(const google::protobuf::Message& request, Fn&& fn, T* out) {
  if (absl::Status s = core::CheckFieldRules(request); !s.ok()) {
    return core::ToGrpcStatus(s);
  }
  return core::Reply(std::forward<Fn>(fn), out);
}

}  // namespace

grpc::Status TrainerServiceImpl::TriggerRun(
    grpc::ServerContext* context, const v1::TriggerRunRequest* request,
    v1::TriggerRunResponse* response) {
  return Reply(
      *request,
      [&] { return scheduler_->TriggerRun(*request, core::ActorOf(*context)); },
      response);
}

grpc::Status TrainerServiceImpl::GetRun(grpc::ServerContext*,
                                        const v1::GetRunRequest* request,
                                        v1::GetRunResponse* response) {
  return Reply(
      *request, [&] { return scheduler_->GetRun(request->name()); },
      response->mutable_run());
}

grpc::Status TrainerServiceImpl::ListRuns(grpc::ServerContext*,
                                          const v1::ListRunsRequest* request,
                                          v1::ListRunsResponse* response) {
  return Reply(
      *request, [&] { return scheduler_->ListRuns(*request); }, response);
}

grpc::ServerWriteReactor<v1::WatchRunResponse>* TrainerServiceImpl::WatchRun(
    grpc::CallbackServerContext*, const v1::WatchRunRequest* request) {
  auto* watch = new RunWatch(scheduler_, streams_, *request);
  watch->Start();
  return watch;
}

grpc::Status TrainerServiceImpl::CancelRun(grpc::ServerContext*,
                                           const v1::CancelRunRequest* request,
                                           v1::CancelRunResponse* response) {
  return Reply(
      *request, [&] { return scheduler_->CancelRun(*request); },
      response->mutable_run());
}

grpc::Status TrainerServiceImpl::ConfigureTraining(
    grpc::ServerContext*, const v1::ConfigureTrainingRequest* request,
    v1::ConfigureTrainingResponse* response) {
  return Reply(
      *request, [&] { return scheduler_->ConfigureTraining(*request); },
      response->mutable_config());
}

grpc::Status TrainerServiceImpl::GetTrainingConfig(
    grpc::ServerContext*, const v1::GetTrainingConfigRequest* request,
    v1::GetTrainingConfigResponse* response) {
  return Reply(
      *request, [&] { return scheduler_->GetTrainingConfig(request->name()); },
      response->mutable_config());
}

grpc::Status TrainerServiceImpl::PauseSchedule(
    grpc::ServerContext*, const v1::PauseScheduleRequest* request,
    v1::PauseScheduleResponse* response) {
  return Reply(
      *request,
      [&] {
        return scheduler_->PauseSchedule(request->name(), request->reason());
      },
      response->mutable_status());
}

grpc::Status TrainerServiceImpl::ResumeSchedule(
    grpc::ServerContext*, const v1::ResumeScheduleRequest* request,
    v1::ResumeScheduleResponse* response) {
  return Reply(
      *request,
      [&] {
        return scheduler_->ResumeSchedule(request->name(), request->reason());
      },
      response->mutable_status());
}

}  // namespace continuum::trainer
