// The gRPC handlers of continuum.v1.TrainerService: thin adapters over the
// Scheduler. Every request is first checked against its fields'
// (continuum.v1.rules) options (core::CheckFieldRules: INVALID_ARGUMENT
// naming the field by its path, e.g. `config.optimizer.learning_rate: must
// be > 0 (got -1)`); the scheduler checks the rest. The unary methods are
// synchronous (core::Reply converts the scheduler's status); WatchRun is
// on the callback API (run_watch.h), so a watcher holds no server thread
// and a drain ends it at its start.
#ifndef CONTINUUM_SERVICES_TRAINER_TRAINER_SERVICE_H_
#define CONTINUUM_SERVICES_TRAINER_TRAINER_SERVICE_H_

#include "continuum/v1/trainer.grpc.pb.h"
#include "lib/core/watch_reactor.h"
#include "services/trainer/scheduler.h"

namespace continuum::trainer {

class TrainerServiceImpl final
    : public v1::TrainerService::WithCallbackMethod_WatchRun<
          v1::TrainerService::Service> {
 public:
  // `scheduler` and `streams` (may be null: no drain end) must outlive the
  // service.
  TrainerServiceImpl(Scheduler* scheduler, core::OpenStreams* streams)
      : scheduler_(scheduler), streams_(streams) {}

  grpc::Status TriggerRun(grpc::ServerContext* context,
                          const v1::TriggerRunRequest* request,
                          v1::TriggerRunResponse* response) override;
  grpc::Status GetRun(grpc::ServerContext* context,
                      const v1::GetRunRequest* request,
                      v1::GetRunResponse* response) override;
  grpc::Status ListRuns(grpc::ServerContext* context,
                        const v1::ListRunsRequest* request,
                        v1::ListRunsResponse* response) override;
  grpc::ServerWriteReactor<v1::WatchRunResponse>* WatchRun(
      grpc::CallbackServerContext* context,
      const v1::WatchRunRequest* request) override;
  grpc::Status CancelRun(grpc::ServerContext* context,
                         const v1::CancelRunRequest* request,
                         v1::CancelRunResponse* response) override;
  grpc::Status ConfigureTraining(
      grpc::ServerContext* context, const v1::ConfigureTrainingRequest* request,
      v1::ConfigureTrainingResponse* response) override;
  grpc::Status GetTrainingConfig(
      grpc::ServerContext* context, const v1::GetTrainingConfigRequest* request,
      v1::GetTrainingConfigResponse* response) override;
  grpc::Status PauseSchedule(grpc::ServerContext* context,
                             const v1::PauseScheduleRequest* request,
                             v1::PauseScheduleResponse* response) override;
  grpc::Status ResumeSchedule(grpc::ServerContext* context,
                              const v1::ResumeScheduleRequest* request,
                              v1::ResumeScheduleResponse* response) override;

 private:
  Scheduler* const scheduler_;
  core::OpenStreams* const streams_;
};

}  // namespace continuum::trainer

#endif  // CONTINUUM_SERVICES_TRAINER_TRAINER_SERVICE_H_
